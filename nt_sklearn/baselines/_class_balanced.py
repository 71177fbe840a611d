"""ClassBalancedRetraining: the NeuronTune recipe with no mask (the paper's "NT = No")."""

import numpy as np

from .._docstring import FAMILY_DOCS, Substitution, family_attributes
from .._family import TRAINER_CONSTRAINTS, _NeuronTuneBase

__all__ = ["ClassBalancedRetraining"]


@Substitution(
    **FAMILY_DOCS,
    attributes=family_attributes(
        biased_features="All False: nothing is masked.",
        p_values="Always None (there is no significance test).",
        spuriousness_scores=(
            "The scores of the reference model's predictions on the\n"
            "identification data, reported (they mask nothing)."
        ),
    ),
)
class ClassBalancedRetraining(_NeuronTuneBase):
    """NeuronTune with no masking: class-balanced retraining of the last layer.

    The paper's ablation "NT = No" (Table 4): the recipe of
    :class:`~nt_sklearn.NeuronTuneClassifier` (reference model, class-balanced
    mini-batches on the tuning data, selection of the epoch on ``X``, the
    optional guard) with no feature masked: ``biased_features_`` is all False
    and ``feature_scale_`` all ones. The mask parameters (``threshold``,
    ``fdr_level``, ``mask_scope``, ``mask_value``, ``max_masked_fraction``)
    do not exist here, and there is one round (with nothing to re-identify,
    more rounds would only mean more epochs). ``activation`` still matters:
    the spuriousness scores of the reference model are computed and reported
    in ``spuriousness_scores_``, and SFit, which selects the epoch, is built
    from the same scores of every epoch's predictions. The defaults are
    NeuronTune's, so that the two differ by the mask alone.

    Parameters
    ----------
    %(estimator)s
    %(activation)s
    %(trainer_parameters)s

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    nt_sklearn.NeuronTuneClassifier : The same recipe with the biased features masked.
    RandomMaskClassifier : The same recipe with a random mask.
    FixedMaskClassifier : The same recipe with a given mask.

    Notes
    -----
    %(family_notes)s

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

    _parameter_constraints = dict(TRAINER_CONSTRAINTS)

    def __init__(
        self,
        estimator: object = None,
        *,
        activation: str = "abs",
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
        """No feature is biased: an all-False mask."""
        return np.zeros(scores.shape[0], dtype=bool), None
