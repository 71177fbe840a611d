"""TuningData: tuning sets of any length, passed whole through scikit-learn's model selection."""

import pickle

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_validate

from nt_sklearn import (
    AFRClassifier,
    ERMHead,
    JTTLastLayer,
    LinearHead,
    NeuronTuneClassifier,
    SFitScorer,
    TuningData,
)

FAST = dict(n_epochs=3, batches_per_epoch=20)


@pytest.fixture
def d(spurious_data):
    (X_tr, y_tr, _), (X_val, y_val, _), _ = spurious_data
    erm = LogisticRegression().fit(X_tr, y_tr)
    head = LinearHead(coef=erm.coef_, intercept=erm.intercept_, classes=erm.classes_)
    return dict(X_tr=X_tr, y_tr=y_tr, X_val=X_val, y_val=y_val, head=head)


def _n_tune_scorer(estimator, X, y):
    return float(estimator.n_tune_samples_)


@pytest.mark.parametrize(
    "est",
    [NeuronTuneClassifier(random_state=0, **FAST), ERMHead(), AFRClassifier(), JTTLastLayer()],
    ids=lambda e: type(e).__name__,
)
def test_an_equal_length_tuning_set_is_accepted_in_a_container(est, d):
    X, y = d["X_val"], d["y_val"]
    X_tune, y_tune = d["X_tr"][: len(X)], d["y_tr"][: len(X)]
    with pytest.raises(ValueError, match="pass it as X_tune=nt_sklearn.TuningData"):
        est.fit(X, y, X_tune=X_tune, y_tune=y_tune)
    est.fit(X, y, X_tune=TuningData(X_tune, y_tune))
    assert est.n_tune_samples_ == len(X)
    # the same fit as with the raw arrays of another length, where nothing is refused
    raw = type(est)(**est.get_params()).fit(X[:-1], y[:-1], X_tune=X_tune, y_tune=y_tune)
    boxed = type(est)(**est.get_params()).fit(X[:-1], y[:-1], X_tune=TuningData(X_tune, y_tune))
    if hasattr(raw, "coef_") and raw.coef_ is not None:
        np.testing.assert_array_equal(raw.coef_, boxed.coef_)


def test_tuning_data_is_given_whole_to_every_fold_of_a_grid_search(d):
    X, y = d["X_val"], d["y_val"]  # 1000 rows; 3 folds of ~667
    X_tune, y_tune = d["X_tr"][:1000], d["y_tr"][:1000]  # as many rows as X
    search = GridSearchCV(
        NeuronTuneClassifier(d["head"], random_state=0, **FAST), {"learning_rate": [1e-3, 1e-2]},
        scoring={"sfit": SFitScorer(), "n_tune": _n_tune_scorer}, refit="sfit", cv=3,
    )
    search.fit(X, y, X_tune=TuningData(X_tune, y_tune))
    for split in range(3):
        assert np.all(search.cv_results_[f"split{split}_test_n_tune"] == 1000)
    assert search.best_estimator_.n_tune_samples_ == 1000


def test_a_fold_as_long_as_the_tuning_set_is_no_longer_refused_falsely(d):
    # issue 16, item 9: 3 folds of 150 rows train on 100; a raw tuning set of 100 rows is not
    # cut by the search, yet every fold saw len(X_tune) == len(X) and was refused
    X, y = d["X_val"][:150], d["y_val"][:150]
    X_tune, y_tune = d["X_tr"][:100], d["y_tr"][:100]
    search = GridSearchCV(NeuronTuneClassifier(d["head"], **FAST), {"learning_rate": [1e-3]},
                          scoring=_n_tune_scorer, cv=3, error_score="raise")
    with pytest.raises(ValueError, match="a fold of X merely has its length.*TuningData"):
        search.fit(X, y, X_tune=X_tune, y_tune=y_tune)
    search.fit(X, y, X_tune=TuningData(X_tune, y_tune))
    assert np.all(search.cv_results_["mean_test_score"] == 100)


def test_cross_validate_with_two_jobs_passes_the_container(d):
    X, y = d["X_val"], d["y_val"]
    result = cross_validate(
        NeuronTuneClassifier(d["head"], random_state=0, **FAST), X, y, cv=2, n_jobs=2,
        scoring=_n_tune_scorer, params={"X_tune": TuningData(d["X_tr"][:1000], d["y_tr"][:1000])},
    )
    assert np.all(result["test_score"] == 1000)


def test_the_container_is_checked_like_raw_tuning_data(d):
    X, y = d["X_val"], d["y_val"]
    est = NeuronTuneClassifier(**FAST)
    with pytest.raises(ValueError, match="y_tune must be None when X_tune is a TuningData"):
        est.fit(X, y, X_tune=TuningData(d["X_tr"], d["y_tr"]), y_tune=d["y_tr"])
    with pytest.raises(ValueError, match="one label per row of X_tune"):
        est.fit(X, y, X_tune=TuningData(d["X_tr"], d["y_tr"][:-1]))
    with pytest.raises(ValueError, match="TuningData.sample_weight must be 1-D"):
        est.fit(X, y, X_tune=TuningData(d["X_tr"], d["y_tr"], sample_weight=[1.0, 2.0]))
    with pytest.raises(ValueError, match="X has 3 features, but NeuronTuneClassifier"):
        est.fit(X, y, X_tune=TuningData(d["X_tr"][:, :3], d["y_tr"]))


def test_the_container_has_no_length_and_survives_pickling(d):
    tune = TuningData(d["X_tr"], d["y_tr"])
    assert not hasattr(tune, "__len__") and not hasattr(tune, "shape")
    assert not hasattr(tune, "__array__")
    with pytest.raises(AttributeError):
        tune.X = None  # frozen
    again = pickle.loads(pickle.dumps(tune))
    np.testing.assert_array_equal(again.X, tune.X)
