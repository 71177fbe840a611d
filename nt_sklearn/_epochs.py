"""The record of one tuned epoch, and the bookkeeping of a fit around it.

Shared by the NeuronTune family's ``fit`` (:mod:`nt_sklearn._family`) and the
recommended configuration's selection (:mod:`nt_sklearn._recommended`).
"""

import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ._data import _nonuniform


@dataclass(frozen=True)
class _Epoch:
    """The record of one tuned epoch."""

    coef: np.ndarray  # the head in the training space (standardised or raw), mask not applied
    intercept: np.ndarray
    scale: np.ndarray  # the feature scale it was trained with
    mask: np.ndarray  # the features masked so far (cumulative over rounds)
    path_coef: np.ndarray  # the head on raw embeddings, mask folded in: a row of coef_path_
    path_intercept: np.ndarray
    sfit: float
    worst_class: float


@contextmanager
def _timed(times, key):
    start = time.perf_counter()
    try:
        yield
    finally:
        times[key] += time.perf_counter() - start


def _histories(epochs):
    """``(sfit, worst_class)`` of every epoch, as arrays."""
    return np.array([e.sfit for e in epochs]), np.array([e.worst_class for e in epochs])


def _class_accuracy(y_encoded, pred, n_classes, weights=None):
    """Accuracy within each class (recall), 0 for a class without samples; weighted by
    ``weights`` when given."""
    if weights is None:
        hits = np.bincount(y_encoded, weights=pred == y_encoded, minlength=n_classes)
        counts = np.bincount(y_encoded, minlength=n_classes)
        return hits / np.maximum(counts, 1)
    hits = np.bincount(y_encoded, weights=weights * (pred == y_encoded), minlength=n_classes)
    counts = np.bincount(y_encoded, weights=weights, minlength=n_classes)
    return hits / np.where(counts > 0, counts, 1.0)


def _weighted(data):
    """``(weights of X, weights of the tuning data)`` as nt_sklearn computes with them."""
    return _nonuniform(data.w), _nonuniform(data.w_tune)
