"""NeuronTuneClassifier and SFitScorer inside scikit-learn's model-selection tools."""

import numpy as np
import pytest
import sklearn
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nt_sklearn import LinearHead, NeuronTuneClassifier, SFitScorer
from nt_sklearn.metrics import make_worst_group_scorer

FAST = dict(n_epochs=3, batches_per_epoch=30)
GRID = {"threshold": [0.0, 0.05], "learning_rate": [1e-3, 1e-2]}


@pytest.fixture
def data(spurious_data):
    (X_tr, y_tr, _), (X_val, y_val, g_val), _ = spurious_data
    return X_val, y_val, g_val, X_tr, y_tr


def test_grid_search_with_sfit_and_tuning_set(data):
    X_val, y_val, _, X_tr, y_tr = data
    search = GridSearchCV(NeuronTuneClassifier(random_state=0, **FAST), GRID, scoring=SFitScorer())
    search.fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 4 and np.all(np.isfinite(scores)) and np.all(scores > 0)
    assert search.best_params_ == search.cv_results_["params"][int(np.argmax(scores))]
    # the tuning set reached every fit whole: the refitted model saw all of it
    assert search.best_estimator_.reference_estimator_.n_features_in_ == X_tr.shape[1]


def test_sfit_scorer_matches_its_definition(data):
    from nt_sklearn import sfit, spuriousness_scores

    X_val, y_val, _, X_tr, y_tr = data
    nt = NeuronTuneClassifier(**FAST).fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr)
    expected = sfit(spuriousness_scores(X_val, y_val, nt.predict(X_val)))
    assert SFitScorer()(nt, X_val, y_val) == pytest.approx(expected)
    with pytest.raises(ValueError, match="needs the class labels"):
        SFitScorer()(nt, X_val)


def test_multimetric_refit_sfit_with_two_jobs(data):
    X_val, y_val, _, X_tr, y_tr = data
    search = GridSearchCV(
        NeuronTuneClassifier(random_state=0, **FAST),
        GRID,
        scoring={"sfit": SFitScorer(), "accuracy": "accuracy"},
        refit="sfit",
        n_jobs=2,
    )
    search.fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr)
    serial = GridSearchCV(
        NeuronTuneClassifier(random_state=0, **FAST),
        GRID,
        scoring={"sfit": SFitScorer(), "accuracy": "accuracy"},
        refit="sfit",
    ).fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_sfit"], serial.cv_results_["mean_test_sfit"]
    )
    assert search.best_params_ == serial.best_params_


def test_grid_search_with_metadata_routing_and_group_scorer(data):
    X_val, y_val, g_val, X_tr, y_tr = data
    with sklearn.config_context(enable_metadata_routing=True):
        est = NeuronTuneClassifier(random_state=0, **FAST).set_fit_request(X_tune=True, y_tune=True)
        search = GridSearchCV(
            est,
            GRID,
            scoring={"sfit": SFitScorer(), "wga": make_worst_group_scorer()},
            refit="sfit",
        )
        search.fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr, groups=g_val)
    wga = search.cv_results_["mean_test_wga"]
    assert np.all((wga >= 0) & (wga <= 1))
    assert search.best_estimator_.reference_estimator_.n_features_in_ == X_tr.shape[1]


def test_equal_length_tuning_set_is_caught_inside_grid_search(data):
    X_val, y_val, *_ = data
    rng = np.random.default_rng(0)
    X_other = rng.normal(size=X_val.shape)
    search = GridSearchCV(
        NeuronTuneClassifier(**FAST), GRID, scoring=SFitScorer(), error_score="raise"
    )
    with pytest.raises(ValueError, match="cut along with the folds of X.*TuningData"):
        search.fit(X_val, y_val, X_tune=X_other, y_tune=y_val)


def test_frozen_or_linear_head_reference_survives_cloning(data):
    X_val, y_val, _, X_tr, y_tr = data
    erm = LogisticRegression().fit(X_tr, y_tr)
    head = LinearHead(coef=erm.coef_, intercept=erm.intercept_, classes=erm.classes_)
    for reference in (FrozenEstimator(erm), head):
        search = GridSearchCV(NeuronTuneClassifier(reference, **FAST), GRID, scoring=SFitScorer())
        search.fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr)
        assert search.best_estimator_.head_init_ == "reference"
    with pytest.raises(ValueError, match="FrozenEstimator"):
        GridSearchCV(
            NeuronTuneClassifier(erm, **FAST), GRID, scoring=SFitScorer(), error_score="raise"
        ).fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr)


def test_cross_validate_and_pipeline(data):
    X_val, y_val, *_ = data
    pipe = make_pipeline(StandardScaler(), NeuronTuneClassifier(random_state=0, **FAST))
    result = cross_validate(pipe, X_val, y_val, scoring={"sfit": SFitScorer(), "acc": "accuracy"})
    assert np.all(result["test_acc"] > 0.5)
    assert np.all(result["test_sfit"] > 0)


def test_string_labels_through_grid_search(data):
    X_val, y_val, _, X_tr, y_tr = data
    names = np.array(["landbird", "waterbird"])
    search = GridSearchCV(NeuronTuneClassifier(**FAST), GRID, scoring=SFitScorer())
    search.fit(X_val, names[y_val], X_tune=X_tr, y_tune=names[y_tr])
    assert set(search.predict(X_val)) <= set(names)


def test_pipeline_transforms_the_tuning_embeddings_with_transform_input(spurious_data):
    # scikit-learn's Pipeline(transform_input=...) passes X_tune through the fitted steps
    # before the estimator, under metadata routing
    from sklearn.pipeline import Pipeline

    (X_tr, y_tr, _), (X_val, y_val, _), (X_te, _, _) = spurious_data
    with sklearn.config_context(enable_metadata_routing=True):
        nt = NeuronTuneClassifier(n_epochs=2, random_state=0).set_fit_request(
            X_tune=True, y_tune=True)
        pipe = Pipeline([("scale", StandardScaler()), ("nt", nt)], transform_input=["X_tune"])
        pipe.fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr)
        scaler = StandardScaler().fit(X_val)
        alone = NeuronTuneClassifier(n_epochs=2, random_state=0).fit(
            scaler.transform(X_val), y_val, X_tune=scaler.transform(X_tr), y_tune=y_tr)
    assert np.array_equal(pipe[-1].coef_, alone.coef_)
    assert np.array_equal(pipe.predict(X_te), alone.predict(scaler.transform(X_te)))
