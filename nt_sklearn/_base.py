"""What every estimator of nt_sklearn shares: labels, the reference model, the
tuning data, the initial head and the linear predict path.

Conventions, the same for every estimator:

- ``fit(X, y, X_tune=None, y_tune=None, sample_weight=None)``: ``X`` is the
  held-out data (the paper's validation split) and ``X_tune`` the training
  split, an array or a :class:`~nt_sklearn.TuningData` (which also carries the
  tuning rows' weights); ``sample_weight`` weighs the rows of ``X``. What each set
  is used for is the estimator's own (its ``fit`` docstring says it); what
  happens without ``X_tune`` is declared once per class in
  ``_tuning_fallback`` and implemented here, in
  :meth:`_ReferenceMixin._resolve_tuning_data`.
- ``estimator`` is the reference (ERM) model, used as it is and never
  refitted; None means a plain ``LogisticRegression(max_iter=1000)`` fitted on
  the tuning data.
- ``coef_`` and ``intercept_`` are the weights of the decision function, as
  in ``LogisticRegression``: two classes have one row (the logit of
  ``classes_[1]`` minus that of ``classes_[0]``), more classes one row per
  class. :func:`_decision_weights` turns a one-row-per-class head into that
  form.
"""

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import log_softmax, softmax
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._data import (
    _DTYPES,
    TuningData,
    _check_finite_head,
    _check_magnitude,
    _check_weights,
    _logits,
)
from ._scores import _encode


def _decision_weights(coef, intercept):
    """A head with one row per class as the weights of its decision function.

    Two classes become one row, ``coef[1] - coef[0]`` (``LogisticRegression``'s
    layout); more classes are returned as they are.
    """
    if len(coef) == 2:
        return (coef[1] - coef[0])[None, :], np.atleast_1d(intercept[1] - intercept[0])
    return coef, intercept


def _aligned(reference, classes, scores):
    """Columns of a reference's (n, n_classes) output in the order of ``classes``."""
    return scores[:, _encode(np.asarray(reference.classes_), classes)]


