"""NeuronTuneClassifier: spurious-bias mitigation without group labels."""

import logging
import warnings
from numbers import Integral, Real

import numpy as np
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._compat import HasMethods, Interval, StrOptions, _fit_context
from ._head import train_linear_head
from ._significance import error_association_pvalues, fdr_flags
from ._scores import (
    ACTIVATIONS,
    _ClassMedianScorer,
    _encode,
    _warn_degenerate,
    select_biased_features,
    sfit,
)

__all__ = ["NeuronTuneClassifier"]

logger = logging.getLogger(__name__)


class _ReferenceModelMixin:
    """Label checks, tuning-data checks and the reference model, shared by
    :class:`NeuronTuneClassifier` and the estimators of :mod:`nt_sklearn.baselines`.

    Uses ``self.estimator``, and ``classes_`` / ``n_features_in_`` once set.
    """

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

    def _validate_tuning_data(self, X, X_tune, y_tune):
        if y_tune is None:
            raise ValueError("X_tune was given without y_tune.")
        X_tune = validate_data(self, X_tune, reset=False, dtype=[np.float64, np.float32])
        y_tune = np.asarray(y_tune)
        if y_tune.ndim != 1 or len(y_tune) != len(X_tune):
            raise ValueError(
                f"y_tune must be 1-D with one label per row of X_tune ({len(X_tune)} rows); "
                f"got shape {y_tune.shape}."
            )
        if len(X_tune) == len(X) and X_tune is not X and not np.array_equal(X_tune, X):
            raise ValueError(
                f"X_tune has as many rows as X ({len(X)}). scikit-learn's model-selection "
                "tools (GridSearchCV, cross_validate, ...) slice every fit parameter of that "
                "length along with the folds of X, which would cut the tuning set silently. "
                "Drop or repeat one row of the tuning set so that the lengths differ."
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
        return X_tune, _encode(self.classes_, y_tune)

    def _reference(self, X_tune, y_tune_enc):
        if self.estimator is None:
            lr = LogisticRegression(max_iter=1000)
            return lr.fit(X_tune, self.classes_[y_tune_enc])
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
                f"{self.classes_.tolist()}; the reference model must cover exactly the classes of y."
            )
        return self.estimator

    def _initial_head(self, reference, head_init="reference"):
        n_classes, n_features = len(self.classes_), self.n_features_in_
        coef = np.zeros((n_classes, n_features))
        intercept = np.zeros(n_classes)
        self.head_init_ = "zeros"
        if head_init == "zeros":
            return coef, intercept
        ref_coef = getattr(reference, "coef_", None)
        ref_intercept = getattr(reference, "intercept_", None)
        if ref_coef is None or ref_intercept is None:
            return coef, intercept
        ref_coef = np.atleast_2d(np.asarray(ref_coef, dtype=np.float64))
        ref_intercept = np.atleast_1d(np.asarray(ref_intercept, dtype=np.float64))
        if ref_coef.shape[1] != n_features:
            raise ValueError(
                f"`estimator` has coef_ of width {ref_coef.shape[1]} but X has "
                f"{n_features} features."
            )
        rows = _encode(self.classes_, np.asarray(reference.classes_))
        if ref_coef.shape[0] == 1 and n_classes == 2:
            # a binary logistic model: logits (0, w.x + b) give the same probabilities
            coef[rows[1]], intercept[rows[1]] = ref_coef[0], ref_intercept[0]
        elif ref_coef.shape[0] == n_classes:
            coef[rows], intercept[rows] = ref_coef, ref_intercept
        else:
            return coef, intercept
        self.head_init_ = "reference"
        return coef, intercept


