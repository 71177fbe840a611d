"""JTTLastLayer: Just Train Twice in last-layer form."""

import logging
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from numpy.typing import ArrayLike
from sklearn.linear_model import LogisticRegression

from .._base import _LinearPredictMixin, _ReferenceMixin
from .._data import TuningData, _check_finite_head
from .._compat import HasMethods, Interval, _fit_context
from .._docstring import FALLBACK_DOCS, Substitution
from .._scores import _encode

__all__ = ["JTTLastLayer"]

logger = logging.getLogger(__name__)


class JTTLastLayer(_LinearPredictMixin, _ReferenceMixin, ClassifierMixin, BaseEstimator):
    """Just Train Twice (JTT), last-layer form: retrain with the errors up-weighted.

    JTT's identification model is the reference (ERM) model; its error set is
    the tuning samples it misclassifies. A new linear head, a
    ``LogisticRegression`` trained from scratch on the tuning data, weights
    every error-set sample by ``upweight`` and every other sample by 1. For
    this full-batch objective the weights are exactly JTT's upsampling (each
    error repeated ``upweight`` times). No group labels are used.

    Which data does what: as in JTT, the error set and the retraining both
    come from the training split, ``X_tune``; ``X`` (the validation split)
    only fixes the classes and serves for model selection outside ``fit``.
    Without ``X_tune``, both come from ``X``. The stand-in reference (when
    ``estimator`` is None) is fitted on that same data, as JTT's
    identification model is trained on the data whose errors it marks.

    Parameters
    ----------
    estimator : fitted classifier, default=None
        The identification model, used as it is. None:
        ``LogisticRegression(max_iter=1000)`` fitted on the tuning data.
    upweight : float, default=20.0
        The paper's lambda_up. The authors' published commands use 100
        (Waterbirds), 50 (CelebA), 4 (MultiNLI) and 6 (CivilComments-WILDS).
    C : float, default=1.0
        Inverse L2 regularisation of the retrained head.
    max_iter : int, default=1000
        Iterations of the retrained head's L-BFGS solver.

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
        The identification model used.
    error_indices_ : ndarray of int
        Rows of the tuning data in the error set.
    coef_ : ndarray of shape (1, n_features_in_) or (n_classes, n_features_in_)
        Weights of the decision function of the retrained head, in
        ``LogisticRegression``'s layout: one row for two classes (the logit
        of ``classes_[1]`` minus that of ``classes_[0]``), else one per class.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercept of the decision function.
    n_iter_ : int
        Solver iterations of the retrained head.
    n_tune_samples_ : int
        Rows of the tuning data (``X_tune``'s, or ``X``'s without it).

    See Also
    --------
    AFRClassifier : Smooth, confidence-based weights instead of a constant factor.

    Notes
    -----
    JTT trains the identification model by ERM for a few epochs only, so that
    it still errs on the minority groups; a stand-in logistic regression is
    the analogue for a last layer. The retrained head is an ordinary
    (not class-balanced) logistic regression, as JTT's second model is
    trained by plain ERM on the upsampled data.

    References
    ----------
    E. Z. Liu, B. Haghgoo, A. S. Chen, A. Raghunathan, P. W. Koh, S. Sagawa,
    P. Liang, C. Finn. "Just Train Twice: Improving Group Robustness without
    Training Group Information". ICML 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from nt_sklearn import JTTLastLayer
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 1000)
    >>> spurious = np.where(rng.random(1000) < 0.95, y, 1 - y)
    >>> X = np.column_stack([y + rng.normal(0, 0.6, 1000), spurious + rng.normal(0, 0.1, 1000)])
    >>> jtt = JTTLastLayer(upweight=20).fit(X[:200], y[:200], X_tune=X[200:], y_tune=y[200:])
    >>> jtt.coef_.shape, bool(len(jtt.error_indices_) > 0)
    ((1, 2), True)
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["predict"]), None],
        "upweight": [Interval(Real, 0, None, closed="neither")],
        "C": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
    }
    _tuning_fallback = "x"
    # X_tune goes whole to LogisticRegression, which computes in float64 (float16 included)
    _fit_dtypes = [np.float64, np.float32]

    def __init__(
        self,
        estimator: object = None,
        *,
        upweight: float = 20.0,
        C: float = 1.0,
        max_iter: int = 1000,
    ) -> None:
        self.estimator = estimator
        self.upweight = upweight
        self.C = C
        self.max_iter = max_iter

    @Substitution(fallback=FALLBACK_DOCS["x"])
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        X_tune: ArrayLike | TuningData | None = None,
        y_tune: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> "JTTLastLayer":
        """Find the reference's errors on the tuning data and retrain with them up-weighted.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The validation split: fixes ``classes_``.
        y : array-like of shape (n_samples,)
            Class labels of ``X``.
        X_tune : array-like of shape (n_tune, n_features) or TuningData, default=None
            The training split: the stand-in reference (``estimator=None``),
            the error set and the retraining. A
            :class:`~nt_sklearn.TuningData` may have any length and carries
            the tuning rows' weights; a raw array of exactly ``len(X)`` rows
            is refused, as it may have been cut by a model-selection tool.
            %(fallback)s
        y_tune : array-like of shape (n_tune,), default=None
            Class labels of a raw ``X_tune``; None with a TuningData.
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights of the rows of ``X``. They weigh the tuning
            data where ``X`` is the tuning data (``X_tune=None``): the
            stand-in's fit, and the retraining, where they multiply the
            up-weights. With ``X_tune`` given, ``X`` only fixes the classes
            and its weights have no effect; the tuning rows' weights come
            from ``TuningData(..., sample_weight=...)``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X, y = self._validate_fit_data(X, y)
        y_enc = self._encode_targets(y)
        data = self._resolve_tuning_data(X, y_enc, X_tune, y_tune, sample_weight=sample_weight)
        X_tune, y_tune_enc = data.X_tune, data.y_tune
        reference = self._reference(X_tune, y_tune_enc, data.w_tune)
        self.reference_estimator_ = reference
        errors = _encode(self.classes_, np.asarray(reference.predict(X_tune))) != y_tune_enc
        logger.info("JTT: error set of %d of %d tuning samples", errors.sum(), len(errors))
        head = LogisticRegression(C=self.C, max_iter=self.max_iter)
        weights = _jtt_weights(errors, self.upweight)
        if data.w_tune is not None:
            weights = weights * data.w_tune
        head.fit(X_tune, self.classes_[y_tune_enc], sample_weight=weights)
        _check_finite_head(head.coef_, head.intercept_, "JTT's LogisticRegression")
        self.error_indices_ = np.flatnonzero(errors)
        self.coef_, self.intercept_ = head.coef_, head.intercept_
        self.n_iter_ = int(np.max(head.n_iter_))
        return self


def _jtt_weights(errors, upweight):
    """``upweight`` on the error set, 1 elsewhere."""
    return np.where(errors, float(upweight), 1.0)
