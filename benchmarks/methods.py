"""The methods the benchmarks compare, each fitted the same way on one dataset.

A dataset is a dict of splits ``{name: (X, y, groups)}`` with ``train``, one
or more validation splits (``val...``) and ``test``. The reference (ERM) model
is fitted once per dataset and handed to every method. Hyperparameters are
the paper's defaults or the method's own; none is chosen on a test split.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn.linear_model import LogisticRegression

from nt_sklearn import LinearHead, NeuronTuneClassifier
from nt_sklearn.baselines import (
    AFRClassifier,
    ClassBalancedRetraining,
    DFRClassifier,
    ERMHead,
    JTTLastLayer,
    RandomMaskClassifier,
)


@dataclass
class Method:
    """A row of the results table."""

    name: str
    train_groups: bool  # group labels of the training data used
    val_groups: bool  # group labels of the validation data used
    fit: Callable  # fit(reference, data, val_split, seed, n_epochs) -> fitted estimator


def reference_model(data, head=None):
    """The ERM model: the backbone's own last layer when it predicts these classes,
    else a plain logistic regression on the training embeddings."""
    X, y, _ = data["train"]
    classes = np.unique(y)
    if head is not None and len(head[2]) == len(classes) and np.array_equal(np.sort(head[2]), classes):
        return LinearHead(coef=head[0], intercept=head[1], classes=head[2])
    return LogisticRegression(max_iter=2000).fit(X, y)


def _nt(cls=NeuronTuneClassifier, identify="val", **params):
    def fit(reference, data, val, seed, n_epochs):
        X_tr, y_tr, _ = data["train"]
        X_v, y_v, _ = data[val]
        est = cls(reference, random_state=seed, n_epochs=n_epochs, **params)
        if identify == "val":
            return est.fit(X_v, y_v, X_tune=X_tr, y_tune=y_tr)
        if identify == "half_val":  # the paper's dagger variant: halves of validation
            return est.fit(X_v, y_v)
        if identify == "train":
            return est.fit(X_tr, y_tr, X_tune=X_tr, y_tune=y_tr)
        raise ValueError(identify)

    return fit


def _erm(reference, data, val, seed, n_epochs):
    X_v, y_v, _ = data[val]
    return ERMHead(reference).fit(X_v, y_v)


def _jtt(reference, data, val, seed, n_epochs):
    X_tr, y_tr, _ = data["train"]
    X_v, y_v, _ = data[val]
    return JTTLastLayer(reference).fit(X_v, y_v, X_tune=X_tr, y_tune=y_tr)


def _afr(reference, data, val, seed, n_epochs):
    X_tr, y_tr, _ = data["train"]
    X_v, y_v, _ = data[val]
    return AFRClassifier(reference).fit(X_v, y_v, X_tune=X_tr, y_tune=y_tr)


def _dfr(reference, data, val, seed, n_epochs):
    X_v, y_v, g_v = data[val]
    return DFRClassifier(random_state=seed).fit(X_v, y_v, groups=g_v)


def build_methods(nt_params=None, *, groups=True):
    """The rows of the paper's tables; NeuronTune's family fitted with ``nt_params``
    (keyword arguments of NeuronTuneClassifier other than ``n_epochs``, e.g. the
    paper's per-dataset optimiser). DFR is left out with ``groups=False``."""
    nt_params = nt_params or {}
    methods = [
        Method("ERM", False, False, _erm),
        Method("JTT (last layer)", False, False, _jtt),
        Method("AFR", False, False, _afr),
    ]
    if groups:
        methods.append(Method("DFR", False, True, _dfr))
    return methods + [
        Method("NT=No (class-balanced)", False, False, _nt(ClassBalancedRetraining, **nt_params)),
        Method("Random mask", False, False, _nt(RandomMaskClassifier, **nt_params)),
        Method("NeuronTune", False, False, _nt(**nt_params)),
        Method("NeuronTune\u2020 (half val)", False, False, _nt(identify="half_val", **nt_params)),
    ]


MAIN_METHODS = build_methods()

# The paper's Table 4 (identification data, masking) and Table 5 (mask values): the
# configurations not already in MAIN_METHODS, which the ablation table reuses.
ABLATIONS = [Method("identify on train", False, False, _nt(identify="train"))] + [
    Method(f"mask value {v:.1f}", False, False, _nt(mask_value=v)) for v in (0.2, 0.4, 0.6, 0.8)
]
ABLATION_TABLE = [
    "identify on train",
    "NeuronTune",  # identify on val, mask value 0
    "NeuronTune\u2020 (half val)",
    "NT=No (class-balanced)",  # masking off, i.e. mask value 1
] + [m.name for m in ABLATIONS[1:]]
