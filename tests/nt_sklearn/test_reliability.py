"""A fitted model is never NaN: inputs that overflow are refused, divergence stops the fit;
float16 embeddings are computed batch by batch; exported heads predict exactly."""

import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from nt_sklearn import (
    AFRClassifier,
    ClassBalancedRetraining,
    DFRClassifier,
    ERMHead,
    FixedMaskClassifier,
    JTTLastLayer,
    LinearHead,
    NeuronTuneClassifier,
    RandomMaskClassifier,
)

FAST = dict(n_epochs=3, batches_per_epoch=20)


def _every_estimator():
    return [
        NeuronTuneClassifier(random_state=0, **FAST),
        ClassBalancedRetraining(random_state=0, **FAST),
        RandomMaskClassifier(random_state=0, **FAST),
        FixedMaskClassifier(random_state=0, **FAST),
        AFRClassifier(random_state=0),
        JTTLastLayer(),
        DFRClassifier(n_subsamples=2, random_state=0),
        ERMHead(),
    ]


@pytest.fixture
def d(spurious_data):
    (X_tr, y_tr, _), (X_val, y_val, g_val), (X_te, y_te, _) = spurious_data
    return dict(X_tr=X_tr, y_tr=y_tr, X_val=X_val, y_val=y_val, g_val=g_val, X_te=X_te)


