"""Grid search: ``GridSearchCV(scoring=SFitScorer())`` serial, on 2 processes and on dask."""

import logging
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from .timing import load_average, timed

GRID = {"threshold": [0.0, 0.01], "learning_rate": [1e-3, 1e-2], "mask_value": [0.0, 0.2]}


def grid_search(data, n_jobs, *, n_epochs=10, batches_per_epoch=50, cv=3, backend=None):
    """GridSearchCV over 8 configurations with SFitScorer; ``backend`` a joblib backend name."""
    import joblib
    from sklearn.model_selection import GridSearchCV

    from nt_sklearn import NeuronTuneClassifier, SFitScorer

    est = NeuronTuneClassifier(data.head(), n_epochs=n_epochs, batches_per_epoch=batches_per_epoch,
                               random_state=0)
    search = GridSearchCV(est, GRID, scoring=SFitScorer(), cv=cv, n_jobs=n_jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if backend is None:
            return search.fit(data.X_id, data.y_id, X_tune=data.X_tune, y_tune=data.y_tune)
        with joblib.parallel_backend(backend):
            return search.fit(data.X_id, data.y_id, X_tune=data.X_tune, y_tune=data.y_tune)


def bench_grid(data, report, *, threads, repeats, processes=True):
    """The search serial, with ``n_jobs=2`` and on a dask LocalCluster: times, same results."""
    name = "grid search"
    n_fits = 8 * 3 + 1
    with threadpool_limits(threads):
        serial_s, _, serial = timed(lambda: grid_search(data, 1), repeats)
    parallel_s, _, parallel = timed(lambda: grid_search(data, 2), repeats)
    report.add(name, "GridSearchCV, 8 configurations x 3 folds + refit, n_jobs=1",
               f"{serial_s:.1f} s", f"tuning {data.X_tune.shape[0]:,} x {data.X_tune.shape[1]}, "
               f"{n_fits} fits of 10 epochs x 50 batches")
    report.add(name, "same search, n_jobs=2 (loky processes)", f"{parallel_s:.1f} s")
    report.add(name, "SPEED-UP n_jobs=2", f"{serial_s / parallel_s:.2f}x", f"load {load_average()}")
    same = (parallel.best_params_ == serial.best_params_ and np.array_equal(
        parallel.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]))
    report.add(name, "n_jobs=2: identical best parameters and scores", "yes" if same else "NO")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        report.add(name, "dask backend", "skipped", "dask.distributed is not installed")
        return
    logging.getLogger("distributed").setLevel(logging.ERROR)  # the scheduler logs every connection
    t0 = time.perf_counter()
    cluster_kw = dict(n_workers=2, threads_per_worker=1, processes=processes,
                      dashboard_address=None, silence_logs=logging.ERROR)
    with LocalCluster(**cluster_kw) as cluster, Client(cluster):
        startup = time.perf_counter() - t0
        dask_s, _, on_dask = timed(lambda: grid_search(data, -1, backend="dask"), repeats)
    kind = "processes" if processes else "threads"
    report.add(name, f"same search on dask.distributed LocalCluster(2 workers x 1 thread, {kind})",
               f"{dask_s:.1f} s", f"cluster start {startup:.1f} s not included")
    diff = np.max(np.abs(on_dask.cv_results_["mean_test_score"]
                         - serial.cv_results_["mean_test_score"]))
    report.add(name, "dask: identical best parameters and scores",
               "yes" if on_dask.best_params_ == serial.best_params_ and diff == 0 else
               f"NO (best {on_dask.best_params_} vs {serial.best_params_}, max |diff| {diff:.3g})",
               f"best {serial.best_params_}")
