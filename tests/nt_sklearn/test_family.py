"""What the estimators share: fitted attributes on every path, the coef_ convention,
stable log-probabilities, the declared tuning fallbacks, fit_times_, FixedMaskClassifier."""

import time
import warnings

import numpy as np
import pytest
from numpydoc.docscrape import ClassDoc
from scipy.special import log_softmax
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

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
from nt_sklearn._docstring import _TUNING_FALLBACKS

FAST = dict(n_epochs=5, batches_per_epoch=50)
FAMILY = [NeuronTuneClassifier, ClassBalancedRetraining, RandomMaskClassifier, FixedMaskClassifier]
IDENTIFYING = [NeuronTuneClassifier, RandomMaskClassifier]


@pytest.fixture
def d(spurious_data):
    (X_tr, y_tr, _), (X_val, y_val, g_val), (X_te, y_te, g_te) = spurious_data
    erm = LogisticRegression().fit(X_tr, y_tr)
    return dict(X_tr=X_tr, y_tr=y_tr, X_val=X_val, y_val=y_val, g_val=g_val, X_te=X_te, erm=erm)


def _quiet_fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return est.fit(*args, **kwargs)


def _fitted_names(est):
    return {k for k in vars(est) if k.endswith("_") and not k.startswith("_")}


def _documented_attributes(cls):
    return {name.strip() for a in ClassDoc(cls)["Attributes"] for name in a.name.split(",")}


# ---- every fitted attribute on every path ---------------------------------------


def test_a_refit_with_other_settings_leaves_no_stale_attribute(d):
    nt = NeuronTuneClassifier(threshold="fdr", random_state=0, **FAST)
    _quiet_fit(nt, d["X_val"], d["y_val"])
    assert nt.p_values_ is not None and nt.identification_indices_ is not None
    nt.set_params(threshold=0.0)
    _quiet_fit(nt, d["X_val"], d["y_val"], X_tune=d["X_tr"], y_tune=d["y_tr"])
    assert nt.p_values_ is None and nt.identification_indices_ is None


def _family_paths(cls, d):
    """Fits of ``cls`` along every branch of fit: tuning data given or not, the guard
    keeping the reference or not, the significance threshold or not."""
    given = dict(X_tune=d["X_tr"], y_tune=d["y_tr"])
    paths = [
        (dict(), given),
        (dict(), {}),
        (dict(guard_margin=1.0), given),  # a margin of 100 points: the reference is kept
        (dict(head_init="zeros"), given),
    ]
    if cls in IDENTIFYING:
        paths += [(dict(threshold="fdr"), given), (dict(threshold="fdr", n_rounds=2), {})]
    if cls is FixedMaskClassifier:
        paths += [(dict(mask=np.eye(2, 5, dtype=bool)), given)]
    for params, fit in paths:
        est = cls(d["erm"], random_state=0, **FAST, **params)
        yield params, _quiet_fit(est, d["X_val"], d["y_val"], **fit)


@pytest.mark.parametrize("cls", FAMILY, ids=lambda cls: cls.__name__)
def test_every_fitted_attribute_is_set_on_every_path_and_documented(cls, d):
    documented = _documented_attributes(cls)
    for params, est in _family_paths(cls, d):
        # feature_names_in_ is scikit-learn's, set only for string feature names
        assert _fitted_names(est) == documented - {"feature_names_in_"}, params
    kept = cls(d["erm"], guard_margin=1.0, random_state=0, **FAST)
    _quiet_fit(kept, d["X_val"], d["y_val"], X_tune=d["X_tr"], y_tune=d["y_tr"])
    assert kept.kept_reference_ and kept.best_epoch_ == -1


@pytest.mark.parametrize(
    "est, fit",
    [
        (ERMHead(), {}),
        (ERMHead(KNeighborsClassifier()), {}),
        (AFRClassifier(random_state=0), {}),
        (AFRClassifier(random_state=0), "given"),
        (JTTLastLayer(), {}),
        (JTTLastLayer(), "given"),
        (DFRClassifier(n_subsamples=2, random_state=0), {}),
    ],
    ids=lambda p: type(p).__name__ if not isinstance(p, (dict, str)) else str(p),
)
def test_the_baselines_set_every_documented_attribute(est, fit, d):
    if isinstance(est, ERMHead) and est.estimator is not None:
        est.set_params(estimator=est.estimator.fit(d["X_tr"], d["y_tr"]))
    kwargs = dict(X_tune=d["X_tr"], y_tune=d["y_tr"]) if fit == "given" else {}
    _quiet_fit(est, d["X_val"], d["y_val"], **kwargs)
    assert _fitted_names(est) == _documented_attributes(type(est)) - {"feature_names_in_"}


