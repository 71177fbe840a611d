"""scikit-learn's estimator checks on every estimator of nt_sklearn."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from nt_sklearn import NeuronTuneClassifier

# The default configuration, exactly as users get it.
ESTIMATORS = [NeuronTuneClassifier()]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
