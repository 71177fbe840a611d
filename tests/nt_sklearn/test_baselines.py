"""The peer last-layer methods of nt_sklearn.baselines: their mechanics, their effect, bad input."""

import warnings

import numpy as np
import pytest
import sklearn
from scipy.optimize import check_grad
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import LinearSVC

from tests._spurious import make_spurious
from nt_sklearn import (
    AFRClassifier,
    ClassBalancedRetraining,
    DFRClassifier,
    ERMHead,
    JTTLastLayer,
    LinearHead,
    NeuronTuneClassifier,
    RandomMaskClassifier,
)
from nt_sklearn._base import _split_halves
from nt_sklearn.baselines import FixedMaskClassifier
from nt_sklearn.baselines._afr import _afr_objective, _afr_weights
from nt_sklearn.baselines._dfr import _group_balanced_rows
from nt_sklearn.baselines._jtt import _jtt_weights
from nt_sklearn.metrics import worst_group_accuracy

FAST = dict(n_epochs=5, batches_per_epoch=50)


@pytest.fixture
def data(spurious_data):
    (X_tr, y_tr, _), (X_val, y_val, g_val), (X_te, y_te, g_te) = spurious_data
    erm = LogisticRegression().fit(X_tr, y_tr)
    return dict(
        X_tr=X_tr, y_tr=y_tr, X_val=X_val, y_val=y_val, g_val=g_val,
        X_te=X_te, y_te=y_te, g_te=g_te, erm=erm,
    )


def _wga(est, d):
    return worst_group_accuracy(d["y_te"], est.predict(d["X_te"]), d["g_te"])


# ---- ERMHead -----------------------------------------------------------------


def test_erm_head_is_exactly_its_reference(data):
    erm, X_te = data["erm"], data["X_te"]
    head = ERMHead(erm).fit(data["X_val"], data["y_val"])
    assert head.reference_estimator_ is erm
    np.testing.assert_array_equal(head.predict(X_te), erm.predict(X_te))
    np.testing.assert_array_equal(head.predict_proba(X_te), erm.predict_proba(X_te))
    np.testing.assert_array_equal(head.decision_function(X_te), erm.decision_function(X_te))


def test_erm_head_stand_in_is_fitted_on_the_tuning_data(data):
    d = data
    head = ERMHead().fit(d["X_val"], d["y_val"], X_tune=d["X_tr"], y_tune=d["y_tr"])
    nt = NeuronTuneClassifier(**FAST)
    nt.fit(d["X_val"], d["y_val"], X_tune=d["X_tr"], y_tune=d["y_tr"])
    # the same ERM stand-in as NeuronTune's
    np.testing.assert_array_equal(head.reference_estimator_.coef_, nt.reference_estimator_.coef_)
    alone = ERMHead().fit(d["X_val"], d["y_val"])  # no tuning set: fitted on X
    expected = LogisticRegression(max_iter=1000).fit(d["X_val"], d["y_val"])
    np.testing.assert_array_equal(alone.reference_estimator_.coef_, expected.coef_)


def test_erm_head_reorders_a_reference_with_permuted_string_classes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    head = LinearHead(coef=np.eye(3), intercept=np.zeros(3), classes=["c", "a", "b"])
    erm = ERMHead(head).fit(X, head.predict(X))
    np.testing.assert_array_equal(erm.classes_, ["a", "b", "c"])
    np.testing.assert_array_equal(erm.predict(X), head.predict(X))
    proba = erm.predict_proba(X)
    np.testing.assert_array_equal(erm.classes_[np.argmax(proba, axis=1)], head.predict(X))
    np.testing.assert_allclose(proba[:, 2], head.predict_proba(X)[:, 0])
    # a two-row binary head listed as ("yes", "no"): the score is that of classes_[1] = "yes"
    binary = LinearHead(coef=np.eye(3)[:2], intercept=[0.0, 0.0], classes=["yes", "no"])
    erm = ERMHead(binary).fit(X, binary.predict(X))
    scores = erm.decision_function(X)
    np.testing.assert_allclose(scores, X[:, 0] - X[:, 1])
    np.testing.assert_array_equal(erm.predict(X), np.where(scores > 0, "yes", "no"))


