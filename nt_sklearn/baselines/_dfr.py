"""DFRClassifier: Deep Feature Reweighting, last-layer retraining on group-balanced data."""

import inspect
import logging
import warnings
from numbers import Integral, Real

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from .._base import _LinearPredictMixin, _ReferenceMixin, _split_halves
from .._compat import Interval, StrOptions, _fit_context
from .._data import _check_finite_head, _check_weights, _nonuniform

__all__ = ["DFRClassifier"]

logger = logging.getLogger(__name__)

# scikit-learn 1.8 deprecated ``penalty``: an L1 logistic regression is ``l1_ratio=1`` there,
# ``penalty="l1"`` before (where ``l1_ratio`` only acts with ``penalty="elasticnet"``).
_L1 = (
    {"l1_ratio": 1.0}
    if inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated"
    else {"penalty": "l1"}
)


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


def _worst_group_accuracy(correct, groups, n_groups, weights=None):
    if weights is None:
        hits = np.bincount(groups, weights=correct, minlength=n_groups)
        counts = np.bincount(groups, minlength=n_groups)
    else:
        hits = np.bincount(groups, weights=weights * correct, minlength=n_groups)
        counts = np.bincount(groups, weights=weights, minlength=n_groups)
    present = counts > 0
    return float(np.min(hits[present] / counts[present]))


def _rows(w, rows):
    return None if w is None else w[rows]


