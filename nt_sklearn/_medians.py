"""Column-wise medians of the activations, per class, for many prediction vectors.

The machinery behind :func:`~nt_sklearn.spuriousness_scores` and the SFit of
every epoch: activations grouped by class, each feature sorted once, split
into misclassified and correct rows at every call, the rows whose prediction
changed moved from one part to the other; weighted medians for frequency
weights.
"""

import functools
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._column_sort import _float32_sort_method, _sort_columns, _transposed
from ._threads import blas_threads

__all__ = ["ACTIVATIONS", "activations"]

ACTIVATIONS = ("abs", "relu", "identity")
_THREADED_SORT = 1 << 22  # values of the identification set above which the presort is threaded


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

    With ``presort=True`` (the identification and the SFit of every epoch of
    a fit) every class's features are sorted once (:class:`_RankedColumns`)
    and a call moves only the rows whose prediction changed since the
    previous call: O(d x changed rows) instead of O(d x n). The medians are
    exact, the two middle order statistics of each part averaged in float64
    (:func:`numpy.median` of the float64 activations); the direct path
    (``presort=False``, one call) takes :func:`numpy.median` in X's dtype.

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
        self._presorted = presort
        # threads for a presort of at least _THREADED_SORT values (asked once: threadpoolctl
        # takes a few ms with torch loaded; below that, starting threads costs more than it saves)
        n_threads = blas_threads() if presort and X.size >= _THREADED_SORT else 1
        for c in range(n_classes):
            rows = order[bounds[c] : bounds[c + 1]]
            if presort:
                self._columns.append(_RankedColumns(X, rows, activation, n_threads=n_threads))
            else:  # one row per feature: the medians run along contiguous memory
                self._columns.append(_transposed(activations(np.asarray(X[rows]), activation)))

    def __call__(self, y_pred_encoded):
        """Return ``(scores, degenerate_classes)`` for these predictions."""
        wrong = y_pred_encoded[self._order] != self._y
        # (a thread a class was slower: the per-feature steps are many short numpy calls)
        columns = [self._class_scores(c, wrong[self._bounds[c] : self._bounds[c + 1]])
                   for c in range(self.n_classes)]
        scores = np.zeros((self.n_features, self.n_classes), dtype=np.float64)
        for c, column in enumerate(columns):
            if column is not None:
                scores[:, c] = column
        return scores, [c for c, column in enumerate(columns) if column is None]

    def _class_scores(self, c, wrong_c):
        """The scores of class ``c`` whose misclassified rows are ``wrong_c``; None for a
        degenerate class (no misclassified or no correct row)."""
        columns = self._columns[c]
        if self._weights is not None:
            w_c = self._weights[c]
            if not (w_c[wrong_c].sum() > 0 and w_c[~wrong_c].sum() > 0):
                return None
            med_wrong, med_right = columns.weighted_split_medians(wrong_c, w_c)
            return med_wrong - med_right
        if self._presorted:
            columns.move_to(wrong_c)  # kept up to date even for a degenerate class
        n_wrong = int(wrong_c.sum())
        if n_wrong == 0 or n_wrong == len(wrong_c):
            return None
        if self._presorted:
            med_wrong, med_right = columns.split_medians()
        else:
            med_wrong = np.median(np.compress(wrong_c, columns, axis=1), axis=1)
            med_right = np.median(np.compress(~wrong_c, columns, axis=1), axis=1)
        return med_wrong.astype(np.float64) - med_right