def test_erm_head_exposes_only_what_its_reference_has(data):
    svc = LinearSVC().fit(data["X_tr"], data["y_tr"])
    head = ERMHead(svc).fit(data["X_val"], data["y_val"])
    assert not hasattr(head, "predict_proba")
    X_te = data["X_te"]
    np.testing.assert_array_equal(head.decision_function(X_te), svc.decision_function(X_te))
    assert hasattr(ERMHead(), "predict_proba")  # the stand-in logistic regression has it


def test_erm_head_bad_reference(data):
    wide = LinearHead(coef=np.ones((2, 7)), intercept=np.zeros(2), classes=[0, 1])
    with pytest.raises(ValueError, match="expects 7 features but X has 5"):
        ERMHead(wide).fit(data["X_val"], data["y_val"])
    with pytest.raises(ValueError, match="the reference model must cover exactly"):
        ERMHead(data["erm"]).fit(data["X_val"], data["y_val"] + 1)


# ---- ClassBalancedRetraining and RandomMaskClassifier --------------------------


def test_class_balanced_retraining_masks_nothing(data):
    d = data
    cb = ClassBalancedRetraining(d["erm"], random_state=0, **FAST)
    cb.fit(d["X_val"], d["y_val"], X_tune=d["X_tr"], y_tune=d["y_tr"])
    assert not cb.biased_features_.any() and cb.biased_feature_indices_.size == 0
    np.testing.assert_array_equal(cb.feature_scale_, 1.0)
    nt = NeuronTuneClassifier(d["erm"], random_state=0, **FAST)
    nt.fit(d["X_val"], d["y_val"], X_tune=d["X_tr"], y_tune=d["y_tr"])
    assert nt.biased_features_[1]  # NeuronTune does mask the spurious dimension
    # the reference's scores are still reported, identical to NeuronTune's
    np.testing.assert_array_equal(cb.spuriousness_scores_, nt.spuriousness_scores_)
    # and the whole recipe is NeuronTune's with a mask of ones
    ones = NeuronTuneClassifier(d["erm"], mask_value=1.0, random_state=0, **FAST)
    ones.fit(d["X_val"], d["y_val"], X_tune=d["X_tr"], y_tune=d["y_tr"])
    np.testing.assert_array_equal(cb.coef_, ones.coef_)
    np.testing.assert_array_equal(cb.sfit_history_, ones.sfit_history_)


def test_class_balanced_retraining_has_no_mask_parameters():
    params = ClassBalancedRetraining().get_params()
    mask_parameters = {
        "threshold", "fdr_level", "mask_scope", "mask_value", "max_masked_fraction", "n_rounds"
    }
    assert not mask_parameters & set(params)
    for name in ("mask_value", "threshold"):
        with pytest.raises(ValueError, match=f"Invalid parameter '{name}'"):
            ClassBalancedRetraining().set_params(**{name: 0.0})
    # a sibling of NeuronTuneClassifier, not a NeuronTuneClassifier that refuses its parameters
    assert not isinstance(ClassBalancedRetraining(), NeuronTuneClassifier)


