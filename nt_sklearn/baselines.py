"""The peer last-layer methods of the NeuronTune paper, as scikit-learn estimators.

Every estimator here works on cached embeddings, like
:class:`~nt_sklearn.NeuronTuneClassifier`, so that a benchmark can run every
method through the same code:

- :class:`ERMHead`: the reference model as it is (nothing is trained);
- :class:`ClassBalancedRetraining`: NeuronTune with no feature masked;
- :class:`RandomMaskClassifier`: NeuronTune with a random mask of the same size;
- :class:`DFRClassifier`: L1 logistic regression on group-balanced subsamples
  of ``X`` (Kirichenko et al.); the only one that uses group labels,
  ``fit(X, y, groups=...)``;
- :class:`AFRClassifier`: the reference head retrained on ``X`` with weights
  from the reference's confidence (Qiu et al.);
- :class:`JTTLastLayer`: logistic regression on the tuning data with the
  reference's errors up-weighted (Liu et al.).

The conventions are NeuronTune's where they apply: ``estimator`` is the
reference (ERM) model, used as it is and never refitted; None means a plain
``LogisticRegression(max_iter=1000)`` fitted on the tuning data.
``fit(X, y, X_tune=None, y_tune=None)`` takes ``X`` as the held-out data (in
the paper's setting, the validation split) and ``X_tune`` as the training
split. Each class says which set it uses for what. Group labels are used by
:class:`DFRClassifier` only, the one method here that needs them.
"""

import inspect
import logging
import warnings
from numbers import Integral, Real

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils._available_if import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ._compat import HasMethods, Interval, StrOptions, _fit_context
from ._neurontune import NeuronTuneClassifier, _logits, _ReferenceModelMixin, _split_halves
from ._scores import _encode

__all__ = [
    "AFRClassifier",
    "ClassBalancedRetraining",
    "DFRClassifier",
    "ERMHead",
    "JTTLastLayer",
    "RandomMaskClassifier",
]

logger = logging.getLogger(__name__)

_DTYPES = [np.float64, np.float32]

# scikit-learn 1.8 deprecated ``penalty``: an L1 logistic regression is ``l1_ratio=1`` there,
# ``penalty="l1"`` before (where ``l1_ratio`` only acts with ``penalty="elasticnet"``).
_L1 = (
    {"l1_ratio": 1.0}
    if inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated"
    else {"penalty": "l1"}
)


def _tuning_data(estimator, X, X_tune, y_tune):
    """Validated ``(X_tune, y_tune_encoded)``, or ``(None, None)`` without a tuning set."""
    if X_tune is None:
        if y_tune is not None:
            raise ValueError("y_tune was given without X_tune.")
        return None, None
    return estimator._validate_tuning_data(X, X_tune, y_tune)


def _reference_on_tuning_data(estimator, X, y_encoded, X_tune, y_tune):
    """``(X_tune, y_tune_encoded, reference)``; without a tuning set, ``X`` stands in."""
    X_tune, y_tune_enc = _tuning_data(estimator, X, X_tune, y_tune)
    if X_tune is None:
        X_tune, y_tune_enc = X, y_encoded
    return X_tune, y_tune_enc, estimator._reference(X_tune, y_tune_enc)


def _aligned(reference, classes, scores):
    """Columns of a reference's (n, n_classes) output in the order of ``classes``."""
    return scores[:, _encode(np.asarray(reference.classes_), classes)]


class _LinearPredictMixin:
    """Prediction from ``coef_`` and ``intercept_``, one row per class or one row (binary)."""

    def _scores(self, X):
        return _logits(X, self.coef_, self.intercept_)

    def decision_function(self, X):
        """Logits of the head.

        Returns
        -------
        ndarray of shape (n_samples, n_classes), or (n_samples,) for two
        classes: the score of ``classes_[1]`` against ``classes_[0]``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_DTYPES)
        scores = self._scores(X)
        if scores.shape[1] == 1:
            return scores[:, 0]
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def predict(self, X):
        """Predicted class labels."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def predict_proba(self, X):
        """Softmax probabilities (a sigmoid for two classes), columns in ``classes_`` order."""
        return np.exp(self.predict_log_proba(X))

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed stably."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            scores = np.column_stack([np.zeros_like(scores), scores])
        return log_softmax(scores, axis=1)


# ---- ERM ---------------------------------------------------------------------


def _reference_has(method):
    def check(self):
        reference = getattr(self, "reference_estimator_", None)
        if reference is None:
            reference = LogisticRegression() if self.estimator is None else self.estimator
        return hasattr(reference, method)

    return check