def _split_halves(y_encoded, n_classes, rng):
    """Split rows into two halves, stratified by class.

    Each class's rows are shuffled; the first ``n_c // 2`` go to the first
    half and the rest to the second. A class with a single row is put in
    both halves, so that both hold every class.
    """
    perm = rng.permutation(len(y_encoded))
    perm = perm[np.argsort(y_encoded[perm], kind="stable")]  # shuffled within class
    counts = np.bincount(y_encoded, minlength=n_classes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(perm)) - np.repeat(starts, counts)
    half = np.repeat(counts // 2, counts)
    singleton = np.repeat(counts == 1, counts)
    first = perm[(rank < half) | singleton]
    second = perm[rank >= half]
    return np.sort(first), np.sort(second)


def _initial_head(reference, classes, n_features, head_init="reference"):
    """The head to start from: ``(coef, intercept, how)``, one row per class.

    ``how`` is ``"reference"`` when the reference is linear (it has ``coef_``
    and ``intercept_`` with one row per class, or one row for two classes)
    and ``head_init`` allows it; else ``"zeros"``, with a zero head. Nothing
    is set on any estimator.
    """
    n_classes = len(classes)
    coef = np.zeros((n_classes, n_features))
    intercept = np.zeros(n_classes)
    ref_coef = getattr(reference, "coef_", None)
    ref_intercept = getattr(reference, "intercept_", None)
    if head_init == "zeros" or ref_coef is None or ref_intercept is None:
        return coef, intercept, "zeros"
    ref_coef = np.atleast_2d(np.asarray(ref_coef, dtype=np.float64))
    ref_intercept = np.atleast_1d(np.asarray(ref_intercept, dtype=np.float64))
    if ref_coef.shape[1] != n_features:
        raise ValueError(
            f"`estimator` has coef_ of width {ref_coef.shape[1]} but X has {n_features} features."
        )
    rows = _encode(classes, np.asarray(reference.classes_))
    if ref_coef.shape[0] == 1 and n_classes == 2:
        # a binary logistic model: logits (0, w.x + b) give the same probabilities
        coef[rows[1]], intercept[rows[1]] = ref_coef[0], ref_intercept[0]
    elif ref_coef.shape[0] == n_classes:
        coef[rows], intercept[rows] = ref_coef, ref_intercept
    else:
        return coef, intercept, "zeros"
    return coef, intercept, "reference"


class _TuningData(NamedTuple):
    """The data ``fit`` works on once ``X_tune`` is resolved (labels encoded).

    ``w`` and ``w_tune`` are the validated weights of the rows of ``X`` and
    ``X_tune`` (None: unweighted); :func:`_nonuniform` turns equal weights
    into None where nt_sklearn computes with them itself.
    """

    X: np.ndarray
    y: np.ndarray
    X_tune: object  # ndarray, memmap, or None (no tuning data)
    y_tune: object
    x_rows: object  # rows of the caller's X that play the role of X; None: all of them
    w: object = None
    w_tune: object = None


def _rows(w, rows):
    return None if w is None else w[rows]


class _ReferenceMixin:
    """Input checks, tuning data and the reference model of every estimator.

    Uses ``self.estimator`` and ``self._tuning_fallback`` (what ``fit`` does
    without ``X_tune``, one of the keys of ``_TUNING_FALLBACKS`` in
    ``_docstring.py``), and ``classes_`` / ``n_features_in_`` once set.
    """

    _tuning_fallback = None  # each estimator that takes X_tune declares its own
    _fit_dtypes = _DTYPES  # DFR and JTT, which hand X whole to scikit-learn, narrow it

    def _validate_fit_data(self, X, y):
        """``validate_data`` for ``fit``, then the magnitude check of :func:`_check_magnitude`.

        scikit-learn's finiteness check is replaced by that one: its minimum
        and maximum find NaN and infinity as well, without the temporary
        arrays scikit-learn's check allocates for float16 input.
        """
        X, y = validate_data(self, X, y, dtype=self._fit_dtypes, ensure_all_finite=False)
        _check_magnitude(X, "X")
        return X, y

    def _encode_targets(self, y):
        """Set ``classes_`` and return ``y`` encoded; refuse fewer than two classes."""
        check_classification_targets(y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in y; "
                f"got 1 class: {self.classes_[0]!r}."
            )
        return y_enc

    def _resolve_tuning_data(self, X, y_enc, X_tune, y_tune, rng=None, sample_weight=None):
        """``X_tune`` validated, or the declared fallback when it is None.

        ``X_tune`` may be a :class:`~nt_sklearn.TuningData` (then ``y_tune``
        must be None). Fallbacks (``_tuning_fallback``): ``"x"``: ``X`` is
        also the tuning data; ``"split"``: ``X`` is split per class
        (:func:`_split_halves`), the first half stays ``X`` and the second
        tunes; ``"split_if_stand_in"``: the same split with the roles swapped
        (the first half fits the stand-in reference) when ``estimator`` is
        None, else no tuning data. The weights travel with their rows.
        """
        w = _check_weights(sample_weight, len(X))
        if X_tune is not None:
            X_tune, y_tune_enc, w_tune = self._validate_tuning_data(X, X_tune, y_tune)
            data = _TuningData(X, y_enc, X_tune, y_tune_enc, None, w, w_tune)
        elif y_tune is not None:
            raise ValueError("y_tune was given without X_tune.")
        elif self._tuning_fallback == "x":
            data = _TuningData(X, y_enc, X, y_enc, None, w, w)
        elif self._tuning_fallback == "split_if_stand_in" and self.estimator is not None:
            data = _TuningData(X, y_enc, None, None, None, w, None)
        else:
            first, second = _split_halves(y_enc, len(self.classes_), rng)
            if self._tuning_fallback == "split":
                data = _TuningData(X[first], y_enc[first], X[second], y_enc[second], first,
                                   _rows(w, first), _rows(w, second))
            else:  # "split_if_stand_in"
                data = _TuningData(X[second], y_enc[second], X[first], y_enc[first], second,
                                   _rows(w, second), _rows(w, first))
        self._check_weighted_classes(data)
        self.n_tune_samples_ = 0 if data.y_tune is None else len(data.y_tune)
        return data

    def _check_weighted_classes(self, data):
        """Every class must keep some weight wherever rows are weighted."""
        for name, y, w in (("X", data.y, data.w), ("the tuning data", data.y_tune, data.w_tune)):
            if w is None:
                continue
            weight = np.bincount(y, weights=w, minlength=len(self.classes_))
            empty = self.classes_[weight == 0]
            if empty.size:
                raise ValueError(
                    f"The rows of {name} of class(es) {empty.tolist()} all have weight 0; "
                    "every class needs some weight."
                )

    def _validate_tuning_data(self, X, X_tune, y_tune):
        """``(X_tune, y_tune encoded, tuning weights)`` from a raw array or a TuningData."""
        container = isinstance(X_tune, TuningData)
        if container:
            if y_tune is not None:
                raise ValueError(
                    "y_tune must be None when X_tune is a TuningData: its y holds the labels."
                )
            X_tune, y_tune, w_tune = X_tune.X, X_tune.y, X_tune.sample_weight
        else:
            w_tune = None
            if y_tune is None:
                raise ValueError("X_tune was given without y_tune.")
        X_tune = validate_data(
            self, X_tune, reset=False, dtype=self._fit_dtypes, ensure_all_finite=False
        )
        _check_magnitude(X_tune, "X_tune")
        y_tune = np.asarray(y_tune)
        if y_tune.ndim != 1 or len(y_tune) != len(X_tune):
            raise ValueError(
                f"y_tune must be 1-D with one label per row of X_tune ({len(X_tune)} rows); "
                f"got shape {y_tune.shape}."
            )
        w_tune = _check_weights(w_tune, len(X_tune), "TuningData.sample_weight")
        if (not container and len(X_tune) == len(X) and X_tune is not X
                and not np.array_equal(X_tune, X)):
            raise ValueError(
                f"X_tune has exactly as many rows as X ({len(X)}). Inside GridSearchCV, "
                "cross_validate and the other model-selection tools, a fit parameter of that "
                "length is cut along with the folds of X, so this tuning set may have been cut "
                "(or a fold of X merely has its length). To give a tuning set of this length, "
                "pass it as X_tune=nt_sklearn.TuningData(X_tune, y_tune): model-selection "
                "tools never slice a TuningData."
            )
        unseen = np.setdiff1d(y_tune, self.classes_)
        if unseen.size:
            raise ValueError(f"y_tune has labels not present in y: {unseen.tolist()}.")
        missing = np.setdiff1d(self.classes_, y_tune)
        if missing.size:
            raise ValueError(
                f"y_tune has no sample of class(es) {missing.tolist()}; class-balanced "
                "tuning needs every class of y."
            )
        return X_tune, _encode(self.classes_, y_tune), w_tune

    def _reference(self, X_tune, y_tune_enc, w_tune=None):
        """``estimator`` checked against the labels, or the stand-in fitted on the tuning data
        (weighted by ``w_tune``)."""
        if self.estimator is None:
            lr = LogisticRegression(max_iter=1000)
            lr.fit(X_tune, self.classes_[y_tune_enc], sample_weight=w_tune)
            _check_finite_head(lr.coef_, lr.intercept_, "The stand-in LogisticRegression")
            return lr
        try:
            check_is_fitted(self.estimator)
        except NotFittedError as exc:
            raise NotFittedError(
                "`estimator` must be a fitted classifier (it is used as the reference model, "
                "never refitted). GridSearchCV and cross_validate clone it, which unfits it: "
                "wrap it in sklearn.frozen.FrozenEstimator or pass a LinearHead."
            ) from exc
        ref_classes = np.asarray(getattr(self.estimator, "classes_", []))
        if set(ref_classes.tolist()) != set(self.classes_.tolist()):
            raise ValueError(
                f"`estimator` predicts classes {ref_classes.tolist()} but y has classes "
                f"{self.classes_.tolist()}; the reference model must cover exactly the classes "
                "of y."
            )
        return self.estimator


class _LinearPredictMixin:
    """Predictions from ``coef_`` and ``intercept_`` in the decision-function convention."""

    def _scores(self, X):
        """Decision scores with one column, or one per class (a hook: AFR adds an offset)."""
        return _logits(X, self.coef_, self.intercept_)

    def decision_function(self, X: ArrayLike) -> np.ndarray:
        """Decision function of the linear head, ``X @ coef_.T + intercept_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, the logit of ``classes_[1]`` minus that of
            ``classes_[0]``; for more, one logit per class.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_DTYPES)
        scores = self._scores(X)
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict class labels: the class of the largest logit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings to classify.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels, from ``classes_``.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Predict class probabilities: the softmax of the logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings to classify.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, columns in the order of ``classes_`` (for two
            classes, the sigmoid of the decision function and its complement).
        """
        return softmax(self._two_columns(self.decision_function(X)), axis=1)

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """Predict the logarithm of the class probabilities, computed stably.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings to classify.

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
