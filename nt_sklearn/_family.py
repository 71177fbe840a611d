"""The NeuronTune family's base: one recipe, the mask decided by each sibling.

:class:`_NeuronTuneBase` declares the trainer parameters and their
constraints once and holds ``fit`` as named steps: resolve the reference,
identify and tune a round (``n_rounds`` times), select an epoch, guard
against the reference, set every fitted attribute. The siblings
(:class:`~nt_sklearn.NeuronTuneClassifier`,
:class:`~nt_sklearn.baselines.ClassBalancedRetraining`,
:class:`~nt_sklearn.baselines.RandomMaskClassifier`,
:class:`~nt_sklearn.baselines.FixedMaskClassifier`) differ only in how the
mask is decided (``_biased`` and the few hooks next to it).
"""

import logging
import warnings
from dataclasses import replace
from itertools import islice
from numbers import Integral, Real

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state

from ._base import _decision_weights, _initial_head, _LinearPredictMixin, _ReferenceMixin
from ._data import TuningData, _logits
from ._compat import HasMethods, Interval, StrOptions, _fit_context
from ._docstring import FALLBACK_DOCS, Substitution
from ._epochs import _class_accuracy, _Epoch, _histories, _timed, _weighted
from ._head import _Identity, _Standardizer, train_linear_head
from ._medians import ACTIVATIONS, _ClassMedianScorer
from ._scores import _encode, _warn_degenerate, sfit

logger = logging.getLogger(__name__)

FIT_TIME_KEYS = ("reference", "sfit_setup", "identify", "tune", "sfit")
_COLLAPSE_MARGIN = 0.10  # worst-class accuracy lost against the reference that we warn about
_LOGIT_COLUMNS = 64  # logits of the identification rows computed per pass over them

TRAINER_CONSTRAINTS = {
    "estimator": [HasMethods(["predict"]), None],
    "activation": [StrOptions(set(ACTIVATIONS))],
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
    "store_path": ["boolean"],
    "random_state": ["random_state"],
}
MASK_VALUE_CONSTRAINT = {"mask_value": [Interval(Real, None, None, closed="neither")]}