class ERMHead(_ReferenceModelMixin, ClassifierMixin, BaseEstimator):
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
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.
    reference_estimator_ : classifier
        The model every prediction comes from.

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
    """

    _parameter_constraints = {"estimator": [HasMethods(["predict"]), None]}

    def __init__(self, estimator=None):
        self.estimator = estimator

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, X_tune=None, y_tune=None):
        """Resolve the reference model; nothing else is learned.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings whose labels define ``classes_``; the stand-in
            reference is fitted on them when there is no tuning set.
        y : array-like of shape (n_samples,)
        X_tune : array-like of shape (n_tune, n_features), default=None
            The training split: the stand-in reference is fitted on it (when
            ``estimator`` is None). Same checks as
            :meth:`NeuronTuneClassifier.fit`.
        y_tune : array-like of shape (n_tune,), default=None

        Returns
        -------
        self : ERMHead
        """
        X, y = validate_data(self, X, y, dtype=_DTYPES)
        y_enc = self._encode_targets(y)
        X_tune, y_tune_enc, reference = _reference_on_tuning_data(self, X, y_enc, X_tune, y_tune)
        width = getattr(reference, "n_features_in_", self.n_features_in_)
        if width != self.n_features_in_:
            raise ValueError(
                f"`estimator` expects {width} features but X has {self.n_features_in_}."
            )
        self.reference_estimator_ = reference
        return self

    def _validated(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=_DTYPES)

    def predict(self, X):
        """The reference model's predictions."""
        X = self._validated(X)
        return self.reference_estimator_.predict(X)

    @available_if(_reference_has("predict_proba"))
    def predict_proba(self, X):
        """The reference model's probabilities, columns in ``classes_`` order."""
        X = self._validated(X)
        reference = self.reference_estimator_
        return _aligned(reference, self.classes_, reference.predict_proba(X))

    @available_if(_reference_has("predict_proba"))
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    @available_if(_reference_has("decision_function"))
    def decision_function(self, X):
        """The reference model's scores, in ``classes_`` order.

        Returns
        -------
        ndarray of shape (n_samples, n_classes), or (n_samples,) for two
        classes: the score of ``classes_[1]`` against ``classes_[0]``.
        """
        X = self._validated(X)
        reference = self.reference_estimator_
        scores = np.asarray(reference.decision_function(X))
        if scores.ndim == 1:  # binary: the score of the reference's classes_[1]
            positive = _encode(np.asarray(reference.classes_), self.classes_[1:])[0]
            return scores if positive == 1 else -scores
        scores = _aligned(reference, self.classes_, scores)
        return scores[:, 1] - scores[:, 0] if len(self.classes_) == 2 else scores


# ---- NeuronTune controls -----------------------------------------------------

_MASK_PARAMETERS = (
    "threshold", "fdr_level", "mask_scope", "mask_value", "max_masked_fraction", "n_rounds"
)