def test_erm_head_exposes_a_linear_reference_only(d):
    linear = ERMHead(d["erm"]).fit(d["X_val"], d["y_val"])
    np.testing.assert_array_equal(linear.coef_, d["erm"].coef_)
    np.testing.assert_array_equal(linear.intercept_, d["erm"].intercept_)
    knn = KNeighborsClassifier().fit(d["X_tr"], d["y_tr"])
    other = ERMHead(knn).fit(d["X_val"], d["y_val"])
    assert other.coef_ is None and other.intercept_ is None


# ---- one coef_ convention ---------------------------------------------------------------


def _linear_estimators(erm):
    return [
        NeuronTuneClassifier(erm, random_state=0, **FAST),
        NeuronTuneClassifier(erm, mask_scope="per_class", standardize=True, random_state=0,
                             **FAST),
        ClassBalancedRetraining(erm, random_state=0, **FAST),
        RandomMaskClassifier(erm, random_state=0, **FAST),
        FixedMaskClassifier(erm, mask=[False, True, False, False, False], random_state=0,
                            **FAST),
        AFRClassifier(erm),
        DFRClassifier(n_subsamples=2, random_state=0),
        JTTLastLayer(erm),
        ERMHead(erm),
    ]


def _three_classes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(901, 5))
    y = np.argmax(X[:, :3] + 0.5 * rng.normal(size=(901, 3)), axis=1)
    return X[:300], y[:300], X[300:], y[300:], LogisticRegression().fit(X[300:], y[300:])


@pytest.mark.parametrize("n_classes", [2, 3])
def test_coef_is_the_decision_function_in_logistic_regressions_layout(n_classes, d):
    if n_classes == 2:
        X, y, X_tune, y_tune, erm = d["X_val"], d["y_val"], d["X_tr"], d["y_tr"], d["erm"]
    else:
        X, y, X_tune, y_tune, erm = _three_classes()
    for est in _linear_estimators(erm):
        fit = {} if isinstance(est, DFRClassifier) else dict(X_tune=X_tune, y_tune=y_tune)
        _quiet_fit(est, X, y, **fit)
        rows = 1 if n_classes == 2 else n_classes
        name = type(est).__name__
        assert est.coef_.shape == (rows, X.shape[1]) and est.intercept_.shape == (rows,), name
        expected = X @ est.coef_.T + est.intercept_
        np.testing.assert_allclose(
            est.decision_function(X), expected[:, 0] if n_classes == 2 else expected,
            rtol=1e-10, atol=1e-10, err_msg=name,
        )
        if hasattr(est, "feature_scale_"):  # the mask is folded into coef_
            scale = np.broadcast_to(est.feature_scale_, (n_classes, X.shape[1]))
            np.testing.assert_array_equal(est.coef_[:, (scale == 0).all(axis=0)], 0.0)


def test_predict_log_proba_is_log_softmax_and_stays_finite(d):
    X_far = d["X_te"][:200] * 1e4  # logits so large that predict_proba rounds to 0 and 1
    for est in _linear_estimators(d["erm"])[:-1]:  # ERMHead delegates to its reference
        fit = {} if isinstance(est, DFRClassifier) else dict(X_tune=d["X_tr"], y_tune=d["y_tr"])
        _quiet_fit(est, d["X_val"], d["y_val"], **fit)
        log_proba = est.predict_log_proba(X_far)
        assert np.all(np.isfinite(log_proba)), type(est).__name__
        scores = est.decision_function(X_far)
        np.testing.assert_array_equal(
            log_proba, log_softmax(np.column_stack([np.zeros_like(scores), scores]), axis=1)
        )
        np.testing.assert_allclose(np.exp(log_proba), est.predict_proba(X_far), atol=1e-12)


# ---- the declared tuning fallbacks ------------------------------------------------------


@pytest.mark.parametrize(
    "cls", FAMILY + [ERMHead, AFRClassifier, JTTLastLayer, DFRClassifier],
    ids=lambda cls: cls.__name__,
)
def test_each_fit_documents_the_fallback_its_class_declares(cls):
    fallback = cls._tuning_fallback
    if cls is DFRClassifier:
        assert fallback is None and "X_tune" not in cls.fit.__doc__
    else:
        assert " ".join(_TUNING_FALLBACKS[fallback].split()) in " ".join(cls.fit.__doc__.split())


