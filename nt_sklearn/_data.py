"""The inputs every estimator validates: dtypes, magnitudes, sample weights, TuningData.

- float16 embeddings (a store written with ``--dtype float16``) are kept as
  they are and computed in float32 one mini-batch or chunk of rows at a time;
  other inputs become float64 unless they are float32 already.
- ``fit`` refuses inputs whose magnitude overflows the precision training
  computes in (:func:`_check_magnitude`).
- ``sample_weight`` are frequency weights: an integer weight is that many
  copies of the row, a weight of 0 removes it.
- :class:`TuningData` carries a tuning set past scikit-learn's model-selection
  tools, which slice every fit parameter as long as ``X``.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TuningData"]

# float16 embeddings (a store written with --dtype float16) are kept as they are and computed
# in float32 one mini-batch or chunk of rows at a time; other inputs become float64 unless
# they are float32 already.
_DTYPES = [np.float64, np.float32, np.float16]
_CHUNK = 1 << 15  # rows per chunk where float16 rows are computed in float32


def _compute_dtype(dtype):
    """The precision the products of rows of this dtype are computed in."""
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


def _check_magnitude(X, name):
    """Refuse NaN, infinity and values whose squares overflow the precision of training.

    One row's squared norm, ``sum(x_k ** 2)``, bounds the logits the first
    gradient step can produce and is what standardisation and the logistic
    solvers compute; it must be finite in the precision the products run in
    (float32 for float16 and float32 input, float64 otherwise). Hence the
    bound ``max |x| <= sqrt(finfo(dtype).max / n_features)``: 4.1e17 for
    float32 and 3.0e152 for float64 at 2048 features. ``X.max()`` and
    ``X.min()`` read a memory map in place; no copy is made.
    """
    if X.size == 0:
        return
    hi, lo = X.max(), X.min()
    if np.isnan(hi) or np.isnan(lo):
        raise ValueError(f"Input {name} contains NaN.")
    if np.isinf(hi) or np.isinf(lo):
        raise ValueError(f"Input {name} contains infinity.")
    largest = max(float(hi), -float(lo))
    dtype = _compute_dtype(X.dtype)
    bound = float(np.sqrt(np.finfo(dtype).max / X.shape[1]))
    if largest > bound:
        raise ValueError(
            f"Input {name} holds values as large as {largest:.4g} in magnitude; training "
            f"computes in {np.dtype(dtype).name}, where the squared norm of a row of "
            f"{X.shape[1]} such values overflows (the bound is {bound:.4g}). Rescale {name}, "
            "e.g. with sklearn.preprocessing.StandardScaler."
        )


def _check_finite_head(coef, intercept, who):
    """Refuse a trained head with NaN or infinite weights."""
    if not (np.all(np.isfinite(coef)) and np.all(np.isfinite(intercept))):
        raise ValueError(
            f"{who} produced non-finite weights (NaN or infinity); rescale the embeddings "
            "(e.g. with sklearn.preprocessing.StandardScaler) or regularise more."
        )


def _logits(X, coef, intercept):
    """``X @ coef.T + intercept`` in X's precision: float32 input is never upcast (copied).

    float16 rows are computed in float32, one chunk at a time, so that no
    whole-array copy is made.
    """
    if X.dtype != np.float16:
        return X @ coef.T.astype(X.dtype, copy=False) + intercept
    coef32 = coef.T.astype(np.float32)
    out = np.empty((len(X), coef.shape[0]), dtype=np.result_type(np.float32, intercept))
    for lo in range(0, len(X), _CHUNK):
        out[lo : lo + _CHUNK] = np.asarray(X[lo : lo + _CHUNK], dtype=np.float32) @ coef32
    return out + intercept


def _check_weights(sample_weight, n_rows, name="sample_weight"):
    """``sample_weight`` as a float64 array of ``n_rows`` non-negative finite weights, or None."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:
        w = np.full(n_rows, float(w))
    if w.shape != (n_rows,):
        raise ValueError(f"{name} must be 1-D with one weight per row ({n_rows}); got {w.shape}.")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"{name} must hold non-negative, finite numbers.")
    if n_rows and not w.sum() > 0:
        raise ValueError(f"{name} sums to zero: no row has any weight.")
    return w


def _nonuniform(w):
    """The weights, or None when they are None or all equal (the unweighted computation)."""
    if w is None or not len(w) or np.all(w == w[0]):
        return None
    return w


@dataclass(frozen=True, eq=False)
class TuningData:
    """A tuning set that scikit-learn's model-selection tools pass on whole.

    ``GridSearchCV``, ``cross_validate`` and the other model-selection tools
    cut every fit parameter with as many rows as ``X`` along with the folds
    of ``X``. A raw ``X_tune`` of exactly ``len(X)`` rows is therefore
    refused by ``fit``, since it may have been cut. Wrapped in this
    container, which has no length, shape or array interface, the tuning set
    is never sliced, so it may have any number of rows, ``len(X)``
    included: ``fit(X, y, X_tune=TuningData(X_tune, y_tune))``.

    Parameters
    ----------
    X : array-like of shape (n_tune, n_features)
        Tuning embeddings.
    y : array-like of shape (n_tune,)
        Their class labels.
    sample_weight : array-like of shape (n_tune,), default=None
        Weights of the tuning rows (frequency weights: an integer weight is
        that many copies of the row); None weighs every row 1.

    See Also
    --------
    NeuronTuneClassifier : Takes a TuningData as ``X_tune``.

    Examples
    --------
    >>> import numpy as np
    >>> from nt_sklearn import ClassBalancedRetraining, TuningData
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> tune = TuningData(X[100:], y[100:])  # as many rows as X[:100]: fine in a container
    >>> clf = ClassBalancedRetraining(n_epochs=2, random_state=0)
    >>> clf.fit(X[:100], y[:100], X_tune=tune).n_tune_samples_
    100
    """

    X: Any
    y: Any
    sample_weight: Any = None
