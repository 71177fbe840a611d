"""The peer last-layer methods of the NeuronTune paper, as scikit-learn estimators.

Every estimator here works on cached embeddings, like
:class:`~nt_sklearn.NeuronTuneClassifier`, so that a benchmark can run every
method through the same code:

- :class:`ERMHead`: the reference model as it is (nothing is trained);
- :class:`ClassBalancedRetraining`: NeuronTune's recipe with no feature masked;
- :class:`RandomMaskClassifier`: NeuronTune's recipe with a random mask of the
  same size;
- :class:`FixedMaskClassifier`: NeuronTune's recipe with a mask given by the
  caller (a control for studies);
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
split; each ``fit`` docstring says which set it uses for what, and what it
does without ``X_tune``. ``coef_`` and ``intercept_`` are the weights of the
decision function, one row for two classes as in ``LogisticRegression``.
Group labels are used by :class:`DFRClassifier` only, the one method here
that needs them.
"""

from ._afr import AFRClassifier
from ._class_balanced import ClassBalancedRetraining
from ._dfr import DFRClassifier
from ._erm import ERMHead
from ._fixed_mask import FixedMaskClassifier
from ._jtt import JTTLastLayer
from ._random_mask import RandomMaskClassifier

__all__ = [
    "AFRClassifier",
    "ClassBalancedRetraining",
    "DFRClassifier",
    "ERMHead",
    "FixedMaskClassifier",
    "JTTLastLayer",
    "RandomMaskClassifier",
]