class _RankedColumns:
    """Exact column-wise medians of a changing subset of rows and of its complement.

    One class's rows of ``X``, each feature's activations sorted once:
    ``order`` holds the row at every sorted position and ``ranks`` (one row
    per sample, so that the positions of a few rows are read contiguously)
    the position of every row. The subset (the misclassified rows) is a flag
    per sorted position, in blocks of ``2**shift`` positions. A median is the
    average of two order statistics, each found from a pointer per feature
    (its block and the number of members before that block). When few rows
    move between calls, as between epochs, the pointers are corrected for the
    moved rows and walk the few blocks their order statistic moved: a call
    costs O(d x moved rows + d x block) instead of O(d x n). Ties need no
    care: the medians depend on the values only, and any order of equal
    values is a sorted order. The values are read back from ``X``, which is
    kept (not copied).
    """

    def __init__(self, X, rows, activation, chunk=64, shift=6, n_threads=None):
        n, d = len(rows), X.shape[1]
        self.X, self.rows, self.activation = X, rows, activation
        self.n, self.shift = n, shift
        self.n_blocks = max(1, -(-n >> shift))
        # positions fit 16 bits for classes of up to 65,536 rows: half the memory and traffic
        index = np.uint16 if n <= 1 << 16 else np.int32
        self.order = np.empty((d, n), dtype=index)
        self.ranks = np.empty((n, d), dtype=index)
        # feature chunks keep the work buffers in cache; each thread sorts a contiguous run
        # of them (numpy's sorts and copies release the GIL)
        starts = np.arange(0, d, chunk)
        n_threads = max(1, min(len(starts), n_threads or blas_threads()))
        runs = [run for run in np.array_split(starts, n_threads) if len(run)]
        # (timed once, before any thread starts: the threads would slow each other's timing)
        method = (_float32_sort_method() if np.result_type(X.dtype, np.float32) == np.float32
                  else None)
        sort_run = functools.partial(self._sort_chunks, X, chunk=chunk, method=method)
        if len(runs) == 1:
            sort_run(runs[0])
        else:
            with ThreadPoolExecutor(len(runs)) as pool:
                list(pool.map(sort_run, runs))  # list(): a thread's error is raised here
        self.member = np.zeros((d, self.n_blocks, 1 << shift), dtype=bool)  # padded: False
        self.wrong = np.zeros(n, dtype=bool)
        self.pointers = None  # {in_subset: (block, members before it)}, each of shape (d, 2)

    def _sort_chunks(self, X, starts, chunk, method):
        """Fill ``order`` and ``ranks`` for the feature chunks beginning at ``starts``."""
        n, d, index = self.n, X.shape[1], self.order.dtype
        positions = np.arange(n, dtype=index)
        # work buffers reused by every chunk: fresh memory for each would cost a page fault
        # per 4 KB, as much as the sort itself
        A = np.empty((n, chunk), np.result_type(X.dtype, np.float32))
        inverse = np.empty((chunk, n), index)
        keys = np.empty((chunk, n), np.uint64) if method == "keys" else None
        for lo in starts:
            width = min(chunk, d - lo)
            if width < chunk:
                A, inverse = A[:, :width].copy(), inverse[:width]
            # (np.take with out= would first copy the whole column slice: 3x slower)
            A[...] = X[self.rows, lo : lo + width]  # float16: their exact float32 values
            _activate(A, self.activation)
            order = self.order[lo : lo + width]
            _sort_columns(A, order, nonnegative=self.activation == "abs", method=method,
                          keys=None if keys is None else keys[:width])
            for inverse_k, order_k in zip(inverse, order):  # the inverse permutations
                inverse_k[order_k] = positions
            _transposed(inverse, out=self.ranks[:, lo : lo + width])

    def move_to(self, wrong, chunk=1024):
        """Make the rows flagged in ``wrong`` the subset."""
        moved = np.flatnonzero(wrong != self.wrong)
        self.wrong, m = wrong.copy(), int(wrong.sum())
        if m in (0, self.n) or len(moved) > max(64, self.n >> 5):
            self.pointers = None  # many moved: cheaper to recount the blocks
        d = len(self.member)
        if len(moved) > self.n >> 4:  # many moved: rebuild the flags from the sorted rows
            self.pointers = None
            flags, index = self.member.reshape(d, -1), np.empty((16, self.n), dtype=np.intp)
            for lo in range(0, d, 16):  # feature chunks keep the converted index in cache
                rows = self.order[lo : lo + 16]
                index[: len(rows)] = rows
                np.take(wrong, index[: len(rows)], out=flags[lo : lo + 16, : self.n])
            return
        flat = self.member.reshape(-1)
        offsets = (np.arange(d, dtype=np.intp) * (self.n_blocks << self.shift))[None, :]
        for lo in range(0, len(moved), chunk):  # row chunks bound the (rows, d) temporaries
            rows = moved[lo : lo + chunk]
            entering = wrong[rows]
            pos = self.ranks[rows].astype(np.intp)
            flat[pos + offsets] = entering[:, None]
            if self.pointers is not None:
                sign = np.where(entering, 1, -1)[:, None, None]
                blocks = (pos >> self.shift)[:, :, None]
                for inside, (block, before) in self.pointers.items():
                    change = np.sum(sign * (blocks < block[None]), axis=0)
                    before += change if inside else -change

    def split_medians(self):
        """Medians of the rows in the subset and of the rows outside it, per feature."""
        m = int(self.wrong.sum())
        if self.pointers is None:
            counts = _count_flags(self.member)
            in_block = np.minimum(self.n - (np.arange(self.n_blocks) << self.shift),
                                  1 << self.shift)
            self.pointers = {True: _pointers(counts, m), False: _pointers(in_block - counts,
                                                                          self.n - m)}
        return self._median(True, m), self._median(False, self.n - m)

    def _flags(self, inside, features, block):
        """Membership flags of one block per (feature, target): the subset or its complement."""
        flags = self.member[features, block]
        if not inside:
            padding = (block[..., None] << self.shift) + np.arange(1 << self.shift) >= self.n
            flags = ~flags & ~padding
        return flags

    def _median(self, inside, size):
        """The median of each feature over the ``size`` rows of a part."""
        block, before = self.pointers[inside]
        targets = np.array([(size - 1) // 2, size // 2])[None, :]
        features = np.broadcast_to(np.arange(len(block))[:, None], block.shape)
        flags = self._flags(inside, features, block)
        # walk the pointers that no longer hold their order statistic, one block at a time
        f, j = features.ravel(), np.tile([0, 1], len(block))
        while True:
            count = np.count_nonzero(flags[f, j], axis=1)
            right = before[f, j] + count <= targets[0, j]
            left = before[f, j] > targets[0, j]
            move = right | left
            if not move.any():
                break
            f, j, count, right, left = f[move], j[move], count[move], right[move], left[move]
            before[f[right], j[right]] += count[right]
            block[f, j] += np.where(right, 1, -1)
            flags[f, j] = self._flags(inside, f, block[f, j])
            # the block entered on the left: its members come off `before`
            before[f[left], j[left]] -= np.count_nonzero(flags[f[left], j[left]], axis=1)
        within = np.argmax(np.cumsum(flags, axis=2, dtype=np.int32)
                           > (targets - before)[..., None], axis=2)
        return self._mean_at((block << self.shift) + within)

    def _mean_at(self, positions, lo=0):
        """Mean of the two values at ``positions`` (d, 2) of features ``lo``, ``lo + 1``...

        The values are read back from ``X`` at the rows those positions hold.
        """
        features = np.arange(lo, lo + len(positions))[:, None]
        at = np.take_along_axis(self.order[lo : lo + len(positions)], positions, axis=1)
        v = activations(self.X[self.rows[at], features], self.activation)
        return (v[:, 0].astype(np.float64) + v[:, 1]) / 2

    def weighted_split_medians(self, mask, weights, chunk=256):
        """Weighted medians of the rows in ``mask`` and of the rows outside it.

        The weighted median is the mean of the lower and upper weighted
        medians: the first sorted values whose cumulative weight reaches, and
        exceeds, half the total. With integer weights it is exactly the
        median of the rows repeated that many times; rows of weight 0 count
        for nothing. O(n d) per call (the weights are placed in each
        feature's sorted order), ``chunk`` features at a time.
        """
        n_features = len(self.order)
        inside = np.where(mask, weights, 0.0)
        parts = ((inside, np.empty(n_features)), (weights - inside, np.empty(n_features)))
        for lo in range(0, n_features, chunk):
            order = self.order[lo : lo + chunk]
            for w, out in parts:
                cumulative = np.cumsum(w[order], axis=1)  # each feature's weights, sorted
                half = cumulative[:, -1:] / 2
                at = np.stack([np.argmax(cumulative >= half, axis=1),
                               np.argmax(cumulative > half, axis=1)], axis=1)
                out[lo : lo + chunk] = self._mean_at(at, lo)
        return parts[0][1], parts[1][1]


def _SortedColumns(A):
    """The presorted columns of a matrix of activations, every row (the former name, which
    tests/nt_sklearn/test_sample_weight.py imports)."""
    return _RankedColumns(A, np.arange(len(A)), "identity")


def _count_flags(flags):
    """Number of True flags in each block of ``flags`` (shape ``(d, n_blocks, 64)``).

    Eight flags (bytes of 0 or 1) are one 64-bit word: the words of a block
    are summed (each byte lane stays below 256), then the eight lanes.
    """
    words = flags.view(np.uint64)
    lanes = words[..., 0].copy()
    for i in range(1, words.shape[2]):  # faster than a reduction along a short axis
        lanes += words[..., i]
    return ((lanes * np.uint64(0x0101010101010101)) >> np.uint64(56)).astype(np.intp)


def _pointers(counts, size):
    """Block of the two middle order statistics of ``size`` members, and members before it."""
    cum = np.cumsum(counts, axis=1)
    targets = np.array([(size - 1) // 2, size // 2])
    block = np.count_nonzero(cum[:, :, None] <= targets, axis=1)  # the first cum > target
    before = np.take_along_axis(cum, np.maximum(block - 1, 0), axis=1)
    return block, np.where(block > 0, before, 0)


def _activate(A, kind):
    """:func:`activations` in place."""
    if kind == "abs":
        np.abs(A, out=A)
    elif kind == "relu":
        np.maximum(A, 0, out=A)
    elif kind != "identity":
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {kind!r}")