def _quiet(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return est.fit(*args, **kwargs)


@pytest.mark.parametrize("est", _every_estimator(), ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("dtype, factor", [(np.float64, 1e300), (np.float32, 1e30)])
def test_inputs_that_overflow_are_refused_with_the_largest_magnitude(est, dtype, factor, d):
    X = (d["X_val"] * factor).astype(dtype)
    with pytest.raises(ValueError, match=r"Input X holds values as large as .*e\+(300|30) .*"
                       r"computes in float(64|32)"):
        _quiet(est, X, d["y_val"])
    if not isinstance(est, DFRClassifier):  # DFR takes no tuning set
        X_tune = (d["X_tr"] * factor).astype(dtype)
        with pytest.raises(ValueError, match="Input X_tune holds values as large as"):
            _quiet(est, d["X_val"].astype(dtype), d["y_val"], X_tune=X_tune, y_tune=d["y_tr"])


def test_the_magnitude_bound_is_the_squared_norm_of_a_row():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    bound = np.sqrt(np.finfo(np.float32).max / 4)  # 9.2e18
    X_big = X.copy()
    X_big[0, 0] = 2 * bound
    with pytest.raises(ValueError, match="the bound is 9.223e\\+18"):
        ClassBalancedRetraining(**FAST).fit(X_big, y)
    X_big[0, 0] = bound / 2  # below the bound: trained; the model is finite or the fit stops
    try:
        est = _quiet(ClassBalancedRetraining(**FAST), X_big, y)
    except ValueError as exc:
        assert "training diverged" in str(exc)
    else:
        assert np.all(np.isfinite(est.coef_)) and np.all(np.isfinite(est.intercept_))


def test_nan_and_infinity_still_named(d):
    X = d["X_val"].copy()
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        NeuronTuneClassifier(**FAST).fit(X, d["y_val"])
    X[3, 1] = -np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        DFRClassifier().fit(X, d["y_val"])


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_a_diverging_epoch_stops_the_fit(optimizer, d):
    est = NeuronTuneClassifier(optimizer=optimizer, learning_rate=1e300, **FAST)
    X, X_tune = d["X_val"], d["X_tr"]
    if optimizer == "adamw":  # AdamW's steps are as large as the learning rate: weights of
        # 1e100 overflow the float32 products of float32 embeddings
        X, X_tune = X.astype(np.float32), X_tune.astype(np.float32)
        est.set_params(learning_rate=1e100)
    with pytest.raises(ValueError, match=r"training diverged at epoch 1, lower learning_rate"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # reported once, not per batch
            _quiet(est, X, d["y_val"], X_tune=X_tune, y_tune=d["y_tr"])


def test_the_epoch_of_a_later_round_is_counted_from_the_first(d):
    est = NeuronTuneClassifier(n_rounds=2, n_epochs=2, batches_per_epoch=5, learning_rate=1e150,
                               mask_value=1.0)
    with pytest.raises(ValueError, match="training diverged at epoch"):
        _quiet(est, d["X_val"], d["y_val"], X_tune=d["X_tr"], y_tune=d["y_tr"])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_linear_head_rejects_non_finite_weights(bad, d):
    coef = np.ones((2, 5))
    coef[1, 3] = bad
    head = LinearHead(coef=coef, intercept=np.zeros(2), classes=[0, 1])
    with pytest.raises(ValueError, match=r"LinearHead coef has 1 non-finite value"):
        head.predict(d["X_val"])
    with pytest.raises(ValueError, match="non-finite"):
        NeuronTuneClassifier(head, **FAST).fit(d["X_val"], d["y_val"])
    with pytest.raises(ValueError, match="LinearHead intercept has 1 non-finite"):
        LinearHead(coef=np.ones((2, 5)), intercept=[0.0, bad], classes=[0, 1]).fit()


def test_afr_refuses_a_non_finite_solution(d, monkeypatch):
    import nt_sklearn.baselines._afr as afr_module

    class Diverged:
        x = np.full(12, np.nan)
        fun, nit, status = np.nan, 3, 0

    monkeypatch.setattr(afr_module, "minimize", lambda *a, **k: Diverged())
    erm = LogisticRegression().fit(d["X_tr"], d["y_tr"])
    with pytest.raises(ValueError, match="AFR's L-BFGS diverged"):
        AFRClassifier(erm).fit(d["X_val"], d["y_val"])


# ---- stable log-probabilities ------------------------------------------------------------


def test_erm_head_and_linear_head_log_proba_stay_finite(d):
    X_far = d["X_te"][:200] * 1e4
    erm = LogisticRegression().fit(d["X_tr"], d["y_tr"])
    head = LinearHead(coef=erm.coef_, intercept=erm.intercept_, classes=erm.classes_)
    for est in (ERMHead().fit(d["X_val"], d["y_val"], X_tune=d["X_tr"], y_tune=d["y_tr"]),
                ERMHead(head).fit(d["X_val"], d["y_val"]), head):
        log_proba = est.predict_log_proba(X_far)
        assert np.all(np.isfinite(log_proba)), est
        np.testing.assert_allclose(np.exp(log_proba), est.predict_proba(X_far), atol=1e-12)
    # the stand-in's log-probabilities are its own probabilities' logarithm where finite
    stand_in = ERMHead().fit(d["X_val"], d["y_val"])
    X = d["X_te"][:200]
    np.testing.assert_allclose(stand_in.predict_log_proba(X),
                               np.log(stand_in.reference_estimator_.predict_proba(X)), atol=1e-12)


# ---- float16 embeddings --------------------------------------------------------------------


def _fit_peak(est, *args, **kwargs):
    tracemalloc.start()
    try:
        _quiet(est, *args, **kwargs)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_float16_embeddings_are_never_copied_whole():
    # 26 MB of float16 tuning embeddings, the size of the store; the old code made a
    # float64 copy of them (4 x 26 MB: a peak over 100 MB)
    rng = np.random.default_rng(0)
    n, dim = 50_000, 256
    X_tune = rng.normal(size=(n, dim)).astype(np.float16)
    y_tune = rng.integers(0, 2, n)
    X_id = rng.normal(size=(1000, dim)).astype(np.float16)
    y_id = rng.integers(0, 2, 1000)
    head = LinearHead(coef=rng.normal(size=(2, dim)), intercept=np.zeros(2), classes=[0, 1])
    peak = _fit_peak(NeuronTuneClassifier(head, **FAST), X_id, y_id, X_tune=X_tune, y_tune=y_tune)
    assert peak < X_tune.nbytes / 4, f"peak {peak / 1e6:.1f} MB, X_tune {X_tune.nbytes / 1e6} MB"


def test_float16_fits_as_its_float32_upcast(d):
    # float16 -> float32 is exact: computing batches in float32 gives the float32 fit
    X16, X16_tune = d["X_val"].astype(np.float16), d["X_tr"].astype(np.float16)
    erm = LogisticRegression().fit(d["X_tr"], d["y_tr"])
    fits = []
    for X, X_tune in ((X16, X16_tune), (X16.astype(np.float32), X16_tune.astype(np.float32))):
        est = NeuronTuneClassifier(erm, random_state=0, **FAST)
        fits.append(_quiet(est, X, d["y_val"], X_tune=X_tune, y_tune=d["y_tr"]))
    np.testing.assert_array_equal(fits[0].biased_features_, fits[1].biased_features_)
    np.testing.assert_array_equal(fits[0].sfit_history_, fits[1].sfit_history_)
    np.testing.assert_array_equal(fits[0].coef_, fits[1].coef_)
    X_te = d["X_te"].astype(np.float16)
    np.testing.assert_array_equal(fits[0].predict(X_te), fits[1].predict(X_te.astype(np.float32)))
    assert fits[0].decision_function(X_te).dtype == np.float64


# ---- coef_ and intercept_ export exactly ----------------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 3])
def test_a_linear_head_built_from_coef_predicts_exactly_as_the_estimator(n_classes, d):
    rng = np.random.default_rng(0)
    if n_classes == 2:
        X, y, X_tune, y_tune = d["X_val"], d["y_val"], d["X_tr"], d["y_tr"]
    else:
        X_all = rng.normal(size=(1201, 5))
        y_all = np.argmax(X_all[:, :3] + 0.5 * rng.normal(size=(1201, 3)), axis=1)
        X, y, X_tune, y_tune = X_all[:400], y_all[:400], X_all[400:], y_all[400:]
    erm = LogisticRegression().fit(X_tune, y_tune)
    X_te = rng.normal(size=(3000, 5)) * 2
    for est in [NeuronTuneClassifier(erm, random_state=0, **FAST),
                NeuronTuneClassifier(erm, standardize=True, mask_scope="per_class",
                                     random_state=0, **FAST),
                ClassBalancedRetraining(erm, random_state=0, **FAST),
                RandomMaskClassifier(erm, random_state=0, **FAST),
                FixedMaskClassifier(erm, mask=[False, True, False, False, False], **FAST),
                AFRClassifier(erm), JTTLastLayer(erm), ERMHead(erm),
                DFRClassifier(n_subsamples=2, random_state=0)]:
        fit = {} if isinstance(est, DFRClassifier) else dict(X_tune=X_tune, y_tune=y_tune)
        _quiet(est, X, y, **fit)
        exported = LinearHead(est.coef_, est.intercept_, est.classes_)
        name = type(est).__name__
        np.testing.assert_array_equal(exported.predict(X_te), est.predict(X_te), err_msg=name)
        np.testing.assert_allclose(exported.decision_function(X_te), est.decision_function(X_te),
                                   rtol=1e-12, atol=1e-12, err_msg=name)
