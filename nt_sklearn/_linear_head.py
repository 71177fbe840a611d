"""LinearHead: a fitted linear classifier given by its arrays.

It wraps a last layer such as the backbone's own classifier exported by the
featurizers (a store's ``head.npz``), for use as the reference model.
"""

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_array

from ._data import _DTYPES, _logits

__all__ = ["LinearHead"]


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

    def __init__(self, coef: ArrayLike, intercept: ArrayLike, classes: ArrayLike) -> None:
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
        for name, values in (("coef", coef), ("intercept", intercept)):
            bad = np.size(values) - np.count_nonzero(np.isfinite(values))
            if bad:
                raise ValueError(
                    f"LinearHead {name} has {bad} non-finite value(s) (NaN or infinity); a "
                    "head with such weights predicts nothing meaningful."
                )
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

    def fit(self, X: ArrayLike | None = None, y: ArrayLike | None = None) -> "LinearHead":
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

    def decision_function(self, X: ArrayLike) -> np.ndarray:
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
        X = check_array(X, dtype=_DTYPES)  # float16 is computed in float32, chunk by chunk
        if X.shape[1] != coef.shape[1]:
            raise ValueError(
                f"X has {X.shape[1]} features, but LinearHead has {coef.shape[1]} (coef width)."
            )
        scores = _logits(X, coef, intercept)
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X: ArrayLike) -> np.ndarray:
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

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
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
        return softmax(self._two_columns(self.decision_function(X)), axis=1)

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """Predict the logarithm of the class probabilities, computed stably.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings, as wide as ``coef``.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``scipy.special.log_softmax`` of the logits: finite where
            ``np.log(predict_proba(X))`` would underflow to ``-inf``.
        """
        return log_softmax(self._two_columns(self.decision_function(X)), axis=1)

    @staticmethod
    def _two_columns(scores):
        return np.column_stack([np.zeros_like(scores), scores]) if scores.ndim == 1 else scores
