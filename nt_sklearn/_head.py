"""The class-balanced linear head trainer and its standardised space.

The trainer is NeuronTune's tuning step (Section 4.2.2): a linear softmax
layer on masked embeddings, trained on class-balanced mini-batches with
PyTorch-style SGD (momentum, coupled weight decay) or AdamW, in vectorised
numpy. ``_Standardizer`` lets it train on standardised embeddings and folds
the weights back.
"""

from contextlib import closing

import numpy as np

from ._batch_reader import _BatchReader

__all__ = ["class_balanced_batches", "train_linear_head"]


def class_balanced_batches(y_encoded, n_classes, per_class, n_batches, rng, sample_weight=None):
    """Row indices and labels of ``n_batches`` class-balanced mini-batches.

    Every batch holds ``per_class`` rows of each class, drawn with
    replacement: uniformly, or with probability proportional to
    ``sample_weight`` within the class (the same distribution as uniform
    draws from the rows repeated by integer weights; rows of weight 0 are
    never drawn). Rows are sorted inside each batch (the gradient of a batch
    does not depend on its order) so that reads from a memory-mapped array
    move forward through the file.

    Returns
    -------
    rows : ndarray of shape (n_batches, n_classes * per_class)
    labels : ndarray of shape (n_batches, n_classes * per_class)
    """
    rows = np.empty((n_batches, n_classes * per_class), dtype=np.intp)
    for c in range(n_classes):
        members = np.flatnonzero(y_encoded == c)
        if sample_weight is None:
            draws = rng.integers(0, len(members), size=(n_batches, per_class))
        else:  # inverse CDF of the class's weights
            weights = sample_weight[members]
            cumulative = np.cumsum(weights)
            u = rng.random((n_batches, per_class)) * cumulative[-1]
            draws = np.searchsorted(cumulative, u, side="right")
            # u rounds up to the total at worst: the last row of positive weight takes it
            draws = np.minimum(draws, np.flatnonzero(weights > 0)[-1])
        rows[:, c * per_class : (c + 1) * per_class] = members[draws]
    labels = np.repeat(np.arange(n_classes), per_class)
    order = np.argsort(rows, axis=1, kind="stable")
    return np.take_along_axis(rows, order, axis=1), labels[order]


