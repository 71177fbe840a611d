"""RandomMaskClassifier: the NeuronTune recipe with a random mask of the same size."""

import numpy as np

from .._docstring import FAMILY_DOCS, Substitution, family_attributes
from .._family import TRAINER_CONSTRAINTS, _NeuronTuneBase
from .._identification import IDENTIFICATION_CONSTRAINTS, _IdentificationMixin

__all__ = ["RandomMaskClassifier"]


@Substitution(
    **FAMILY_DOCS,
    attributes=family_attributes(
        biased_features="True for the randomly drawn (masked) features.",
        p_values=(
            'The p-values of NeuronTune\'s rule in the last round with\n'
            '``threshold="fdr"`` (they decide how many features are drawn); None\n'
            "with a numeric threshold."
        ),
        spuriousness_scores=(
            "The scores of the reference model's predictions on the\n"
            "identification data (of the selected head's, in the last round,\n"
            "when ``n_rounds > 1``); they decide how many features are drawn."
        ),
    ),
)
class RandomMaskClassifier(_IdentificationMixin, _NeuronTuneBase):
    """NeuronTune's recipe with a random mask of the same size: the control.

    The spuriousness scores and NeuronTune's rule (``threshold``,
    ``fdr_level``, ``mask_scope``, ``max_masked_fraction``) decide how many
    features NeuronTune would mask; that many features are then drawn
    uniformly at random, without replacement (per class with
    ``mask_scope="per_class"``), and masked instead. Everything else is
    :class:`~nt_sklearn.NeuronTuneClassifier`'s, parameters and defaults
    included. If NeuronTune beats this control, the selection of the features
    matters, not only their number. With ``n_rounds > 1`` every round draws as
    many features as NeuronTune's rule selects in that round, and the draws
    add up as NeuronTune's masks do. The draws come from ``random_state``
    (the same generator as the mini-batches, just before each round's
    tuning).

    Parameters
    ----------
    %(estimator)s
    %(activation)s
    %(identification_parameters)s
    %(trainer_parameters)s

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    nt_sklearn.NeuronTuneClassifier : The features chosen by their scores.
    ClassBalancedRetraining : No mask at all.
    FixedMaskClassifier : A mask given by the caller.

    Notes
    -----
    %(family_notes)s

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

    _parameter_constraints = {**TRAINER_CONSTRAINTS, **IDENTIFICATION_CONSTRAINTS}

    def __init__(
        self,
        estimator: object = None,
        *,
        activation: str = "abs",
        threshold: float | str = 0.0,
        fdr_level: float = 0.05,
        mask_scope: str = "union",
        mask_value: float = 0.0,
        max_masked_fraction: float | None = None,
        n_rounds: int = 1,
        optimizer: str = "sgd",
        learning_rate: float = 1e-3,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        batch_size: int = 128,
        batches_per_epoch: int = 200,
        n_epochs: int = 40,
        head_init: str = "reference",
        standardize: bool = False,
        selection: str = "sfit",
        guard_margin: float | str | None = None,
        store_path: bool = True,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
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
        self.store_path = store_path
        self.random_state = random_state

    def _biased(self, scores, X_id, y_id, pred, rng, w_id):
        """As many features as NeuronTune's rule selects, drawn uniformly at random."""
        chosen, p_values = self._identified(scores, X_id, y_id, pred, w_id)
        mask = np.zeros_like(np.atleast_2d(chosen))
        for row, n_masked in zip(mask, np.atleast_2d(chosen).sum(axis=1)):  # per class, or one
            row[rng.choice(len(row), size=n_masked, replace=False)] = True
        return mask.reshape(chosen.shape), p_values
