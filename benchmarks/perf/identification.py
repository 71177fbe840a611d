"""Identification speed: vectorised scores against a per-dimension loop; SFit inside a fit."""

import numpy as np
from threadpoolctl import threadpool_limits

from .choices import bench_sorts
from .data import reference_predictions
from .fit_speed import fit_ours
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
        # SFit inside a fit sorts each class's features once; a short fit reports its costs
        fits = [fit_ours(data, n_epochs=3) for _ in range(max(3, repeats))]
    setup = float(np.median([f.fit_times_["sfit_setup"] for f in fits]))
    per_epoch = float(np.median([f.fit_times_["sfit"] / f.n_iter_ for f in fits]))
    assert np.allclose(scores, loop_scores)
    shape = f"{X.shape[0]:,} x {X.shape[1]}, {n_classes} classes, {np.mean(pred != y):.0%} errors"
    pays_off = setup / max(vec - per_epoch, 1e-9)
    report.add(name, "scores, vectorised (spuriousness_scores)", f"{vec * 1e3:.0f} ms", shape)
    report.add(name, "scores, per-dimension loop of np.median", f"{loop:.2f} s")
    report.add(name, "SPEED-UP vectorised over the loop", f"{loop / vec:.0f}x")
    report.add(name, "per-epoch SFit inside a fit (presorted columns, fit_times_)",
               f"{per_epoch * 1e3:.0f} ms", f"setup once: {setup:.2f} s; against "
               f"the scores from scratch the setup pays off after {pays_off:.0f} epochs")
    bench_sorts(data, report, threads=threads, repeats=repeats)
