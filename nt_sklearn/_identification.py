"""NeuronTune's identification rule, shared by the siblings that identify a mask.

:class:`~nt_sklearn.NeuronTuneClassifier` masks the features the rule flags;
:class:`~nt_sklearn.baselines.RandomMaskClassifier` masks as many, drawn at
random.
"""

from numbers import Integral, Real

import numpy as np

from ._compat import Interval, StrOptions
from ._family import MASK_VALUE_CONSTRAINT
from ._scores import select_biased_features
from ._significance import error_association_pvalues, fdr_flags

__all__ = ["IDENTIFICATION_CONSTRAINTS", "_IdentificationMixin"]

IDENTIFICATION_CONSTRAINTS = {
    "threshold": [Interval(Real, None, None, closed="neither"), StrOptions({"fdr"})],
    "fdr_level": [Interval(Real, 0, 1, closed="neither")],
    "mask_scope": [StrOptions({"union", "per_class"})],
    **MASK_VALUE_CONSTRAINT,
    "max_masked_fraction": [Interval(Real, 0, 1, closed="both"), None],
    "n_rounds": [Interval(Integral, 1, None, closed="left")],
}


class _IdentificationMixin:
    """NeuronTune's identification rule, for the siblings that identify.

    Reads ``threshold``, ``fdr_level``, ``mask_scope``, ``mask_value``,
    ``max_masked_fraction`` and ``n_rounds`` (``IDENTIFICATION_CONSTRAINTS``).
    """

    def _rounds(self):
        return self.n_rounds

    def _empty_mask(self):
        per_class = self.mask_scope == "per_class"
        return np.zeros((len(self.classes_), self.n_features_in_) if per_class
                        else self.n_features_in_, dtype=bool)

    def _mask_factor(self):
        return self.mask_value

    def _identified(self, scores, X_id, y_id, pred, w_id=None):
        """``(mask, p_values)``: the features NeuronTune's rule flags in these scores."""
        if self.threshold == "fdr":
            p_values = error_association_pvalues(X_id, y_id, pred, len(self.classes_),
                                                 self.activation, sample_weight=w_id)
            flags = fdr_flags(p_values, self.fdr_level)
        else:
            p_values, flags = None, scores > self.threshold
        mask = select_biased_features(
            scores,
            flags=flags,
            max_masked_fraction=self.max_masked_fraction,
            per_class=self.mask_scope == "per_class",
        )
        return mask, p_values

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Masking trades average accuracy for worst-group accuracy by design: on
        # scikit-learn's 2-feature, 3-class blobs the paper's threshold of 0 masks
        # one of the two features and training accuracy falls to about 0.7 (0.97
        # with mask_value=1, see tests/nt_sklearn/test_neurontune.py). The tag keeps the
        # rest of check_classifiers_train running instead of stopping at its 0.83 bar.
        tags.classifier_tags.poor_score = True
        return tags
