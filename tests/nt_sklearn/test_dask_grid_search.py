"""A grid search over NeuronTuneClassifier runs on dask.distributed and gives the serial result.

Scaling a grid search beyond one process goes through joblib's backends (here
dask.distributed; ray works the same way): no code of ours is involved, and
the results must not depend on where the fits ran.
"""

import logging

import numpy as np
import pytest

pytest.importorskip(
    "distributed",
    reason="dask.distributed is not installed; it comes with the test extra: "
    "pip install -e '.[test]' (or pip install 'dask[distributed]')",
)

import joblib  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from nt_sklearn import LinearHead, NeuronTuneClassifier, SFitScorer  # noqa: E402

# 2 x 2 x 2 = 8 configurations
GRID = {"threshold": [0.0, 0.05], "learning_rate": [1e-3, 1e-2], "mask_value": [0.0, 0.5]}


def _search(X_val, y_val, X_tr, y_tr, head, n_jobs):
    est = NeuronTuneClassifier(head, n_epochs=3, batches_per_epoch=20, random_state=0)
    search = GridSearchCV(est, GRID, scoring=SFitScorer(), cv=3, n_jobs=n_jobs)
    return search.fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr)


@pytest.mark.filterwarnings("ignore")
def test_grid_search_on_dask_equals_serial(spurious_data):
    (X_tr, y_tr, _), (X_val, y_val, _), _ = spurious_data
    lr = LogisticRegression().fit(X_tr, y_tr)
    head = LinearHead(coef=lr.coef_, intercept=lr.intercept_, classes=lr.classes_)

    serial = _search(X_val, y_val, X_tr, y_tr, head, n_jobs=1)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                           dashboard_address=None, silence_logs=logging.ERROR)
    with cluster, Client(cluster) as client:
        with joblib.parallel_backend("dask"):
            on_dask = _search(X_val, y_val, X_tr, y_tr, head, n_jobs=-1)
        # the fits really ran on the cluster's workers
        assert client.run(lambda: True)

    assert len(serial.cv_results_["params"]) == 8
    assert on_dask.best_params_ == serial.best_params_
    np.testing.assert_array_equal(on_dask.cv_results_["mean_test_score"],
                                  serial.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(on_dask.best_estimator_.coef_, serial.best_estimator_.coef_)
