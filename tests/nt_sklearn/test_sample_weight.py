"""sample_weight as frequency weights: integer weights are repeated rows, weight 0 removes a row;
and the estimators serve under fairlearn-style reweighting (fit(X, y, sample_weight=w))."""

import warnings

import numpy as np
import pytest
from scipy.stats import mannwhitneyu
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_validate
from sklearn.utils.validation import has_fit_parameter

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
    TuningData,
    spuriousness_scores,
)
from nt_sklearn._head import class_balanced_batches
from nt_sklearn._medians import _SortedColumns
from nt_sklearn._significance import _weighted_mannwhitney_greater

FAST = dict(n_epochs=3, batches_per_epoch=20)


@pytest.fixture
def d(spurious_data):
    (X_tr, y_tr, _), (X_val, y_val, g_val), _ = spurious_data
    erm = LogisticRegression().fit(X_tr, y_tr)
    head = LinearHead(coef=erm.coef_, intercept=erm.intercept_, classes=erm.classes_)
    rng = np.random.default_rng(5)
    return dict(X_tr=X_tr, y_tr=y_tr, X_val=X_val, y_val=y_val, g_val=g_val, erm=erm, head=head,
                w_val=rng.integers(0, 4, len(y_val)).astype(float),
                w_tr=rng.integers(0, 4, len(y_tr)).astype(float))


def _quiet(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return est.fit(*args, **kwargs)


def _repeat(X, y, w):
    counts = w.astype(int)
    return np.repeat(X, counts, axis=0), np.repeat(y, counts)


# ---- the weighted statistics equal those of the repeated rows ---------------------------


def test_weighted_medians_and_rank_test_are_those_of_the_repeated_rows():
    rng = np.random.default_rng(0)
    A = np.round(rng.normal(size=(80, 6)), 1)  # ties, as ReLU features have
    A[:, 2] = np.maximum(A[:, 2], 0)
    first = rng.random(80) < 0.3
    w = rng.integers(0, 4, 80).astype(float)
    A_rep, first_rep = np.repeat(A, w.astype(int), axis=0), np.repeat(first, w.astype(int))
    med_in, med_out = _SortedColumns(A).weighted_split_medians(first, w)
    np.testing.assert_array_equal(med_in, np.median(A_rep[first_rep], axis=0))
    np.testing.assert_array_equal(med_out, np.median(A_rep[~first_rep], axis=0))
    p = _weighted_mannwhitney_greater(A, first, w)
    expected = mannwhitneyu(A_rep[first_rep], A_rep[~first_rep], alternative="greater", axis=0,
                            method="asymptotic").pvalue
    np.testing.assert_allclose(p, expected, rtol=1e-12)


def test_weighted_spuriousness_scores_are_those_of_the_repeated_rows(d):
    X, y = d["X_val"], d["y_val"]
    pred = d["erm"].predict(X)
    X_rep, y_rep = _repeat(X, y, d["w_val"])
    _, pred_rep = _repeat(X, pred, d["w_val"])
    np.testing.assert_array_equal(spuriousness_scores(X, y, pred, sample_weight=d["w_val"]),
                                  spuriousness_scores(X_rep, y_rep, pred_rep))


def test_weighted_draws_are_proportional_to_the_weights_within_each_class():
    y = np.repeat([0, 1], [4, 3])
    w = np.array([1.0, 0.0, 3.0, 4.0, 2.0, 2.0, 0.0])
    rows, labels = class_balanced_batches(y, 2, 500, 200, np.random.default_rng(0), w)
    counts = np.bincount(rows.ravel(), minlength=7)
    assert counts[1] == 0 and counts[6] == 0  # weight 0: never drawn
    assert np.all((labels == 0).sum(axis=1) == 500)  # batches stay class-balanced
    share = counts / np.bincount(y, weights=counts)[y]
    np.testing.assert_allclose(share, w / np.bincount(y, weights=w)[y], atol=0.01)


# ---- the NeuronTune family --------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, dict(threshold="fdr", guard_margin="auto",
                                             selection="worst_class")])
