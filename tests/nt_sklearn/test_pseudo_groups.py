"""The label-free configuration: pseudo-group weights, the paired guard, and
NeuronTuneAutoClassifier's components."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from nt_sklearn import NeuronTuneAutoClassifier, NeuronTuneClassifier
from nt_sklearn._pseudo_groups import (paired_improvement, pseudo_group_weights,
                                       pseudo_groups, worst_group_accuracy_of)
from tests._spurious import make_spurious

FAST = dict(n_epochs=3, batches_per_epoch=30)


def test_pseudo_group_weights_balance_right_and_wrong_within_each_class():
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    wrong = np.array([0, 0, 0, 0, 1, 0, 0, 0], bool)
    w = pseudo_group_weights(y, wrong, 2)
    g = pseudo_groups(y, np.where(wrong, 1 - y, y))
    mass = np.bincount(g, weights=w, minlength=4)
    np.testing.assert_allclose(mass, [2.5, 2.5, 3.0, 0.0])  # class 0 split evenly; class 1 kept
    np.testing.assert_allclose(np.bincount(y, weights=w), np.bincount(y))  # class mass kept


def test_pseudo_group_weights_multiply_the_given_weights():
    y = np.array([0, 0, 0, 1, 1])
    wrong = np.array([0, 0, 1, 0, 1], bool)
    w = pseudo_group_weights(y, wrong, 2, sample_weight=np.array([1.0, 3.0, 2.0, 1.0, 1.0]))
    np.testing.assert_allclose(w, [0.75, 2.25, 3.0, 1.0, 1.0])  # class 0: 4 right, 2 wrong


def test_worst_group_accuracy_skips_empty_groups():
    groups = np.array([0, 0, 2, 2])
    assert worst_group_accuracy_of(groups, np.array([1, 1, 1, 0], bool), 4) == 0.5


def test_paired_guard_needs_more_than_noise():
    g = np.repeat([0, 1], 100)
    ref = np.r_[np.ones(100, bool), np.arange(100) < 50]
    # ten rows fixed out of 100 in the worst group, none broken: z = 10 / sqrt(10) > 2
    better = ref.copy()
    better[150:160] = True
    assert paired_improvement(g, ref, better, 2)
    # three fixed, two broken: a net +1 row is noise
    noisy = ref.copy()
    noisy[150:153] = True
    noisy[100:102] = False
    assert not paired_improvement(g, ref, noisy, 2)
    # a gain in the reference's worst group paid for by a new, worse group is refused
    traded = ref.copy()
    traded[150:200] = True
    traded[:60] = False
    assert not paired_improvement(g, ref, traded, 2)


@pytest.fixture(scope="module")
def skewed():
    rng = np.random.default_rng(0)
    train = make_spurious(1500, 0.95, rng)
    val = make_spurious(800, 0.9, rng)  # validation skewed like training
    erm = LogisticRegression().fit(train[0], train[1])
    return erm, val


def _fit(erm, val, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        # one fit (cross_fit=False) unless asked: these tests look inside it
        return NeuronTuneAutoClassifier(erm, random_state=0, **FAST,
                                        **{"cross_fit": False, **params}).fit(*val[:2])


def test_auto_pseudo_groups_are_cross_fitted(skewed):
    erm, val = skewed
    nt = _fit(erm, val, selection="worst_pseudo_group", guard_margin="paired")
    X_id, y_id = val[0][nt.identification_indices_], val[1][nt.identification_indices_]
    tune = np.setdiff1d(np.arange(len(val[1])), nt.identification_indices_)
    grouper = LogisticRegression(max_iter=1000).fit(val[0][tune], val[1][tune])
    np.testing.assert_array_equal(nt.pseudo_groups_, 2 * y_id + (grouper.predict(X_id) != y_id))
    # scored on groups it did not make, the reference is not 0 on any of them
    assert nt.reference_score_ > 0
    assert nt.worst_class_history_[nt.best_epoch_] == nt.worst_class_history_.max() or \
        nt.kept_reference_


def test_auto_reweighting_changes_the_fit_and_none_restores_it(skewed):
    erm, val = skewed
    on = _fit(erm, val, guard_margin=None, reweighting="pseudo_groups")
    off = _fit(erm, val, guard_margin=None)
    assert not np.allclose(on.coef_, off.coef_)
    again = NeuronTuneAutoClassifier(**off.get_params(deep=False)).fit(*val[:2])  # deterministic
    np.testing.assert_array_equal(again.coef_, off.coef_)


def test_auto_guard_keeps_the_reference_when_the_head_cannot_beat_it(skewed):
    erm, val = skewed
    for guard in ("auto", "paired"):  # everything but one feature masked: a poor head
        nt = _fit(erm, val, threshold=-1e9, guard_margin=guard)
        assert nt.kept_reference_ and nt.best_epoch_ == -1
        np.testing.assert_allclose(nt.decision_function(val[0]), erm.decision_function(val[0]))


def test_paper_configuration_is_untouched_by_the_hooks(skewed):
    # the hooks default to the paper's computation: NeuronTuneClassifier has no pseudo-groups
    erm, val = skewed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        nt = NeuronTuneClassifier(erm, random_state=0, **FAST).fit(*val[:2])
    assert not hasattr(nt, "pseudo_groups_")
    pred = nt.predict(val[0][nt.identification_indices_])
    y_id = val[1][nt.identification_indices_]
    assert nt.worst_class_history_[nt.best_epoch_] == pytest.approx(
        min(np.mean(pred[y_id == c] == c) for c in (0, 1)))


def test_auto_is_saved_and_loaded_without_pickle(skewed, tmp_path):
    from nt_sklearn import LinearHead, load_model, save_model

    erm, val = skewed
    nt = _fit(LinearHead(coef=erm.coef_, intercept=erm.intercept_, classes=erm.classes_), val)
    again = load_model(save_model(nt, tmp_path / "auto.npz"))
    np.testing.assert_array_equal(again.decision_function(val[0]), nt.decision_function(val[0]))


def test_auto_one_fit_is_the_recommended_neurontune_bit_for_bit(skewed):
    erm, val = skewed
    auto = _fit(erm, val, cross_fit=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        nt = NeuronTuneClassifier(erm, random_state=0, **FAST, threshold="fdr",
                                  mask_scope="per_class", standardize=True,
                                  selection="worst_class", guard_margin="auto").fit(*val[:2])
    np.testing.assert_array_equal(auto.coef_, nt.coef_)
    np.testing.assert_array_equal(auto.worst_class_history_, nt.worst_class_history_)
    assert auto.kept_reference_ == nt.kept_reference_
