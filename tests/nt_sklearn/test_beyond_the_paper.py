"""Options beyond the paper: diagnostics, the FDR threshold, per-class masks,
standardisation, worst-class selection and the guard against the reference."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from tests._spurious import make_spurious
from nt_sklearn import LinearHead, NeuronTuneClassifier
from nt_sklearn._significance import error_association_pvalues, fdr_flags

FAST = dict(n_epochs=5, batches_per_epoch=50)


def fit(data, **params):
    (X_tr, y_tr, _), (X_val, y_val, _), _ = data
    erm = LogisticRegression().fit(X_tr, y_tr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return NeuronTuneClassifier(erm, random_state=0, **FAST, **params).fit(
            X_val, y_val, X_tune=X_tr, y_tune=y_tr
        )


def test_diagnostics_on_every_fit(spurious_data):
    nt = fit(spurious_data)
    (_, _, _), (X_val, y_val, _), _ = spurious_data
    assert nt.masked_fraction_ == pytest.approx(nt.biased_features_.mean())
    pred = nt.predict(X_val)
    np.testing.assert_allclose(nt.class_accuracy_, [np.mean(pred[y_val == c] == c) for c in (0, 1)])
    ref = nt.reference_estimator_.predict(X_val)
    np.testing.assert_allclose(
        nt.reference_class_accuracy_, [np.mean(ref[y_val == c] == c) for c in (0, 1)]
    )
    assert nt.worst_class_history_[nt.best_epoch_] == pytest.approx(nt.class_accuracy_.min())
    # degenerate_ is its documented rule: a class never predicted, or a worst-class drop > 10 points
    collapsed = nt.reference_class_accuracy_.min() - nt.class_accuracy_.min() > 0.10
    assert nt.degenerate_ == (collapsed or len(np.unique(pred)) < 2)
    assert not nt.kept_reference_


def test_fdr_threshold_flags_the_spurious_dimension_and_spares_noise(spurious_data):
    # validation balanced within class, as Waterbirds': the reference errs on the minority
    train, _, test = spurious_data
    balanced_val = make_spurious(1000, 0.5, np.random.default_rng(1))
    paper = fit((train, balanced_val, test))
    fdr = fit((train, balanced_val, test), threshold="fdr")
    assert fdr.p_values_.shape == (5, 2)
    assert fdr.biased_features_[1] and not fdr.biased_features_[0]
    assert fdr.biased_features_[2:].sum() <= paper.biased_features_[2:].sum()


def test_fdr_sees_a_sparse_detector_that_the_median_misses():
    # feature 1 fires (value 3) in 30% of misclassified samples, 2% of correct ones:
    # both medians are 0, so the paper's score is 0, but the rank test sees it
    rng = np.random.default_rng(0)
    n = 4000
    y = np.repeat([0, 1], n // 2)
    wrong = rng.random(n) < 0.2
    fires = rng.random(n) < np.where(wrong, 0.30, 0.02)
    X = np.column_stack([rng.normal(size=n), 3.0 * fires, rng.normal(size=(n, 3))])
    y_pred = np.where(wrong, 1 - y, y)
    p = error_association_pvalues(X, y, y_pred, 2)
    flags = fdr_flags(p, 0.05)
    assert flags[1].all() and not flags[[0, 2, 3, 4]].any()


def test_per_class_masks(spurious_data):
    nt = fit(spurious_data, mask_scope="per_class")
    assert nt.feature_scale_.shape == (2, 5)
    np.testing.assert_array_equal(nt.biased_features_, (nt.feature_scale_ != 1).any(axis=0))
    *_, (X_te, _, _) = spurious_data
    decision = (X_te @ nt.coef_.T + nt.intercept_)[:, 0]
    np.testing.assert_allclose(nt.decision_function(X_te), decision)
    # coef_ folds each class's mask into its row of the selected head
    path = nt.coef_path_[nt.best_epoch_]
    np.testing.assert_array_equal(path[nt.feature_scale_ == 0], 0.0)
    np.testing.assert_array_equal(nt.coef_[0], path[1] - path[0])


def test_masked_fraction_cap(spurious_data):
    paper = fit(spurious_data)
    nt = fit(spurious_data, max_masked_fraction=0.2)
    assert paper.biased_features_.sum() > 1
    # one feature of five stays masked: the one with the highest score
    assert nt.biased_feature_indices_.tolist() == [int(np.argmax(nt.spuriousness_scores_.max(1)))]


def test_standardisation_is_folded_back_exactly():
    # training on z = (x - mean) / std and folding back equals training on z directly
    rng = np.random.default_rng(0)
    X_tune = rng.normal(5.0, [1.0, 10.0, 0.1], size=(901, 3))
    y_tune = (X_tune[:, 0] - 5 + 0.1 * rng.normal(size=901) > 0).astype(int)
    X_id, y_id = X_tune[:300], y_tune[:300]
    mean, std = X_tune.mean(axis=0), X_tune.std(axis=0)
    head_x = LinearHead(coef=[[0, 0, 0], [1.0, 0.1, 2.0]], intercept=[0.0, -6.0], classes=[0, 1])
    coef_z = np.asarray(head_x.coef) * std
    intercept_z = [0.0, -6.0 + coef_z[1] @ (mean / std)]
    head_z = LinearHead(coef=coef_z, intercept=intercept_z, classes=[0, 1])
    params = dict(mask_value=1.0, random_state=0, **FAST)
    on_x = NeuronTuneClassifier(head_x, standardize=True, **params).fit(X_id, y_id, X_tune, y_tune)
    on_z = NeuronTuneClassifier(head_z, **params).fit(
        (X_id - mean) / std, y_id, (X_tune - mean) / std, y_tune
    )
    np.testing.assert_allclose(on_x.coef_ * std, on_z.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        on_x.decision_function(X_tune), on_z.decision_function((X_tune - mean) / std), atol=1e-6
    )


def test_worst_class_selection(spurious_data):
    nt = fit(spurious_data, selection="worst_class")
    assert nt.worst_class_history_[nt.best_epoch_] == nt.worst_class_history_.max()


def test_guard_keeps_the_reference_when_tuning_does_not_beat_it(spurious_data):
    (X_tr, y_tr, _), (X_val, y_val, _), (X_te, _, _) = spurious_data
    erm = LogisticRegression().fit(X_tr, y_tr)
    # masking everything but one noise feature cannot beat the reference
    nt = fit(spurious_data, threshold=-1e9, guard_margin=0.0)
    assert nt.kept_reference_ and nt.best_epoch_ == -1
    np.testing.assert_array_equal(nt.predict(X_te), erm.predict(X_te))
    assert nt.masked_fraction_ == 0.0
    # without the guard the same fit is flagged as degenerate
    with pytest.warns(UserWarning, match="may be worse than the reference model"):
        NeuronTuneClassifier(erm, threshold=-1e9, random_state=0, **FAST).fit(
            X_val, y_val, X_tune=X_tr, y_tune=y_tr
        )


def test_auto_guard_margin_is_two_standard_errors(spurious_data):
    nt = fit(spurious_data, guard_margin="auto")
    _, (_, y_val, _), _ = spurious_data
    worst = int(np.argmin(nt.reference_class_accuracy_))
    p = nt.reference_class_accuracy_[worst]
    expected = 2 * np.sqrt(p * (1 - p) / np.sum(y_val == worst))
    assert nt._guard_margin(y_val, 2) == pytest.approx(expected)


def test_dagger_records_its_identification_half(spurious_data):
    _, (X_val, y_val, _), _ = spurious_data
    nt = NeuronTuneClassifier(random_state=0, **FAST).fit(X_val, y_val)
    assert len(nt.identification_indices_) == len(y_val) // 2
