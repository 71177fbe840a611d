"""NeuronTuneAutoClassifier's second-pass options: cross-fitting (the halves swap roles, the
heads are averaged, the guard pools both halves) and early-stopped disagreement reweighting."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.utils import check_random_state
from sklearn.utils.estimator_checks import parametrize_with_checks

from nt_sklearn import LinearHead, NeuronTuneAutoClassifier, TuningData, load_model, save_model
from nt_sklearn._base import _split_halves, _TuningData
from nt_sklearn._pseudo_groups import disagreement_model
from tests._spurious import make_spurious

FAST = dict(n_epochs=3, batches_per_epoch=30)


@pytest.fixture(scope="module")
def skewed():
    rng = np.random.default_rng(0)
    train = make_spurious(1500, 0.95, rng)
    val = make_spurious(800, 0.9, rng)
    erm = LogisticRegression().fit(train[0], train[1])
    return erm, val


def _fit(erm, X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return NeuronTuneAutoClassifier(erm, **{"random_state": 0, **FAST, **params}).fit(X, y)


def test_cross_fit_averages_the_heads_of_the_two_swapped_fits(skewed):
    erm, (X, y, _) = skewed
    crossed = _fit(erm, X, y, cross_fit=True, guard_margin=None)
    rng = check_random_state(0)
    first, second = _split_halves(y, 2, rng)
    heads = []
    for ident, tune in ((first, second), (second, first)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            heads.append(NeuronTuneAutoClassifier(erm, random_state=rng, guard_margin=None, **FAST)
                         .fit(X[ident], y[ident], X_tune=TuningData(X[tune], y[tune])))
    assert not np.allclose(heads[0].coef_, heads[1].coef_)
    np.testing.assert_allclose(crossed.coef_, (heads[0].coef_ + heads[1].coef_) / 2)
    np.testing.assert_allclose(crossed.intercept_, (heads[0].intercept_ + heads[1].intercept_) / 2)
    # the first of the two fits is the one-fit default's, bit for bit
    single = _fit(erm, X, y, cross_fit=False, guard_margin=None)
    np.testing.assert_array_equal(heads[0].coef_, single.coef_)
    assert not crossed.kept_reference_ and crossed.n_tune_samples_ == len(y)


def test_cross_fit_guard_pools_held_out_predictions_over_all_of_x(skewed):
    erm, (X, y, _) = skewed
    crossed = _fit(erm, X, y, cross_fit=True)
    # the reference is scored on every row of X: its worst-class accuracy there
    ref_pred = erm.predict(X)
    assert crossed.reference_score_ == pytest.approx(
        min(np.mean(ref_pred[y == c] == c) for c in (0, 1)))
    assert 0 < crossed.cross_fit_score_ <= 1
    assert _fit(erm, X, y, cross_fit=False).cross_fit_score_ is None


def test_cross_fit_guard_keeps_the_reference_when_the_heads_cannot_beat_it(skewed):
    erm, (X, y, _) = skewed
    for guard in ("auto", "paired", 0.0):  # everything but one feature masked: poor heads
        nt = _fit(erm, X, y, cross_fit=True, threshold=-1e9, guard_margin=guard)
        assert nt.kept_reference_ and nt.best_epoch_ == -1
        assert nt.cross_fit_score_ < nt.reference_score_
        np.testing.assert_allclose(nt.decision_function(X), erm.decision_function(X))


def test_cross_fit_is_one_fit_when_x_tune_is_given(skewed):
    erm, (X, y, _) = skewed
    fits = []
    for cross_fit in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            fits.append(NeuronTuneAutoClassifier(erm, cross_fit=cross_fit, random_state=0, **FAST)
                        .fit(X[100:], y[100:], X_tune=X[:100], y_tune=y[:100]))
    assert fits[0].cross_fit_score_ is None and fits[0].n_tune_samples_ == 100
    np.testing.assert_array_equal(fits[0].coef_, fits[1].coef_)


def test_cross_fit_is_saved_and_loaded_without_pickle(skewed, tmp_path):
    erm, (X, y, _) = skewed
    head = LinearHead(coef=erm.coef_, intercept=erm.intercept_, classes=erm.classes_)
    nt = _fit(head, X, y, cross_fit=True, guard_margin=None)
    again = load_model(save_model(nt, tmp_path / "crossed.npz"))
    np.testing.assert_array_equal(again.decision_function(X), nt.decision_function(X))


def test_disagreement_weights_upweight_the_rows_the_two_models_disagree_on(skewed):
    erm, (X, y, _) = skewed
    nt = _fit(erm, X, y, cross_fit=False, reweighting="disagreement", guard_margin=None)
    ident = nt.identification_indices_
    tune = np.setdiff1d(np.arange(len(y)), ident)
    data = _TuningData(X[ident], y[ident], X[tune], y[tune], ident, None, None)
    w = nt._tuning_weights(data).w_tune
    other = disagreement_model().fit(X[ident], y[ident])
    disagree = other.predict(X[tune]) != erm.predict(X[tune])
    assert disagree.any()
    for c in (0, 1):
        in_c = y[tune] == c
        if disagree[in_c].any() and (~disagree[in_c]).any():
            # the disagreeing rows are the rarer ones: each weighs more, both sides weigh alike
            assert w[in_c & disagree].min() > w[in_c & ~disagree].max()
            assert w[in_c & disagree].sum() == pytest.approx(w[in_c & ~disagree].sum())
        assert w[in_c].sum() == pytest.approx(in_c.sum())  # each class keeps its mass
    off = _fit(erm, X, y, cross_fit=False, guard_margin=None)
    assert not np.allclose(nt.coef_, off.coef_)


@pytest.mark.parametrize("params", [dict(reweighting="errors"), dict(cross_fit="yes"),
                                    dict(cross_fit=None)])
def test_invalid_second_pass_options_are_refused(skewed, params):
    erm, (X, y, _) = skewed
    with pytest.raises(ValueError):
        NeuronTuneAutoClassifier(erm, **params).fit(X, y)


@parametrize_with_checks(
    [NeuronTuneAutoClassifier(n_epochs=2, cross_fit=True),
     NeuronTuneAutoClassifier(n_epochs=2, reweighting="disagreement")],
    expected_failed_checks=lambda est: {
        "check_sample_weight_equivalence_on_dense_data":
            "as NeuronTuneAutoClassifier() in test_common.py: random class-balanced draws, "
            "and the halves of X are a split of rows, not of copies"},
)
def test_second_pass_options_pass_scikit_learn_common_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check(estimator)
