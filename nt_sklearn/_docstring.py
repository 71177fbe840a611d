"""Docstring text shared by several estimators, written once.

:class:`Substitution` fills ``%(name)s`` fields of a docstring, as
imbalanced-learn's decorator of the same name does with ``{name}`` fields;
``%`` fields are used here because numpydoc option sets (``{"sgd",
"adamw"}``) are written with braces. A ``%`` meant literally is written
``%%`` in a substituted docstring.

The parameters' text is in :mod:`nt_sklearn._parameter_docs`; this module
assembles it, with the attributes and notes, into the fields the estimators use.
"""

import textwrap

from ._parameter_docs import _PARAMETERS, _entry

__all__ = ["Substitution"]


class Substitution:
    """Decorate a function's or a class's docstring with ``%``-substitution.

    Parameters
    ----------
    **params : str
        The text of every ``%(name)s`` field.
    """

    def __init__(self, **params):
        self.params = params

    def __call__(self, obj):
        """Return ``obj`` with its docstring substituted (none under ``python -OO``).

        Parameters
        ----------
        obj : class or function
            The object whose docstring is filled in.

        Returns
        -------
        obj : class or function
            The same object.
        """
        if obj.__doc__:
            obj.__doc__ = obj.__doc__ % self.params
        return obj


def _fallback(key):
    """The ``X_tune=None`` sentence of a ``fit`` docstring, for a field on its own line."""
    return textwrap.fill(_TUNING_FALLBACKS[key], width=79 - 12, subsequent_indent=" " * 12)


_IDENTIFICATION = (
    "threshold", "fdr_level", "mask_scope", "mask_value", "max_masked_fraction", "n_rounds"
)
_TRAINER = (
    "optimizer", "learning_rate", "momentum", "weight_decay", "batch_size", "batches_per_epoch",
    "n_epochs", "head_init", "standardize", "selection", "guard_margin", "store_path",
    "random_state",
)


def _block(names):
    return "\n    ".join(_PARAMETERS[name] for name in names)


# What ``fit`` does without ``X_tune``, keyed by the ``_tuning_fallback`` an estimator declares
# (nt_sklearn._base._ReferenceMixin._resolve_tuning_data implements them).
_TUNING_FALLBACKS = {
    "split": (
        "None: ``X`` is split per class into two halves (``random_state`` seeds the split); "
        "the first takes the role of ``X``, the second that of ``X_tune``."
    ),
    "x": "None: ``X`` also takes the role of ``X_tune``.",
    "split_if_stand_in": (
        "None: with ``estimator`` given, there is no tuning data; with ``estimator`` None, "
        "``X`` is split per class into two halves (``random_state`` seeds the split); the "
        "first takes the role of ``X_tune``, the second that of ``X``."
    ),
}
FALLBACK_DOCS = {key: _fallback(key) for key in _TUNING_FALLBACKS}

_COEF_CONVENTION = """\
``coef_`` and ``intercept_`` are the weights of the decision function, i.e.
    of what predicts: the mask is folded in (``coef_`` is zero where
    ``feature_scale_`` is 0) and two classes follow ``LogisticRegression``:
    ``coef_`` of shape (1, n_features), ``intercept_`` of shape (1,),
    ``decision_function(X) = X @ coef_.T + intercept_`` (raveled), the logit of
    ``classes_[1]`` minus that of ``classes_[0]``; more classes: one row per
    class, in the order of ``classes_``."""


