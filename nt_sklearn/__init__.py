"""NeuronTune as a scikit-learn estimator on cached embeddings.

Imports numpy, scipy, scikit-learn and joblib only (never torch).
"""

from . import metrics
from . import plotting
from ._data import TuningData
from ._linear_head import LinearHead
from ._neurontune import NeuronTuneClassifier
from ._recommended import NeuronTuneAutoClassifier
from ._persistence import load_model, save_model
from ._scorer import SFitScorer
from ._scores import select_biased_features, sfit, spuriousness_scores
from .baselines import (
    AFRClassifier,
    ClassBalancedRetraining,
    DFRClassifier,
    ERMHead,
    FixedMaskClassifier,
    JTTLastLayer,
    RandomMaskClassifier,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "AFRClassifier",
    "ClassBalancedRetraining",
    "DFRClassifier",
    "ERMHead",
    "FixedMaskClassifier",
    "JTTLastLayer",
    "LinearHead",
    "NeuronTuneAutoClassifier",
    "NeuronTuneClassifier",
    "RandomMaskClassifier",
    "SFitScorer",
    "TuningData",
    "__version__",
    "load_model",
    "metrics",
    "plotting",
    "save_model",
    "select_biased_features",
    "sfit",
    "spuriousness_scores",
]