def test_random_mask_draws_as_many_features_as_neurontune_flags():
    rng = np.random.default_rng(1)
    X_tr, y_tr, _ = make_spurious(3000, 0.95, rng, n_noise=30)
    X_val, y_val, _ = make_spurious(801, 0.95, rng, n_noise=30)
    erm = LogisticRegression().fit(X_tr, y_tr)
    fit = dict(X_tune=X_tr, y_tune=y_tr)
    nt = NeuronTuneClassifier(erm, **FAST).fit(X_val, y_val, **fit)
    n_masked = nt.biased_features_.sum()
    assert 0 < n_masked < X_val.shape[1]
    masks = []
    for seed in range(4):
        rm = RandomMaskClassifier(erm, random_state=seed, **FAST).fit(X_val, y_val, **fit)
        # the same identification, so the same scores and the same count
        np.testing.assert_array_equal(rm.spuriousness_scores_, nt.spuriousness_scores_)
        assert rm.biased_features_.sum() == n_masked
        np.testing.assert_array_equal(rm.feature_scale_, np.where(rm.biased_features_, 0.0, 1.0))
        masks.append(tuple(rm.biased_feature_indices_))
    assert len(set(masks)) > 1  # a different set across seeds
    again = RandomMaskClassifier(erm, random_state=0, **FAST).fit(X_val, y_val, **fit)
    assert tuple(again.biased_feature_indices_) == masks[0]  # and reproducible


# ---- DFR ---------------------------------------------------------------------


def test_dfr_with_groups_beats_erm_worst_group(data):
    d = data
    dfr = DFRClassifier(random_state=0).fit(d["X_val"], d["y_val"], group_labels=d["g_val"])
    assert _wga(dfr, d) > _wga(d["erm"], d) + 0.10
    assert dfr.n_groups_ == 4
    assert dfr.C_ in dfr.Cs and dfr.selection_scores_.shape == (len(dfr.Cs),)
    assert dfr.C_ == dfr.Cs[int(np.argmax(dfr.selection_scores_))]
    # the spurious dimension lost weight relative to the core one
    erm_ratio = abs(d["erm"].coef_[0, 1] / d["erm"].coef_[0, 0])
    assert abs(dfr.coef_[0, 1] / dfr.coef_[0, 0]) < erm_ratio / 2


def test_dfr_without_groups_is_class_balanced_dfr(data):
    d = data
    X, y = d["X_val"], d["y_val"]
    with pytest.warns(UserWarning, match="got no group_labels: the classes serve as groups"):
        none = DFRClassifier(n_subsamples=3, random_state=0).fit(X, y)
    classes = DFRClassifier(n_subsamples=3, random_state=0).fit(X, y, group_labels=y)
    np.testing.assert_array_equal(none.coef_, classes.coef_)
    assert none.n_groups_ == 2


def test_dfr_crosses_groups_with_classes(data):
    d = data
    attribute = (d["g_val"] % 2 == 1) == (d["y_val"] == 1)  # the spurious attribute alone
    names = np.where(attribute, "water", "land")
    X, y = d["X_val"], d["y_val"]
    by_attr = DFRClassifier(n_subsamples=3, random_state=0).fit(X, y, group_labels=names)
    by_group = DFRClassifier(n_subsamples=3, random_state=0).fit(X, y, group_labels=d["g_val"])
    assert by_attr.n_groups_ == 4
    np.testing.assert_allclose(by_attr.coef_, by_group.coef_)


def test_group_balanced_rows():
    groups = np.repeat([0, 1, 2], [10, 3, 7])
    rows = _group_balanced_rows(groups, 3, np.random.RandomState(0))
    assert np.bincount(groups[rows]).tolist() == [3, 3, 3]
    assert len(np.unique(rows)) == 9  # without replacement


def test_dfr_standardisation_is_folded_into_the_coefficients(data):
    d = data
    X, y, g = d["X_val"], d["y_val"], d["g_val"]
    scale, shift = np.array([10.0, 0.1, 3.0, 1.0, 7.0]), np.array([3.0, -1.0, 0.0, 5.0, 2.0])
    raw = DFRClassifier(n_subsamples=3, random_state=0).fit(X, y, group_labels=g)
    moved = DFRClassifier(n_subsamples=3, random_state=0).fit(X * scale + shift, y, group_labels=g)
    np.testing.assert_allclose(
        moved.decision_function(X * scale + shift), raw.decision_function(X), rtol=1e-4, atol=1e-4
    )


