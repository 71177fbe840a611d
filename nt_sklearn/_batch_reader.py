"""The trainer's mini-batches, read from the tuning embeddings one batch after another,
ahead of the steps on a thread where that is faster."""

import threading
from contextlib import contextmanager, nullcontext

import numpy as np

from ._threads import blas_threads


class _BatchReader:
    """The rows of the mini-batches, read from ``X`` one batch after another.

    An array's batches are read into reused buffers (the indices are valid by
    construction; ``mode="clip"`` lets ``np.take`` write into a buffer
    directly, ``"raise"`` would copy twice). Where BLAS may use two threads or
    more and a batch is at least ``READ_AHEAD_BYTES``, one thread reads up to
    two batches ahead while the others compute (BLAS limited to one thread
    fewer during the epoch's steps): the gather is bound by memory latency,
    the products by the cache, and they overlap. On 2 cores, 128 x 2048
    float32 batches took 173 us a step in a fit's trainer against 197 us with
    both threads in BLAS (MultiNLI-shaped, 126 x 768: 98 against 125 us);
    smaller batches were slower read ahead (128 x 512: 82 against 70 us; the
    hand-over costs more than the read), 128 x 640 faster (76 against 84 us).
    The products are the same either way (BLAS splits them over threads by
    output, not along the sum).
    """

    READ_AHEAD_BYTES = 5 << 16  # 320 KB: 128 rows of 640 float32
    BUFFERS = 3  # the batch in use and two read ahead

    def __init__(self, X, batch_rows):
        self.X = X
        self.controller, self.threads = None, 1
        if not isinstance(X, np.ndarray):  # standardised rows: computed on access
            return
        self.buffers = [np.empty((batch_rows, X.shape[1]), X.dtype)]
        if batch_rows * X.shape[1] * X.itemsize >= self.READ_AHEAD_BYTES:
            self.threads = blas_threads()
        if self.threads > 1:
            from threadpoolctl import ThreadpoolController

            self.controller = ThreadpoolController()
            self.buffers += [np.empty_like(self.buffers[0]) for _ in range(self.BUFFERS - 1)]

    def compute_threads(self):
        """Context of an epoch's steps: BLAS one thread short while a thread reads ahead."""
        if self.controller is None:
            return nullcontext()
        return _blas_limited(self.controller, self.threads - 1)

    def batches(self, rows):
        """``X[r]`` for every batch ``r`` of ``rows``; a batch stays valid until the next
        one is asked for."""
        if not isinstance(self.X, np.ndarray):
            return (self.X[batch_rows] for batch_rows in rows)
        if self.controller is None:
            return (np.take(self.X, batch_rows, axis=0, out=self.buffers[0], mode="clip")
                    for batch_rows in rows)
        return self._read_ahead(rows)

    def _read_ahead(self, rows):
        buffers, n = self.buffers, len(self.buffers)
        ready = [threading.Lock() for _ in buffers]  # held until its buffer is read
        free = [threading.Lock() for _ in buffers]  # held until its buffer is used
        for lock in ready:
            lock.acquire()
        stop, failure = threading.Event(), []

        def read():
            i = 0
            try:
                for i in range(len(rows)):
                    free[i % n].acquire()
                    if stop.is_set():
                        return
                    np.take(self.X, rows[i], axis=0, out=buffers[i % n], mode="clip")
                    ready[i % n].release()
            except BaseException as exc:  # raised in the training thread, at that batch
                failure.append((i, exc))
                ready[i % n].release()

        thread = threading.Thread(target=read, name="nt-sklearn-batch-reader", daemon=True)
        thread.start()
        try:
            for i in range(len(rows)):
                k = i % n
                ready[k].acquire()
                if failure and failure[0][0] == i:
                    raise failure[0][1]
                yield buffers[k]
                free[k].release()
        finally:  # also when the steps stop early: unblock the reader, then wait for it
            stop.set()
            for lock in free:
                if lock.locked():
                    lock.release()
            thread.join()


class _SharedBlasLimit:
    """BLAS limited while any epoch that reads ahead is running.

    threadpoolctl's limits are the process's: fits running in threads whose epochs
    overlap share one limit, set by the first to start and restored by the last to
    end (nested limits ended out of order would leave the wrong count behind).
    """

    def __init__(self):
        self.lock, self.limiter, self.holders = threading.Lock(), None, 0

    @contextmanager
    def __call__(self, controller, threads):
        with self.lock:
            if not self.holders:
                self.limiter = controller.limit(limits=threads, user_api="blas")
            self.holders += 1
        try:
            yield
        finally:
            with self.lock:
                self.holders -= 1
                if not self.holders:
                    self.limiter.restore_original_limits()
                    self.limiter = None


_blas_limited = _SharedBlasLimit()
