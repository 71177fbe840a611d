"""The method's mathematics alone: scores, selection, SFit."""

import numpy as np
import pytest

from nt_sklearn import select_biased_features, sfit, spuriousness_scores
from nt_sklearn._medians import ACTIVATIONS, activations


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


def median_reference(X, y, y_pred, n_classes, activation):
    """The scores as np.median gives them on float64 activations, one class at a time."""
    A = activations(X, activation).astype(np.float64)
    out = np.zeros((X.shape[1], n_classes))
    for c in range(n_classes):
        wrong, right = (y == c) & (y_pred != c), (y == c) & (y_pred == c)
        if wrong.any() and right.any():
            out[:, c] = np.median(A[wrong], axis=0) - np.median(A[right], axis=0)
    return out


def with_errors(y, n_classes, counts, rng):
    """Predictions with exactly ``counts[c]`` misclassified rows in class ``c``."""
    y_pred = y.copy()
    for c, m in enumerate(counts):
        rows = rng.choice(np.flatnonzero(y == c), m, replace=False)
        y_pred[rows] = (c + rng.integers(1, n_classes, m)) % n_classes
    return y_pred


def tied_data(rng, n, d, dtype):
    """Activations with many ties: rounded values, and ReLU-like exact zeros."""
    X = rng.normal(size=(n, d))
    X[:, ::2] = np.round(X[:, ::2])
    X[:, 1::4] = np.maximum(X[:, 1::4], 0)
    return X.astype(dtype)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("activation", ["abs", "relu", "identity"])
def test_presorted_scores_equal_np_median_exactly(n_classes, activation):
    from nt_sklearn._medians import _ClassMedianScorer

    rng = np.random.default_rng(n_classes)
    X = tied_data(rng, 1_501, 37, np.float32)
    y = rng.integers(0, n_classes, len(X))
    scorer = _ClassMedianScorer(X, y, n_classes, activation, presort=True)
    sizes = np.bincount(y)
    # odd and even numbers of errors and of correct rows, one or two rows on either side
    for counts in ([1] * n_classes, [2] * n_classes, [3] * n_classes, sizes - 1, sizes - 2,
                   sizes // 2, sizes // 2 + 1, rng.integers(1, sizes)):
        y_pred = with_errors(y, n_classes, counts, rng)
        np.testing.assert_array_equal(scorer(y_pred)[0],
                                      median_reference(X, y, y_pred, n_classes, activation))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_presorted_scores_follow_epochs_of_small_changes_exactly(dtype):
    """Few predictions change between calls, as between epochs: the medians are moved, not
    recomputed; a class with no error in between, and large jumps, start them afresh."""
    from nt_sklearn._medians import _ClassMedianScorer

    rng = np.random.default_rng(3)
    X = tied_data(rng, 2_400, 29, dtype)
    y = (rng.random(len(X)) < 0.3).astype(int)
    scorer = _ClassMedianScorer(X, y, 2, "abs", presort=True)
    y_pred = with_errors(y, 2, [150, 90], rng)
    for epoch in range(40):
        n_moved = len(X) if epoch % 13 == 12 else int(rng.integers(1, 60))
        rows = rng.choice(len(X), n_moved, replace=False)
        y_pred[rows] = 1 - y_pred[rows]
        if epoch == 20:
            y_pred[y == 0] = 0  # class 0 without errors for one epoch
        scores, degenerate = scorer(y_pred)
        np.testing.assert_array_equal(scores, median_reference(X, y, y_pred, 2, "abs"))
        assert degenerate == [c for c in (0, 1)
                              if len(np.unique(y_pred[y == c] == c)) == 1]


def test_presorted_scores_of_signed_zeros_and_one_row_classes():
    from nt_sklearn._medians import _ClassMedianScorer

    X = np.array([[-0.0, 1.0], [0.0, -2.0], [-0.0, 3.0], [0.0, 0.0], [5.0, -0.0]],
                 dtype=np.float32)
    y = np.array([0, 0, 0, 1, 1])
    y_pred = np.array([1, 0, 0, 0, 1])
    for activation in ACTIVATIONS:
        got, degenerate = _ClassMedianScorer(X, y, 2, activation, presort=True)(y_pred)
        np.testing.assert_array_equal(got, median_reference(X, y, y_pred, 2, activation))
        assert degenerate == []


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


def _bit_sort_reference(A):
    """The stable order of each column of float32 ``A`` as the sorts' bit keys order it:
    -0.0 just below 0.0, equal values in row order."""
    values = A.astype(np.float64)
    values[(values == 0) & np.signbit(A)] = -1e-300  # between the negatives and 0.0
    return np.argsort(values.T, axis=1, kind="stable")


@pytest.mark.parametrize("method", ["keys", "radix"])
@pytest.mark.parametrize("n", [1, 7, 3_001, 70_000])
def test_both_float32_sorts_give_the_same_stable_order(method, n):
    """The presort's two float32 sorts (the faster is picked per machine) agree exactly with
    a stable sort, for signed values, ties, signed zeros and 16- or 32-bit positions."""
    from nt_sklearn._column_sort import _sort_columns

    rng = np.random.default_rng(n)
    A = tied_data(rng, n, 6, np.float32)
    A[::7, 0] = -0.0
    index = np.uint16 if n <= 1 << 16 else np.int32
    for values, nonnegative in ((A, False), (np.abs(A), True)):
        order = np.empty(values.shape[::-1], dtype=index)
        _sort_columns(values, order, nonnegative=nonnegative, method=method)
        np.testing.assert_array_equal(order, _bit_sort_reference(values))


@pytest.mark.parametrize("method", ["keys", "radix"])
def test_presorted_scores_are_exact_with_either_sort(method, monkeypatch):
    from nt_sklearn import _medians
    from nt_sklearn._medians import _ClassMedianScorer

    assert _medians._float32_sort_method() in ("keys", "radix")
    monkeypatch.setattr(_medians, "_float32_sort_method", lambda: method)
    rng = np.random.default_rng(5)
    X = tied_data(rng, 2_003, 130, np.float32)  # three feature chunks, the last one short
    y = rng.integers(0, 3, len(X))
    scorer = _ClassMedianScorer(X, y, 3, "identity", presort=True)
    for counts in ([1, 2, 3], np.bincount(y) // 2):
        y_pred = with_errors(y, 3, counts, rng)
        np.testing.assert_array_equal(scorer(y_pred)[0],
                                      median_reference(X, y, y_pred, 3, "identity"))
