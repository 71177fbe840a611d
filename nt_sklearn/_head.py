"""Linear heads: the class-balanced trainer, its standardised space, and a head built from arrays.

The trainer is NeuronTune's tuning step (Section 4.2.2): a linear softmax
layer on masked embeddings, trained on class-balanced mini-batches with
PyTorch-style SGD (momentum, coupled weight decay) or AdamW, in vectorised
numpy. ``_Standardizer`` lets it train on standardised embeddings and folds
the weights back. ``LinearHead`` wraps a fitted last layer given as arrays,
such as the backbone's own classifier exported by the featurizers.
"""

import numpy as np
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_array

__all__ = ["LinearHead", "class_balanced_batches", "train_linear_head"]


def class_balanced_batches(y_encoded, n_classes, per_class, n_batches, rng):
    """Row indices and labels of ``n_batches`` class-balanced mini-batches.

    Every batch holds ``per_class`` rows of each class, drawn with
    replacement. Rows are sorted inside each batch (the gradient of a batch
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
        draws = rng.integers(0, len(members), size=(n_batches, per_class))
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

    Yields
    ------
    coef, intercept : ndarray
        Copies of the head at the end of each epoch.
    """
    W = np.array(coef, dtype=np.float64)
    b = np.array(intercept, dtype=np.float64)
    scale = np.asarray(feature_scale, dtype=np.float64)
    per_class = max(1, batch_size // n_classes)
    state = _OptimizerState(W, b, optimizer, learning_rate, momentum, weight_decay)
    for _ in range(n_epochs):
        rows, labels = class_balanced_batches(
            y_encoded, n_classes, per_class, batches_per_epoch, rng
        )
        for batch_rows, batch_labels in zip(rows, labels):
            # The two products run in the embeddings' own precision (float32 stays float32,
            # as in PyTorch); the weights and their updates stay float64 ("master weights").
            # Casting every batch to float64 cost as much as the products themselves.
            Xb = X[batch_rows]
            P = softmax(Xb @ (W * scale).T.astype(Xb.dtype) + b, axis=1)
            P[np.arange(len(batch_labels)), batch_labels] -= 1.0
            P /= len(batch_labels)  # gradient of the mean cross-entropy w.r.t. the logits
            state.step((P.T.astype(Xb.dtype) @ Xb) * scale, P.sum(axis=0))
        yield W.copy(), b.copy()


class _OptimizerState:
    """In-place SGD-with-momentum or AdamW updates of (W, b)."""

    def __init__(self, W, b, kind, lr, momentum, weight_decay):
        self.params = (W, b)
        self.kind, self.lr, self.momentum, self.wd = kind, lr, momentum, weight_decay
        self.t = 0
        self.m = [np.zeros_like(W), np.zeros_like(b)]
        self.v = [np.zeros_like(W), np.zeros_like(b)]

    def step(self, grad_W, grad_b):
        self.t += 1
        for p, g, m, v in zip(self.params, (grad_W, grad_b), self.m, self.v):
            if self.kind == "sgd":
                g = g + self.wd * p
                if self.momentum:
                    m *= self.momentum if self.t > 1 else 0.0
                    m += g
                    g = m
                p -= self.lr * g
            else:  # adamw
                beta1, beta2, eps = 0.9, 0.999, 1e-8
                p *= 1.0 - self.lr * self.wd
                m *= beta1
                m += (1 - beta1) * g
                v *= beta2
                v += (1 - beta2) * g * g
                m_hat = m / (1 - beta1**self.t)
                v_hat = v / (1 - beta2**self.t)
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


class LinearHead(ClassifierMixin, BaseEstimator):
    """A fixed linear classifier given by its weights.

    Use it to hand a backbone's own last layer (for example the ``head.npz``
    of an embedding store) to :class:`NeuronTuneClassifier` as the reference
    model. It is fitted from the start; ``fit`` only validates the arrays.
    Because the weights are parameters, cloning (as grid searches do) keeps
    the head intact.

    Parameters
    ----------
    coef : array-like of shape (n_classes, n_features)
        One row of weights per class (a single row for a binary logistic
        model, whose positive class is ``classes[1]``).
    intercept : array-like of shape (n_classes,) or (1,)
        One intercept per row of ``coef``.
    classes : array-like of shape (n_classes,)
        The label of each row.

    Attributes
    ----------
    coef_, intercept_, classes_ : ndarray
        The parameters as validated arrays, in the layout given (one row per
        class, or a single row for two classes): the backbone's layer as it
        is, not converted to the decision-function convention of the
        estimators that take it as their reference.
    n_features_in_ : int
        The width of ``coef``.

    See Also
    --------
    NeuronTuneClassifier : Takes a LinearHead as its reference model.

    Examples
    --------
    >>> import numpy as np
    >>> from nt_sklearn import LinearHead
    >>> head = LinearHead(coef=np.eye(2), intercept=np.zeros(2), classes=["cat", "dog"])
    >>> head.predict(np.array([[2.0, 1.0], [0.0, 3.0]])).tolist()
    ['cat', 'dog']
    """

    def __init__(self, coef, intercept, classes):
        self.coef = coef
        self.intercept = intercept
        self.classes = classes

    def __sklearn_is_fitted__(self):
        return True

    def _arrays(self):
        coef = np.atleast_2d(np.asarray(self.coef, dtype=np.float64))
        intercept = np.atleast_1d(np.asarray(self.intercept, dtype=np.float64))
        classes = np.asarray(self.classes)
        n_rows = 1 if len(classes) == 2 and coef.shape[0] == 1 else len(classes)
        if coef.ndim != 2 or coef.shape[0] != n_rows or intercept.shape != (n_rows,):
            raise ValueError(
                f"LinearHead expects coef of shape ({len(classes)}, n_features) and intercept "
                f"of shape ({len(classes)},) for {len(classes)} classes; got coef "
                f"{coef.shape} and intercept {intercept.shape}."
            )
        if len(np.unique(classes)) != len(classes):
            raise ValueError(f"LinearHead classes must be distinct, got {classes.tolist()}")
        return coef, intercept, classes

    @property
    def coef_(self):
        return self._arrays()[0]

    @property
    def intercept_(self):
        return self._arrays()[1]

    @property
    def classes_(self):
        return self._arrays()[2]

    @property
    def n_features_in_(self):
        return self._arrays()[0].shape[1]

    def fit(self, X=None, y=None):
        """Validate the weights; nothing is learned.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), default=None
            Ignored: the head is given by its parameters.
        y : array-like of shape (n_samples,), default=None
            Ignored.

        Returns
        -------
        self : object
            The head itself.
        """
        self._arrays()
        return self

    def decision_function(self, X):
        """Compute the logits of the head.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings, as wide as ``coef``.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_rows)
            One logit per row of ``coef``; for a single-row binary head, the
            logit of ``classes[1]`` (raveled).
        """
        coef, intercept, _ = self._arrays()
        X = check_array(X, dtype=[np.float64, np.float32])
        if X.shape[1] != coef.shape[1]:
            raise ValueError(
                f"X has {X.shape[1]} features, but LinearHead has {coef.shape[1]} (coef width)."
            )
        scores = X @ coef.T.astype(X.dtype, copy=False) + intercept
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X):
        """Predict the class of the largest logit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings, as wide as ``coef``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes``.
        """
        scores = self.decision_function(X)
        classes = np.asarray(self.classes)
        if scores.ndim == 1:
            return classes[(scores > 0).astype(int)]
        return classes[np.argmax(scores, axis=1)]

    def predict_proba(self, X):
        """Predict class probabilities: the softmax of the logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings, as wide as ``coef``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes`` (a sigmoid and its complement
            for a single-row binary head).
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            scores = np.column_stack([np.zeros_like(scores), scores])
        return softmax(scores, axis=1)
