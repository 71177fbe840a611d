"""Identification speed: vectorised scores against a per-dimension loop; SFit presorting."""

import numpy as np
from threadpoolctl import threadpool_limits

from .data import reference_predictions
from .internals import class_median_scorer
from .timing import timed


def bench_identification(data, report, *, threads, repeats):
    """Scores of every dimension and class, and one per-epoch SFit, on the identification rows."""
    from nt_sklearn import spuriousness_scores

    name = "identification"
    X, y = data.X_id, data.y_id
    pred = reference_predictions(data)
    n_classes = len(data.coef)
    with threadpool_limits(threads):
        vec, _, scores = timed(lambda: spuriousness_scores(X, y, pred), repeats)

        def per_dimension_loop():
            A = np.abs(X)
            out = np.zeros((X.shape[1], n_classes))
            for k in range(X.shape[1]):
                for c in range(n_classes):
                    a, wrong = A[y == c, k], pred[y == c] != c
                    out[k, c] = np.median(a[wrong]) - np.median(a[~wrong])
            return out

        loop, _, loop_scores = timed(per_dimension_loop, 1)
        presorted_init, _, scorer = timed(
            lambda: class_median_scorer(X, y, n_classes, presort=True), 1)
        direct = class_median_scorer(X, y, n_classes)
        per_epoch, _, _ = timed(lambda: scorer(pred), max(3, repeats))
        per_epoch_direct, _, direct_scores = timed(lambda: direct(pred), max(3, repeats))
    assert np.allclose(scores, loop_scores) and np.allclose(direct_scores[0], scores)
    shape = f"{X.shape[0]:,} x {X.shape[1]}, {n_classes} classes, {np.mean(pred != y):.0%} errors"
    pays_off = presorted_init / max(per_epoch_direct - per_epoch, 1e-9)
    report.add(name, "scores, vectorised (spuriousness_scores)", f"{vec * 1e3:.0f} ms", shape)
    report.add(name, "scores, per-dimension loop of np.median", f"{loop:.2f} s")
    report.add(name, "SPEED-UP vectorised over the loop", f"{loop / vec:.0f}x")
    report.add(name, "per-epoch SFit with presorted columns", f"{per_epoch * 1e3:.0f} ms",
               f"presort once: {presorted_init:.2f} s")
    report.add(name, "per-epoch SFit without presorting", f"{per_epoch_direct * 1e3:.0f} ms",
               f"presorting pays off after {pays_off:.0f} epochs")
