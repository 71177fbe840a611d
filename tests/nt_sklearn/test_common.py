"""scikit-learn's estimator checks on every estimator of nt_sklearn."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from nt_sklearn import (
    AFRClassifier,
    ClassBalancedRetraining,
    DFRClassifier,
    ERMHead,
    JTTLastLayer,
    NeuronTuneClassifier,
    RandomMaskClassifier,
)

# The default configuration, exactly as users get it; the two NeuronTune variants
# share its trainer (checked at the default), so they run fewer epochs here.
ESTIMATORS = [
    NeuronTuneClassifier(),
    ERMHead(),
    ClassBalancedRetraining(n_epochs=5),
    RandomMaskClassifier(n_epochs=5),
    DFRClassifier(),
    AFRClassifier(),
    JTTLastLayer(),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
