"""The machine-dependent choices of the library, measured both ways in the same run.

The SFit presort's two column sorts, the trainer's two ways of reading batches
(read ahead on a thread, or plain), each timed in turn; the library picks one
of each by itself, and these figures show by how much. A library version
without a choice reports ``n/a``.
"""

import contextlib
import statistics

import numpy as np
from threadpoolctl import threadpool_limits

from .timing import timed


def bench_sorts(data, report, *, threads, repeats, n_features=64):
    """Milliseconds of both presort sorts on ``n_features`` features of the largest class."""
    try:
        from nt_sklearn._column_sort import _sort_columns
    except ImportError:
        report.add("identification", "presort sorts: 64-bit keys / radix", "n/a",
                   "one sort in this version")
        return
    y = data.y_id
    largest = np.bincount(y).argmax()
    A = np.abs(data.X_id[y == largest, :n_features])
    order = np.empty(A.shape[::-1], dtype=np.uint16 if len(A) <= 1 << 16 else np.int32)
    keys = np.empty(A.shape[::-1], dtype=np.uint64)
    times = {"keys": [], "radix": []}
    with threadpool_limits(threads):
        for _ in range(max(3, repeats)):  # in turn, so that a busy spell slows both
            for method, spent in times.items():
                spent.append(timed(lambda m=method: _sort_columns(
                    A, order, nonnegative=True, method=m, keys=keys))[0])
    keys_ms, radix_ms = (statistics.median(times[m]) * 1e3 for m in ("keys", "radix"))
    report.add("identification", "presort sorts: 64-bit keys / radix",
               f"{keys_ms:.1f} ms / {radix_ms:.1f} ms",
               f"{n_features} features of {len(A):,} rows (the largest class); median of "
               f"{max(3, repeats)} in turn")


@contextlib.contextmanager
def _read_ahead(on):
    """The trainer's batches read ahead (from any size) or plainly, for the block."""
    from nt_sklearn._batch_reader import _BatchReader

    saved = _BatchReader.READ_AHEAD_BYTES
    _BatchReader.READ_AHEAD_BYTES = 0 if on else 1 << 62
    try:
        yield
    finally:
        _BatchReader.READ_AHEAD_BYTES = saved


def bench_batch_reads(name, data, report, *, threads, repeats, n_epochs=5, n_steps=200):
    """Microseconds per training step with the batches read ahead and read plainly, over
    ``n_epochs`` epochs of ``n_steps`` (the first epoch read ahead is the slowest)."""
    from nt_sklearn import _head

    try:
        from nt_sklearn._batch_reader import _BatchReader
    except ImportError:
        report.add(name, "trainer steps: batches read ahead / plain reads", "n/a",
                   "no read-ahead in this version")
        return
    scale = np.ones(data.X_tune.shape[1])

    def steps():
        trained = _head.train_linear_head(
            data.X_tune, data.y_tune, len(data.coef), coef=data.coef,
            intercept=data.intercept, feature_scale=scale, n_epochs=n_epochs,
            batches_per_epoch=n_steps, rng=np.random.default_rng(0))
        list(trained)

    times = {True: [], False: []}
    with threadpool_limits(threads):
        for _ in range(max(3, repeats)):
            for on, spent in times.items():
                with _read_ahead(on):
                    spent.append(timed(steps)[0] / (n_epochs * n_steps) * 1e6)
    ahead, plain = (statistics.median(times[on]) for on in (True, False))
    k = len(data.coef)
    batch = (128 // k) * k * data.X_tune.shape[1] * data.X_tune.itemsize
    default = batch >= _BatchReader.READ_AHEAD_BYTES and threads > 1
    report.add(name, "trainer steps: batches read ahead / plain reads",
               f"{ahead:.0f} us / {plain:.0f} us",
               f"{threads} BLAS threads; {n_epochs} epochs of {n_steps} steps, median of "
               f"{max(3, repeats)} in turn; "
               f"the default here: {'read ahead' if default else 'plain reads'}")
