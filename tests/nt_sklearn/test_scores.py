"""The method's mathematics alone: scores, selection, SFit."""

import numpy as np
import pytest

from nt_sklearn import select_biased_features, sfit, spuriousness_scores
from nt_sklearn._medians import activations


def loop_scores(X, y, y_pred, activation):
    """Reference implementation: one dimension and one class at a time."""
    A = activations(X, activation)
    classes = np.unique(y)
    out = np.zeros((X.shape[1], len(classes)))
    for k in range(X.shape[1]):
        for j, c in enumerate(classes):
            wrong = (y == c) & (y_pred != c)
            right = (y == c) & (y_pred == c)
            if wrong.any() and right.any():
                out[k, j] = np.median(A[wrong, k]) - np.median(A[right, k])
    return out


@pytest.mark.parametrize("activation", ["abs", "relu", "identity"])
def test_scores_match_a_per_dimension_loop(activation):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 7))
    y = rng.integers(0, 3, 300)
    y_pred = np.where(rng.random(300) < 0.7, y, rng.integers(0, 3, 300))
    got = spuriousness_scores(X, y, y_pred, activation=activation)
    np.testing.assert_allclose(got, loop_scores(X, y, y_pred, activation))


def test_string_labels_and_column_order():
    X = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 3.0], [0.0, 0.0], [0.0, 0.0], [0.0, 3.0]])
    y = np.array(["a", "a", "a", "b", "b", "b"])
    y_pred = np.array(["a", "a", "b", "b", "b", "a"])
    s = spuriousness_scores(X, y, y_pred, classes=["b", "a"])
    np.testing.assert_allclose(s, [[0.0, 0.0], [3.0, 3.0]])


def test_class_without_errors_scores_zero_and_is_named():
    X = np.arange(12, dtype=float).reshape(6, 2) ** 2
    y = np.array([0, 0, 0, 1, 1, 1])
    y_pred = np.array([0, 0, 0, 1, 0, 1])
    with pytest.warns(UserWarning, match="Class\\(es\\) 0 have no misclassified"):
        s = spuriousness_scores(X, y, y_pred)
    assert np.all(s[:, 0] == 0)
    assert np.all(s[:, 1] != 0)


def test_unknown_label_in_classes_is_an_error():
    with pytest.raises(ValueError, match="not in `classes`"):
        spuriousness_scores(np.ones((2, 1)), [0, 1], [0, 1], classes=[0, 2])


def test_selection_is_a_union_over_classes():
    scores = np.array([[0.1, -1.0], [-0.1, -0.2], [-1.0, 0.3], [0.0, 0.0]])
    np.testing.assert_array_equal(select_biased_features(scores), [True, False, True, False])
    np.testing.assert_array_equal(
        select_biased_features(scores, threshold=0.2), [False, False, True, False]
    )


def test_cap_keeps_the_highest_scores():
    scores = np.array([[0.1], [0.5], [0.3], [-1.0]])
    mask = select_biased_features(scores, max_masked_fraction=0.5)
    np.testing.assert_array_equal(mask, [False, True, True, False])


def test_every_feature_biased_keeps_the_least_biased_one():
    scores = np.array([[0.1, 0.4], [0.5, 0.0], [0.05, 0.2]])
    with pytest.warns(UserWarning, match="least biased feature is kept unmasked"):
        mask = select_biased_features(scores)
    np.testing.assert_array_equal(mask, [True, True, False])


def test_sfit_is_sum_of_magnitudes():
    assert sfit(np.array([[0.5, -0.25], [0.0, 1.0]])) == pytest.approx(1.75)


@pytest.mark.parametrize("error_rate", [0.02, 0.5, 0.97])
def test_presorted_medians_equal_direct_medians(error_rate):
    from nt_sklearn._medians import _ClassMedianScorer

    rng = np.random.default_rng(2)
    X = rng.normal(size=(501, 9)).astype(np.float32)
    X[:, 3] = np.round(X[:, 3])  # ties
    y = rng.integers(0, 3, 501)
    direct = _ClassMedianScorer(X, y, 3)
    presorted = _ClassMedianScorer(X, y, 3, presort=True)
    for _ in range(3):
        y_pred = np.where(rng.random(501) < error_rate, (y + 1) % 3, y)
        np.testing.assert_allclose(presorted(y_pred)[0], direct(y_pred)[0], rtol=1e-6, atol=1e-6)