def test_dfr_multiclass_string_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = np.array(["cat", "dog", "eel"])[np.argmax(X[:, :3], axis=1)]
    dfr = DFRClassifier(n_subsamples=2, random_state=0).fit(X, y)
    assert dfr.coef_.shape == (3, 4)
    assert dfr.score(X, y) > 0.8
    np.testing.assert_allclose(dfr.predict_proba(X).sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="liblinear' fits two classes only"):
        DFRClassifier(solver="liblinear").fit(X, y)


def _n_groups_scorer(estimator, X, y):
    """A scorer that reports the groups DFR was fitted with in every fold."""
    return float(estimator.n_groups_)


def test_dfr_group_labels_reach_every_fold_with_and_without_routing(data):
    d = data
    X, y, g = d["X_val"], d["y_val"], d["g_val"]
    grid = {"Cs": [(1.0,), (0.01,)]}
    folds = GroupKFold(n_splits=3)
    batches = np.arange(len(y)) % 10  # what the splitter groups by, e.g. acquisition sessions
    # without routing: group_labels is cut along with the folds; groups= goes to the splitter
    search = GridSearchCV(DFRClassifier(n_subsamples=2, random_state=0), grid, cv=folds,
                          scoring=_n_groups_scorer)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither the deprecation nor the fallback warning
        search.fit(X, y, groups=batches, group_labels=g)
    assert np.all(search.cv_results_["mean_test_score"] == 4)  # not 2 (class-balanced DFR)
    assert search.best_estimator_.n_groups_ == 4
    # with routing: requested under its own name, the splitter still takes groups=
    with sklearn.config_context(enable_metadata_routing=True):
        dfr = DFRClassifier(n_subsamples=2, random_state=0).set_fit_request(group_labels=True)
        search = GridSearchCV(dfr, grid, cv=folds, scoring=_n_groups_scorer)
        search.fit(X, y, groups=batches, group_labels=g)
    assert np.all(search.cv_results_["mean_test_score"] == 4)
    assert search.best_estimator_.n_groups_ == 4


def test_dfr_groups_given_to_a_search_are_not_lost_silently(data):
    # GridSearchCV(DFR).fit(X, y, groups=g) hands g to the splitter: DFR says it got none
    d = data
    search = GridSearchCV(DFRClassifier(n_subsamples=2, random_state=0), {"Cs": [(1.0,)]},
                          cv=GroupKFold(n_splits=3), scoring=_n_groups_scorer)
    with pytest.warns(UserWarning, match="got no group_labels.*consumed by the CV splitter"):
        search.fit(d["X_val"], d["y_val"], groups=np.arange(len(d["y_val"])) % 10)
    assert search.best_estimator_.n_groups_ == 2


def test_dfr_groups_is_a_deprecated_alias_of_group_labels(data):
    X, y, g = data["X_val"], data["y_val"], data["g_val"]
    new = DFRClassifier(n_subsamples=2, random_state=0).fit(X, y, group_labels=g)
    with pytest.warns(FutureWarning, match="pass group_labels"):
        old = DFRClassifier(n_subsamples=2, random_state=0).fit(X, y, groups=g)
    np.testing.assert_array_equal(old.coef_, new.coef_)
    with pytest.raises(ValueError, match="both group_labels and the deprecated groups"):
        DFRClassifier().fit(X, y, group_labels=g, groups=g)


def test_dfr_bad_groups(data):
    X, y, g = data["X_val"], data["y_val"], data["g_val"]
    with pytest.raises(ValueError, match="group_labels must be 1-D with one label per row"):
        DFRClassifier().fit(X, y, group_labels=g[:-1])
    with pytest.raises(ValueError, match="group_labels must be 1-D with one label per row"):
        DFRClassifier().fit(X, y, group_labels=np.column_stack([g, g]))
    with pytest.raises(ValueError, match="Cs must hold positive"):
        DFRClassifier(Cs=[1.0, -0.1]).fit(X, y)
    with pytest.raises(ValueError, match="Cs must hold positive"):
        DFRClassifier(Cs=[]).fit(X, y)


