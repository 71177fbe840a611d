"""A data-driven threshold: which spuriousness scores are more than noise.

With the paper's fixed threshold of 0, a dimension that carries no signal at
all has a positive median difference for some class about as often as not,
and the union over classes then flags it. Here each (feature, class) pair is
tested instead: are the activations of the misclassified class-c samples
stochastically larger than those of the correctly classified ones? The
one-sided Mann-Whitney U test answers on ranks (so a sparse detector that
is active in a few more misclassified samples is seen even when both
medians are 0), and the Benjamini-Hochberg procedure controls the false
discovery rate across all features and classes.
"""

import numpy as np
from scipy.stats import false_discovery_control, mannwhitneyu, norm

from ._medians import activations

__all__ = ["error_association_pvalues", "fdr_flags"]


def error_association_pvalues(X, y_encoded, y_pred_encoded, n_classes, activation="abs",
                              sample_weight=None):
    """One-sided Mann-Whitney p-values, misclassified > correct, per feature and class.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y_encoded, y_pred_encoded : ndarray of shape (n_samples,)
        Labels and predictions in ``0 .. n_classes - 1``.
    n_classes : int
    activation : {"abs", "relu", "identity"}
    sample_weight : ndarray of shape (n_samples,), default=None
        Frequency weights: the test is that of the rows repeated by their
        (integer) weights, see :func:`_weighted_mannwhitney_greater`.

    Returns
    -------
    p_values : ndarray of shape (n_features, n_classes)
        1 for a class with no misclassified or no correct sample. The normal
        approximation with tie correction is used (ties are common in ReLU
        features).
    """
    p = np.ones((X.shape[1], n_classes))
    for c in range(n_classes):  # a loop over classes; features are vectorised
        in_c = y_encoded == c
        wrong = in_c & (y_pred_encoded != c)
        right = in_c & (y_pred_encoded == c)
        if sample_weight is not None:
            w = sample_weight[in_c]
            is_wrong = wrong[in_c]
            if w[is_wrong].sum() > 0 and w[~is_wrong].sum() > 0:
                A_c = activations(np.asarray(X[in_c]), activation)
                p[:, c] = np.nan_to_num(_weighted_mannwhitney_greater(A_c, is_wrong, w), nan=1.0)
        elif wrong.any() and right.any():
            A_wrong = activations(np.asarray(X[wrong]), activation)
            A_right = activations(np.asarray(X[right]), activation)
            result = mannwhitneyu(
                A_wrong, A_right, alternative="greater", axis=0, method="asymptotic"
            )
            p[:, c] = np.nan_to_num(result.pvalue, nan=1.0)  # constant columns: no evidence
    return p


def _weighted_mannwhitney_greater(A, first, w):
    """One-sided Mann-Whitney p-values (rows in ``first`` greater), with frequency weights.

    The statistic of the sample in which every row appears ``w`` times:
    mid-ranks from cumulative weights, ``U = R_1 - n_1 (n_1 + 1) / 2``, and
    ``scipy.stats.mannwhitneyu``'s asymptotic method (tie-corrected normal
    approximation with continuity correction), column by column. With
    integer weights it equals scipy's p-values on the repeated rows; rows of
    weight 0 do not count.

    Parameters
    ----------
    A : ndarray of shape (n, d)
    first : ndarray of bool, shape (n,)
    w : ndarray of shape (n,)

    Returns
    -------
    p : ndarray of shape (d,)
        NaN where a column is constant (no evidence either way).
    """
    order = np.argsort(A, axis=0, kind="stable")
    values = np.take_along_axis(A, order, axis=0)
    weights = w[order]
    cumulative = np.cumsum(weights, axis=0)
    before = cumulative - weights
    starts = np.ones(values.shape, dtype=bool)
    starts[1:] = values[1:] != values[:-1]
    ends = np.ones(values.shape, dtype=bool)
    ends[:-1] = starts[1:]
    # the cumulative weight before each tie block, and at its end (both are non-decreasing)
    block_before = np.maximum.accumulate(np.where(starts, before, -np.inf), axis=0)
    block_end = np.minimum.accumulate(np.where(ends, cumulative, np.inf)[::-1], axis=0)[::-1]
    tied = block_end - block_before
    midrank = block_before + (tied + 1.0) / 2.0
    n1, n2 = w[first].sum(), w[~first].sum()
    n = n1 + n2
    u = (np.where(first[order], weights, 0.0) * midrank).sum(axis=0) - n1 * (n1 + 1.0) / 2.0
    ties = np.where(ends, tied**3 - tied, 0.0).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.sqrt(n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0))))
        z = (u - n1 * n2 / 2.0 - 0.5) / sigma
    return np.clip(norm.sf(z), 0.0, 1.0)


def fdr_flags(p_values, level):
    """True where the Benjamini-Hochberg adjusted p-value is at most ``level``."""
    adjusted = false_discovery_control(np.asarray(p_values).ravel(), method="bh")
    return adjusted.reshape(np.shape(p_values)) <= level
