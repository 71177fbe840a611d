"""Group metrics of the spurious-correlation literature.

Groups (class x spurious attribute) are for evaluation only. "Mean accuracy"
means three different things across papers; :func:`mean_accuracy` names them:

- ``"sample"``: the plain accuracy over all test samples;
- ``"train_weighted"``: per-group accuracies weighted by the group
  proportions of the training data (the Waterbirds convention of the group
  DRO line of work, whose test set is group-balanced);
- ``"group_mean"``: the unweighted mean of the per-group accuracies.

``groups`` is either one label per sample (disjoint groups) or a boolean
mask of shape (n_samples, n_groups) whose column ``g`` is True for the
samples in group ``g``: overlapping groups, as WILDS reports CivilComments
(16 identity groups, a comment may mention several). A group's accuracy is
the accuracy over the samples of its column; a column with no sample is
skipped with a warning. A pandas DataFrame mask names the groups by its
columns.
"""

import warnings

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import make_scorer
from sklearn.utils.validation import check_consistent_length, column_or_1d

__all__ = [
    "accuracy_gap",
    "group_accuracies",
    "make_worst_group_scorer",
    "mean_accuracy",
    "worst_class_accuracy",
    "worst_group_accuracy",
]

CONVENTIONS = ("sample", "train_weighted", "group_mean")


def _check(y_true, y_pred, groups=None):
    y_true = column_or_1d(y_true)
    y_pred = column_or_1d(y_pred)
    if groups is None:
        check_consistent_length(y_true, y_pred)
    elif isinstance(groups, _GroupMask) or np.ndim(groups) == 2:
        groups = groups if isinstance(groups, _GroupMask) else _GroupMask(groups)
        check_consistent_length(y_true, y_pred, groups.mask)
    else:
        groups = column_or_1d(groups)
        check_consistent_length(y_true, y_pred, groups)
    if len(y_true) == 0:
        raise ValueError("Group metrics need at least one sample; got empty arrays.")
    return y_true, y_pred, groups


class _GroupMask:
    """Overlapping groups: a boolean (n_samples, n_groups) mask and the groups' names."""

    def __init__(self, groups):
        columns = getattr(groups, "columns", None)
        mask = np.asarray(groups)
        if mask.dtype != bool:
            if not np.isin(mask, (0, 1)).all():
                raise ValueError(
                    "A 2-D groups must be a mask of overlapping groups: booleans (or 0 and "
                    f"1) of shape (n_samples, n_groups); got values other than 0 and 1 in "
                    f"an array of dtype {mask.dtype}."
                )
            mask = mask.astype(bool)
        self.mask = mask
        self.names = list(columns) if columns is not None else list(range(mask.shape[1]))


def group_accuracies(y_true: ArrayLike, y_pred: ArrayLike, groups: ArrayLike) -> dict:
    """Accuracy of every group present in ``groups``.

    The accuracy within a group is the fraction of its samples whose
    prediction is right.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True class labels.
    y_pred : array-like of shape (n_samples,)
        Predicted class labels.
    groups : array-like of shape (n_samples,) or (n_samples, n_groups)
        Group label of every sample (class x spurious attribute), for
        evaluation only; or a boolean mask of overlapping groups (see the
        module's description).

    Returns
    -------
    dict
        ``{group: accuracy}``, in sorted group order; for a mask, keyed by
        column index (or DataFrame column name), columns without a sample
        left out with a warning.

    See Also
    --------
    worst_group_accuracy : The lowest of these accuracies.

    Examples
    --------
    >>> from nt_sklearn.metrics import group_accuracies
    >>> group_accuracies([0, 0, 1, 1], [0, 1, 1, 1], groups=[0, 0, 3, 3])
    {0: 0.5, 3: 1.0}
    >>> mentions = [[True, False], [True, True], [False, True], [False, False]]
    >>> group_accuracies([0, 0, 1, 1], [0, 1, 1, 1], groups=mentions)  # overlapping
    {0: 0.5, 1: 0.5}
    """
    y_true, y_pred, groups = _check(y_true, y_pred, groups)
    if isinstance(groups, _GroupMask):
        correct = (y_true == y_pred).astype(np.float64) @ groups.mask
        counts = groups.mask.sum(axis=0)
        empty = [name for name, n in zip(groups.names, counts) if n == 0]
        if empty:
            warnings.warn(f"Groups {empty} have no sample; they are skipped.", UserWarning,
                          stacklevel=2)
        return {name: float(c / n) for name, c, n in zip(groups.names, correct, counts) if n}
    labels, inverse = np.unique(groups, return_inverse=True)
    correct = np.bincount(inverse, weights=(y_true == y_pred), minlength=len(labels))
    counts = np.bincount(inverse, minlength=len(labels))
    return {label.item(): float(c / n) for label, c, n in zip(labels, correct, counts)}


def worst_group_accuracy(y_true: ArrayLike, y_pred: ArrayLike, groups: ArrayLike) -> float:
    """The lowest per-group accuracy (WGA).

    The headline metric of the spurious-correlation literature: a model that
    leans on a spurious attribute fails on the groups where the attribute
    disagrees with the class.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True class labels.
    y_pred : array-like of shape (n_samples,)
        Predicted class labels.
    groups : array-like of shape (n_samples,) or (n_samples, n_groups)
        Group label of every sample (class x spurious attribute), for
        evaluation only; or a boolean mask of overlapping groups (see the
        module's description).

    Returns
    -------
    float
        The accuracy of the worst group.

    See Also
    --------
    group_accuracies : Every group's accuracy.
    worst_class_accuracy : The same over classes, which needs no group labels.

    Examples
    --------
    >>> from nt_sklearn.metrics import worst_group_accuracy
    >>> worst_group_accuracy([0, 0, 1, 1], [0, 1, 1, 1], groups=[0, 0, 3, 3])
    0.5
    """
    return min(group_accuracies(y_true, y_pred, groups).values())