def test_dfr_single_sample_group_is_used_in_both_halves(data):
    # A group of one sample would be empty in one half of the split: documented
    # behaviour is that it goes into both halves, with a warning.
    X, y, g = data["X_val"], data["y_val"], data["g_val"].copy()
    g[np.flatnonzero(g == 0)[1:]] = 1  # group 0 keeps a single sample
    with pytest.warns(UserWarning, match="single sample"):
        dfr = DFRClassifier(n_subsamples=2, random_state=0).fit(X, y, group_labels=g)
    assert dfr.n_groups_ == 4


# ---- AFR ---------------------------------------------------------------------


def test_afr_weights_are_exp_minus_gamma_p_over_class_size():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [5, 20, 75])
    p = rng.random(100)
    w = _afr_weights(p, y, 3.0, 3)
    expected = np.exp(-3.0 * p) / np.array([5, 20, 75])[y]
    np.testing.assert_allclose(w, expected / expected.sum())
    assert w.sum() == pytest.approx(1.0)
    # gamma = 0: uniform within class, every class the same total
    totals = np.bincount(y, weights=_afr_weights(p, y, 0.0, 3))
    np.testing.assert_allclose(totals, 1 / 3)
    # large gamma does not underflow
    assert np.all(np.isfinite(_afr_weights(p, y, 1e4, 3)))


def test_afr_objective_gradient():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 3, 40)
    w = rng.random(40)
    init = rng.normal(size=12)
    for offset in (None, rng.normal(size=(40, 3))):
        f = lambda t: _afr_objective(t, X, y, w, offset, init, 0.3, chunk=7)[0]  # noqa: E731
        g = lambda t: _afr_objective(t, X, y, w, offset, init, 0.3, chunk=7)[1]  # noqa: E731
        assert check_grad(f, g, rng.normal(size=12)) < 1e-5


def test_afr_with_huge_reg_lambda_stays_at_the_reference(data):
    d = data
    afr = AFRClassifier(d["erm"], reg_lambda=1e8).fit(d["X_val"], d["y_val"])
    assert afr.head_init_ == "reference"
    # two classes: one row, the binary reference's own (w, b)
    np.testing.assert_allclose(afr.coef_, d["erm"].coef_, atol=1e-6)
    np.testing.assert_allclose(afr.intercept_, d["erm"].intercept_, atol=1e-6)
    np.testing.assert_array_equal(afr.predict(d["X_te"]), d["erm"].predict(d["X_te"]))
    np.testing.assert_allclose(
        afr.predict_proba(d["X_te"]), d["erm"].predict_proba(d["X_te"]), atol=1e-5
    )


def test_afr_without_regularisation_is_weighted_logistic_regression(data):
    d = data
    afr = AFRClassifier(d["erm"], gamma=4.0, reg_lambda=0.0, max_iter=5000)
    afr.fit(d["X_val"], d["y_val"])
    p = d["erm"].predict_proba(d["X_val"])[np.arange(len(d["y_val"])), d["y_val"]]
    w = _afr_weights(p, d["y_val"], 4.0, 2)
    lr = LogisticRegression(C=1e8, tol=1e-10, max_iter=10000)
    lr.fit(d["X_val"], d["y_val"], sample_weight=w * len(w))
    np.testing.assert_allclose(afr.coef_, lr.coef_, atol=1e-3)
    np.testing.assert_allclose(afr.intercept_, lr.intercept_, atol=1e-3)


