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
from scipy.stats import false_discovery_control, mannwhitneyu

from ._scores import activations

__all__ = ["error_association_pvalues", "fdr_flags"]


def error_association_pvalues(X, y_encoded, y_pred_encoded, n_classes, activation="abs"):
    """One-sided Mann-Whitney p-values, misclassified > correct, per feature and class.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y_encoded, y_pred_encoded : ndarray of shape (n_samples,)
        Labels and predictions in ``0 .. n_classes - 1``.
    n_classes : int
    activation : {"abs", "relu", "identity"}

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
        if wrong.any() and right.any():
            A_wrong = activations(np.asarray(X[wrong]), activation)
            A_right = activations(np.asarray(X[right]), activation)
            result = mannwhitneyu(
                A_wrong, A_right, alternative="greater", axis=0, method="asymptotic"
            )
            p[:, c] = np.nan_to_num(result.pvalue, nan=1.0)  # constant columns: no evidence
    return p


def fdr_flags(p_values, level):
    """True where the Benjamini-Hochberg adjusted p-value is at most ``level``."""
    adjusted = false_discovery_control(np.asarray(p_values).ravel(), method="bh")
    return adjusted.reshape(np.shape(p_values)) <= level
