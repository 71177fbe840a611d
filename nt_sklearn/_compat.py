"""scikit-learn's private helpers, imported in one place.

Parameter validation (``Interval``, ``StrOptions``, ``HasMethods``) and
``_fit_context`` are private to scikit-learn; isolating the imports here keeps
a future move of those helpers a one-file change, as imbalanced-learn does.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

__all__ = ["HasMethods", "Interval", "StrOptions", "_fit_context"]