def test_family_integer_weights_on_x_are_repeated_identification_rows(params, d):
    # with the same tuning set, the head's training is the same; everything computed on X
    # (scores, test, SFit, worst-class accuracy, guard) must be that of the repeated rows
    tune = TuningData(d["X_tr"], d["y_tr"])
    X_rep, y_rep = _repeat(d["X_val"], d["y_val"], d["w_val"])
    kw = dict(random_state=0, **FAST, **params)
    weighted = _quiet(NeuronTuneClassifier(d["head"], **kw), d["X_val"], d["y_val"],
                      X_tune=tune, sample_weight=d["w_val"])
    repeated = _quiet(NeuronTuneClassifier(d["head"], **kw), X_rep, y_rep, X_tune=tune)
    for name in ("spuriousness_scores_", "p_values_", "biased_features_", "sfit_history_",
                 "worst_class_history_", "reference_class_accuracy_", "class_accuracy_",
                 "best_epoch_", "kept_reference_", "coef_", "intercept_"):
        a, b = getattr(weighted, name), getattr(repeated, name)
        if a is None:
            assert b is None, name
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("cls", [NeuronTuneClassifier, ClassBalancedRetraining,
                                 RandomMaskClassifier, FixedMaskClassifier])
def test_family_zero_weights_remove_rows(cls, d):
    keep_val, keep_tr = d["w_val"] > 0, d["w_tr"] > 0
    kw = dict(random_state=0, **FAST)
    full = _quiet(cls(d["head"], **kw), d["X_val"], d["y_val"], sample_weight=d["w_val"],
                  X_tune=TuningData(d["X_tr"], d["y_tr"], d["w_tr"]))
    removed = _quiet(cls(d["head"], **kw), d["X_val"][keep_val], d["y_val"][keep_val],
                     sample_weight=d["w_val"][keep_val],
                     X_tune=TuningData(d["X_tr"][keep_tr], d["y_tr"][keep_tr], d["w_tr"][keep_tr]))
    for name in ("coef_", "intercept_", "sfit_history_", "biased_features_", "best_epoch_"):
        np.testing.assert_array_equal(getattr(full, name), getattr(removed, name), err_msg=name)


def test_family_equal_weights_are_the_unweighted_fit(d):
    kw = dict(random_state=0, **FAST)
    plain = _quiet(NeuronTuneClassifier(**kw), d["X_val"], d["y_val"])
    ones = _quiet(NeuronTuneClassifier(**kw), d["X_val"], d["y_val"],
                  sample_weight=np.ones(len(d["y_val"])))
    np.testing.assert_array_equal(plain.coef_, ones.coef_)
    np.testing.assert_array_equal(plain.sfit_history_, ones.sfit_history_)


def test_tuning_weights_steer_the_head(d):
    # all of the tuning weight on the rows where the spurious attribute disagrees with the
    # class: there, the attribute (feature 1) predicts the other class, and the head learns so
    X_tr, y_tr = d["X_tr"], d["y_tr"]
    minority = (X_tr[:, 1] > 0.5).astype(int) != y_tr
    w = np.where(minority, 1.0, 0.0)
    kw = dict(head_init="zeros", learning_rate=0.1, selection="last", random_state=0,
              n_epochs=5, batches_per_epoch=50)
    plain = _quiet(ClassBalancedRetraining(d["head"], **kw), d["X_val"], d["y_val"],
                   X_tune=TuningData(X_tr, y_tr))
    steered = _quiet(ClassBalancedRetraining(d["head"], **kw), d["X_val"], d["y_val"],
                     X_tune=TuningData(X_tr, y_tr, w))
    assert plain.coef_[0, 1] > 0 > steered.coef_[0, 1]


def test_a_class_without_weight_is_refused(d):
    w = np.where(d["y_val"] == 1, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"class\(es\) \[1\] all have weight 0"):
        NeuronTuneClassifier(**FAST).fit(d["X_val"], d["y_val"], sample_weight=w)
    with pytest.raises(ValueError, match="non-negative, finite"):
        NeuronTuneClassifier(**FAST).fit(d["X_val"], d["y_val"], sample_weight=-d["w_val"])


# ---- the deterministic logistic parts ---------------------------------------------------


def test_jtt_and_the_stand_in_weights_are_repeated_rows(d):
    X, y, w = d["X_val"], d["y_val"], d["w_val"]
    X_rep, y_rep = _repeat(X, y, w)
    for make in (lambda: JTTLastLayer(d["erm"]), lambda: ERMHead()):
        weighted, repeated = make().fit(X, y, sample_weight=w), make().fit(X_rep, y_rep)
        ref_w, ref_r = weighted.reference_estimator_, repeated.reference_estimator_
        np.testing.assert_allclose(ref_w.coef_, ref_r.coef_, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-3, atol=1e-4)
    # JTT's up-weights multiply the sample weights
    jtt = JTTLastLayer(d["erm"], upweight=20).fit(X, y, sample_weight=w)
    errors = d["erm"].predict(X) != y
    expected = LogisticRegression(max_iter=1000).fit(X, y, sample_weight=np.where(errors, 20.0,
                                                                                   1.0) * w)
    np.testing.assert_allclose(jtt.coef_, expected.coef_)