def train_linear_head(
    X,
    y_encoded,
    n_classes,
    *,
    coef,
    intercept,
    feature_scale,
    optimizer="sgd",
    learning_rate=1e-3,
    momentum=0.9,
    weight_decay=1e-4,
    batch_size=128,
    batches_per_epoch=200,
    n_epochs=40,
    rng,
    sample_weight=None,
    first_epoch=1,
):
    """Train a softmax head on class-balanced batches; yield it after every epoch.

    The NeuronTune family's tuning step: the head computes
    ``(X * feature_scale) @ coef.T + intercept``, masked features having
    ``feature_scale`` 0 (or the mask value). The masked copy of a batch is
    never made: ``(X * s) @ W.T == X @ (W * s).T``. The optimiser and batch
    parameters mean what the estimators' parameters of the same names mean
    (see :class:`~nt_sklearn.NeuronTuneClassifier`).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Tuning embeddings; float32 and read-only memmaps are read in place,
        one mini-batch at a time.
    y_encoded : ndarray of shape (n_samples,)
        Labels in ``0 .. n_classes - 1``.
    n_classes : int
        Number of classes (rows of the head).
    coef, intercept : ndarray of shape (n_classes, n_features), (n_classes,)
        Initial head; copied, not modified.
    feature_scale : ndarray of shape (n_features,) or (n_classes, n_features)
        Factor of every feature (per class when 2-D).
    optimizer, learning_rate, momentum, weight_decay, batch_size, batches_per_epoch, n_epochs
        As the estimators' parameters.
    rng : numpy.random.Generator
        Draws the mini-batches.
    sample_weight : ndarray of shape (n_samples,), default=None
        Weights of the rows in the class-balanced draws; None: uniform.
    first_epoch : int, default=1
        The number of the first epoch, for the divergence message.

    Yields
    ------
    coef, intercept : ndarray
        Copies of the head at the end of each epoch.

    Raises
    ------
    ValueError
        "training diverged at epoch N" when the logits or the weights stop
        being finite (a learning rate too large for the embeddings' scale).
    """
    # one float64 array holds the head: W its first n_features columns, b the last, so that
    # the optimiser updates both in one pass of each operation ("master weights")
    params = np.empty((n_classes, np.shape(coef)[1] + 1))
    params[:, :-1], params[:, -1] = coef, intercept
    W, b = params[:, :-1], params[:, -1]
    scale = np.asarray(feature_scale, dtype=np.float64)
    scaled = not np.all(scale == 1.0)  # an all-ones scale leaves the products unchanged
    per_class = max(1, batch_size // n_classes)
    state = _OptimizerState(params, optimizer, learning_rate, momentum, weight_decay)
    grad = np.empty_like(params)
    reader = _BatchReader(X, per_class * n_classes)
    for epoch in range(first_epoch, first_epoch + n_epochs):
        rows, labels = class_balanced_batches(
            y_encoded, n_classes, per_class, batches_per_epoch, rng, sample_weight
        )
        # the position of each row's label in the flattened (batch, classes) probabilities
        targets = np.arange(rows.shape[1]) * n_classes + labels
        # overflow is detected below and reported once, not warned about at every batch
        # (closing: a step that raises stops the reader thread at once)
        with (np.errstate(over="ignore", invalid="ignore"), reader.compute_threads(),
              closing(reader.batches(rows)) as batches):
            for Xb, batch_targets in zip(batches, targets):
                # The two products run in the embeddings' own precision (float32 stays
                # float32, as in PyTorch; float16 batches are computed in float32); the weights
                # and their updates stay float64. Casting every batch to float64 cost as much
                # as the products themselves.
                if Xb.dtype == np.float16:
                    Xb = Xb.astype(np.float32)
                P = Xb @ (W * scale if scaled else W).T.astype(Xb.dtype) + b
                _softmax_rows(P)
                if not np.isfinite(P).all():  # (batch, classes): cheap beside the products
                    _diverged(epoch, learning_rate)
                P.reshape(-1)[batch_targets] -= 1.0
                P /= len(batch_targets)  # gradient of the mean cross-entropy w.r.t. the logits
                grad[:, :-1] = P.T.astype(Xb.dtype) @ Xb
                if scaled:
                    grad[:, :-1] *= scale
                grad[:, -1] = P.sum(axis=0)
                state.step(grad)
        if not np.isfinite(params).all():
            _diverged(epoch, learning_rate)
        yield W.copy(), b.copy()


def _softmax_rows(P):
    """``scipy.special.softmax(P, axis=1)`` in place, with the same values.

    With fewer than 8 classes the row maximum and the row sum are taken column
    by column (exact maxima; numpy sums fewer than 8 numbers in order, as here),
    10x faster than numpy's reductions along a short axis for a (batch,
    classes) array; with more, numpy's reductions.
    """
    if P.shape[1] >= 8:
        P -= P.max(axis=1, keepdims=True)
        np.exp(P, out=P)
        P /= P.sum(axis=1, keepdims=True)
        return
    columns = P.T
    top = columns[0].copy()
    for column in columns[1:]:
        np.maximum(top, column, out=top)
    P -= top[:, None]
    np.exp(P, out=P)
    total = columns[0].copy()
    for column in columns[1:]:
        total += column
    P /= total[:, None]


def _diverged(epoch, learning_rate):
    raise ValueError(
        f"training diverged at epoch {epoch}, lower learning_rate (now {learning_rate:g}): "
        "the head's logits or weights are no longer finite. Standardising the embeddings "
        "(standardize=True) also helps."
    )


class _OptimizerState:
    """In-place SGD-with-momentum or AdamW updates of one parameter array."""

    def __init__(self, params, kind, lr, momentum, weight_decay):
        self.params = params
        self.kind, self.lr, self.momentum, self.wd = kind, lr, momentum, weight_decay
        self.t = 0
        self.m = np.zeros_like(params)
        self.v = np.zeros_like(params) if kind == "adamw" else None

    def step(self, grad):
        """One update with the gradient ``grad`` (overwritten with SGD)."""
        self.t += 1
        p, m = self.params, self.m
        if self.kind == "sgd":
            grad += self.wd * p
            if self.momentum:
                m *= self.momentum if self.t > 1 else 0.0
                m += grad
                np.multiply(m, self.lr, out=grad)
            else:
                grad *= self.lr
            p -= grad
            return
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        p *= 1.0 - self.lr * self.wd
        m *= beta1
        m += (1 - beta1) * grad
        self.v *= beta2
        self.v += (1 - beta2) * grad * grad
        m_hat = m / (1 - beta1**self.t)
        v_hat = self.v / (1 - beta2**self.t)
        p -= self.lr * m_hat / (np.sqrt(v_hat) + eps)


class _Identity:
    """The embeddings as they are (no standardisation)."""

    def to_inner(self, coef, intercept):
        return coef, intercept

    def to_outer(self, coef, intercept):
        return coef, intercept

    def wrap(self, X):
        return X


class _Standardizer:
    """Embeddings standardised with the tuning data's mean and standard deviation.

    The head trains on ``z = (x - mean) / std`` (one learning rate then fits
    every backbone's scale); its weights are folded back to act on ``x``:
    ``W_x = W_z / std`` and ``b_x = b_z - W_x @ mean``. Masking happens on
    ``z``, so a masked feature is set to its mean rather than to 0, which
    for a linear head only moves the intercept (partial masks differ slightly
    from masking ``x``).
    """

    def __init__(self, X, chunk=1 << 16):
        total = np.zeros(X.shape[1])
        squares = np.zeros(X.shape[1])
        for lo in range(0, len(X), chunk):  # chunks: a memmap is read, never copied whole
            block = np.asarray(X[lo : lo + chunk], dtype=np.float64)
            total += block.sum(axis=0)
            squares += np.square(block).sum(axis=0)
        self.mean = total / len(X)
        std = np.sqrt(np.maximum(squares / len(X) - self.mean**2, 0))
        self.std = np.where(std > 0, std, 1.0)

    def to_inner(self, coef, intercept):
        return coef * self.std, intercept + coef @ self.mean

    def to_outer(self, coef, intercept):
        W = coef / self.std
        return W, intercept - W @ self.mean

    def wrap(self, X):
        return _StandardizedRows(X, self.mean, self.std)


class _StandardizedRows:
    """Rows of ``X`` standardised on access (``X[rows]``), for the mini-batch trainer."""

    def __init__(self, X, mean, std):
        self.X, self.mean, self.std = X, mean, std
        self.shape = X.shape

    def __len__(self):
        return len(self.X)

    def __getitem__(self, rows):
        return (np.asarray(self.X[rows], dtype=np.float64) - self.mean) / self.std
