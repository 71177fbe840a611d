"""Spuriousness scores, the selection of biased features, and SFit.

These are the method's mathematics alone (NeuronTune, Zheng et al., ICML 2025,
Section 4.2.1 and "Model Selection"), usable without fitting anything: given
embeddings, class labels and any model's predictions, they say which
dimensions carry features that go with the model's errors.
"""

import warnings
from numbers import Real

import numpy as np
from numpy.typing import ArrayLike
from sklearn.utils._param_validation import validate_params
from sklearn.utils.validation import check_array, check_consistent_length

from ._compat import Interval, StrOptions
from ._medians import ACTIVATIONS, _ClassMedianScorer

__all__ = ["select_biased_features", "sfit", "spuriousness_scores"]

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
        "sample_weight": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def spuriousness_scores(
    X: ArrayLike,
    y: ArrayLike,
    y_pred: ArrayLike,
    *,
    activation: str = "abs",
    classes: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
) -> np.ndarray:
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
    sample_weight : array-like of shape (n_samples,), default=None
        Frequency weights of the samples: the medians are weighted (an
        integer weight counts its sample that many times; a weight of 0
        removes it). None weighs every sample 1.

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
    X = check_array(X, dtype=[np.float64, np.float32, np.float16])
    y = np.asarray(y)
    y_pred = np.asarray(y_pred)
    check_consistent_length(X, y, y_pred)
    weights = None
    if sample_weight is not None:
        weights = np.asarray(sample_weight, dtype=np.float64)
        if weights.shape != (len(X),) or not np.all(np.isfinite(weights) & (weights >= 0)):
            raise ValueError(
                f"sample_weight must hold {len(X)} non-negative, finite weights; got shape "
                f"{weights.shape}."
            )
    classes = np.unique(y) if classes is None else np.asarray(classes)
    unknown = np.setdiff1d(y, classes)
    if unknown.size:
        raise ValueError(f"y contains labels that are not in `classes`: {unknown.tolist()}")
    y_enc = _encode(classes, y)
    # a prediction outside `classes` is simply an error: encode it as -1
    y_pred_enc = np.full(len(y_pred), -1)
    known = np.isin(y_pred, classes)
    y_pred_enc[known] = _encode(classes, y_pred[known])
    scorer = _ClassMedianScorer(X, y_enc, len(classes), activation, sample_weight=weights)
    scores, degenerate = scorer(y_pred_enc)
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
        "flags": ["array-like", None],
        "per_class": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def select_biased_features(
    scores: ArrayLike,
    *,
    threshold: float = 0.0,
    max_masked_fraction: float | None = None,
    flags: ArrayLike | None = None,
    per_class: bool = False,
) -> np.ndarray:
    """Mask of the biased features.

    A feature is biased when its score exceeds ``threshold`` for at least one
    class (the union over classes, as in the paper), or, with
    ``per_class=True``, biased for each class separately.

    Parameters
    ----------
    scores : array-like of shape (n_features, n_classes)
        Output of :func:`spuriousness_scores`.
    threshold : float, default=0.0
        The paper's eta.
    max_masked_fraction : float in [0, 1], default=None
        Keep at most ``floor(max_masked_fraction * n_features)`` features
        masked (per class with ``per_class``): those with the highest score.
        None (the paper's method) masks every flagged feature except that,
        should that be every feature, the one with the lowest score stays
        unmasked and a warning says so: a head with no input left would
        predict a constant.
    flags : array-like of bool, shape (n_features, n_classes), default=None
        Which (feature, class) pairs are biased, decided by another rule (for
        instance a significance test); replaces ``scores > threshold``. The
        scores still rank the flagged features for the cap.
    per_class : bool, default=False
        Return one mask per class instead of their union.

    Returns
    -------
    mask : ndarray of bool, shape (n_features,), or (n_classes, n_features) with ``per_class``
        True where the feature is biased (for that class).

    Examples
    --------
    >>> import numpy as np
    >>> from nt_sklearn import select_biased_features
    >>> scores = np.array([[0.2, -0.1], [-0.3, -0.2], [0.0, 0.5]])
    >>> select_biased_features(scores)
    array([ True, False,  True])
    >>> select_biased_features(scores, per_class=True)
    array([[ True, False, False],
           [False, False,  True]])
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (n_features, n_classes), got shape {scores.shape}")
    flags = scores > threshold if flags is None else np.asarray(flags, dtype=bool)
    if flags.shape != scores.shape:
        raise ValueError(f"flags has shape {flags.shape}, scores {scores.shape}")
    if per_class:
        # one mask per class: the same rule applied to each column
        return np.stack(
            [
                _capped(scores[:, c], flags[:, c], max_masked_fraction)
                for c in range(scores.shape[1])
            ]
        )
    return _capped(scores.max(axis=1), flags.any(axis=1), max_masked_fraction)


def _capped(worst, mask, max_masked_fraction):
    """``mask`` with at most the cap of features, keeping the highest ``worst`` scores."""
    n_features = len(mask)
    if max_masked_fraction is None:
        cap = n_features - 1
        if mask.sum() > cap:
            warnings.warn(
                f"Every one of the {n_features} features was judged biased; the least biased "
                "feature is kept unmasked so that the head still sees an input. Consider a "
                "higher threshold or max_masked_fraction.",
                UserWarning,
                stacklevel=3,
            )
    else:
        cap = int(np.floor(max_masked_fraction * n_features))
    if mask.sum() > cap:
        # keep the `cap` highest-scoring flagged features masked; ties go to the lower index
        ranked = np.flatnonzero(mask)[np.argsort(-worst[mask], kind="stable")][:cap]
        mask = np.zeros(n_features, dtype=bool)
        mask[ranked] = True
    return mask


def sfit(scores: ArrayLike) -> float:
    """Spuriousness fitness: the sum of ``|s[k, c]|`` over features and classes.

    Higher is better: biased and unbiased features are distinguishable in the
    model's errors (the paper's label-free model-selection score).

    Parameters
    ----------
    scores : array-like of shape (n_features, n_classes)
        Output of :func:`spuriousness_scores`.

    Returns
    -------
    float
        The sum of the absolute scores.

    See Also
    --------
    SFitScorer : SFit of a fitted estimator's predictions, as a scorer.

    Examples
    --------
    >>> from nt_sklearn import sfit
    >>> sfit([[0.5, -0.25], [0.0, 1.0]])
    1.75
    """
    return float(np.abs(np.asarray(scores, dtype=np.float64)).sum())