class DFRClassifier(_LinearPredictMixin, _ReferenceMixin, ClassifierMixin, BaseEstimator):
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

    DFR needs group labels: pass them as ``fit(X, y, group_labels=...)``, a
    name that scikit-learn's CV splitters never consume (a ``groups``
    argument of ``GridSearchCV.fit`` goes to the splitter, not to the
    estimator). Groups are crossed with the classes (a group label shared by
    several classes counts as one group per class), so that every balanced
    subsample holds every class. Without group labels the classes serve as
    groups: this is class-balanced DFR, which needs no group labels, and a
    warning says so.

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
        The class labels, sorted.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names seen in ``fit``; defined only when ``X`` has string
        feature names (scikit-learn's convention).
    coef_ : ndarray of shape (1, n_features_in_) or (n_classes, n_features_in_)
        Weights of the decision function, averaged, on the raw
        (unstandardised) embeddings, in ``LogisticRegression``'s layout: one
        row for two classes (the logit of ``classes_[1]`` minus that of
        ``classes_[0]``), else one per class.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercept of the decision function.
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
    nt_sklearn.metrics.worst_group_accuracy : The criterion that chooses C.

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
    >>> groups = 2 * y + attribute
    >>> dfr = DFRClassifier(n_subsamples=5, random_state=0).fit(X, y, group_labels=groups)
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

    # the retraining data goes whole to StandardScaler and LogisticRegression (float64)
    _fit_dtypes = [np.float64, np.float32]
    # Under metadata routing the deprecated ``groups`` is not requested by default: a
    # ``groups`` given to a search is the CV splitter's, and DFR's labels are group_labels.
    __metadata_request__fit = {"groups": False}

    def __init__(
        self,
        *,
        Cs: ArrayLike = (1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01),
        n_subsamples: int = 20,
        solver: str = "auto",
        max_iter: int = 1000,
        tol: float = 1e-4,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.Cs = Cs
        self.n_subsamples = n_subsamples
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        *,
        group_labels: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
        groups: ArrayLike | None = None,
    ) -> "DFRClassifier":
        """Choose C on two halves of ``X``, then average models over balanced subsamples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings of the retraining data (DFR: the validation split).
        y : array-like of shape (n_samples,)
            Class labels of ``X``.
        group_labels : array-like of shape (n_samples,), default=None
            Group labels (class x spurious attribute, or the attribute alone:
            they are crossed with ``y``). None: the classes are the groups
            (class-balanced DFR), with a warning. Without metadata routing,
            ``GridSearchCV(...).fit(X, y, group_labels=g)`` cuts them along
            with the folds; with routing, call
            ``set_fit_request(group_labels=True)``.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows of ``X``. Rows of weight 0 are removed
            before anything else; the others weigh the scalers, the logistic
            fits and the worst-group accuracy that chooses C. The
            group-balanced subsamples are still drawn by rows, so an integer
            weight is not the same as that many copies of the row here.
        groups : array-like of shape (n_samples,), default=None
            Deprecated name of ``group_labels`` (a FutureWarning says so);
            it will be removed in the next release. Inside a model-selection
            tool, ``groups`` is taken by the CV splitter and never arrives
            here: use ``group_labels``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        group_labels = self._group_labels(group_labels, groups)
        X, y = self._validate_fit_data(X, y)
        w = _check_weights(sample_weight, len(X))
        if w is not None and np.any(w == 0):  # weight 0: the row is not there
            keep = np.flatnonzero(w > 0)
            if group_labels is not None and len(group_labels) == len(w):
                group_labels = np.asarray(group_labels)[keep]
            X, y, w = X[keep], y[keep], w[keep]
        w = _nonuniform(w)
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
        groups = self._crossed_groups(y_enc, group_labels, len(X))
        n_groups = int(groups.max()) + 1
        rng = check_random_state(self.random_state)

        # 1. C by worst-group accuracy: balanced subsample of one half -> the other half
        fit_rows, eval_rows = _split_halves(groups, n_groups, rng)
        self._warn_singletons(groups, n_groups)
        train = fit_rows[_group_balanced_rows(groups[fit_rows], n_groups, rng)]
        scaler = StandardScaler().fit(X[train], sample_weight=_rows(w, train))
        Z_train, Z_eval = scaler.transform(X[train]), scaler.transform(X[eval_rows])
        scores = np.empty(len(Cs))
        for i, C in enumerate(Cs):  # a loop over the grid, not over samples
            model = self._logistic(C, solver, rng)
            model.fit(Z_train, y_enc[train], sample_weight=_rows(w, train))
            correct = model.predict(Z_eval) == y_enc[eval_rows]
            scores[i] = _worst_group_accuracy(correct, groups[eval_rows], n_groups,
                                              _rows(w, eval_rows))
        best = int(np.argmax(scores))
        logger.info("DFR: worst-group accuracy per C %s; C=%g chosen", scores.round(4), Cs[best])

        # 2. the chosen C on balanced subsamples of all of X, coefficients averaged
        scaler = StandardScaler().fit(X, sample_weight=w)
        coef, intercept, n_iter = 0.0, 0.0, 0
        for _ in range(self.n_subsamples):
            rows = _group_balanced_rows(groups, n_groups, rng)
            model = self._logistic(Cs[best], solver, rng)
            model.fit(scaler.transform(X[rows]), y_enc[rows], sample_weight=_rows(w, rows))
            coef = coef + model.coef_ / self.n_subsamples
            intercept = intercept + model.intercept_ / self.n_subsamples
            n_iter = max(n_iter, int(np.max(model.n_iter_)))
        self.coef_ = coef / scaler.scale_
        self.intercept_ = intercept - self.coef_ @ scaler.mean_
        _check_finite_head(self.coef_, self.intercept_, "DFR's LogisticRegression")
        self.C_ = float(Cs[best])
        self.selection_scores_ = scores
        self.n_groups_ = n_groups
        self.n_iter_ = n_iter
        return self

    def _group_labels(self, group_labels, groups):
        """``group_labels``, or the deprecated ``groups``; a warning when there are none."""
        if groups is not None:
            if group_labels is not None:
                raise ValueError(
                    "DFRClassifier.fit got both group_labels and the deprecated groups; "
                    "pass group_labels only."
                )
            warnings.warn(
                "DFRClassifier.fit(groups=...) is deprecated and will be removed in the next "
                "release: pass group_labels=... instead. Inside GridSearchCV, cross_validate "
                "and the other model-selection tools, `groups` goes to the CV splitter and "
                "never reaches DFR.",
                FutureWarning,
                stacklevel=4,
            )
            return groups
        if group_labels is None:
            warnings.warn(
                "DFRClassifier got no group_labels: the classes serve as groups "
                "(class-balanced DFR). Pass fit(X, y, group_labels=...); inside GridSearchCV "
                "or cross_validate, a `groups` argument is consumed by the CV splitter and "
                "does not reach DFR: pass group_labels=... (with metadata routing, after "
                "set_fit_request(group_labels=True)).",
                UserWarning,
                stacklevel=4,
            )
        return group_labels

    def _crossed_groups(self, y_enc, groups, n_samples):
        if groups is None:
            return y_enc
        groups = np.asarray(groups)
        if groups.ndim != 1 or len(groups) != n_samples:
            raise ValueError(
                f"group_labels must be 1-D with one label per row of X ({n_samples} rows); "
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
