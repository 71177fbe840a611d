"""FixedMaskClassifier: the NeuronTune recipe with a mask given by the caller."""

import numpy as np
from numpy.typing import ArrayLike

from .._docstring import FAMILY_DOCS, Substitution, _entry, family_attributes
from .._family import MASK_VALUE_CONSTRAINT, TRAINER_CONSTRAINTS, _NeuronTuneBase

__all__ = ["FixedMaskClassifier"]

_MASK_DOC = _entry(
    "mask : array-like of bool, shape (n_features,) or (n_classes, n_features), default=None",
    """\
The features to mask: one row masks them in every logit, one row per class
(in the order of ``classes_``) masks each only in its class's logit. Checked
against ``X`` in ``fit``. None: nothing is masked (the recipe of
:class:`ClassBalancedRetraining`).""",
)


@Substitution(
    **FAMILY_DOCS,
    mask=_MASK_DOC,
    attributes=family_attributes(
        biased_features="True for the features that ``mask`` masks (in some logit).",
        p_values="Always None (there is no significance test).",
        spuriousness_scores=(
            "The scores of the reference model's predictions on the\n"
            "identification data, reported (they do not decide the mask)."
        ),
    ),
)
class FixedMaskClassifier(_NeuronTuneBase):
    """NeuronTune's recipe with a mask decided outside: a control for studies.

    Everything of :class:`~nt_sklearn.NeuronTuneClassifier` (reference model,
    class-balanced tuning of the masked head, selection of the epoch on
    ``X``, the optional guard) except the identification: the masked features
    are ``mask``, given by the caller, for instance one derived from group
    labels to see what NeuronTune's identification could reach if the
    reference's errors pointed exactly at the spurious attribute. There is
    one round; the spuriousness scores of the reference are still computed
    and reported, and SFit still selects the epoch (as the scores, with
    ``activation``).

    Parameters
    ----------
    %(estimator)s
    %(mask)s
    %(mask_value)s
    %(activation)s
    %(trainer_parameters)s

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    nt_sklearn.NeuronTuneClassifier : The mask identified from the reference's errors.
    RandomMaskClassifier : A random mask of NeuronTune's size.
    ClassBalancedRetraining : No mask at all.

    Notes
    -----
    %(family_notes)s

    Examples
    --------
    >>> import numpy as np
    >>> from nt_sklearn.baselines import FixedMaskClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 3))
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> clf = FixedMaskClassifier(mask=[False, True, False], n_epochs=2, random_state=0)
    >>> clf = clf.fit(X[:150], y[:150], X_tune=X[150:], y_tune=y[150:])
    >>> clf.biased_feature_indices_, clf.feature_scale_
    (array([1]), array([1., 0., 1.]))
    """

    _parameter_constraints = {
        **TRAINER_CONSTRAINTS,
        "mask": ["array-like", None],
        **MASK_VALUE_CONSTRAINT,
    }

    def __init__(
        self,
        estimator: object = None,
        *,
        mask: ArrayLike | None = None,
        mask_value: float = 0.0,
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
        self.mask = mask
        self.mask_value = mask_value
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

    def _given_mask(self):
        n_classes, n_features = len(self.classes_), self.n_features_in_
        if self.mask is None:
            return np.zeros(n_features, dtype=bool)
        mask = np.asarray(self.mask)
        if mask.dtype != bool:
            raise ValueError(f"mask must be an array of booleans; got dtype {mask.dtype}.")
        if mask.shape not in ((n_features,), (n_classes, n_features)):
            raise ValueError(
                f"mask must have shape ({n_features},) or ({n_classes}, {n_features}) for X "
                f"with {n_features} features and {n_classes} classes; got {mask.shape}."
            )
        return mask.copy()

    def _check_mask_parameters(self):
        self._given_mask()

    def _empty_mask(self):
        return np.zeros_like(self._given_mask())

    def _mask_factor(self):
        return self.mask_value

    def _biased(self, scores, X_id, y_id, pred, rng, w_id):
        return self._given_mask(), None
