"""Spuriousness scores, the selection of biased features, and SFit.

These are the method's mathematics alone (NeuronTune, Zheng et al., ICML 2025,
Section 4.2.1 and "Model Selection"), usable without fitting anything: given
embeddings, class labels and any model's predictions, they say which
dimensions carry features that go with the model's errors.
"""

import warnings
from numbers import Real

import numpy as np
from sklearn.utils._param_validation import validate_params
from sklearn.utils.validation import check_array, check_consistent_length

from ._compat import Interval, StrOptions

__all__ = ["activations", "select_biased_features", "sfit", "spuriousness_scores"]

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
    """

    def __init__(self, X, y_encoded, n_classes, activation="abs", presort=False):
        order = np.argsort(y_encoded, kind="stable")
        bounds = np.searchsorted(y_encoded[order], np.arange(n_classes + 1))
        self._order, self._y, self.n_classes = order, y_encoded[order], n_classes
        self._bounds = bounds
        self.n_features = X.shape[1]
        self._columns = []
        for c in range(n_classes):  # a loop over classes, not samples
            A_c = activations(np.asarray(X[order[bounds[c] : bounds[c + 1]]]), activation)
            self._columns.append(_SortedColumns(A_c) if presort else A_c)

    def __call__(self, y_pred_encoded):
        """Return ``(scores, degenerate_classes)`` for these predictions."""
        wrong = y_pred_encoded[self._order] != self._y
        scores = np.zeros((self.n_features, self.n_classes), dtype=np.float64)
        degenerate = []
        for c, columns in enumerate(self._columns):
            wrong_c = wrong[self._bounds[c] : self._bounds[c + 1]]
            n_wrong = int(wrong_c.sum())
            if n_wrong == 0 or n_wrong == len(wrong_c):
                degenerate.append(c)
                continue
            if isinstance(columns, _SortedColumns):
                med_wrong, med_right = columns.split_medians(wrong_c)
            else:
                med_wrong = np.median(columns[wrong_c], axis=0)
                med_right = np.median(columns[~wrong_c], axis=0)
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
        positions = np.arange(n, dtype=np.int32)[None, :]
        for lo in range(0, d, chunk):  # feature chunks bound argsort's int64 temporary
            columns = np.ascontiguousarray(A[:, lo : lo + chunk].T)
            order = np.argsort(columns, axis=1)
            self.sorted[lo : lo + chunk] = np.take_along_axis(columns, order, axis=1)
            np.put_along_axis(self.ranks[lo : lo + chunk], order, positions, axis=1)

    def split_medians(self, mask):
        """Medians of the rows in ``mask`` and of the rows outside it."""
        small_is_mask = mask.sum() <= len(mask) // 2
        small_ranks = np.sort(self.ranks[:, mask if small_is_mask else ~mask], axis=1)
        values = np.take_along_axis(self.sorted, small_ranks, axis=1)  # sorted too
        med_small = (values[:, (values.shape[1] - 1) // 2].astype(np.float64) + values[:, values.shape[1] // 2]) / 2
        med_large = self._median_excluding(small_ranks)
        return (med_small, med_large) if small_is_mask else (med_large, med_small)

    def _median_excluding(self, removed):
        """Median of every feature without the (sorted, per feature) ranks ``removed``."""
        n_left = self.sorted.shape[1] - removed.shape[1]
        # the k-th remaining value sits at k + #{j : removed[j] - j <= k} in the sorted row
        below = removed - np.arange(removed.shape[1])[None, :]
        lo, hi = (n_left - 1) // 2, n_left // 2
        v_lo = np.take_along_axis(self.sorted, lo + (below <= lo).sum(axis=1, keepdims=True), axis=1)
        v_hi = np.take_along_axis(self.sorted, hi + (below <= hi).sum(axis=1, keepdims=True), axis=1)
        return (v_lo[:, 0].astype(np.float64) + v_hi[:, 0]) / 2


def _warn_degenerate(degenerate, classes):
    if degenerate:
        names = ", ".join(repr(np.asarray(classes[c]).item()) for c in degenerate)
        warnings.warn(
            f"Class(es) {names} have no misclassified or no correctly classified "
            "samples in the identification data; their spuriousness scores are 0.",
            UserWarning,
            stacklevel=3,
        )


@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "y_pred": ["array-like"],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "classes": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def spuriousness_scores(X, y, y_pred, *, activation="abs", classes=None):
    """Spuriousness score of every feature for every class.

    ``s[k, c] = median(a_k over misclassified class-c samples)
    - median(a_k over correctly classified class-c samples)``, with
    ``a = activation(X)``. A positive score means high activation goes with
    errors: the feature is not predictive of class ``c``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Embeddings of the identification data.
    y : array-like of shape (n_samples,)
        True class labels.
    y_pred : array-like of shape (n_samples,)
        Predictions of the model being inspected.
    activation : {"abs", "relu", "identity"}, default="abs"
        Applied to ``X`` before the medians (the paper takes ``|x|``).
    classes : array-like of shape (n_classes,), default=None
        Column order of the result; ``np.unique(y)`` when None.

    Returns
    -------
    scores : ndarray of shape (n_features, n_classes)
        A class with no misclassified or no correctly classified sample
        scores 0 on every feature, and a warning names it.

    See Also
    --------
    select_biased_features : Turn scores into a mask of biased features.
    sfit : The label-free model-selection score built from these scores.

    Examples
    --------
    >>> import numpy as np
    >>> from nt_sklearn import spuriousness_scores
    >>> X = np.array([[1., 0.], [1., 0.], [1., 3.], [0., 0.], [0., 0.], [0., 3.]])
    >>> y = np.array([0, 0, 0, 1, 1, 1])
    >>> y_pred = np.array([0, 0, 1, 1, 1, 0])  # errors where feature 1 is high
    >>> spuriousness_scores(X, y, y_pred)
    array([[0., 0.],
           [3., 3.]])
    """
    X = check_array(X, dtype=[np.float64, np.float32])
    y = np.asarray(y)
    y_pred = np.asarray(y_pred)
    check_consistent_length(X, y, y_pred)
    classes = np.unique(y) if classes is None else np.asarray(classes)
    unknown = np.setdiff1d(y, classes)
    if unknown.size:
        raise ValueError(f"y contains labels that are not in `classes`: {unknown.tolist()}")
    y_enc = _encode(classes, y)
    # a prediction outside `classes` is simply an error: encode it as -1
    y_pred_enc = np.full(len(y_pred), -1)
    known = np.isin(y_pred, classes)
    y_pred_enc[known] = _encode(classes, y_pred[known])
    scores, degenerate = _ClassMedianScorer(X, y_enc, len(classes), activation)(y_pred_enc)
    _warn_degenerate(degenerate, classes)
    return scores


def _encode(classes, values):
    """Index of each value in ``classes`` (which need not be sorted)."""
    order = np.argsort(classes, kind="stable")
    pos = np.searchsorted(classes[order], values)
    return order[np.clip(pos, 0, len(classes) - 1)]


@validate_params(
    {
        "scores": ["array-like"],
        "threshold": [Interval(Real, None, None, closed="neither")],
        "max_masked_fraction": [Interval(Real, 0, 1, closed="both"), None],
    },
    prefer_skip_nested_validation=True,
)
def select_biased_features(scores, *, threshold=0.0, max_masked_fraction=None):
    """Boolean mask of the biased features.

    A feature is biased when its score exceeds ``threshold`` for at least one
    class (the union over classes, as in the paper).

    Parameters
    ----------
    scores : array-like of shape (n_features, n_classes)
        Output of :func:`spuriousness_scores`.
    threshold : float, default=0.0
        The paper's eta.
    max_masked_fraction : float in [0, 1], default=None
        Keep at most ``floor(max_masked_fraction * n_features)`` features
        masked: those with the highest score. None (the paper's method) masks
        every feature above the threshold except that, should that be every
        feature, the one with the lowest score stays unmasked and a warning
        says so: a head with no input left would predict a constant.

    Returns
    -------
    mask : ndarray of shape (n_features,), dtype bool
        True where the feature is biased.

    Examples
    --------
    >>> import numpy as np
    >>> from nt_sklearn import select_biased_features
    >>> select_biased_features(np.array([[0.2, -0.1], [-0.3, -0.2], [0.0, 0.5]]))
    array([ True, False,  True])
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (n_features, n_classes), got shape {scores.shape}")
    worst = scores.max(axis=1)
    mask = worst > threshold
    n_features = len(mask)
    if max_masked_fraction is None:
        cap = n_features - 1
        if mask.sum() > cap:
            warnings.warn(
                f"Every one of the {n_features} features scored above the threshold "
                f"{threshold}; the least biased feature is kept unmasked so that the "
                "head still sees an input. Consider a higher threshold or "
                "max_masked_fraction.",
                UserWarning,
                stacklevel=2,
            )
    else:
        cap = int(np.floor(max_masked_fraction * n_features))
    if mask.sum() > cap:
        # keep the `cap` highest-scoring biased features masked; ties go to the lower index
        ranked = np.argsort(-worst, kind="stable")[:cap]
        mask = np.zeros(n_features, dtype=bool)
        mask[ranked] = True
    return mask


def sfit(scores):
    """Spuriousness fitness: the sum of ``|s[k, c]|`` over features and classes.

    Higher is better: biased and unbiased features are distinguishable in the
    model's errors (the paper's label-free model-selection score).

    Parameters
    ----------
    scores : array-like of shape (n_features, n_classes)

    Returns
    -------
    float

    Examples
    --------
    >>> from nt_sklearn import sfit
    >>> sfit([[0.5, -0.25], [0.0, 1.0]])
    1.75
    """
    return float(np.abs(np.asarray(scores, dtype=np.float64)).sum())

