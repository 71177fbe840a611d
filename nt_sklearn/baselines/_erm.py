"""ERMHead: the reference model as it is."""

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import log_softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils._available_if import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from .._base import _aligned, _decision_weights, _initial_head, _ReferenceMixin
from .._data import _DTYPES, TuningData
from .._compat import HasMethods, _fit_context
from .._docstring import FALLBACK_DOCS, Substitution
from .._scores import _encode

__all__ = ["ERMHead"]


def _reference_has(method):
    def check(self):
        reference = getattr(self, "reference_estimator_", None)
        if reference is None:
            reference = LogisticRegression() if self.estimator is None else self.estimator
        return hasattr(reference, method)

    return check


class ERMHead(_ReferenceMixin, ClassifierMixin, BaseEstimator):
    """The reference model as it is: the ERM baseline.

    ``fit`` resolves the reference model (``estimator``, or a stand-in
    logistic regression) and checks it against the labels; ``predict``,
    ``predict_proba`` and ``decision_function`` delegate to it, with columns
    reordered to ``classes_``. It lets a benchmark run ERM through the same
    ``fit``/``predict`` code as every other method.

    Parameters
    ----------
    estimator : fitted classifier, default=None
        The reference model, used as it is, never refitted. None: a plain,
        unweighted ``LogisticRegression(max_iter=1000)`` fitted on
        ``X_tune`` when given, else on ``X`` (the same stand-in as
        :class:`~nt_sklearn.NeuronTuneClassifier` uses with a tuning set).
        Inside ``GridSearchCV``, pass a :class:`~nt_sklearn.LinearHead` or a
        ``sklearn.frozen.FrozenEstimator`` so that cloning keeps it fitted.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names seen in ``fit``; defined only when ``X`` has string
        feature names (scikit-learn's convention).
    reference_estimator_ : classifier
        The model every prediction comes from.
    coef_ : ndarray of shape (1, n_features_in_) or (n_classes, n_features_in_), or None
        The reference's weights in the decision-function convention of the
        NeuronTune family (one row for two classes, the logit of
        ``classes_[1]`` minus that of ``classes_[0]``; one row per class, in
        the order of ``classes_``, for more). None when the reference is not
        linear (no ``coef_`` and ``intercept_`` with a row per class, or one
        for two classes).
    intercept_ : ndarray of shape (1,) or (n_classes,), or None
        The intercept that goes with ``coef_``; None when ``coef_`` is.
    n_tune_samples_ : int
        Rows of the tuning data (``X_tune``'s, or ``X``'s without it), on
        which the stand-in is fitted when ``estimator`` is None.

    See Also
    --------
    nt_sklearn.NeuronTuneClassifier : The method the baselines are compared with.

    References
    ----------
    V. Vapnik. "Principles of Risk Minimization for Learning Theory". NeurIPS
    1991 (empirical risk minimisation).

    G. Zheng, W. Ye, A. Zhang. "NeuronTune: Towards Self-Guided Spurious Bias
    Mitigation". ICML 2025 (the ERM rows of Tables 1 and 2).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from nt_sklearn import ERMHead
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = np.where(X[:, 0] > 0, "pos", "neg")
    >>> erm = LogisticRegression().fit(X, y)
    >>> head = ERMHead(erm).fit(X, y)
    >>> bool(np.array_equal(head.predict(X), erm.predict(X)))
    True
    >>> bool(np.array_equal(head.coef_, erm.coef_))
    True
    """

    _parameter_constraints = {"estimator": [HasMethods(["predict"]), None]}
    _tuning_fallback = "x"

    def __init__(self, estimator: object = None) -> None:
        self.estimator = estimator

    @Substitution(fallback=FALLBACK_DOCS["x"])
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        X_tune: ArrayLike | TuningData | None = None,
        y_tune: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> "ERMHead":
        """Resolve the reference model; nothing else is learned.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings whose labels define ``classes_``.
        y : array-like of shape (n_samples,)
            Class labels of ``X``.
        X_tune : array-like of shape (n_tune, n_features) or TuningData, default=None
            The training split: the stand-in reference is fitted on it (when
            ``estimator`` is None). A :class:`~nt_sklearn.TuningData` may have
            any length and carries the stand-in's weights; a raw array of
            exactly ``len(X)`` rows is refused, as it may have been cut by a
            model-selection tool.
            %(fallback)s
        y_tune : array-like of shape (n_tune,), default=None
            Class labels of a raw ``X_tune``; None with a TuningData.
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights of the rows of ``X``, which weigh the stand-in's
            fit where ``X`` is its data (``estimator`` None and no
            ``X_tune``). A given ``estimator`` is used as it is, so weights
            change nothing then (as for ``sklearn.frozen.FrozenEstimator``,
            which ignores what ``fit`` is given).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X, y = self._validate_fit_data(X, y)
        y_enc = self._encode_targets(y)
        data = self._resolve_tuning_data(X, y_enc, X_tune, y_tune, sample_weight=sample_weight)
        reference = self._reference(data.X_tune, data.y_tune, data.w_tune)
        width = getattr(reference, "n_features_in_", self.n_features_in_)
        if width != self.n_features_in_:
            raise ValueError(
                f"`estimator` expects {width} features but X has {self.n_features_in_}."
            )
        self.reference_estimator_ = reference
        coef, intercept, how = _initial_head(reference, self.classes_, self.n_features_in_)
        self.coef_, self.intercept_ = (
            _decision_weights(coef, intercept) if how == "reference" else (None, None)
        )
        return self

    def _validated(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=_DTYPES)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict class labels with the reference model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings to classify.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The reference model's predictions.
        """
        X = self._validated(X)
        return self.reference_estimator_.predict(X)

    @available_if(_reference_has("predict_proba"))
    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Predict class probabilities with the reference model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings to classify.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The reference model's probabilities, columns in ``classes_`` order.
        """
        X = self._validated(X)
        reference = self.reference_estimator_
        return _aligned(reference, self.classes_, reference.predict_proba(X))

    @available_if(_reference_has("predict_proba"))
    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """Predict the logarithm of the reference model's class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings to classify.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Computed stably where the form of the reference's probabilities
            is known: the log-softmax of the stand-in logistic regression's
            logits (``estimator`` None); the reference's own
            ``predict_log_proba`` where it has one (a
            :class:`~nt_sklearn.LinearHead`'s is stable); else ``np.log`` of
            :meth:`predict_proba` (``-inf`` where it is 0).
        """
        X = self._validated(X)
        reference = self.reference_estimator_
        if self.estimator is None:  # binary or multinomial: softmax of the logits
            scores = np.asarray(reference.decision_function(X))
            if scores.ndim == 1:
                scores = np.column_stack([np.zeros_like(scores), scores])
            return _aligned(reference, self.classes_, log_softmax(scores, axis=1))
        if hasattr(reference, "predict_log_proba"):
            return _aligned(reference, self.classes_, reference.predict_log_proba(X))
        with np.errstate(divide="ignore"):
            return np.log(_aligned(reference, self.classes_, reference.predict_proba(X)))

    @available_if(_reference_has("decision_function"))
    def decision_function(self, X: ArrayLike) -> np.ndarray:
        """Decision function of the reference model, in ``classes_`` order.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, the score of ``classes_[1]`` against
            ``classes_[0]``; for more, one score per class.
        """
        X = self._validated(X)
        reference = self.reference_estimator_
        scores = np.asarray(reference.decision_function(X))
        if scores.ndim == 1:  # binary: the score of the reference's classes_[1]
            positive = _encode(np.asarray(reference.classes_), self.classes_[1:])[0]
            return scores if positive == 1 else -scores
        scores = _aligned(reference, self.classes_, scores)
        return scores[:, 1] - scores[:, 0] if len(self.classes_) == 2 else scores