class ClassBalancedRetraining(NeuronTuneClassifier):
    """NeuronTune with no masking: class-balanced retraining of the last layer.

    The paper's ablation "NT = No" (Table 4): everything of
    :class:`~nt_sklearn.NeuronTuneClassifier` (reference model, class-balanced
    mini-batches on the tuning data, SFit selection of the epoch) except that
    no feature is masked. Implemented by the selection hook returning an
    all-False mask, so ``biased_features_`` is all False and
    ``feature_scale_`` all ones; the mask parameters (``threshold``,
    ``mask_value``, ``max_masked_fraction``) do not exist here, and
    ``n_rounds`` is fixed at 1 (with nothing to re-identify, more rounds would
    only mean more epochs). The spuriousness scores of the reference model are
    still computed and reported in ``spuriousness_scores_``, and SFit still
    selects the epoch.

    Parameters
    ----------
    estimator : fitted classifier, default=None
        The reference model, as in :class:`~nt_sklearn.NeuronTuneClassifier`.
    activation : {"abs", "relu", "identity"}, default="abs"
        For the reported scores and for SFit.
    optimizer : {"sgd", "adamw"}, default="sgd"
    learning_rate : float, default=1e-3
    momentum : float, default=0.9
    weight_decay : float, default=1e-4
    batch_size : int, default=128
    batches_per_epoch : int, default=200
    n_epochs : int, default=40
    head_init : {"reference", "zeros"}, default="reference"
    selection : {"sfit", "last"}, default="sfit"
    random_state : int, RandomState instance or None, default=None
        All as in :class:`~nt_sklearn.NeuronTuneClassifier`, whose defaults
        these are, so that the two differ by the mask alone.

    Attributes
    ----------
    classes_, n_features_in_, feature_names_in_, reference_estimator_, \
spuriousness_scores_, biased_features_, biased_feature_indices_, \
feature_scale_, coef_, intercept_, head_init_, sfit_history_, best_epoch_, \
n_iter_
        As in :class:`~nt_sklearn.NeuronTuneClassifier`;
        ``biased_features_`` is all False.

    See Also
    --------
    nt_sklearn.NeuronTuneClassifier : The same recipe with the biased features masked.
    RandomMaskClassifier : The same recipe with a random mask.

    References
    ----------
    G. Zheng, W. Ye, A. Zhang. "NeuronTune: Towards Self-Guided Spurious Bias
    Mitigation". ICML 2025 (Table 4, "NT = No").

    Examples
    --------
    >>> import numpy as np
    >>> from nt_sklearn import ClassBalancedRetraining
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4))
    >>> y = (X[:, 0] + 0.5 * rng.normal(size=300) > 0).astype(int)
    >>> clf = ClassBalancedRetraining(n_epochs=2, batches_per_epoch=20, random_state=0)
    >>> clf = clf.fit(X[:100], y[:100], X_tune=X[100:], y_tune=y[100:])
    >>> int(clf.biased_features_.sum()), clf.spuriousness_scores_.shape
    (0, (4, 2))
    """

    _parameter_constraints = {
        name: constraint
        for name, constraint in NeuronTuneClassifier._parameter_constraints.items()
        if name not in _MASK_PARAMETERS
    }

    # Read by NeuronTuneClassifier.fit; fixed here, not parameters (see the class docstring).
    mask_value = 1.0
    n_rounds = 1
    threshold = 0.0
    mask_scope = "union"

    def __init__(
        self,
        estimator=None,
        *,
        activation="abs",
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

    def _select_biased(self, flags, scores, rng):
        """No feature is biased: an all-False mask."""
        return np.zeros(scores.shape[0], dtype=bool)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # NeuronTuneClassifier's poor_score tag is about masking; with no mask the
        # trainer reaches check_classifiers_train's 0.83 bar.
        tags.classifier_tags.poor_score = False
        return tags


class RandomMaskClassifier(NeuronTuneClassifier):
    """NeuronTune's recipe with a random mask of the same size: the control.

    The spuriousness scores decide how many features NeuronTune would mask
    (``threshold``, ``max_masked_fraction``); that many features are then
    drawn uniformly at random, without replacement, and masked instead.
    Everything else is :class:`~nt_sklearn.NeuronTuneClassifier`'s. If
    NeuronTune beats this control, the selection of the features matters, not
    only their number. With ``n_rounds > 1`` every round draws as many
    features as NeuronTune's rule selects in that round, and the draws add up
    as NeuronTune's masks do. The draws come from ``random_state`` (the same
    generator as the mini-batches).

    Parameters
    ----------
    estimator : fitted classifier, default=None
    activation : {"abs", "relu", "identity"}, default="abs"
    threshold : float, default=0.0
    mask_value : float, default=0.0
    max_masked_fraction : float in [0, 1], default=None
    n_rounds : int, default=1
    optimizer : {"sgd", "adamw"}, default="sgd"
    learning_rate : float, default=1e-3
    momentum : float, default=0.9
    weight_decay : float, default=1e-4
    batch_size : int, default=128
    batches_per_epoch : int, default=200
    n_epochs : int, default=40
    head_init : {"reference", "zeros"}, default="reference"
    selection : {"sfit", "last"}, default="sfit"
    random_state : int, RandomState instance or None, default=None
        All as in :class:`~nt_sklearn.NeuronTuneClassifier`.

    Attributes
    ----------
    classes_, n_features_in_, feature_names_in_, reference_estimator_, \
spuriousness_scores_, biased_features_, biased_feature_indices_, \
feature_scale_, coef_, intercept_, head_init_, sfit_history_, best_epoch_, \
n_iter_
        As in :class:`~nt_sklearn.NeuronTuneClassifier`;
        ``biased_features_`` marks the randomly drawn features.

    See Also
    --------
    nt_sklearn.NeuronTuneClassifier : The features chosen by their scores.
    ClassBalancedRetraining : No mask at all.

    References
    ----------
    G. Zheng, W. Ye, A. Zhang. "NeuronTune: Towards Self-Guided Spurious Bias
    Mitigation". ICML 2025.

    Examples
    --------
    >>> import numpy as np
    >>> from nt_sklearn import NeuronTuneClassifier, RandomMaskClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 6))
    >>> y = (X[:, 0] + rng.normal(size=400) > 0).astype(int)
    >>> kw = dict(n_epochs=2, batches_per_epoch=20, random_state=0)
    >>> nt = NeuronTuneClassifier(**kw).fit(X[:150], y[:150], X_tune=X[150:], y_tune=y[150:])
    >>> rm = RandomMaskClassifier(**kw).fit(X[:150], y[:150], X_tune=X[150:], y_tune=y[150:])
    >>> bool(rm.biased_features_.sum() == nt.biased_features_.sum())
    True
    """

    def _select_biased(self, flags, scores, rng):
        """As many features as NeuronTune's rule selects, drawn uniformly at random
        (per class with ``mask_scope="per_class"``)."""
        chosen = super()._select_biased(flags, scores, rng)
        mask = np.zeros_like(np.atleast_2d(chosen))
        for row, n_masked in zip(mask, np.atleast_2d(chosen).sum(axis=1)):  # per class, or one
            row[rng.choice(len(row), size=n_masked, replace=False)] = True
        return mask.reshape(chosen.shape)


# ---- DFR ---------------------------------------------------------------------


def _group_balanced_rows(groups, n_groups, rng):
    """Row indices of a subsample with ``min(group size)`` rows of every present group.

    Rows are drawn without replacement, in a random order within each group
    and returned sorted.
    """
    counts = np.bincount(groups, minlength=n_groups)
    smallest = counts[counts > 0].min()
    perm = rng.permutation(len(groups))
    perm = perm[np.argsort(groups[perm], kind="stable")]  # shuffled within group
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(perm)) - np.repeat(starts, counts)
    return np.sort(perm[rank < smallest])