class NeuronTuneClassifier(_ReferenceModelMixin, ClassifierMixin, BaseEstimator):
    """NeuronTune: retrain a last layer with its spuriously biased features masked.

    A reference model (the backbone's own last layer, or an ERM head) predicts
    the identification data ``X``. For every feature ``k`` and class ``c``, the
    spuriousness score ``s[k, c]`` compares the median activation of the
    misclassified class-``c`` samples with that of the correct ones; features
    whose score exceeds ``threshold`` for any class are biased. A linear head
    is then trained on the tuning data with the biased features multiplied by
    ``mask_value``, on class-balanced mini-batches, and the epoch with the
    highest SFit (the sum of ``|s|`` of the tuned head on ``X``) is kept. No
    group labels are used anywhere.

    Parameters
    ----------
    estimator : fitted classifier, default=None
        The reference model over the same embeddings, e.g. a
        :class:`LinearHead` built from the backbone's classifier. It is used as
        it is, never refitted. None: a plain, unweighted
        ``LogisticRegression(max_iter=1000)`` fitted on the tuning data
        stands in for the ERM head (a decision of this implementation; the
        paper uses the ERM model's own layer). Inside ``GridSearchCV`` or
        ``cross_validate``, which clone their estimator, pass a
        :class:`LinearHead` or wrap a fitted model in
        ``sklearn.frozen.FrozenEstimator`` so it stays fitted.
    activation : {"abs", "relu", "identity"}, default="abs"
        Applied to the embeddings before the medians; ``"abs"`` is the paper's.
    threshold : float or "fdr", default=0.0
        The paper's eta: a feature is biased when ``s[k, c] > threshold`` for
        at least one class. ``"fdr"`` (beyond the paper): when a one-sided
        Mann-Whitney test says the misclassified class-``c`` samples'
        activations are larger than the correct ones', with Benjamini-Hochberg
        control of the false discovery rate at ``fdr_level`` across features
        and classes; it also sees sparse detectors whose medians are both 0.
    fdr_level : float in (0, 1), default=0.05
        Used with ``threshold="fdr"``.
    mask_scope : {"union", "per_class"}, default="union"
        ``"union"`` (the paper) masks a feature biased for any class in every
        logit; ``"per_class"`` masks it only in the logit of the class it is
        biased for (``feature_scale_`` then has one row per class).
    mask_value : float, default=0.0
        Factor applied to the biased features during tuning and prediction
        (0 removes them, as in the paper; 1 is no masking).
    max_masked_fraction : float in [0, 1], default=None
        Cap on the fraction of masked features (the highest scores stay
        masked). None follows the paper, except that at least one feature is
        always left unmasked (with a warning): see
        :func:`select_biased_features`.
    n_rounds : int, default=1
        Identify-then-tune rounds. In every round after the first, the current
        head (the one selected so far) re-identifies on ``X`` and the newly
        flagged features join the mask; tuning continues from that head for
        ``n_epochs`` more epochs. The paper uses one round.
    optimizer : {"sgd", "adamw"}, default="sgd"
        The paper uses SGD for the image datasets, AdamW for MultiNLI and
        CivilComments.
    learning_rate : float, default=1e-3
    momentum : float, default=0.9
        SGD momentum (ignored by AdamW).
    weight_decay : float, default=1e-4
    batch_size : int, default=128
        Each batch draws ``batch_size // n_classes`` tuning samples per class,
        with replacement.
    batches_per_epoch : int, default=200
    n_epochs : int, default=40
    head_init : {"reference", "zeros"}, default="reference"
        Start the head from the reference model's weights when it is linear
        (it has ``coef_`` and ``intercept_``), else from zeros; ``"zeros"``
        always starts fresh.
    standardize : bool, default=False
        Train the head on embeddings standardised with the tuning data's mean
        and standard deviation (computed in chunks, never copying ``X_tune``),
        so that one learning rate suits every backbone; the weights are folded
        back, so ``coef_`` acts on the raw embeddings. Identification always
        uses the raw activations.
    selection : {"sfit", "last", "worst_class"}, default="sfit"
        Keep the epoch with the highest SFit on ``X`` (the paper), the last,
        or the best worst-class accuracy on ``X`` (SubpopBench's group-free
        criterion; ties broken by SFit).
    guard_margin : float, "auto" or None, default=None
        When set, keep the reference model (``kept_reference_``, with
        ``best_epoch_ = -1``) unless the selected head's worst-class accuracy
        on ``X`` beats the reference's by at least this margin; ``"auto"`` is
        two standard errors of the reference's worst-class accuracy. Only for
        a linear reference. None (the paper): no guard.
    random_state : int, RandomState instance or None, default=None
        Seeds the split of ``X`` when ``X_tune`` is None and the mini-batches.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.
    reference_estimator_ : classifier
        The reference model used (``estimator``, or the fitted stand-in).
    spuriousness_scores_ : ndarray of shape (n_features_in_, n_classes)
        The scores of the reference model's predictions on the identification
        data (of the last round when ``n_rounds > 1``).
    biased_features_ : ndarray of shape (n_features_in_,), dtype bool
        True for the masked features.
    biased_feature_indices_ : ndarray of int
        ``np.flatnonzero(biased_features_)``.
    p_values_ : ndarray of shape (n_features_in_, n_classes)
        With ``threshold="fdr"``: the one-sided Mann-Whitney p-values.
    feature_scale_ : ndarray of shape (n_features_in_,) or (n_classes, n_features_in_)
        ``mask_value`` on the biased features, 1 elsewhere (one row per class
        with ``mask_scope="per_class"``; all ones when the guard kept the
        reference).
    masked_fraction_ : float
        Fraction of the entries of ``feature_scale_`` that mask.
    coef_ : ndarray of shape (n_classes, n_features_in_)
        Weights of the selected head (one row per class, binary included).
        Predictions use ``coef_ * feature_scale_``.
    intercept_ : ndarray of shape (n_classes,)
    head_init_ : {"reference", "zeros"}
        How the head was actually initialised.
    sfit_history_ : ndarray of shape (n_rounds * n_epochs,)
        SFit of the head on ``X`` after every epoch.
    coef_path_ : ndarray of shape (n_rounds * n_epochs, n_classes, n_features_in_)
        The head after every epoch, masking included: epoch ``e`` predicts
        ``argmax(X @ coef_path_[e].T + intercept_path_[e])``. For studies of
        model selection (e.g. SFit against a group-labelled criterion).
    intercept_path_ : ndarray of shape (n_rounds * n_epochs, n_classes)
    best_epoch_ : int
        Index into ``sfit_history_`` of the selected head; -1 when the guard
        kept the reference.
    worst_class_history_ : ndarray of shape (n_rounds * n_epochs,)
        Worst-class accuracy of the head on ``X`` after every epoch.
    class_accuracy_, reference_class_accuracy_ : ndarray of shape (n_classes,)
        Accuracy within each class on the identification data of the selected
        head and of the reference model.
    kept_reference_ : bool
        Whether ``guard_margin`` kept the reference model.
    degenerate_ : bool
        True (and a warning was issued) when a class is never predicted on
        the identification data or the worst-class accuracy is more than 10
        points below the reference's.
    identification_indices_ : ndarray of int
        With ``X_tune=None``: the rows of ``X`` that identified (the others tuned).
    n_iter_ : int
        Epochs run.

    See Also
    --------
    SFitScorer : SFit as a scorer for grid searches.
    spuriousness_scores : The scores alone.

    Notes
    -----
    ``fit(X, y, X_tune=..., y_tune=...)`` follows the paper's default: ``X``
    is the identification data (the validation split) and the tuning data is
    the training split. With ``X_tune=None``, ``X`` is split per class into
    two halves, one to identify and one to tune (the paper's NeuronTune-dagger).

    scikit-learn's model-selection tools slice every fit parameter with as
    many rows as ``X`` along with the folds. A tuning set of exactly
    ``len(X)`` rows would therefore be cut silently; ``fit`` refuses such a
    tuning set unless it equals ``X`` (identifying on the tuning data), and
    the error says how to proceed.

    References
    ----------
    G. Zheng, W. Ye, A. Zhang. "NeuronTune: Towards Self-Guided Spurious Bias
    Mitigation". ICML 2025.

    Examples
    --------
    >>> import numpy as np
    >>> from nt_sklearn import NeuronTuneClassifier
    >>> rng = np.random.default_rng(0)
    >>> def make(n, p_aligned):
    ...     y = rng.integers(0, 2, n)
    ...     spurious = np.where(rng.random(n) < p_aligned, y, 1 - y)
    ...     X = np.column_stack([y + rng.normal(0, 0.6, n), spurious + rng.normal(0, 0.1, n)])
    ...     return X, y
    >>> X_train, y_train = make(2000, 0.95)
    >>> X_val, y_val = make(500, 0.5)
    >>> clf = NeuronTuneClassifier(n_epochs=5, random_state=0)
    >>> clf = clf.fit(X_val, y_val, X_tune=X_train, y_tune=y_train)
    >>> clf.biased_feature_indices_
    array([1])
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["predict"]), None],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "threshold": [Interval(Real, None, None, closed="neither"), StrOptions({"fdr"})],
        "fdr_level": [Interval(Real, 0, 1, closed="neither")],
        "mask_scope": [StrOptions({"union", "per_class"})],
        "mask_value": [Interval(Real, None, None, closed="neither")],
        "max_masked_fraction": [Interval(Real, 0, 1, closed="both"), None],
        "n_rounds": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions({"sgd", "adamw"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "batches_per_epoch": [Interval(Integral, 1, None, closed="left")],
        "n_epochs": [Interval(Integral, 1, None, closed="left")],
        "head_init": [StrOptions({"reference", "zeros"})],
        "standardize": ["boolean"],
        "selection": [StrOptions({"sfit", "last", "worst_class"})],
        "guard_margin": [Interval(Real, None, None, closed="neither"), StrOptions({"auto"}), None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        activation="abs",
        threshold=0.0,
        fdr_level=0.05,
        mask_scope="union",
        mask_value=0.0,
        max_masked_fraction=None,
        n_rounds=1,
        optimizer="sgd",
        learning_rate=1e-3,
        momentum=0.9,
        weight_decay=1e-4,
        batch_size=128,
        batches_per_epoch=200,
        n_epochs=40,
        head_init="reference",
        standardize=False,
        selection="sfit",
        guard_margin=None,
        random_state=None,
    ):
        self.estimator = estimator
        self.activation = activation
        self.threshold = threshold
        self.fdr_level = fdr_level
        self.mask_scope = mask_scope
        self.mask_value = mask_value
        self.max_masked_fraction = max_masked_fraction
        self.n_rounds = n_rounds
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.batches_per_epoch = batches_per_epoch
        self.n_epochs = n_epochs
        self.head_init = head_init
        self.standardize = standardize
        self.selection = selection
        self.guard_margin = guard_margin
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, X_tune=None, y_tune=None):
        """Identify biased features on ``X`` and tune a head on ``X_tune``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Identification embeddings (the paper: the validation split).
        y : array-like of shape (n_samples,)
            Class labels of ``X``. Group labels are never needed.
        X_tune : array-like of shape (n_tune, n_features), default=None
            Tuning embeddings (the paper: the training split); read one
            mini-batch at a time, so a read-only memmap is never copied.
            None: tune on one class-stratified half of ``X`` and identify on
            the other (NeuronTune-dagger).
        y_tune : array-like of shape (n_tune,), default=None
            Class labels of ``X_tune``; required with ``X_tune``.

        Returns
        -------
        self : NeuronTuneClassifier
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        y_enc = self._encode_targets(y)
        rng = check_random_state(self.random_state)
        if X_tune is None:
            if y_tune is not None:
                raise ValueError("y_tune was given without X_tune.")
            id_rows, tune_rows = _split_halves(y_enc, len(self.classes_), rng)
            self.identification_indices_ = id_rows
            X_id, y_id, X_tune, y_tune_enc = X[id_rows], y_enc[id_rows], X[tune_rows], y_enc[tune_rows]
        else:
            X_id, y_id = X, y_enc
            X_tune, y_tune_enc = self._validate_tuning_data(X, X_tune, y_tune)

        reference = self._reference(X_tune, y_tune_enc)
        self.reference_estimator_ = reference
        n_classes = len(self.classes_)
        coef, intercept = self._initial_head(reference, self.head_init)
        ref_pred = _encode(self.classes_, np.asarray(reference.predict(X_id)))
        self.reference_class_accuracy_ = _class_accuracy(y_id, ref_pred, n_classes)

        # the head trains on standardised embeddings when asked; it is folded back after
        space = _Standardizer(X_tune) if self.standardize else _Identity()
        coef, intercept = space.to_inner(coef, intercept)
        score_fn = _ClassMedianScorer(X_id, y_id, n_classes, self.activation, presort=True)
        per_class = self.mask_scope == "per_class"
        biased = np.zeros((n_classes, self.n_features_in_) if per_class else self.n_features_in_, bool)
        sfit_history, worst_class_history, coef_path, intercept_path = [], [], [], []
        heads = []  # (inner coef, inner intercept, scale, mask) of every epoch
        # the mini-batch seed is drawn after the split, from the same RandomState
        batch_rng = np.random.default_rng(rng.randint(np.iinfo(np.int32).max))
        for round_ in range(self.n_rounds):
            scores, degenerate = score_fn(ref_pred)
            if round_ == 0:
                _warn_degenerate(degenerate, self.classes_)
            if self.threshold == "fdr":
                self.p_values_ = error_association_pvalues(
                    X_id, y_id, ref_pred, n_classes, self.activation
                )
                flags = fdr_flags(self.p_values_, self.fdr_level)
            else:
                flags = scores > self.threshold
            biased |= self._select_biased(flags, scores, batch_rng)
            scale = np.where(biased, float(self.mask_value), 1.0)
            self.spuriousness_scores_ = scores
            logger.info("round %d: %.1f%% of the features masked", round_ + 1, 100 * biased.mean())
            epochs = train_linear_head(
                space.wrap(X_tune),
                y_tune_enc,
                n_classes,
                coef=coef,
                intercept=intercept,
                feature_scale=scale,
                optimizer=self.optimizer,
                learning_rate=self.learning_rate,
                momentum=self.momentum,
                weight_decay=self.weight_decay,
                batch_size=self.batch_size,
                batches_per_epoch=self.batches_per_epoch,
                n_epochs=self.n_epochs,
                rng=batch_rng,
            )
            last_pred = None
            for W, b in epochs:
                W_eff, b_eff = space.to_outer(W * scale, b)
                pred = np.argmax(_logits(X_id, W_eff, b_eff), axis=1)
                if last_pred is None or not np.array_equal(pred, last_pred):
                    value = sfit(score_fn(pred)[0])  # unchanged predictions, unchanged SFit
                last_pred = pred
                sfit_history.append(value)
                worst_class_history.append(_class_accuracy(y_id, pred, n_classes).min())
                coef_path.append(W_eff)
                intercept_path.append(b_eff)
                heads.append((W, b, scale, biased.copy()))
                logger.debug("epoch %d: SFit %.6g", len(sfit_history), value)
            # the next round starts from, and re-identifies with, the head selected so far
            best = self._select_epoch(sfit_history, worst_class_history)
            coef, intercept, scale, _ = heads[best]
            ref_pred = np.argmax(_logits(X_id, coef_path[best], intercept_path[best]), axis=1)

        W, b, self.feature_scale_, mask = heads[best]
        self.best_epoch_ = best
        self.coef_, self.intercept_ = space.to_outer(W, b, scale=self.feature_scale_)
        self.kept_reference_ = (
            self.guard_margin is not None
            and self.head_init_ == "reference"
            and worst_class_history[best]
            < self.reference_class_accuracy_.min() + self._guard_margin(y_id, n_classes)
        )
        if self.kept_reference_:
            # the tuned head does not beat the reference on its worst class: keep the reference
            logger.info("the tuned head does not beat the reference by guard_margin; kept it")
            self.best_epoch_ = -1
            self.coef_, self.intercept_ = self._initial_head(reference, "reference")
            self.feature_scale_ = np.ones_like(self.feature_scale_)
            coef_path.append(self.coef_)
            intercept_path.append(self.intercept_)
            best = -1
        self.biased_features_ = mask if mask.ndim == 1 else mask.any(axis=0)
        self.biased_feature_indices_ = np.flatnonzero(self.biased_features_)
        self.masked_fraction_ = float(np.mean(self.feature_scale_ != 1.0))
        self.sfit_history_ = np.asarray(sfit_history)
        self.worst_class_history_ = np.asarray(worst_class_history)
        self.coef_path_ = np.asarray(coef_path[: len(sfit_history)])
        self.intercept_path_ = np.asarray(intercept_path[: len(sfit_history)])
        self.n_iter_ = len(sfit_history)
        pred = np.argmax(_logits(X_id, coef_path[best], intercept_path[best]), axis=1)
        self.class_accuracy_ = _class_accuracy(y_id, pred, n_classes)
        self._check_collapse(self.class_accuracy_, pred)
        return self

    def _select_epoch(self, sfit_history, worst_class_history):
        """Index of the epoch kept by ``selection``."""
        sfit_values = np.asarray(sfit_history)
        worst = np.asarray(worst_class_history)
        if self.selection == "last":
            return len(sfit_values) - 1
        if self.selection == "sfit":
            return int(np.argmax(sfit_values))
        # "worst_class": the best worst-class accuracy; among ties, the highest SFit
        return int(np.lexsort((-sfit_values, -worst))[0])

    def _guard_margin(self, y_id, n_classes):
        """``guard_margin``; "auto": two standard errors of the reference's worst-class
        accuracy, sqrt(p (1 - p) / n) for that class's n identification samples."""
        if self.guard_margin != "auto":
            return float(self.guard_margin)
        worst = int(np.argmin(self.reference_class_accuracy_))
        p = self.reference_class_accuracy_[worst]
        n = max(int(np.sum(y_id == worst)), 1)
        return 2.0 * np.sqrt(p * (1.0 - p) / n)

    def _check_collapse(self, class_accuracy, pred):
        never = np.setdiff1d(np.arange(len(self.classes_)), pred)
        drop = self.reference_class_accuracy_.min() - class_accuracy.min()
        reasons = []
        if never.size:
            reasons.append(f"class(es) {self.classes_[never].tolist()} are never predicted")
        if drop > _COLLAPSE_MARGIN:
            reasons.append(
                f"its worst-class accuracy on the identification data is {100 * drop:.1f} points "
                "below the reference model's"
            )
        self.degenerate_ = bool(reasons)
        if reasons:
            warnings.warn(
                "The tuned head may be worse than the reference model: "
                + "; ".join(reasons)
                + f" ({100 * self.masked_fraction_:.0f}% of the features masked). Consider "
                "threshold='fdr', max_masked_fraction, or guard_margin.",
                UserWarning,
                stacklevel=3,
            )

    def _select_biased(self, flags, scores, rng):
        """Mask of the biased features from the (feature, class) ``flags``.

        A hook for controls such as a random mask. Returns shape
        (n_features,), or (n_classes, n_features) with ``mask_scope="per_class"``.
        """
        return select_biased_features(
            scores,
            flags=flags,
            max_masked_fraction=self.max_masked_fraction,
            per_class=self.mask_scope == "per_class",
        )

    def decision_function(self, X):
        """Logits of the tuned head on the masked embeddings.

        Returns
        -------
        ndarray of shape (n_samples, n_classes), or (n_samples,) for two
        classes: the logit of ``classes_[1]`` minus that of ``classes_[0]``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        logits = _logits(X, self.coef_ * self.feature_scale_, self.intercept_)
        return logits[:, 1] - logits[:, 0] if len(self.classes_) == 2 else logits

    def predict(self, X):
        """Predicted class labels."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def predict_proba(self, X):
        """Softmax probabilities, columns in the order of ``classes_``."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            scores = np.column_stack([np.zeros_like(scores), scores])
        return softmax(scores, axis=1)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        # Masking trades average accuracy for worst-group accuracy by design: on
        # scikit-learn's 2-feature, 3-class blobs the paper's threshold of 0 masks
        # one of the two features and training accuracy falls to about 0.7 (0.97
        # with mask_value=1, see tests/test_neurontune.py). The tag keeps the rest
        # of check_classifiers_train running instead of stopping at its 0.83 bar.
        tags.classifier_tags.poor_score = True
        return tags


_COLLAPSE_MARGIN = 0.10  # worst-class accuracy lost against the reference that we warn about


def _class_accuracy(y_encoded, pred, n_classes):
    """Accuracy within each class (recall), 0 for a class without samples."""
    hits = np.bincount(y_encoded, weights=pred == y_encoded, minlength=n_classes)
    counts = np.bincount(y_encoded, minlength=n_classes)
    return hits / np.maximum(counts, 1)


class _Identity:
    """The embeddings as they are (no standardisation)."""

    def to_inner(self, coef, intercept):
        return coef, intercept

    def to_outer(self, coef, intercept, scale=None):
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

    def to_outer(self, coef, intercept, scale=None):
        """Weights on ``x``; with ``scale`` the intercept is that of the masked head."""
        W = coef / self.std
        masked = W if scale is None else W * scale
        return W, intercept - masked @ self.mean

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


def _logits(X, coef, intercept):
    """``X @ coef.T + intercept`` in X's precision: float32 input is never upcast (copied)."""
    return X @ coef.T.astype(X.dtype, copy=False) + intercept


def _split_halves(y_encoded, n_classes, rng):
    """Split rows into identification and tuning halves, stratified by class.

    Each class's rows are shuffled; the first ``n_c // 2`` identify and the
    rest tune. A class with a single row is put in both halves, so that
    every class can be identified on and tuned on.
    """
    perm = rng.permutation(len(y_encoded))
    perm = perm[np.argsort(y_encoded[perm], kind="stable")]  # shuffled within class
    counts = np.bincount(y_encoded, minlength=n_classes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(perm)) - np.repeat(starts, counts)
    half = np.repeat(counts // 2, counts)
    singleton = np.repeat(counts == 1, counts)
    id_rows = perm[(rank < half) | singleton]
    tune_rows = perm[rank >= half]
    return np.sort(id_rows), np.sort(tune_rows)