def family_attributes(*, biased_features, p_values, spuriousness_scores):
    """The Attributes section of the NeuronTune family (one text for every sibling).

    Parameters
    ----------
    biased_features : str
        What ``biased_features_`` marks for this estimator.
    p_values : str
        When ``p_values_`` is set for this estimator.
    spuriousness_scores : str
        What ``spuriousness_scores_`` are for this estimator.

    Returns
    -------
    str
        The section's entries, to be substituted for ``%(attributes)s``.
    """
    return "\n    ".join(
        [
            _entry("classes_ : ndarray of shape (n_classes,)", "The class labels, sorted."),
            _entry("n_features_in_ : int", "Number of features seen in ``fit``."),
            _entry(
                "feature_names_in_ : ndarray of shape (n_features_in_,)",
                "Feature names seen in ``fit``; defined only when ``X`` has string\n"
                "feature names (scikit-learn's convention).",
            ),
            _entry(
                "reference_estimator_ : classifier",
                "The reference model used (``estimator``, or the fitted stand-in).",
            ),
            _entry(
                'head_init_ : {"reference", "zeros"}',
                "How the head was actually initialised.",
            ),
            _entry(
                "coef_ : ndarray of shape (1, n_features_in_) or (n_classes, n_features_in_)",
                "Weights of the decision function of the selected head (or of the\n"
                "kept reference), the mask folded in: see Notes.",
            ),
            _entry(
                "intercept_ : ndarray of shape (1,) or (n_classes,)",
                "Intercept of the decision function, see Notes.",
            ),
            _entry(
                "feature_scale_ : ndarray of shape (n_features_in_,) or "
                "(n_classes, n_features_in_)",
                "The factor of every feature in the selected head: the mask value\n"
                "on the masked features, 1 elsewhere (one row per class with a\n"
                "per-class mask; all ones when the guard kept the reference).",
            ),
            _entry("biased_features_ : ndarray of shape (n_features_in_,), dtype bool",
                   biased_features),
            _entry(
                "biased_feature_indices_ : ndarray of int",
                "``np.flatnonzero(biased_features_)``.",
            ),
            _entry(
                "masked_fraction_ : float",
                "Fraction of the entries of ``feature_scale_`` that are not 1.",
            ),
            _entry("spuriousness_scores_ : ndarray of shape (n_features_in_, n_classes)",
                   spuriousness_scores),
            _entry("p_values_ : ndarray of shape (n_features_in_, n_classes) or None", p_values),
            _entry(
                "sfit_history_ : ndarray of shape (n_iter_,)",
                "SFit of the head on the identification data after every epoch.",
            ),
            _entry(
                "worst_class_history_ : ndarray of shape (n_iter_,)",
                "Worst-class accuracy of the head on the identification data after\n"
                "every epoch.",
            ),
            _entry(
                "coef_path_ : ndarray of shape (n_iter_, n_classes, n_features_in_)",
                "The head after every epoch on the raw embeddings, masking included,\n"
                "one row per class (two classes included): epoch ``e`` predicts\n"
                "``argmax(X @ coef_path_[e].T + intercept_path_[e])``. For studies of\n"
                "model selection (e.g. SFit against a group-labelled criterion).\n"
                "Set only with ``store_path=True``.",
            ),
            _entry(
                "intercept_path_ : ndarray of shape (n_iter_, n_classes)",
                "The intercepts that go with ``coef_path_``; only with\n``store_path=True``.",
            ),
            _entry(
                "best_epoch_ : int",
                "Index into ``sfit_history_`` of the selected head; -1 when the guard\n"
                "kept the reference.",
            ),
            _entry("n_iter_ : int", "Epochs run (``n_epochs`` times the number of rounds)."),
            _entry(
                "class_accuracy_ : ndarray of shape (n_classes,)",
                "Accuracy within each class of the selected head (or of the kept\n"
                "reference) on the identification data.",
            ),
            _entry(
                "reference_class_accuracy_ : ndarray of shape (n_classes,)",
                "Accuracy within each class of the reference model on the\n"
                "identification data.",
            ),
            _entry("kept_reference_ : bool", "Whether ``guard_margin`` kept the reference model."),
            _entry(
                "degenerate_ : bool",
                "True (and a warning was issued) when a class is never predicted on\n"
                "the identification data or the worst-class accuracy there is more\n"
                "than 10 points below the reference's.",
            ),
            _entry(
                "n_tune_samples_ : int",
                "Rows of the tuning data the head was trained on (``X_tune``'s, or\n"
                "the half of ``X`` that took its role).",
            ),
            _entry(
                "identification_indices_ : ndarray of int or None",
                "The rows of ``X`` that identified when ``X_tune`` was None (the\n"
                "others tuned); None when ``X_tune`` was given.",
            ),
            _entry(
                "fit_times_ : dict of str to float",
                "Wall-clock seconds (``time.perf_counter``) of the parts of ``fit``:\n"
                '``"reference"`` (resolving or fitting the reference model and its\n'
                'predictions on the identification data), ``"sfit_setup"`` (building\n'
                'the presorted class-median scorer, once), ``"identify"`` (scores,\n'
                'p-values and mask selection, all rounds), ``"tune"`` (the epochs of\n'
                'the head\'s training, with the standardisation statistics) and\n'
                '``"sfit"`` (the SFit and worst-class evaluation after every epoch).\n'
                "A diagnostic for benchmarks; the rest of ``fit`` (input validation,\n"
                "selection) is not counted.",
            ),
        ]
    )


_FAMILY_NOTES = """\
``fit(X, y, X_tune=..., y_tune=...)`` follows the paper's default: ``X`` is
    the identification data (the validation split) and the tuning data is the
    training split. With ``X_tune=None``, ``X`` is split per class into two
    halves, one to identify and one to tune (the paper's NeuronTune-dagger).

    """ + _COEF_CONVENTION + """

    scikit-learn's model-selection tools slice every fit parameter with as
    many rows as ``X`` along with the folds. A raw tuning array of exactly
    ``len(X)`` rows may therefore have been cut silently, and ``fit``
    refuses it unless it equals ``X`` (identifying on the tuning data). Wrap
    a tuning set of any length in :class:`~nt_sklearn.TuningData`, which
    those tools never slice: ``fit(X, y, X_tune=TuningData(X_tune, y_tune))``
    is accepted whatever the lengths, inside a grid search too.

    ``fit`` refuses inputs whose magnitude would overflow the precision of
    training (the largest value is named), and stops with "training diverged
    at epoch N, lower learning_rate" when the head's logits or weights stop
    being finite: a fitted model is never NaN."""

FAMILY_DOCS = {
    **_PARAMETERS,
    "identification_parameters": _block(_IDENTIFICATION),
    "trainer_parameters": _block(_TRAINER),
    "family_notes": _FAMILY_NOTES,
    "coef_convention": _COEF_CONVENTION,
}
