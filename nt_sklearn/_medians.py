"""Column-wise medians of the activations, per class, for many prediction vectors.

The machinery behind :func:`~nt_sklearn.spuriousness_scores` and the SFit of
every epoch: activations grouped by class, presorted once, split into
misclassified and correct rows at every call; weighted medians for
frequency weights.
"""

import numpy as np

__all__ = ["ACTIVATIONS", "activations"]

ACTIVATIONS = ("abs", "relu", "identity")


def activations(X, kind="abs"):
    """Map embeddings to the activations the scores compare.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    kind : {"abs", "relu", "identity"}, default="abs"
        ``"abs"`` is the paper's choice: a large magnitude, of either sign,
        means a large contribution to the prediction.

    Returns
    -------
    A : ndarray of shape (n_samples, n_features)
        ``X`` itself for ``"identity"``, else a new array of X's dtype.
    """
    if kind == "abs":
        return np.abs(X)
    if kind == "relu":
        return np.maximum(X, 0)
    if kind == "identity":
        return X
    raise ValueError(f"activation must be one of {ACTIVATIONS}, got {kind!r}")


class _ClassMedianScorer:
    """Scores of one identification set for many prediction vectors.

    The activations are computed once and kept grouped by class; each call
    splits every class into misclassified and correct rows and takes the two
    column-wise medians.

    With ``presort=True`` (used for SFit after every epoch) each class's
    columns are sorted once, and a call costs O(m d log m) instead of
    O(n d), where m is the smaller of the two parts (usually the errors): the
    small part's median is taken directly, and the large part's as order
    statistics of the sorted column with the small part's ranks removed.

    With ``sample_weight`` the medians are weighted (frequency weights: an
    integer weight counts its row that many times, so the result is the
    median of the repeated rows) and always use the presorted columns.
    """

    def __init__(self, X, y_encoded, n_classes, activation="abs", presort=False,
                 sample_weight=None):
        order = np.argsort(y_encoded, kind="stable")
        bounds = np.searchsorted(y_encoded[order], np.arange(n_classes + 1))
        self._order, self._y, self.n_classes = order, y_encoded[order], n_classes
        self._bounds = bounds
        self.n_features = X.shape[1]
        self._columns, self._weights = [], None
        if sample_weight is not None:
            presort = True
            self._weights = [sample_weight[order[bounds[c] : bounds[c + 1]]]
                             for c in range(n_classes)]
        for c in range(n_classes):  # a loop over classes, not samples
            A_c = activations(np.asarray(X[order[bounds[c] : bounds[c + 1]]]), activation)
            # both keep one row per feature: the medians then run along contiguous memory
            self._columns.append(_SortedColumns(A_c) if presort else _transposed(A_c))

    def __call__(self, y_pred_encoded):
        """Return ``(scores, degenerate_classes)`` for these predictions."""
        wrong = y_pred_encoded[self._order] != self._y
        scores = np.zeros((self.n_features, self.n_classes), dtype=np.float64)
        degenerate = []
        for c, columns in enumerate(self._columns):
            wrong_c = wrong[self._bounds[c] : self._bounds[c + 1]]
            if self._weights is not None:
                w_c = self._weights[c]
                if not (w_c[wrong_c].sum() > 0 and w_c[~wrong_c].sum() > 0):
                    degenerate.append(c)
                    continue
                med_wrong, med_right = columns.weighted_split_medians(wrong_c, w_c)
                scores[:, c] = med_wrong - med_right
                continue
            n_wrong = int(wrong_c.sum())
            if n_wrong == 0 or n_wrong == len(wrong_c):
                degenerate.append(c)
                continue
            if isinstance(columns, _SortedColumns):
                med_wrong, med_right = columns.split_medians(wrong_c)
            else:
                med_wrong = np.median(np.compress(wrong_c, columns, axis=1), axis=1)
                med_right = np.median(np.compress(~wrong_c, columns, axis=1), axis=1)
            scores[:, c] = med_wrong.astype(np.float64) - med_right
        return scores, degenerate


