"""Pseudo-groups from a model's errors on held-out rows, and the paired guard.

Without group labels, what a model trained by ERM gets wrong on rows it did not
see is the only trace of the minority groups there (JTT's and AFR's premise).
A *pseudo-group* is a class crossed with "the model is right / wrong" on a row:
``2 * y + wrong``. Two uses:

- reweighting (:func:`pseudo_group_weights`): within each class, the rows the
  reference gets wrong and the rows it gets right receive the same total weight,
  as DFR balances true groups;
- selection and the guard (:func:`worst_group_accuracy_of`,
  :func:`paired_improvement`): the worst accuracy over pseudo-groups. Scored
  with the reference's *own* errors, the reference is 0 on its error set by
  construction and would always be rejected; the pseudo-groups that score are
  therefore cross-fitted (made by another model, fitted on other rows).
"""

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

DISAGREEMENT_C = 0.01  # inverse regularisation of the disagreement model

__all__ = ["disagreement_model", "paired_improvement", "pseudo_group_weights", "pseudo_groups",
           "worst_group_accuracy_of"]


def pseudo_groups(y_encoded, pred_encoded):
    """``2 * y + (pred != y)``: class x wrong, as integer group ids."""
    return 2 * np.asarray(y_encoded) + (np.asarray(pred_encoded) != y_encoded)


def disagreement_model():
    """A strongly regularised logistic regression on standardised embeddings.

    It stands in for LaBonte et al.'s (2023) early-stopped model: held-out
    rows on which it and the reference disagree are enriched in the minority
    groups. Fit it with ``logisticregression__sample_weight`` for weights.
    """
    return make_pipeline(StandardScaler(), LogisticRegression(C=DISAGREEMENT_C, max_iter=1000))


def pseudo_group_weights(y_encoded, wrong, n_classes, sample_weight=None):
    """Weights that give, within each class, the right and the wrong rows equal mass.

    Each class keeps its total weight (class-balanced draws are unchanged); a
    class whose rows are all right (or all wrong) keeps its weights as they are.

    Parameters
    ----------
    y_encoded : ndarray of shape (n,)
        Class indices.
    wrong : ndarray of shape (n,), dtype bool
        Whether the reference misclassifies the row.
    n_classes : int
        Number of classes.
    sample_weight : ndarray of shape (n,) or None
        Weights to start from (None: ones).

    Returns
    -------
    ndarray of shape (n,)
        The new weights.

    Examples
    --------
    >>> import numpy as np
    >>> w = pseudo_group_weights(np.array([0, 0, 0, 0, 1, 1]),
    ...                          np.array([0, 0, 0, 1, 0, 1], bool), 2)
    >>> w.round(4).tolist()
    [0.6667, 0.6667, 0.6667, 2.0, 1.0, 1.0]
    """
    w = np.ones(len(y_encoded)) if sample_weight is None else np.asarray(sample_weight, float)
    g = pseudo_groups(y_encoded, np.where(wrong, -1, y_encoded))
    mass = np.bincount(g, weights=w, minlength=2 * n_classes)
    present = mass > 0
    per_class = present.reshape(n_classes, 2).sum(axis=1)
    class_mass = np.bincount(y_encoded, weights=w, minlength=n_classes)
    target = np.repeat(class_mass / np.maximum(per_class, 1), 2)
    factor = np.where(present, target / np.where(present, mass, 1.0), 0.0)
    return w * factor[g]


def _accuracies(groups, right, n_groups, w):
    hits = np.bincount(groups, weights=right if w is None else w * right, minlength=n_groups)
    mass = np.bincount(groups, weights=w, minlength=n_groups)
    return hits / np.where(mass > 0, mass, 1.0), mass


def worst_group_accuracy_of(groups, right, n_groups, sample_weight=None):
    """The worst accuracy over the groups that have rows (weighted when asked)."""
    acc, mass = _accuracies(groups, right.astype(float), n_groups, sample_weight)
    return float(acc[mass > 0].min())


def paired_improvement(groups, ref_right, tuned_right, n_groups, sample_weight=None, z=2.0):
    """Whether the tuned head's worst-group accuracy beats the reference's, paired.

    The two heads are scored on the same rows, so the noise of their difference
    is that of the rows on which they disagree (McNemar's test): in the
    reference's worst group ``g`` (``n`` rows), with ``b`` rows the tuned head
    gets right and the reference wrong and ``c`` the reverse, the standard error
    of the difference of the two accuracies is ``sqrt(b + c) / n``. The tuned
    head wins when its worst-group accuracy exceeds the reference's by more than
    ``z`` such standard errors (and by more than 0).

    Parameters
    ----------
    groups : ndarray of shape (n,)
        Group ids in ``[0, n_groups)``.
    ref_right, tuned_right : ndarray of shape (n,), dtype bool
        Whether each head classifies the row correctly.
    n_groups : int
        Number of group ids.
    sample_weight : ndarray of shape (n,) or None
        Frequency weights of the rows.
    z : float, default=2.0
        Standard errors the difference must exceed.

    Returns
    -------
    bool
        True when the tuned head is significantly better in the worst group.

    Examples
    --------
    >>> import numpy as np
    >>> g = np.repeat([0, 1], 50)
    >>> ref = np.r_[np.ones(50, bool), np.arange(50) < 25]
    >>> paired_improvement(g, ref, np.ones(100, bool), 2)
    True
    >>> paired_improvement(g, ref, ref.copy(), 2)
    False
    """
    w = None if sample_weight is None else np.asarray(sample_weight, float)
    ref_acc, mass = _accuracies(groups, ref_right.astype(float), n_groups, w)
    tuned_acc, _ = _accuracies(groups, tuned_right.astype(float), n_groups, w)
    present = mass > 0
    worst = int(np.flatnonzero(present)[np.argmin(ref_acc[present])])
    diff = tuned_acc[present].min() - ref_acc[worst]
    in_worst = groups == worst
    ones = np.ones(int(in_worst.sum())) if w is None else w[in_worst]
    discordant = float(np.sum(ones * (ref_right[in_worst] != tuned_right[in_worst])))
    return bool(diff > 0 and diff > z * np.sqrt(discordant) / mass[worst])