def mean_accuracy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    groups: ArrayLike | None = None,
    *,
    convention: str = "sample",
    train_groups: ArrayLike | None = None,
) -> float:
    """Mean accuracy in one of the literature's three conventions.

    ``"sample"``: the plain accuracy over all samples; ``"train_weighted"``:
    per-group accuracies weighted by the group proportions of the training
    data (the Waterbirds convention); ``"group_mean"``: the unweighted mean
    of the per-group accuracies.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True class labels.
    y_pred : array-like of shape (n_samples,)
        Predicted class labels.
    groups : array-like of shape (n_samples,) or (n_samples, n_groups), default=None
        Group label of every sample, or a boolean mask of overlapping groups
        (``"group_mean"`` only); needed by ``"train_weighted"`` and
        ``"group_mean"``.
    convention : {"sample", "train_weighted", "group_mean"}, default="sample"
        Which mean, see above.
    train_groups : array-like, default=None
        The group ids of the training data, whose proportions weight the
        per-group accuracies under ``"train_weighted"``.

    Returns
    -------
    float
        The mean accuracy.

    See Also
    --------
    accuracy_gap : This mean minus the worst-group accuracy.

    Examples
    --------
    >>> from nt_sklearn.metrics import mean_accuracy
    >>> y, pred, g = [0, 0, 1, 1], [0, 1, 1, 1], [0, 0, 1, 1]
    >>> mean_accuracy(y, pred)
    0.75
    >>> mean_accuracy(y, pred, g, convention="train_weighted", train_groups=[0, 1, 1, 1])
    0.875
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    y_true, y_pred, groups = _check(y_true, y_pred, groups)
    if convention == "sample":
        return float(np.mean(y_true == y_pred))
    if groups is None:
        raise ValueError(f"convention={convention!r} needs the groups of the samples.")
    if convention == "train_weighted" and (isinstance(groups, _GroupMask)
                                           or np.ndim(train_groups) == 2):
        raise ValueError(
            "convention='train_weighted' needs disjoint groups (one label per sample): the "
            "proportions of overlapping groups do not sum to one."
        )
    accs = group_accuracies(y_true, y_pred, groups)
    if convention == "group_mean":
        return float(np.mean(list(accs.values())))
    if train_groups is None:
        raise ValueError("convention='train_weighted' needs train_groups.")
    train_labels, train_counts = np.unique(column_or_1d(train_groups), return_counts=True)
    weights = dict(zip(train_labels.tolist(), train_counts / train_counts.sum()))
    missing = sorted(set(weights) - set(accs))
    if missing:
        raise ValueError(f"Training groups {missing} have no test samples to weight.")
    return float(sum(w * accs[g] for g, w in weights.items()))


def accuracy_gap(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    groups: ArrayLike,
    *,
    convention: str = "sample",
    train_groups: ArrayLike | None = None,
) -> float:
    """Mean accuracy minus worst-group accuracy (lower is better).

    How much of a model's mean accuracy its worst group does not reach.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True class labels.
    y_pred : array-like of shape (n_samples,)
        Predicted class labels.
    groups : array-like of shape (n_samples,) or (n_samples, n_groups)
        Group label of every sample (class x spurious attribute), for
        evaluation only; or a boolean mask of overlapping groups (see the
        module's description).
    convention : {"sample", "train_weighted", "group_mean"}, default="sample"
        The mean, as in :func:`mean_accuracy`.
    train_groups : array-like, default=None
        The group ids of the training data, for ``"train_weighted"``.

    Returns
    -------
    float
        The gap, in accuracy units.

    See Also
    --------
    mean_accuracy : The first term.
    worst_group_accuracy : The second term.

    Examples
    --------
    >>> from nt_sklearn.metrics import accuracy_gap
    >>> accuracy_gap([0, 0, 1, 1], [0, 1, 1, 1], groups=[0, 0, 1, 1])
    0.25
    """
    mean = mean_accuracy(y_true, y_pred, groups, convention=convention, train_groups=train_groups)
    return mean - worst_group_accuracy(y_true, y_pred, groups)


def worst_class_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """The lowest per-class recall: a criterion that needs no group labels.

    SubpopBench's group-free model-selection criterion; the
    ``selection="worst_class"`` option of the NeuronTune family uses it.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True class labels.
    y_pred : array-like of shape (n_samples,)
        Predicted class labels.

    Returns
    -------
    float
        The recall of the worst class.

    See Also
    --------
    worst_group_accuracy : The same over groups.

    Examples
    --------
    >>> from nt_sklearn.metrics import worst_class_accuracy
    >>> worst_class_accuracy([0, 0, 1, 1], [0, 1, 1, 1])
    0.5
    """
    y_true, y_pred, _ = _check(y_true, y_pred)
    return worst_group_accuracy(y_true, y_pred, groups=y_true)


def make_worst_group_scorer() -> object:
    """A scorer of worst-group accuracy that receives ``groups`` as metadata.

    For reporting next to :class:`SFitScorer` in a grid search; it uses group
    labels, so never select a model by it if the point is to need none.
    Requires ``sklearn.set_config(enable_metadata_routing=True)``; then pass
    ``groups=...`` to the search's ``fit``.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y, groups=...)``, greater is better.

    See Also
    --------
    worst_group_accuracy : The metric it scores.

    Examples
    --------
    >>> import sklearn
    >>> from nt_sklearn.metrics import make_worst_group_scorer
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     scorer = make_worst_group_scorer()
    """
    return make_scorer(worst_group_accuracy).set_score_request(groups=True)