def test_afr_raises_worst_group_accuracy_when_errors_mark_the_minority():
    # ERM trained where the attribute agrees with the class 99% of the time; AFR
    # reweights held-out data where it agrees 90% of the time, so the examples ERM
    # gets wrong are mostly minority-group ones. (On the shared spurious_data
    # fixture, whose core feature is noisier, the hard examples are mostly
    # majority-group samples with unlucky core noise, and AFR does not help.)
    rng = np.random.default_rng(0)
    X_tr, y_tr, _ = make_spurious(4000, 0.99, rng, d_core=1.5)
    X_val, y_val, _ = make_spurious(1000, 0.90, rng, d_core=1.5)
    X_te, y_te, g_te = make_spurious(4000, 0.10, rng, d_core=1.5)
    erm = LogisticRegression().fit(X_tr, y_tr)
    afr = AFRClassifier(erm, gamma=4.0, reg_lambda=0.01).fit(X_val, y_val)
    wga_erm = worst_group_accuracy(y_te, erm.predict(X_te), g_te)
    assert worst_group_accuracy(y_te, afr.predict(X_te), g_te) > wga_erm + 0.05


def test_afr_data_roles(data):
    d = data
    # the stand-in reference is fitted on X_tune, the head on X
    afr = AFRClassifier().fit(d["X_val"], d["y_val"], X_tune=d["X_tr"], y_tune=d["y_tr"])
    expected = LogisticRegression(max_iter=1000).fit(d["X_tr"], d["y_tr"])
    np.testing.assert_array_equal(afr.reference_estimator_.coef_, expected.coef_)
    # with neither estimator nor X_tune, X is split: the reference sees half of it
    alone = AFRClassifier(random_state=0).fit(d["X_val"], d["y_val"])
    ref_rows, _ = _split_halves(d["y_val"], 2, np.random.RandomState(0))
    half = LogisticRegression(max_iter=1000).fit(d["X_val"][ref_rows], d["y_val"][ref_rows])
    np.testing.assert_array_equal(alone.reference_estimator_.coef_, half.coef_)
    again = AFRClassifier(random_state=0).fit(d["X_val"], d["y_val"])
    np.testing.assert_array_equal(again.coef_, alone.coef_)


def test_afr_non_linear_reference_gets_a_correction(data):
    d = data
    knn = KNeighborsClassifier(n_neighbors=15).fit(d["X_tr"], d["y_tr"])
    afr = AFRClassifier(knn, reg_lambda=1e8).fit(d["X_val"], d["y_val"])
    assert afr.head_init_ == "offset"
    np.testing.assert_allclose(afr.coef_, 0.0, atol=1e-6)
    np.testing.assert_array_equal(afr.predict(d["X_te"][:300]), knn.predict(d["X_te"][:300]))
    moved = AFRClassifier(knn, gamma=4.0).fit(d["X_val"], d["y_val"])
    assert np.abs(moved.coef_).max() > 1e-3


def test_afr_float32_memmap(tmp_path, data):
    path = tmp_path / "X.npy"
    np.save(path, data["X_val"].astype(np.float32))
    X = np.load(path, mmap_mode="r")
    afr32 = AFRClassifier(data["erm"]).fit(X, data["y_val"])
    X64 = data["X_val"].astype(np.float32).astype(np.float64)
    afr64 = AFRClassifier(data["erm"]).fit(X64, data["y_val"])
    np.testing.assert_allclose(afr32.coef_, afr64.coef_, rtol=1e-5, atol=1e-6)


# ---- JTT ---------------------------------------------------------------------


def test_jtt_weights():
    errors = np.array([True, False, False, True])
    np.testing.assert_array_equal(_jtt_weights(errors, 20), [20.0, 1.0, 1.0, 20.0])


def test_jtt_is_logistic_regression_with_the_errors_upweighted(data):
    d = data
    jtt = JTTLastLayer(d["erm"], upweight=20)
    jtt.fit(d["X_val"], d["y_val"], X_tune=d["X_tr"], y_tune=d["y_tr"])
    errors = d["erm"].predict(d["X_tr"]) != d["y_tr"]
    np.testing.assert_array_equal(jtt.error_indices_, np.flatnonzero(errors))
    expected = LogisticRegression(max_iter=1000).fit(
        d["X_tr"], d["y_tr"], sample_weight=np.where(errors, 20.0, 1.0)
    )
    np.testing.assert_allclose(jtt.coef_, expected.coef_)
    np.testing.assert_allclose(jtt.intercept_, expected.intercept_)