def test_fallbacks_as_declared(d):
    X, y = d["X_val"], d["y_val"]
    nt = _quiet_fit(NeuronTuneClassifier(random_state=0, **FAST), X, y)
    tuned_on = np.setdiff1d(np.arange(len(y)), nt.identification_indices_)
    stand_in = LogisticRegression(max_iter=1000).fit(X[tuned_on], y[tuned_on])
    np.testing.assert_array_equal(nt.reference_estimator_.coef_, stand_in.coef_)
    jtt = JTTLastLayer().fit(X, y)  # "x": X is the tuning data
    np.testing.assert_array_equal(
        jtt.reference_estimator_.coef_, LogisticRegression(max_iter=1000).fit(X, y).coef_
    )
    afr = AFRClassifier(d["erm"]).fit(X, y)  # "split_if_stand_in" with a reference: no split
    assert afr.reference_estimator_ is d["erm"]


# ---- fit_times_ -------------------------------------------------------------------------


@pytest.mark.parametrize("cls", FAMILY, ids=lambda cls: cls.__name__)
def test_fit_times_name_the_parts_of_fit(cls, d):
    est = cls(d["erm"], random_state=0, **FAST)
    start = time.perf_counter()
    _quiet_fit(est, d["X_val"], d["y_val"], X_tune=d["X_tr"], y_tune=d["y_tr"])
    wall = time.perf_counter() - start
    assert list(est.fit_times_) == ["reference", "sfit_setup", "identify", "tune", "sfit"]
    assert all(isinstance(t, float) and t >= 0 for t in est.fit_times_.values())
    assert est.fit_times_["tune"] > 0 and est.fit_times_["sfit"] > 0
    assert sum(est.fit_times_.values()) <= wall


# ---- FixedMaskClassifier ----------------------------------------------------------------


@pytest.mark.parametrize("scope", ["union", "per_class"])
def test_a_fixed_mask_equal_to_neurontunes_gives_neurontunes_fit(scope, d):
    fit = dict(X_tune=d["X_tr"], y_tune=d["y_tr"])
    nt = NeuronTuneClassifier(d["erm"], mask_scope=scope, random_state=0, **FAST)
    _quiet_fit(nt, d["X_val"], d["y_val"], **fit)
    mask = nt.feature_scale_ == 0.0  # mask_value 0: the scale says what was masked
    fixed = FixedMaskClassifier(d["erm"], mask=mask, random_state=0, **FAST)
    _quiet_fit(fixed, d["X_val"], d["y_val"], **fit)
    for name in ("coef_", "intercept_", "feature_scale_", "biased_features_", "sfit_history_",
                 "coef_path_", "spuriousness_scores_", "best_epoch_"):
        np.testing.assert_array_equal(getattr(fixed, name), getattr(nt, name), err_msg=name)


def test_fixed_mask_value_and_reported_scores(d):
    mask = np.array([False, True, False, False, True])
    fixed = FixedMaskClassifier(d["erm"], mask=mask, mask_value=0.25, random_state=0, **FAST)
    _quiet_fit(fixed, d["X_val"], d["y_val"], X_tune=d["X_tr"], y_tune=d["y_tr"])
    np.testing.assert_array_equal(fixed.feature_scale_, np.where(mask, 0.25, 1.0))
    np.testing.assert_array_equal(fixed.biased_features_, mask)
    assert fixed.p_values_ is None and fixed.spuriousness_scores_.shape == (5, 2)


@pytest.mark.parametrize(
    "mask, message",
    [
        ([True, False], r"shape \(5,\) or \(2, 5\) .* got \(2,\)"),
        (np.ones((3, 5), dtype=bool), r"got \(3, 5\)"),
        ([0, 1, 0, 0, 0], "array of booleans; got dtype int"),
    ],
)
def test_fixed_mask_is_validated_in_fit(mask, message, d):
    est = FixedMaskClassifier(mask=mask, **FAST)
    with pytest.raises(ValueError, match=message):
        est.fit(d["X_val"], d["y_val"], X_tune=d["X_tr"], y_tune=d["y_tr"])


def test_the_benchmarks_construction_works_for_every_sibling(d):
    # benchmarks/methods.py builds cls(reference, random_state=seed, n_epochs=n_epochs, **params)
    head = LinearHead(coef=d["erm"].coef_, intercept=d["erm"].intercept_, classes=[0, 1])
    for cls in FAMILY:
        for params in (dict(standardize=True), dict(selection="worst_class"),
                       dict(guard_margin="auto")):
            est = cls(head, random_state=0, n_epochs=2, batches_per_epoch=20, **params)
            _quiet_fit(est, d["X_val"], d["y_val"])
            assert est.predict(d["X_te"]).shape == (len(d["X_te"]),)