def test_afr_weights_multiply_and_are_repeated_rows(d):
    X, y, w = d["X_val"], d["y_val"], d["w_val"]
    X_rep, y_rep = _repeat(X, y, w)
    weighted = AFRClassifier(d["erm"], tol=1e-10).fit(X, y, sample_weight=w)
    repeated = AFRClassifier(d["erm"], tol=1e-10).fit(X_rep, y_rep)
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-5, atol=1e-6)
    keep = w > 0
    removed = AFRClassifier(d["erm"], tol=1e-10).fit(X[keep], y[keep], sample_weight=w[keep])
    np.testing.assert_allclose(weighted.coef_, removed.coef_, rtol=1e-5, atol=1e-6)


def test_dfr_zero_weights_remove_rows_and_equal_weights_change_nothing(d):
    X, y, g, w = d["X_val"], d["y_val"], d["g_val"], d["w_val"]
    keep = w > 0
    kw = dict(n_subsamples=3, random_state=0)
    full = DFRClassifier(**kw).fit(X, y, group_labels=g, sample_weight=w)
    removed = DFRClassifier(**kw).fit(X[keep], y[keep], group_labels=g[keep],
                                      sample_weight=w[keep])
    np.testing.assert_array_equal(full.coef_, removed.coef_)
    plain = DFRClassifier(**kw).fit(X, y, group_labels=g)
    ones = DFRClassifier(**kw).fit(X, y, group_labels=g, sample_weight=np.ones(len(y)))
    np.testing.assert_array_equal(plain.coef_, ones.coef_)
    assert not np.allclose(full.coef_, plain.coef_)  # the weights do act


# ---- under fairlearn-style reductions ---------------------------------------------------


def _every_estimator(head):
    return [NeuronTuneClassifier(head, random_state=0, **FAST),
            ClassBalancedRetraining(random_state=0, **FAST),
            RandomMaskClassifier(random_state=0, **FAST), FixedMaskClassifier(**FAST),
            AFRClassifier(random_state=0), JTTLastLayer(), ERMHead(),
            DFRClassifier(n_subsamples=2, random_state=0)]


def test_cross_validate_routes_sample_weight_to_every_estimator(d):
    # what fairlearn's ExponentiatedGradient and other meta-estimators call
    X, y, w = d["X_val"], d["y_val"], d["w_val"] + 1.0
    for est in _every_estimator(d["head"]):
        assert has_fit_parameter(est, "sample_weight"), type(est).__name__
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            result = cross_validate(est, X, y, cv=2, params={"sample_weight": w},
                                    error_score="raise")
        assert np.all(result["test_score"] > 0.5), type(est).__name__


def _objective(model, X, y, w):
    """LogisticRegression's objective (C=1): weighted log-loss plus half the squared weights."""
    proba = model.predict_proba(X)[np.arange(len(y)), y]
    return float(-(w @ np.log(proba)) + 0.5 * np.sum(model.coef_**2))


def test_a_reweighting_loop_of_fit_with_sample_weight(d):
    # an ExponentiatedGradient-like loop: up-weight the rows the last model got wrong, refit
    # with fit(X, y, sample_weight=w). Each logistic fit must minimise its weighted objective:
    # no worse, under the new weights, than the previous model (up to the solver's tolerance).
    X, y = d["X_val"], d["y_val"]
    for make in (lambda: ERMHead(), lambda: JTTLastLayer(d["erm"], upweight=1.0)):
        w, previous = np.ones(len(y)), None
        for _ in range(4):
            model = make().fit(X, y, sample_weight=w)
            head = model.reference_estimator_ if isinstance(model, ERMHead) else model
            if previous is not None:
                assert _objective(head, X, y, w) <= _objective(previous, X, y, w) * (1 + 1e-6)
            previous = head
            w = w * np.exp(1.0 * (head.predict(X) != y))
            w *= len(w) / w.sum()
