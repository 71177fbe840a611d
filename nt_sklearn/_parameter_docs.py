"""The numpydoc text of every parameter of the NeuronTune family, written once.

Each ``_PARAMETERS`` entry is one numpydoc parameter: its first line is
indented by the docstring it lands in (four spaces in a class docstring), the
description lines carry their own eight. :mod:`nt_sklearn._docstring`
substitutes them into the estimators' docstrings.
"""

import textwrap


def _entry(head, text):
    """One numpydoc entry of a class docstring: ``head``, then ``text`` reflowed."""
    return head + "\n" + textwrap.fill(
        " ".join(text.split()), width=79, initial_indent=" " * 8, subsequent_indent=" " * 8
    )


_PARAMETERS = {
    "estimator": _entry(
        "estimator : fitted classifier, default=None",
        """\
The reference model over the same embeddings, e.g. a
:class:`~nt_sklearn.LinearHead` built from the backbone's classifier. It is
used as it is, never refitted. None: a plain, unweighted
``LogisticRegression(max_iter=1000)`` fitted on the tuning data stands in
for the ERM head (a decision of this implementation; the paper uses the ERM
model's own layer). Inside ``GridSearchCV`` or ``cross_validate``, which
clone their estimator, pass a :class:`~nt_sklearn.LinearHead` or wrap a
fitted model in ``sklearn.frozen.FrozenEstimator`` so it stays fitted.""",
    ),
    "activation": _entry(
        'activation : {"abs", "relu", "identity"}, default="abs"',
        """\
Applied to the embeddings before the medians of the spuriousness scores
(``"abs"`` is the paper's): the scores of the reference's predictions
(``spuriousness_scores_``, which decide the mask where the estimator
identifies one) and the SFit of every epoch.""",
    ),
    "threshold": _entry(
        'threshold : float or "fdr", default=0.0',
        """\
The paper's eta: a feature is biased when ``s[k, c] > threshold`` for at
least one class. ``"fdr"`` (beyond the paper): when a one-sided
Mann-Whitney test says the misclassified class-``c`` samples' activations
are larger than the correct ones', with Benjamini-Hochberg control of the
false discovery rate at ``fdr_level`` across features and classes; it also
sees sparse detectors whose medians are both 0.""",
    ),
    "fdr_level": _entry(
        "fdr_level : float in (0, 1), default=0.05",
        """\
The false discovery rate controlled with ``threshold="fdr"`` (unused
otherwise).""",
    ),
    "mask_scope": _entry(
        'mask_scope : {"union", "per_class"}, default="union"',
        """\
``"union"`` (the paper) masks a feature biased for any class in every
logit; ``"per_class"`` masks it only in the logit of the class it is biased
for (``feature_scale_`` then has one row per class).""",
    ),
    "mask_value": _entry(
        "mask_value : float, default=0.0",
        """\
Factor applied to the masked features during tuning and prediction (0
removes them, as in the paper; 1 is no masking).""",
    ),
    "max_masked_fraction": _entry(
        "max_masked_fraction : float in [0, 1], default=None",
        """\
Cap on the fraction of masked features (the highest scores stay masked).
None follows the paper, except that at least one feature is always left
unmasked (with a warning): see :func:`~nt_sklearn.select_biased_features`.""",
    ),
    "n_rounds": _entry(
        "n_rounds : int, default=1",
        """\
Identify-then-tune rounds. In every round after the first, the current head
(the one selected so far) re-identifies on ``X`` and the newly flagged
features join the mask; tuning continues from that head for ``n_epochs``
more epochs. The paper uses one round.""",
    ),
    "optimizer": _entry(
        'optimizer : {"sgd", "adamw"}, default="sgd"',
        """\
SGD as ``torch.optim.SGD`` (the momentum buffer starts at the first
gradient; weight decay is added to the gradient) or AdamW as
``torch.optim.AdamW`` (decoupled decay, betas 0.9 and 0.999, eps 1e-8);
decay applies to the intercept too. The paper uses SGD for the image
datasets, AdamW for MultiNLI and CivilComments.""",
    ),
    "learning_rate": _entry(
        "learning_rate : float, default=1e-3",
        """\
Step size of the optimiser (the paper's Table 10).""",
    ),
    "momentum": _entry(
        "momentum : float, default=0.9",
        """\
SGD momentum (ignored by AdamW).""",
    ),
    "weight_decay": _entry(
        "weight_decay : float, default=1e-4",
        """\
L2 weight decay of the head, intercept included.""",
    ),
    "batch_size": _entry(
        "batch_size : int, default=128",
        """\
Each mini-batch draws ``max(1, batch_size // n_classes)`` tuning samples per
class, with replacement.""",
    ),
    "batches_per_epoch": _entry(
        "batches_per_epoch : int, default=200",
        """\
Mini-batches (optimiser steps) per epoch.""",
    ),
    "n_epochs": _entry(
        "n_epochs : int, default=40",
        """\
Epochs of tuning per round; every epoch is a candidate for selection.""",
    ),
    "head_init": _entry(
        'head_init : {"reference", "zeros"}, default="reference"',
        """\
Start the head from the reference model's weights when it is linear (it has
``coef_`` and ``intercept_``), else from zeros; ``"zeros"`` always starts
fresh.""",
    ),
    "standardize": _entry(
        "standardize : bool, default=False",
        """\
Train the head on embeddings standardised with the tuning data's mean and
standard deviation (computed in chunks, never copying ``X_tune``), so that
one learning rate suits every backbone; the weights are folded back, so
``coef_`` acts on the raw embeddings. A masked feature is then set to its
mean rather than to 0. Identification always uses the raw activations.""",
    ),
    "selection": _entry(
        'selection : {"sfit", "last", "worst_class"}, default="sfit"',
        """\
Keep the epoch with the highest SFit on ``X`` (the paper), the last, or the
best worst-class accuracy on ``X`` (SubpopBench's group-free criterion; ties
broken by SFit).""",
    ),
    "guard_margin": _entry(
        'guard_margin : float, "auto" or None, default=None',
        """\
When set, keep the reference model (``kept_reference_``, with
``best_epoch_ = -1``) unless the selected head's worst-class accuracy on
``X`` beats the reference's by at least this margin; ``"auto"`` is two
standard errors of the reference's worst-class accuracy. Only for a linear
reference (``head_init_ == "reference"``). None (the paper): no guard.""",
    ),
    "store_path": _entry(
        "store_path : bool, default=True",
        """\
Keep every epoch's head as ``coef_path_`` and ``intercept_path_`` (for studies
of model selection). They take ``n_iter_ * n_classes * (n_features + 1)``
floats: 655 MB for 1000 classes x 2048 features x 40 epochs. False leaves them
out, and the fit then holds the best head so far and the heads of the epochs
being scored (``max(1, 64 // n_classes)`` at a time; one with many classes);
:func:`~nt_sklearn.save_model` leaves them out unless asked.""",
    ),
    "random_state": _entry(
        "random_state : int, RandomState instance or None, default=None",
        """\
Seeds the split of ``X`` when ``X_tune`` is None, then the mini-batches
(and any random draw of the mask).""",
    ),
}
