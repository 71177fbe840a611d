"""Do NeuronTune's masked dimensions carry the spurious attribute? (the paper's claim)

For one embedding store (the fine-tuned backbone's, or the frozen one's) this module

1. finds NeuronTune's mask as the method finds it: the paper's configuration for the
   dataset, the reference model's errors on ``val``, class labels only (the mask does
   not depend on the seed: identification happens once, before any tuning);
2. splits ``test`` in two halves at random within each class (seed 0): half A
   defines the attribute-predictive dimensions and fits the probes, half B scores them;
3. reports how well a linear probe (standardisation + logistic regression, C = 1)
   recovers the attribute from the masked dimensions, from the unmasked ones, from
   all of them and from random sets of the mask's size (ROC AUC on half B), and the
   same for the class;
4. scores the mask as a detector of attribute-predictive dimensions.

A dimension is **attribute-predictive** when its within-class standardised mean
difference between the two attribute values, ``|mean(x | a=1, c) - mean(x | a=0, c)| /
pooled sd``, averaged over the classes ``c``, is at least :data:`EFFECT_THRESHOLD`
(0.5, Cohen's "medium" effect), on half A. **Class-predictive** is the same with the
class and the attribute swapped. The test split is group-balanced, so attribute and
class are independent there and neither probe can lean on the other.

Group labels (hence the attribute) are used here only to explain: nothing of the
method is fitted or selected with them.
"""

import warnings

import numpy as np

#: |standardised mean difference| at or above which a dimension predicts the attribute.
EFFECT_THRESHOLD = 0.5
#: Random dimension sets of the mask's size drawn for the control probe.
N_RANDOM_SETS = 5


def standardized_effect(X, target, strata):
    """Per dimension: ``|SMD|`` of ``target`` (0/1) within each stratum, averaged.

    Examples
    --------
    >>> X = np.array([[0.0, 1.0], [0.2, 1.0], [1.0, 1.0], [1.2, 1.0]])
    >>> standardized_effect(X, np.array([0, 0, 1, 1]), np.zeros(4, int)).round(2).tolist()
    [7.07, 0.0]
    """
    out = []
    for s in np.unique(strata):  # two strata: the classes (or the attribute values)
        Xs, ts = X[strata == s], target[strata == s]
        x1, x0 = Xs[ts == 1], Xs[ts == 0]
        if len(x1) < 2 or len(x0) < 2:
            continue
        pooled = np.sqrt(((len(x1) - 1) * x1.var(0, ddof=1) + (len(x0) - 1) * x0.var(0, ddof=1))
                         / (len(x1) + len(x0) - 2))
        diff = np.abs(x1.mean(0) - x0.mean(0))
        out.append(np.where(pooled > 1e-12, diff / np.maximum(pooled, 1e-12), 0.0))
    return np.mean(out, axis=0)


def probe_auc(X_fit, t_fit, X_eval, t_eval, dims):
    """ROC AUC on the evaluation rows of a logistic probe on columns ``dims`` (nan if none)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    dims = np.asarray(dims, dtype=int)
    if dims.size == 0 or len(np.unique(t_fit)) < 2 or len(np.unique(t_eval)) < 2:
        return float("nan")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probe.fit(X_fit[:, dims], t_fit)
    return float(roc_auc_score(t_eval, probe.decision_function(X_eval[:, dims])))


def halves(y, seed=0):
    """Boolean mask of half A: half of each class's rows, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    a = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):  # per class
        rows = rng.permutation(np.flatnonzero(y == c))
        a[rows[: len(rows) // 2]] = True
    return a


def neurontune_mask(reference, data, nt_params):
    """The dimensions NeuronTune masks (paper configuration; identification on ``val``)."""
    from nt_sklearn import NeuronTuneClassifier

    X_tr, y_tr, _ = data["train"]
    X_v, y_v, _ = data["val"]
    params = {k: v for k, v in nt_params.items() if k != "batches_per_epoch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = NeuronTuneClassifier(reference, random_state=0, n_epochs=1,
                                     batches_per_epoch=1, **params).fit(
            X_v, y_v, X_tune=X_tr, y_tune=y_tr)
    return np.asarray(model.biased_feature_indices_)


def analyse(data, reference, nt_params):
    """The mask of ``reference`` on ``data`` and what it holds; a JSON-able dict."""
    X, y, g = data["test"]
    X = np.asarray(X, dtype=np.float64)
    a = np.asarray(g) % 2  # the attribute: group = 2 * y + attribute in both readers
    d = X.shape[1]
    masked = neurontune_mask(reference, data, nt_params)
    unmasked = np.setdiff1d(np.arange(d), masked)
    half = halves(y)
    XA, XB = X[half], X[~half]
    attr_effect = standardized_effect(XA, a[half], y[half])
    class_effect = standardized_effect(XA, y[half], a[half])
    predictive = np.flatnonzero(attr_effect >= EFFECT_THRESHOLD)
    core = np.flatnonzero(class_effect >= EFFECT_THRESHOLD)
    hit = np.intersect1d(masked, predictive)
    rng = np.random.default_rng(0)
    random_sets = [rng.choice(d, size=len(masked), replace=False) for _ in range(N_RANDOM_SETS)]

    def probe(target, dims):
        return probe_auc(XA, target[half], XB, target[~half], dims)

    nan = float("nan")
    return {
        "dim": int(d), "n_masked": int(len(masked)), "masked_fraction": len(masked) / d,
        "n_attribute_predictive": int(len(predictive)), "n_class_predictive": int(len(core)),
        "precision": len(hit) / len(masked) if len(masked) else nan,
        "recall": len(hit) / len(predictive) if len(predictive) else nan,
        "base_rate": len(predictive) / d,
        "core_masked": len(np.intersect1d(masked, core)) / len(core) if len(core) else nan,
        "effect_masked": float(attr_effect[masked].mean()) if len(masked) else nan,
        "effect_unmasked": float(attr_effect[unmasked].mean()) if len(unmasked) else nan,
        "attr_auc": {"masked": probe(a, masked), "unmasked": probe(a, unmasked),
                     "all": probe(a, np.arange(d)),
                     "random": float(np.nanmean([probe(a, s) for s in random_sets]))
                     if len(masked) else nan},
        "class_auc": {"masked": probe(y, masked), "unmasked": probe(y, unmasked),
                      "all": probe(y, np.arange(d))},
        "n_test": int(len(y)),
    }