class _NeuronTuneBase(_LinearPredictMixin, _ReferenceMixin, ClassifierMixin, BaseEstimator):
    """Reference, identification, class-balanced tuning and selection, for every sibling.

    Subclasses declare ``__init__`` (their parameters among
    ``TRAINER_CONSTRAINTS`` and their own) and the mask hooks below.
    """

    _parameter_constraints = dict(TRAINER_CONSTRAINTS)
    _tuning_fallback = "split"

    # ---- the mask hooks, overridden by the siblings -------------------------------

    def _rounds(self):
        """Identify-then-tune rounds."""
        return 1

    def _empty_mask(self):
        """The mask before the first round: (n_features,), or (n_classes, n_features)."""
        return np.zeros(self.n_features_in_, dtype=bool)

    def _mask_factor(self):
        """Factor of the masked features."""
        return 1.0

    def _biased(self, scores, X_id, y_id, pred, rng, w_id):
        """``(mask, p_values)`` of one round, from the scores of the predictions ``pred``
        (``w_id``: the weights of the identification rows, or None)."""
        raise NotImplementedError

    def _check_mask_parameters(self):
        """Validate parameters that depend on the data (called once ``classes_`` is set)."""

    # ---- the selection hooks, overridden by the label-free configuration ----------

    def _tuning_weights(self, data):
        """The tuning data with the weights the head trains on (unchanged here)."""
        return data

    def _epoch_score(self, data, pred):
        """The worst-case accuracy of an epoch's predictions ``pred`` on ``X`` that
        ``selection="worst_class"`` maximises and the guard compares: worst-class here."""
        return _class_accuracy(data.y, pred, len(self.classes_), _weighted(data)[0]).min()

    # ---- fit, step by step --------------------------------------------------------

    @Substitution(fallback=FALLBACK_DOCS["split"])
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        X_tune: ArrayLike | TuningData | None = None,
        y_tune: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> "_NeuronTuneBase":
        """Decide the mask on ``X``, tune a head on ``X_tune``, select an epoch on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Identification embeddings (the paper: the validation split): the
            spuriousness scores, the mask where one is identified, and the
            SFit and worst-class accuracy that select the epoch.
        y : array-like of shape (n_samples,)
            Class labels of ``X``. Group labels are never needed.
        X_tune : array-like of shape (n_tune, n_features) or TuningData, default=None
            Tuning embeddings (the paper: the training split), on which the
            stand-in reference (``estimator=None``) is fitted and the head is
            trained; read one mini-batch at a time, so a read-only memmap is
            never copied (float16 rows are computed in float32 batch by
            batch). A :class:`~nt_sklearn.TuningData` carries the labels
            and the weights of the tuning rows and may have any length; a
            raw array of exactly ``len(X)`` rows is refused (see Notes).
            %(fallback)s
        y_tune : array-like of shape (n_tune,), default=None
            Class labels of ``X_tune``; required with a raw ``X_tune``, None
            with a TuningData.
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights of the rows of ``X`` (an integer weight is that
            many copies of the row; 0 removes it): the medians of the
            spuriousness scores and of SFit, the significance test of
            ``threshold="fdr"`` and the per-class accuracies (selection, the
            guard) are weighted. With ``X_tune=None`` they travel with their
            rows into the two halves, and the tuning half's weights act as
            the tuning weights. The tuning rows' weights
            (``TuningData(..., sample_weight=...)``) weigh the stand-in
            reference's fit and the class-balanced draws: within each class
            a row is drawn with probability proportional to its weight, so
            batches stay class-balanced. Equal weights give the unweighted
            fit; other weights draw from a different random stream.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X, y = self._validate_fit_data(X, y)
        y_enc = self._encode_targets(y)
        self._check_mask_parameters()
        rng = check_random_state(self.random_state)
        data = self._resolve_tuning_data(X, y_enc, X_tune, y_tune, rng, sample_weight)
        times = dict.fromkeys(FIT_TIME_KEYS, 0.0)
        head, ref_pred = self._reference_step(data, times)
        data = self._tuning_weights(data)
        epochs, scores, p_values = self._tune_rounds(data, head, ref_pred, rng, times)
        best = self._select_epoch(*_histories(epochs))
        kept = self._guard(epochs[best], data)
        self._set_fitted(data, epochs, epochs[best], None if kept else best, head, scores, p_values)
        self.fit_times_ = times
        return self

    def _reference_step(self, data, times):
        """The reference model, the head it starts, and its predictions on ``X``."""
        with _timed(times, "reference"):
            reference = self._reference(data.X_tune, data.y_tune, data.w_tune)
            coef, intercept, how = _initial_head(
                reference, self.classes_, self.n_features_in_, self.head_init
            )
            ref_pred = _encode(self.classes_, np.asarray(reference.predict(data.X)))
        self.reference_estimator_ = reference
        self.head_init_ = how
        self.reference_class_accuracy_ = _class_accuracy(
            data.y, ref_pred, len(self.classes_), _weighted(data)[0]
        )
        return (coef, intercept), ref_pred

    def _tune_rounds(self, data, head, pred, rng, times):
        """Identify and tune, ``_rounds()`` times; the epoch records of all rounds."""
        with _timed(times, "tune"):
            # the head trains on standardised embeddings when asked; it is folded back after
            space = _Standardizer(data.X_tune) if self.standardize else _Identity()
        w_id = _weighted(data)[0]
        with _timed(times, "sfit_setup"):
            score_fn = _ClassMedianScorer(
                data.X, data.y, len(self.classes_), self.activation, presort=True,
                sample_weight=w_id,
            )
        coef, intercept = space.to_inner(*head)
        mask = self._empty_mask()
        # the mini-batch seed is drawn after the split, from the same RandomState
        batch_rng = np.random.default_rng(rng.randint(np.iinfo(np.int32).max))
        epochs = []
        for round_ in range(self._rounds()):
            if epochs:  # later rounds start from, and re-identify with, the head selected so far
                best = epochs[self._select_epoch(*_histories(epochs))]
                coef, intercept = best.coef, best.intercept
                pred = np.argmax(_logits(data.X, best.path_coef, best.path_intercept), axis=1)
            with _timed(times, "identify"):
                scores, degenerate = score_fn(pred)
                if round_ == 0:
                    _warn_degenerate(degenerate, self.classes_)
                new, p_values = self._biased(scores, data.X, data.y, pred, batch_rng, w_id)
                mask = mask | new
            logger.info("round %d: %.1f%% of the features masked", round_ + 1, 100 * mask.mean())
            scale = np.where(mask, float(self._mask_factor()), 1.0)
            epochs += self._tune_round(data, space, score_fn, (coef, intercept), scale, mask,
                                       batch_rng, times, epochs)
        return epochs, scores, p_values

    def _forget_heads(self, done, epochs):
        """With ``store_path=False``: drop the heads of the epochs (of earlier rounds,
        ``done``, and of this one) that can no longer be selected. The epoch finally
        selected is the best of the epochs up to itself, so keeping the best so far loses
        nothing, and the fit holds the best head and those of the epochs being scored
        (``_heads_per_pass``) instead of ``n_iter_``."""
        best = self._select_epoch(*_histories(done + epochs))
        for records, offset in ((done, 0), (epochs, len(done))):
            for i, e in enumerate(records):
                if i + offset != best and e.coef is not None:
                    records[i] = replace(e, coef=None, intercept=None, path_coef=None,
                                         path_intercept=None)

    def _tune_round(self, data, space, score_fn, head, scale, mask, rng, times, done):
        """Train ``n_epochs`` epochs with this mask; record every epoch's head and scores
        (``done``: the records of the earlier rounds)."""
        trained = train_linear_head(
            space.wrap(data.X_tune),
            data.y_tune,
            len(self.classes_),
            coef=head[0],
            intercept=head[1],
            feature_scale=scale,
            optimizer=self.optimizer,
            learning_rate=self.learning_rate,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            batch_size=self.batch_size,
            batches_per_epoch=self.batches_per_epoch,
            n_epochs=self.n_epochs,
            rng=rng,
            sample_weight=_weighted(data)[1],
            first_epoch=len(done) + 1,
        )
        epochs, last_pred, value = [], None, None
        per_pass = _heads_per_pass(len(self.classes_))
        while True:
            with _timed(times, "tune"):
                heads = list(islice(trained, per_pass))
            if not heads:
                return epochs
            with _timed(times, "sfit"):
                paths = [space.to_outer(W * scale, b) for W, b in heads]
                for (W, b), path, pred in zip(heads, paths, _predictions(data.X, paths)):
                    if last_pred is None or not np.array_equal(pred, last_pred):
                        value = sfit(score_fn(pred)[0])  # unchanged predictions, unchanged SFit
                    last_pred = pred
                    worst = self._epoch_score(data, pred)
                    epochs.append(_Epoch(W, b, scale, mask, *path, value, worst))
                    logger.debug("epoch %d: SFit %.6g", len(done) + len(epochs), value)
                    if not self.store_path:
                        self._forget_heads(done, epochs)

    def _select_epoch(self, sfit_values, worst):
        """Index of the epoch kept by ``selection``."""
        if self.selection == "last":
            return len(sfit_values) - 1
        if self.selection == "sfit":
            return int(np.argmax(sfit_values))
        # "worst_class": the best worst-class accuracy; among ties, the highest SFit
        return int(np.lexsort((-sfit_values, -worst))[0])

    def _guard(self, chosen, data):
        """Whether ``guard_margin`` keeps the reference instead of the ``chosen`` epoch."""
        kept = bool(
            self.guard_margin is not None
            and self.head_init_ == "reference"
            and chosen.worst_class
            < self.reference_class_accuracy_.min()
            + self._guard_margin(data.y, len(self.classes_), _weighted(data)[0])
        )
        if kept:
            logger.info("the tuned head does not beat the reference by guard_margin; kept it")
        return kept

    def _guard_margin(self, y_id, n_classes, w_id=None):
        """``guard_margin``; "auto": two standard errors of the reference's worst-class
        accuracy, sqrt(p (1 - p) / n) for that class's n identification samples (their
        total weight, with frequency weights)."""
        if self.guard_margin != "auto":
            return float(self.guard_margin)
        worst = int(np.argmin(self.reference_class_accuracy_))
        p = self.reference_class_accuracy_[worst]
        in_worst = y_id == worst
        n = float(np.sum(in_worst)) if w_id is None else float(np.sum(w_id[in_worst]))
        return 2.0 * np.sqrt(p * (1.0 - p) / max(n, 1.0))

    def _set_fitted(self, data, epochs, chosen, best, head, scores, p_values):
        """Every fitted attribute, from the records and the ``chosen`` epoch (index ``best``;
        None when the guard kept the reference ``head`` instead)."""
        if best is None:  # the reference's own head, nothing masked
            path_coef, path_intercept = head
            self.feature_scale_ = np.ones_like(chosen.scale)
        else:
            path_coef, path_intercept = chosen.path_coef, chosen.path_intercept
            self.feature_scale_ = chosen.scale
        self.coef_, self.intercept_ = _decision_weights(path_coef, path_intercept)
        self.best_epoch_ = -1 if best is None else best
        self.kept_reference_ = best is None
        self.identification_indices_ = data.x_rows
        self.spuriousness_scores_ = scores
        self.p_values_ = p_values
        mask = chosen.mask
        self.biased_features_ = mask if mask.ndim == 1 else mask.any(axis=0)
        self.biased_feature_indices_ = np.flatnonzero(self.biased_features_)
        self.masked_fraction_ = float(np.mean(self.feature_scale_ != 1.0))
        self.sfit_history_, self.worst_class_history_ = _histories(epochs)
        for name in ("coef_path_", "intercept_path_"):  # a refit with store_path=False
            self.__dict__.pop(name, None)
        if self.store_path:
            self.coef_path_ = np.array([e.path_coef for e in epochs])
            self.intercept_path_ = np.array([e.path_intercept for e in epochs])
        self.n_iter_ = len(epochs)
        pred = np.argmax(_logits(data.X, path_coef, path_intercept), axis=1)
        self.class_accuracy_ = _class_accuracy(data.y, pred, len(self.classes_),
                                               _weighted(data)[0])
        self.degenerate_ = self._check_collapse(self.class_accuracy_, pred)

    def _check_collapse(self, class_accuracy, pred):
        """Warn, and return True, when the selected head looks worse than the reference."""
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
        if reasons:
            warnings.warn(
                "The tuned head may be worse than the reference model: "
                + "; ".join(reasons)
                + f" ({100 * self.masked_fraction_:.0f}% of the features masked). Consider "
                "threshold='fdr', max_masked_fraction, or guard_margin.",
                UserWarning,
                stacklevel=4,
            )
        return bool(reasons)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


def _heads_per_pass(n_classes):
    """Epochs whose predictions one pass over the identification rows computes: reading
    them once for many heads, not once an epoch, is what bounds the per-epoch cost."""
    return max(1, _LOGIT_COLUMNS // n_classes)


def _predictions(X, heads):
    """Predictions of every head ``(coef, intercept)`` on ``X``, one head at a time, from
    the logits of all of them computed in one product (one read of ``X``)."""
    n_classes = len(heads[0][1])
    logits = _logits(X, np.concatenate([coef for coef, _ in heads]), 0.0)
    for i, (_, intercept) in enumerate(heads):
        yield np.argmax(logits[:, i * n_classes : (i + 1) * n_classes] + intercept, axis=1)