def _worst_group_accuracy(correct, groups, n_groups):
    hits = np.bincount(groups, weights=correct, minlength=n_groups)
    counts = np.bincount(groups, minlength=n_groups)
    present = counts > 0
    return float(np.min(hits[present] / counts[present]))


class DFRClassifier(_LinearPredictMixin, _ReferenceModelMixin, ClassifierMixin, BaseEstimator):
    """Deep Feature Reweighting (DFR): last-layer retraining on group-balanced data.

    Following the authors' ``dfr_evaluate_spurious.py`` (DFR on validation
    data): the embeddings are standardised and an L1-penalised logistic
    regression is trained on group-balanced subsamples (every group cut to
    the size of the smallest, without replacement).

    1. **Choice of C.** ``X`` is split in two halves, stratified by group. For
       every C in ``Cs``, a model is trained on one group-balanced subsample
       of the first half (standardised with a scaler fitted on that
       subsample) and scored by its worst-group accuracy on the whole second
       half; the best C is kept (ties: the first in ``Cs``).
    2. **Final model.** With that C, ``n_subsamples`` models are trained on
       group-balanced subsamples of the whole of ``X`` (standardised with a
       scaler fitted on ``X``) and their coefficients and intercepts are
       averaged. The scaler is folded into ``coef_`` and ``intercept_``, so
       the model applies to raw embeddings.

    DFR needs group labels: pass them as ``fit(X, y, groups=...)``. Groups are
    crossed with the classes (a group label shared by several classes counts
    as one group per class), so that every balanced subsample holds every
    class. Without groups (``groups=None``, as scikit-learn's common checks
    fit), the classes serve as groups: this is class-balanced DFR, which
    needs no group labels, and it is what you get, with no warning.

    Parameters
    ----------
    Cs : array-like of float, default=(1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01)
        Inverse L1 regularisation strengths to choose from (the authors'
        Waterbirds grid).
    n_subsamples : int, default=20
        Group-balanced subsamples whose models are averaged (the authors'
        ``num_retrains=20``).
    solver : {"auto", "liblinear", "saga"}, default="auto"
        ``"auto"``: ``"liblinear"`` (the authors' solver) for two classes,
        ``"saga"`` (multinomial) for more, which liblinear cannot fit.
    max_iter : int, default=1000
        Per logistic regression.
    tol : float, default=1e-4
        Per logistic regression.
    random_state : int, RandomState instance or None, default=None
        Seeds the split, the subsamples and the solvers.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.
    coef_ : ndarray of shape (1, n_features_in_) or (n_classes, n_features_in_)
        The averaged weights on the raw (unstandardised) embeddings, in
        ``LogisticRegression``'s layout: one row for two classes.
    intercept_ : ndarray of shape (1,) or (n_classes,)
    C_ : float
        The chosen C.
    selection_scores_ : ndarray of shape (len(Cs),)
        Worst-group accuracy of every C on the second half of ``X``.
    n_groups_ : int
        Groups after crossing with the classes.
    n_iter_ : int
        The most solver iterations among the averaged models.

    See Also
    --------
    AFRClassifier : Reweighting without group labels.

    Notes
    -----
    The authors' final scaler is fitted on the training split's embeddings;
    this estimator sees only ``X`` (the validation split, in DFR's setting),
    so it fits the scaler on ``X``. A group with a single sample cannot be
    split: it goes into both halves (as in NeuronTune-dagger's split), with a
    warning.

    References
    ----------
    P. Kirichenko, P. Izmailov, A. G. Wilson. "Last Layer Re-Training is
    Sufficient for Robustness to Spurious Correlations". ICLR 2023.

    Examples
    --------
    >>> import numpy as np
    >>> from nt_sklearn import DFRClassifier
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 400)
    >>> attribute = np.where(rng.random(400) < 0.9, y, 1 - y)
    >>> X = np.column_stack([y + rng.normal(0, 0.7, 400), attribute + rng.normal(0, 0.1, 400)])
    >>> dfr = DFRClassifier(n_subsamples=5, random_state=0).fit(X, y, groups=2 * y + attribute)
    >>> dfr.coef_.shape, float(dfr.C_) in dfr.Cs
    ((1, 2), True)
    """

    _parameter_constraints = {
        "Cs": ["array-like"],
        "n_subsamples": [Interval(Integral, 1, None, closed="left")],
        "solver": [StrOptions({"auto", "liblinear", "saga"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        Cs=(1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01),
        n_subsamples=20,
        solver="auto",
        max_iter=1000,
        tol=1e-4,
        random_state=None,
    ):
        self.Cs = Cs
        self.n_subsamples = n_subsamples
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, *, groups=None):
        """Choose C on two halves of ``X``, then average models over balanced subsamples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings of the retraining data (DFR: the validation split).
        y : array-like of shape (n_samples,)
        groups : array-like of shape (n_samples,), default=None
            Group labels (class x spurious attribute, or the attribute alone:
            they are crossed with ``y``). None: the classes are the groups.
            Requested as metadata: with metadata routing enabled, call
            ``set_fit_request(groups=True)``.

        Returns
        -------
        self : DFRClassifier
        """
        X, y = validate_data(self, X, y, dtype=_DTYPES)
        y_enc = self._encode_targets(y)
        Cs = np.asarray(self.Cs, dtype=np.float64).ravel()
        if Cs.size == 0 or not np.all(np.isfinite(Cs) & (Cs > 0)):
            raise ValueError(f"Cs must hold positive, finite numbers; got {self.Cs!r}.")
        n_classes = len(self.classes_)
        solver = self.solver
        if solver == "auto":
            solver = "liblinear" if n_classes == 2 else "saga"
        elif solver == "liblinear" and n_classes > 2:
            raise ValueError(
                f"solver='liblinear' fits two classes only; y has {n_classes}. "
                "Use solver='saga' or 'auto'."
            )
        groups = self._crossed_groups(y_enc, groups, len(X))
        n_groups = int(groups.max()) + 1
        rng = check_random_state(self.random_state)

        # 1. C by worst-group accuracy: balanced subsample of one half -> the other half
        fit_rows, eval_rows = _split_halves(groups, n_groups, rng)
        self._warn_singletons(groups, n_groups)
        train = fit_rows[_group_balanced_rows(groups[fit_rows], n_groups, rng)]
        scaler = StandardScaler().fit(X[train])
        Z_train, Z_eval = scaler.transform(X[train]), scaler.transform(X[eval_rows])
        scores = np.empty(len(Cs))
        for i, C in enumerate(Cs):  # a loop over the grid, not over samples
            model = self._logistic(C, solver, rng).fit(Z_train, y_enc[train])
            correct = model.predict(Z_eval) == y_enc[eval_rows]
            scores[i] = _worst_group_accuracy(correct, groups[eval_rows], n_groups)
        best = int(np.argmax(scores))
        logger.info("DFR: worst-group accuracy per C %s; C=%g chosen", scores.round(4), Cs[best])

        # 2. the chosen C on balanced subsamples of all of X, coefficients averaged
        scaler = StandardScaler().fit(X)
        coef, intercept, n_iter = 0.0, 0.0, 0
        for _ in range(self.n_subsamples):
            rows = _group_balanced_rows(groups, n_groups, rng)
            model = self._logistic(Cs[best], solver, rng)
            model.fit(scaler.transform(X[rows]), y_enc[rows])
            coef = coef + model.coef_ / self.n_subsamples
            intercept = intercept + model.intercept_ / self.n_subsamples
            n_iter = max(n_iter, int(np.max(model.n_iter_)))
        self.coef_ = coef / scaler.scale_
        self.intercept_ = intercept - self.coef_ @ scaler.mean_
        self.C_ = float(Cs[best])
        self.selection_scores_ = scores
        self.n_groups_ = n_groups
        self.n_iter_ = n_iter
        return self

    def _crossed_groups(self, y_enc, groups, n_samples):
        if groups is None:
            return y_enc
        groups = np.asarray(groups)
        if groups.ndim != 1 or len(groups) != n_samples:
            raise ValueError(
                f"groups must be 1-D with one label per row of X ({n_samples} rows); "
                f"got shape {groups.shape}."
            )
        _, group_enc = np.unique(groups, return_inverse=True)
        pairs = np.column_stack([y_enc, group_enc.ravel()])
        return np.unique(pairs, axis=0, return_inverse=True)[1].ravel()

    def _warn_singletons(self, groups, n_groups):
        single = np.flatnonzero(np.bincount(groups, minlength=n_groups) == 1)
        if single.size:
            warnings.warn(
                f"{single.size} group(s) (class x group) have a single sample, which "
                "cannot be split: it is used in both halves when DFR chooses C.",
                UserWarning,
                stacklevel=3,
            )

    def _logistic(self, C, solver, rng):
        return LogisticRegression(
            C=C,
            solver=solver,
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=rng.randint(np.iinfo(np.int32).max),
            **_L1,
        )


# ---- AFR ---------------------------------------------------------------------


def _afr_weights(p_true, y_encoded, gamma, n_classes):
    """AFR's per-sample weights: ``exp(-gamma * p_true) / n_y``, normalised to sum to 1.

    As in the authors' code (``get_exp_weights``, then ``rebalance_weights``
    and ``normalize_weights``): each weight is divided by the size of its
    class, so a class's total weight is proportional to the mean of
    ``exp(-gamma * p_true)`` over the class.
    """
    counts = np.bincount(y_encoded, minlength=n_classes)
    # exp(-gamma * (p - min p)) avoids underflow for large gamma; the constant cancels
    weights = np.exp(-gamma * (p_true - p_true.min())) / counts[y_encoded]
    return weights / weights.sum()


def _afr_objective(theta, X, y, weights, offset, init, reg_lambda, chunk=4096):
    """Weighted cross-entropy + ``reg_lambda * ||theta - init||^2`` and its gradient.

    The logits are ``offset + X @ W.T + b``; rows are read ``chunk`` at a time
    in float64, so float32 or memory-mapped X are never copied whole.
    """
    n_classes = len(init) // (X.shape[1] + 1)
    W = theta[: -n_classes].reshape(n_classes, -1)
    b = theta[-n_classes:]
    loss, grad_W, grad_b = 0.0, np.zeros_like(W), np.zeros_like(b)
    for lo in range(0, len(X), chunk):  # a loop over chunks of rows, not samples
        Xc = np.asarray(X[lo : lo + chunk], dtype=np.float64)
        yc, wc = y[lo : lo + chunk], weights[lo : lo + chunk]
        logits = Xc @ W.T + b
        if offset is not None:
            logits += offset[lo : lo + chunk]
        log_p = log_softmax(logits, axis=1)
        rows = np.arange(len(yc))
        loss -= wc @ log_p[rows, yc]
        G = np.exp(log_p)
        G[rows, yc] -= 1.0
        G *= wc[:, None]
        grad_W += G.T @ Xc
        grad_b += G.sum(axis=0)
    delta = theta - init
    loss += reg_lambda * (delta @ delta)
    grad = np.concatenate([grad_W.ravel(), grad_b]) + 2.0 * reg_lambda * delta
    return loss, grad


class AFRClassifier(_LinearPredictMixin, _ReferenceModelMixin, ClassifierMixin, BaseEstimator):
    """Automatic Feature Reweighting (AFR): retrain the head with loss-based weights.

    Every sample of the reweighting data gets the weight
    ``exp(-gamma * p(y | x)) / n_y`` (normalised to sum to 1), where
    ``p(y | x)`` is the reference (ERM) model's probability of the true class
    and ``n_y`` the size of the class: the samples the ERM model gets wrong
    or is unsure about, typically the minority groups, count most. The last
    layer, starting from the reference's, is then retrained on the weighted
    cross-entropy plus ``reg_lambda * (||W - W_ref||^2 + ||b - b_ref||^2)``,
    full batch. No group labels are used.

    Which data does what: the weights and the retraining use ``X``, the data
    held out from the reference model's training (AFR's reweighting set; in
    the paper's setting, the validation split). ``X_tune`` (the training
    split) serves only to fit the stand-in reference when ``estimator`` is
    None; with neither, ``X`` is split per class into two halves, one for the
    stand-in reference and one to reweight and retrain on, as the authors
    split the training data between their two stages.

    Parameters
    ----------
    estimator : fitted classifier with ``predict_proba``, default=None
        The reference (ERM) model, used as it is. When linear (``coef_`` and
        ``intercept_``, as a :class:`~nt_sklearn.LinearHead` or a
        ``LogisticRegression``), AFR retrains its weights. Otherwise the
        retrained head is a linear correction added to the reference's
        log-probabilities, started at and regularised towards zero (the same
        model when the reference is linear; an extension of this
        implementation otherwise). None: ``LogisticRegression(max_iter=1000)``
        fitted on the tuning data, see above.
    gamma : float, default=4.0
        Sharpness of the weights; 0 gives class-balanced uniform weights. The
        authors' published runs use 14 (Waterbirds) and 1.8 (CelebA), and
        their searches span roughly 0 to 20.
    reg_lambda : float, default=0.1
        Pull towards the reference head. The authors' runs use 0.2
        (Waterbirds) and 0 (CelebA). Large values keep the reference head;
        with 0 the optimum may not exist (separable data) and the solver
        stops at ``max_iter``.
    max_iter : int, default=1000
        L-BFGS iterations.
    tol : float, default=1e-6
        L-BFGS tolerance on the projected gradient.
    random_state : int, RandomState instance or None, default=None
        Seeds the split of ``X``, the only random step (used when both
        ``estimator`` and ``X_tune`` are None).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.
    reference_estimator_ : classifier
        The reference model used.
    coef_ : ndarray of shape (n_classes, n_features_in_)
        The retrained head (one row per class, binary included). With
        ``head_init_ == "offset"``, the correction added to the reference's
        log-probabilities.
    intercept_ : ndarray of shape (n_classes,)
    head_init_ : {"reference", "offset"}
        ``"reference"``: the head is the reference's linear layer, retrained;
        ``"offset"``: a correction to a non-linear reference, whose
        ``predict_proba`` is then called at every prediction.
    n_iter_ : int
        L-BFGS iterations run.

    See Also
    --------
    JTTLastLayer : Up-weights the reference's errors by a constant factor.
    DFRClassifier : Balances groups, with group labels.

    Notes
    -----
    The authors train the last layer by full-batch gradient descent for a
    fixed number of epochs (500 at learning rate 0.02 on Waterbirds) and
    select the epoch on validation data. Here the same regularised,
    convex objective is solved to convergence by L-BFGS
    (``scipy.optimize.minimize``), so ``reg_lambda`` alone, not the number of
    epochs, controls how far the head moves from the reference.

    References
    ----------
    S. Qiu, A. Potapczynski, P. Izmailov, A. G. Wilson. "Simple and Fast Group
    Robustness by Automatic Feature Reweighting". ICML 2023.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from nt_sklearn import AFRClassifier
    >>> rng = np.random.default_rng(0)
    >>> def make(n, p_aligned):
    ...     y = rng.integers(0, 2, n)
    ...     spurious = np.where(rng.random(n) < p_aligned, y, 1 - y)
    ...     X = np.column_stack([y + rng.normal(0, 0.6, n), spurious + rng.normal(0, 0.1, n)])
    ...     return X, y
    >>> X_train, y_train = make(2000, 0.95)
    >>> X_val, y_val = make(500, 0.95)
    >>> erm = LogisticRegression().fit(X_train, y_train)
    >>> afr = AFRClassifier(erm, gamma=8.0).fit(X_val, y_val)
    >>> afr.head_init_, afr.coef_.shape
    ('reference', (2, 2))
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["predict_proba"]), None],
        "gamma": [Interval(Real, 0, None, closed="left")],
        "reg_lambda": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        gamma=4.0,
        reg_lambda=0.1,
        max_iter=1000,
        tol=1e-6,
        random_state=None,
    ):
        self.estimator = estimator
        self.gamma = gamma
        self.reg_lambda = reg_lambda
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, X_tune=None, y_tune=None):
        """Weight ``X`` by the reference's confidence and retrain the head on it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The reweighting data, held out from the reference's training
            (the validation split).
        y : array-like of shape (n_samples,)
        X_tune : array-like of shape (n_tune, n_features), default=None
            The training split, used only to fit the stand-in reference when
            ``estimator`` is None (validated in any case). Same checks as
            :meth:`NeuronTuneClassifier.fit`.
        y_tune : array-like of shape (n_tune,), default=None

        Returns
        -------
        self : AFRClassifier
        """
        X, y = validate_data(self, X, y, dtype=_DTYPES)
        y_enc = self._encode_targets(y)
        n_classes = len(self.classes_)
        X_tune, y_tune_enc = _tuning_data(self, X, X_tune, y_tune)
        rng = check_random_state(self.random_state)
        if self.estimator is None and X_tune is None:
            ref_rows, rw_rows = _split_halves(y_enc, n_classes, rng)
            X_tune, y_tune_enc = X[ref_rows], y_enc[ref_rows]
            X, y_enc = X[rw_rows], y_enc[rw_rows]
        reference = self._reference(X_tune, y_tune_enc)
        self.reference_estimator_ = reference

        proba = _aligned(reference, self.classes_, np.asarray(reference.predict_proba(X)))
        weights = _afr_weights(proba[np.arange(len(y_enc)), y_enc], y_enc, self.gamma, n_classes)
        coef, intercept = self._initial_head(reference)
        offset = None
        if self.head_init_ != "reference":
            self.head_init_ = "offset"
            offset = np.log(np.maximum(proba, np.finfo(np.float64).tiny))
        init = np.concatenate([coef.ravel(), intercept])
        result = minimize(
            _afr_objective,
            init,
            args=(X, y_enc, weights, offset, init, float(self.reg_lambda)),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": self.max_iter, "gtol": self.tol},
        )
        if result.status == 1:
            warnings.warn(
                f"AFR's L-BFGS did not converge in max_iter={self.max_iter} iterations; "
                "increase max_iter or reg_lambda.",
                ConvergenceWarning,
                stacklevel=2,
            )
        logger.info("AFR: weighted objective %.6g after %d iterations", result.fun, result.nit)
        self.coef_ = result.x[:-n_classes].reshape(n_classes, -1)
        self.intercept_ = result.x[-n_classes:]
        self.n_iter_ = int(result.nit)
        return self

    def _scores(self, X):
        scores = _logits(X, self.coef_, self.intercept_)
        if self.head_init_ == "offset":
            reference = self.reference_estimator_
            proba = _aligned(reference, self.classes_, np.asarray(reference.predict_proba(X)))
            scores = scores + np.log(np.maximum(proba, np.finfo(np.float64).tiny))
        return scores


# ---- JTT ---------------------------------------------------------------------


class JTTLastLayer(_LinearPredictMixin, _ReferenceModelMixin, ClassifierMixin, BaseEstimator):
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
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.
    reference_estimator_ : classifier
        The identification model used.
    error_indices_ : ndarray of int
        Rows of the tuning data in the error set.
    coef_ : ndarray of shape (1, n_features_in_) or (n_classes, n_features_in_)
        The retrained head, in ``LogisticRegression``'s layout.
    intercept_ : ndarray of shape (1,) or (n_classes,)
    n_iter_ : int
        Solver iterations of the retrained head.

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

    def __init__(self, estimator=None, *, upweight=20.0, C=1.0, max_iter=1000):
        self.estimator = estimator
        self.upweight = upweight
        self.C = C
        self.max_iter = max_iter

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, X_tune=None, y_tune=None):
        """Find the reference's errors on the tuning data and retrain with them up-weighted.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The validation split: fixes ``classes_``; the training data when
            ``X_tune`` is None.
        y : array-like of shape (n_samples,)
        X_tune : array-like of shape (n_tune, n_features), default=None
            The training split: error set and retraining. Same checks as
            :meth:`NeuronTuneClassifier.fit`.
        y_tune : array-like of shape (n_tune,), default=None

        Returns
        -------
        self : JTTLastLayer
        """
        X, y = validate_data(self, X, y, dtype=_DTYPES)
        y_enc = self._encode_targets(y)
        X_tune, y_tune_enc, reference = _reference_on_tuning_data(self, X, y_enc, X_tune, y_tune)
        self.reference_estimator_ = reference
        errors = _encode(self.classes_, np.asarray(reference.predict(X_tune))) != y_tune_enc
        logger.info("JTT: error set of %d of %d tuning samples", errors.sum(), len(errors))
        head = LogisticRegression(C=self.C, max_iter=self.max_iter)
        weights = _jtt_weights(errors, self.upweight)
        head.fit(X_tune, self.classes_[y_tune_enc], sample_weight=weights)
        self.error_indices_ = np.flatnonzero(errors)
        self.coef_, self.intercept_ = head.coef_, head.intercept_
        self.n_iter_ = int(np.max(head.n_iter_))
        return self


def _jtt_weights(errors, upweight):
    """``upweight`` on the error set, 1 elsewhere."""
    return np.where(errors, float(upweight), 1.0)