class _SortedColumns:
    """Column-wise medians of row subsets of one matrix, many times over.

    Stored transposed (one row per feature) so that every sort and count runs
    along contiguous memory.
    """

    def __init__(self, A, chunk=256):
        n, d = A.shape
        self.sorted = np.empty((d, n), dtype=A.dtype)
        self.ranks = np.empty((d, n), dtype=np.int32)
        positions = np.arange(n, dtype=np.int32)
        for lo in range(0, d, chunk):  # feature chunks bound argsort's int64 temporary
            columns = _transposed(A[:, lo : lo + chunk])
            order = np.argsort(columns, axis=1)
            # np.sort gives the same values as columns[order] (tied values are equal)
            # and is several times faster than gathering them with take_along_axis
            self.sorted[lo : lo + chunk] = np.sort(columns, axis=1)
            for ranks, column_order in zip(self.ranks[lo : lo + chunk], order):
                ranks[column_order] = positions  # the inverse permutation

    def split_medians(self, mask):
        """Medians of the rows in ``mask`` and of the rows outside it."""
        small_is_mask = mask.sum() <= len(mask) // 2
        # np.compress returns a C-contiguous array, which np.sort sorts with SIMD code;
        # boolean indexing along axis 1 does not (a non-contiguous result sorts ~5x slower)
        small = mask if small_is_mask else ~mask
        small_ranks = np.sort(np.compress(small, self.ranks, axis=1), axis=1)
        m = small_ranks.shape[1]
        middle = np.take_along_axis(self.sorted, small_ranks[:, [(m - 1) // 2, m // 2]], axis=1)
        med_small = (middle[:, 0].astype(np.float64) + middle[:, 1]) / 2
        med_large = self._median_excluding(small_ranks)
        return (med_small, med_large) if small_is_mask else (med_large, med_small)

    def weighted_split_medians(self, mask, weights, chunk=256):
        """Weighted medians of the rows in ``mask`` and of the rows outside it.

        The weighted median is the mean of the lower and upper weighted
        medians: the first sorted values whose cumulative weight reaches, and
        exceeds, half the total. With integer weights it is exactly the
        median of the rows repeated that many times; rows of weight 0 count
        for nothing. O(n d) per call (the weights are placed in each
        feature's sorted order), ``chunk`` features at a time.
        """
        n_features = self.sorted.shape[0]
        inside = np.where(mask, weights, 0.0)
        parts = ((inside, np.empty(n_features)), (weights - inside, np.empty(n_features)))
        for lo in range(0, n_features, chunk):
            ranks, values = self.ranks[lo : lo + chunk], self.sorted[lo : lo + chunk]
            rows = np.arange(len(ranks))[:, None]
            for w, out in parts:
                placed = np.empty(ranks.shape)
                placed[rows, ranks] = w  # each feature's weights in its sorted order
                cumulative = np.cumsum(placed, axis=1)
                half = cumulative[:, -1:] / 2
                at = np.stack([np.argmax(cumulative >= half, axis=1),
                               np.argmax(cumulative > half, axis=1)], axis=1)
                middle = np.take_along_axis(values, at, axis=1)
                out[lo : lo + chunk] = (middle[:, 0].astype(np.float64) + middle[:, 1]) / 2
        return parts[0][1], parts[1][1]

    def _median_excluding(self, removed):
        """Median of every feature without the (sorted, per feature) ranks ``removed``."""
        n_left = self.sorted.shape[1] - removed.shape[1]
        # the k-th remaining value sits at k + #{j : removed[j] - j <= k} in the sorted row
        below = removed - np.arange(removed.shape[1], dtype=removed.dtype)[None, :]
        lo, hi = (n_left - 1) // 2, n_left // 2
        at_lo = lo + np.count_nonzero(below <= lo, axis=1)[:, None]
        at_hi = hi + np.count_nonzero(below <= hi, axis=1)[:, None]
        v_lo = np.take_along_axis(self.sorted, at_lo, axis=1)
        v_hi = np.take_along_axis(self.sorted, at_hi, axis=1)
        return (v_lo[:, 0].astype(np.float64) + v_hi[:, 0]) / 2


def _transposed(A, block=64):
    """``A.T`` as a C-contiguous copy, ``block`` rows of ``A`` at a time.

    Copying a transposed view in one call walks one of the two arrays with a
    large stride; copying row blocks keeps both sides in cache (~5x faster on
    a (20000, 256) float32 slice).
    """
    out = np.empty(A.shape[::-1], dtype=A.dtype)
    for lo in range(0, A.shape[0], block):
        out[:, lo : lo + block] = A[lo : lo + block].T
    return out
