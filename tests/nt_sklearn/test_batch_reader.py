"""The trainer's batch reader: reading ahead on a thread trains exactly the same head."""

import threading
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from nt_sklearn import LinearHead, NeuronTuneClassifier
from nt_sklearn import _batch_reader
from nt_sklearn._batch_reader import _BatchReader
from nt_sklearn._head import train_linear_head

READER = "nt-sklearn-batch-reader"


@pytest.fixture
def read_ahead(monkeypatch):
    """Force the read-ahead path (any batch size, two BLAS threads) and count its epochs."""
    monkeypatch.setattr(_BatchReader, "READ_AHEAD_BYTES", 0)
    monkeypatch.setattr(_batch_reader, "blas_threads", lambda: 2)
    epochs = []
    original = _BatchReader._read_ahead

    def counted(self, rows):
        epochs.append(len(rows))
        return original(self, rows)

    monkeypatch.setattr(_BatchReader, "_read_ahead", counted)
    return epochs


def _data(dtype, n=600, d=24, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(dtype)
    y = (X[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int)
    coef, intercept = rng.normal(size=(2, d)) * 0.1, np.zeros(2)
    return X, y, coef, intercept


def _heads(X, y, coef, intercept, **kwargs):
    scale = np.ones(X.shape[1])
    scale[:3] = 0.0
    trained = train_linear_head(X, y, 2, coef=coef, intercept=intercept, feature_scale=scale,
                                batch_size=16, batches_per_epoch=25, n_epochs=3,
                                rng=np.random.default_rng(1), **kwargs)
    return [np.concatenate([W, b[:, None]], axis=1) for W, b in trained]


def _no_reader_alive():
    return not any(t.name == READER and t.is_alive() for t in threading.enumerate())


@pytest.mark.parametrize("kind", ["float32", "float16", "float64", "memmap"])
def test_read_ahead_trains_bit_for_bit_the_head_of_plain_reads(kind, tmp_path, monkeypatch):
    X, y, coef, intercept = _data(np.float16 if kind == "float16" else
                                  np.float64 if kind == "float64" else np.float32)
    if kind == "memmap":
        np.save(tmp_path / "X.npy", X)
        X = np.load(tmp_path / "X.npy", mmap_mode="r")
    monkeypatch.setattr(_batch_reader, "blas_threads", lambda: 1)
    plain = _heads(X, y, coef, intercept)
    monkeypatch.setattr(_BatchReader, "READ_AHEAD_BYTES", 0)
    monkeypatch.setattr(_batch_reader, "blas_threads", lambda: 2)
    ahead = _heads(X, y, coef, intercept)
    assert len(plain) == len(ahead) == 3
    for p, a in zip(plain, ahead):
        np.testing.assert_array_equal(p, a)
    assert _no_reader_alive()


def test_a_fit_reads_ahead_and_selects_the_same_epoch(read_ahead):
    X, y, _, _ = _data(np.float32, n=900, d=16)
    head = LinearHead(coef=np.eye(2, 16), intercept=np.zeros(2), classes=[0, 1])

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return NeuronTuneClassifier(head, n_epochs=4, batches_per_epoch=10,
                                        random_state=0).fit(X[:300], y[:300], X_tune=X[300:],
                                                            y_tune=y[300:])

    ahead = fit()
    assert read_ahead == [10] * 4  # every epoch's batches were read ahead
    _BatchReader.READ_AHEAD_BYTES = 1 << 60  # (restored by the fixture's monkeypatch)
    plain = fit()
    assert len(read_ahead) == 4
    np.testing.assert_array_equal(ahead.sfit_history_, plain.sfit_history_)
    np.testing.assert_array_equal(ahead.coef_, plain.coef_)
    assert ahead.best_epoch_ == plain.best_epoch_


def test_blas_threads_are_limited_only_inside_an_epoch(read_ahead):
    X, y, coef, intercept = _data(np.float32)
    before = [lib["num_threads"] for lib in threadpool_info()]
    trained = train_linear_head(X, y, 2, coef=coef, intercept=intercept,
                                feature_scale=np.ones(X.shape[1]), batch_size=16,
                                batches_per_epoch=5, n_epochs=2, rng=np.random.default_rng(0))
    next(trained)  # between epochs (the caller scores the head): the caller's limits
    assert [lib["num_threads"] for lib in threadpool_info()] == before
    list(trained)
    assert [lib["num_threads"] for lib in threadpool_info()] == before
    assert read_ahead == [5, 5]


def test_a_diverging_step_stops_the_reader(read_ahead):
    X, y, coef, intercept = _data(np.float32)
    with pytest.raises(ValueError, match="training diverged at epoch 1"):
        _heads(X, y, coef * 1e30, intercept, learning_rate=1e300)
    assert read_ahead and _no_reader_alive()


def test_an_error_of_the_reader_is_raised_in_the_training_thread(read_ahead):
    X = np.zeros((50, 8), np.float32)
    reader = _BatchReader(X, 4)
    assert reader.controller is not None
    reader.buffers[1] = np.empty((3, 8), np.float32)  # the second batch cannot be read
    rows = np.arange(12).reshape(3, 4)
    batches = reader.batches(rows)
    np.testing.assert_array_equal(next(batches), X[:4])
    with pytest.raises(ValueError):
        next(batches)
    assert _no_reader_alive()


def test_batches_stop_early_without_a_thread_left(read_ahead):
    X = np.arange(400, dtype=np.float32).reshape(100, 4)
    reader = _BatchReader(X, 5)
    batches = reader.batches(np.arange(100).reshape(20, 5))
    for i, batch in zip(range(3), batches):
        np.testing.assert_array_equal(batch, X[5 * i : 5 * i + 5])
    batches.close()
    assert _no_reader_alive()


def test_overlapping_epochs_of_fits_in_threads_restore_the_blas_threads():
    """Fits in threads whose epochs overlap (entered A, B; ended A, B) share one limit and
    leave BLAS as they found it: nested threadpoolctl limits ended out of order would not."""
    from threadpoolctl import ThreadpoolController, threadpool_limits

    from nt_sklearn._batch_reader import _blas_limited

    def blas():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    controller = ThreadpoolController()
    with threadpool_limits(2, user_api="blas"):
        if not blas() or max(blas()) < 2:
            pytest.skip("no BLAS that takes two threads")
        first, second = _blas_limited(controller, 1), _blas_limited(controller, 1)
        first.__enter__()
        second.__enter__()
        assert max(blas()) == 1
        first.__exit__(None, None, None)
        assert max(blas()) == 1  # the second fit's epoch is still running
        second.__exit__(None, None, None)
        assert blas() == [2] * len(blas())
