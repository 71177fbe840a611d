"""NeuronTuneClassifier: spurious-bias mitigation without group labels."""

import numpy as np

from ._docstring import FAMILY_DOCS, Substitution, family_attributes
from ._family import TRAINER_CONSTRAINTS, _NeuronTuneBase
from ._identification import IDENTIFICATION_CONSTRAINTS, _IdentificationMixin

__all__ = ["NeuronTuneClassifier"]


@Substitution(
    **FAMILY_DOCS,
    attributes=family_attributes(
        biased_features="True for the masked features (in some logit, with a per-class mask).",
        p_values=(
            'The one-sided Mann-Whitney p-values of the last round with\n'
            '``threshold="fdr"``; None with a numeric threshold.'
        ),
        spuriousness_scores=(
            "The scores of the reference model's predictions on the\n"
            "identification data (of the selected head's, in the last round,\n"
            "when ``n_rounds > 1``)."
        ),
    ),
)
class NeuronTuneClassifier(_IdentificationMixin, _NeuronTuneBase):
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
    %(estimator)s
    %(activation)s
    %(identification_parameters)s
    %(trainer_parameters)s

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    nt_sklearn.baselines.ClassBalancedRetraining : The same recipe without a mask.
    nt_sklearn.baselines.RandomMaskClassifier : The same recipe with a random mask.
    nt_sklearn.baselines.FixedMaskClassifier : The same recipe with a given mask.
    SFitScorer : SFit as a scorer for grid searches.
    spuriousness_scores : The scores alone.

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
    >>> clf.coef_.shape, bool(clf.coef_[0, 1] == 0)  # one row for two classes; 1 is masked
    ((1, 2), True)
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
        return self._identified(scores, X_id, y_id, pred, w_id)
