"""Planted data shaped like the paper's datasets, with a biased reference head.

Non-negative ReLU features ``max(0, -0.3 + 0.5 z + shifts)`` (70% zeros, like pooled
ReLU features), a class signal spread over ``n_core`` dimensions (a shift on a block
of dimensions per class), a spurious attribute over ``n_spurious`` other dimensions
that goes with the class in ``p_aligned_tune`` of the tuning rows and
``p_aligned_id`` of the identification rows. The reference head is a logistic
regression fitted on ``reference_rows`` tuning rows.
"""

import functools
import warnings
from dataclasses import dataclass

import numpy as np

#: data shaped like the paper's datasets (tuning = training split, identification = validation)
SHAPES = {
    "celeba": dict(n_tune=162_770, n_id=19_867, d=2048, n_classes=2, prior=(0.85, 0.15),
                   core_shift=0.11),
    "multinli": dict(n_tune=206_175, n_id=82_462, d=768, n_classes=3, prior=None,
                     core_shift=0.14),
}
QUICK_SCALE = 0.05  # --quick: 5% of the rows


@dataclass
class Planted:
    """Tuning and identification data, the planted dimensions and the reference head."""

    X_tune: np.ndarray
    y_tune: np.ndarray
    X_id: np.ndarray
    y_id: np.ndarray
    groups_id: np.ndarray  # class * 2 + (attribute == class), for reporting only
    core: np.ndarray
    spurious: np.ndarray
    coef: np.ndarray  # reference head, one row per class
    intercept: np.ndarray

    def head(self):
        """The reference head as a fitted :class:`nt_sklearn.LinearHead`."""
        from nt_sklearn import LinearHead

        return LinearHead(coef=self.coef, intercept=self.intercept,
                          classes=np.arange(len(self.coef)))


def _draw(n, d, n_classes, prior, p_aligned, core, spurious, rng, core_shift, spurious_shift):
    y = rng.choice(n_classes, n, p=prior)
    aligned = rng.random(n) < p_aligned
    attr = np.where(aligned, y, (y + rng.integers(1, n_classes, n)) % n_classes)
    X = rng.standard_normal((n, d), dtype=np.float32)
    X *= 0.5
    X -= 0.3
    for c, (core_c, spur_c) in enumerate(zip(np.array_split(core, n_classes),
                                             np.array_split(spurious, n_classes))):
        X[np.ix_(y == c, core_c)] += core_shift
        X[np.ix_(attr == c, spur_c)] += spurious_shift
    np.maximum(X, 0, out=X)
    return X, y, y * 2 + (attr == y)


def make_planted(n_tune, n_id, d, n_classes, *, prior=None, core_shift=0.11, spurious_shift=0.8,
                 n_core=300, n_spurious=64, p_aligned_tune=0.93, p_aligned_id=0.5,
                 reference_rows=20_000, seed=0):
    """Tuning and identification data with a planted spurious attribute, and a biased head."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    dims = rng.permutation(d)
    core, spurious = np.sort(dims[:n_core]), np.sort(dims[n_core:n_core + n_spurious])
    draw = functools.partial(_draw, d=d, n_classes=n_classes, prior=prior, core=core,
                             spurious=spurious, rng=rng, core_shift=core_shift,
                             spurious_shift=spurious_shift)
    X_tune, y_tune, _ = draw(n_tune, p_aligned=p_aligned_tune)
    X_id, y_id, groups_id = draw(n_id, p_aligned=p_aligned_id)
    rows = slice(0, min(reference_rows, n_tune))
    with warnings.catch_warnings():
        # lbfgs may stop at max_iter; the head is meant to be biased
        warnings.simplefilter("ignore")
        lr = LogisticRegression(max_iter=300).fit(X_tune[rows], y_tune[rows])
    coef, intercept = lr.coef_, lr.intercept_
    if n_classes == 2:  # one row per class: logits (0, w.x + b)
        coef, intercept = np.vstack([np.zeros(d), coef[0]]), np.array([0.0, intercept[0]])
    return Planted(X_tune, y_tune, X_id, y_id, groups_id, core, spurious, coef, intercept)


def reference_predictions(data):
    """The reference head's class predictions on the identification rows."""
    return np.argmax(data.X_id @ data.coef.T.astype(np.float32) + data.intercept, axis=1)