def test_jtt_upweighting_moves_the_head_off_the_spurious_feature(data):
    d = data
    fit = dict(X_tune=d["X_tr"], y_tune=d["y_tr"])
    plain = JTTLastLayer(d["erm"], upweight=1).fit(d["X_val"], d["y_val"], **fit)
    # upweight=1 is the unweighted fit
    unweighted = LogisticRegression(max_iter=1000).fit(d["X_tr"], d["y_tr"])
    np.testing.assert_allclose(plain.coef_, unweighted.coef_)
    ratios = []
    for upweight in (1, 5, 20, 50):
        jtt = JTTLastLayer(d["erm"], upweight=upweight).fit(d["X_val"], d["y_val"], **fit)
        ratios.append(jtt.coef_[0, 1] / jtt.coef_[0, 0])  # spurious over core weight
    assert np.all(np.diff(ratios) < 0)
    assert _wga(jtt, d) > _wga(d["erm"], d) + 0.05


def test_jtt_without_tuning_data_uses_x(data):
    d = data
    jtt = JTTLastLayer().fit(d["X_val"], d["y_val"])
    ref = LogisticRegression(max_iter=1000).fit(d["X_val"], d["y_val"])
    np.testing.assert_array_equal(jtt.reference_estimator_.coef_, ref.coef_)
    errors = np.flatnonzero(ref.predict(d["X_val"]) != d["y_val"])
    np.testing.assert_array_equal(jtt.error_indices_, errors)


# ---- all of them ---------------------------------------------------------------


def _all_estimators():
    return [
        ERMHead(),
        ClassBalancedRetraining(random_state=0, **FAST),
        RandomMaskClassifier(random_state=0, **FAST),
        FixedMaskClassifier(mask=np.eye(3, 4, dtype=bool), random_state=0, **FAST),
        DFRClassifier(n_subsamples=2, random_state=0),
        AFRClassifier(random_state=0),
        JTTLastLayer(),
    ]


@pytest.mark.parametrize("est", _all_estimators(), ids=lambda e: type(e).__name__)
def test_multiclass_string_labels(est):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    labels = np.array(["cat", "dog", "eel"])
    y = labels[np.argmax(X[:, :3] + 0.3 * rng.normal(size=(400, 3)), axis=1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # degenerate-class warnings of the scores
        est.fit(X, y)
    np.testing.assert_array_equal(est.classes_, labels)
    pred = est.predict(X)
    assert set(pred) <= set(labels)
    proba = est.predict_proba(X)
    assert proba.shape == (400, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(labels[np.argmax(proba, axis=1)], pred)


@pytest.mark.parametrize(
    "est", [ERMHead(), AFRClassifier(), JTTLastLayer()], ids=lambda e: type(e).__name__
)
def test_tuning_data_checks_are_neurontunes(est, data):
    X, y, X_tr, y_tr = data["X_val"], data["y_val"], data["X_tr"], data["y_tr"]
    with pytest.raises(ValueError, match="y_tune was given without X_tune"):
        est.fit(X, y, y_tune=y_tr)
    with pytest.raises(ValueError, match="X_tune was given without y_tune"):
        est.fit(X, y, X_tune=X_tr)
    with pytest.raises(ValueError, match="cut along with the folds of X.*TuningData"):
        est.fit(X, y, X_tune=X_tr[: len(X)], y_tune=y_tr[: len(X)])
    with pytest.raises(ValueError, match=r"y_tune has labels not present in y: \[7\]"):
        est.fit(X, y, X_tune=X_tr, y_tune=np.where(y_tr == 1, 7, 0))
    with pytest.raises(ValueError, match="at least 2 classes"):
        est.fit(X, np.zeros_like(y))
