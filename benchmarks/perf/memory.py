"""Memory: a default fit on a read-only memory-mapped tuning set, measured in a child process.

The child's anonymous memory (``RssAnon`` in ``/proc/self/status``) is sampled
during the fit; the random row reads of the mini-batches are timed with the file
in and out of the page cache.
"""

import functools
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from .timing import load_average

#: the repository root, the working directory of the child process
_REPO = Path(__file__).resolve().parents[2]


def _rss_kb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    """Samples RssAnon and RssFile of this process every ``interval`` seconds; keeps the peaks."""

    def __init__(self, interval=0.005):
        super().__init__(daemon=True)
        self.interval, self.stop_event = interval, threading.Event()
        self.peak_anon = self.peak_file = 0

    def run(self):
        while not self.stop_event.is_set():
            self.peak_anon = max(self.peak_anon, _rss_kb("RssAnon"))
            self.peak_file = max(self.peak_file, _rss_kb("RssFile"))
            time.sleep(self.interval)

    def stop(self):
        self.stop_event.set()
        self.join()
        self.peak_anon = max(self.peak_anon, _rss_kb("RssAnon"))


def _storage_read_bytes():
    """Bytes this process has had read from the block device (``read_bytes`` of
    ``/proc/self/io``: page-cache misses, readahead included); None where unreadable."""
    try:
        with open("/proc/self/io") as fh:
            for line in fh:
                if line.startswith("read_bytes:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def drop_from_page_cache(path):
    """Ask the kernel to evict a (flushed) file's pages: a cold read without root."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def trainer_seconds_per_step(X_tune, y_tune, coef, intercept, n_steps, seed):
    """Seconds per mini-batch step of one tuning epoch of ``n_steps`` batches on ``X_tune``.

    The fit's trainer alone, not a fit: a fit first validates every row of ``X_tune``
    (which reads the whole file into the page cache), so only the trainer shows what
    the batches' own reads cost.
    """
    from nt_sklearn._head import train_linear_head

    trained = train_linear_head(X_tune, y_tune, len(coef), coef=coef, intercept=intercept,
                                feature_scale=np.ones(X_tune.shape[1]), n_epochs=1,
                                batches_per_epoch=n_steps, rng=np.random.default_rng(seed))
    t0 = time.perf_counter()
    next(trained)
    return (time.perf_counter() - t0) / n_steps


def memory_child(folder, threads, n_steps, n_epochs=40):
    """Runs in a fresh process: cold/warm batch reads, then a default fit with RssAnon sampled.

    Prints its figures as one JSON line.
    """
    from nt_sklearn import LinearHead, NeuronTuneClassifier

    threadpool_limits(threads)
    folder = Path(folder)
    tune_path = folder / "X_tune.npy"
    X_tune = np.load(tune_path, mmap_mode="r")
    y_tune = np.load(folder / "y_tune.npy")
    X_id, y_id = np.load(folder / "X_id.npy"), np.load(folder / "y_id.npy")
    head = np.load(folder / "head.npz")
    n_classes = len(head["coef"])
    out = {}

    drop_from_page_cache(tune_path)
    step = functools.partial(trainer_seconds_per_step, X_tune, y_tune, head["coef"],
                             head["intercept"], n_steps, seed=1)
    read_before = _storage_read_bytes()
    out["cold_ms_per_step"] = step() * 1e3
    read_after = _storage_read_bytes()
    # what the evicted run really read from the device: 0 means the eviction did not happen
    out["cold_read_mb"] = (None if read_before is None or read_after is None
                           else (read_after - read_before) / 1e6)
    out["warm_ms_per_step"] = step() * 1e3  # the same rows, now cached
    out["cold_steps"] = n_steps

    drop_from_page_cache(tune_path)
    gc.collect()
    out["anon_before_fit_mb"] = _rss_kb("RssAnon") / 1024
    sampler = RssSampler()
    sampler.start()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = NeuronTuneClassifier(LinearHead(head["coef"], head["intercept"],
                                              np.arange(n_classes)),
                                   n_epochs=n_epochs, random_state=0).fit(
            X_id, y_id, X_tune=X_tune, y_tune=y_tune)
    out["fit_s"] = time.perf_counter() - t0
    sampler.stop()
    out["anon_peak_mb"] = sampler.peak_anon / 1024
    out["file_peak_mb"] = sampler.peak_file / 1024
    out["n_masked"] = int(len(clf.biased_feature_indices_))
    out["still_memmap"] = bool(isinstance(X_tune, np.memmap) and not X_tune.flags.writeable)
    print(json.dumps(out))


def _write_tuning_file(data, folder, n_rows):
    """The CelebA-shaped tuning set repeated to ``n_rows`` rows as ``X_tune.npy``, and the rest."""
    d = data.X_tune.shape[1]
    X = np.lib.format.open_memmap(folder / "X_tune.npy", mode="w+", dtype=np.float32,
                                  shape=(n_rows, d))
    source_rows = np.arange(n_rows) % len(data.X_tune)
    for lo in range(0, n_rows, len(data.X_tune)):  # the tuning set, repeated
        hi = min(lo + len(data.X_tune), n_rows)
        X[lo:hi] = data.X_tune[: hi - lo]
    X.flush()
    del X
    np.save(folder / "y_tune.npy", data.y_tune[source_rows])
    np.save(folder / "X_id.npy", data.X_id)
    np.save(folder / "y_id.npy", data.y_id)
    np.savez(folder / "head.npz", coef=data.coef, intercept=data.intercept)
    drop_from_page_cache(folder / "X_tune.npy")


def bench_memory(data, report, *, threads, target_gb, n_steps, n_epochs=40, workdir=None):
    """Write a tuning file of ``target_gb`` GB, fit on it in a child process; its figures."""
    name = "memory"
    d = data.X_tune.shape[1]
    n_rows = int(np.ceil(target_gb * 1e9 / (4 * d)))
    need = n_rows * d * 4
    with tempfile.TemporaryDirectory(prefix="nt-perf-", dir=workdir) as tmp:
        free = os.statvfs(tmp).f_bavail * os.statvfs(tmp).f_frsize
        if free < need * 1.2:
            report.add(name, "skipped",
                       f"{free / 1e9:.1f} GB free in {tmp}, {need / 1e9:.1f} GB needed")
            return None
        t0 = time.perf_counter()
        _write_tuning_file(data, Path(tmp), n_rows)
        report.add(name, "tuning set on disk", f"{n_rows:,} x {d} float32 = {need / 1e9:.2f} GB",
                   f"written in {time.perf_counter() - t0:.0f} s (the CelebA-shaped tuning set "
                   "repeated)")
        cmd = [sys.executable, "-m", "benchmarks.perf", "--memory-child", tmp,
               "--threads", str(threads), "--memory-steps", str(n_steps),
               "--fit-epochs", str(n_epochs)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=_REPO)
        if proc.returncode != 0:
            report.add(name, "FAILED", proc.stderr.strip().splitlines()[-1] if proc.stderr else "?")
            return None
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    _report_memory(report, out, data, n_epochs)
    return out


def _report_memory(report, out, data, n_epochs):
    name = "memory"
    report.add(name, f"fit ({n_epochs} epochs) on the memory-mapped tuning set",
               f"{out['fit_s']:.1f} s",
               f"file evicted from the page cache first; load {load_average()}")
    report.add(name, "peak anonymous memory during the fit (RssAnon)",
               f"{out['anon_peak_mb']:.0f} MB",
               f"{out['anon_before_fit_mb']:.0f} MB before the fit (Python, numpy, sklearn, "
               f"X_id {data.X_id.nbytes / 1e6:.0f} MB in RAM); sampled every 5 ms from "
               "/proc/self/status in a thread of a child process")
    report.add(name, "peak file-backed resident memory (RssFile: page cache of the memmap)",
               f"{out['file_peak_mb']:.0f} MB", "reclaimable by the kernel, not a copy")
    report.add(name, "mini-batch steps, memmap in the page cache",
               f"{out['warm_ms_per_step']:.2f} ms/step")
    read = out.get("cold_read_mb")
    read_note = ("bytes read from the device not readable here" if read is None else
                 f"{read:,.0f} MB read from the block device by these {out['cold_steps']} steps "
                 f"({out['cold_steps'] * 128 * data.X_tune.shape[1] * 4 / 1e6:,.0f} MB of rows, "
                 "the rest readahead)")
    report.add(name, "mini-batch steps, memmap evicted (random reads from disk)",
               f"{out['cold_ms_per_step']:.2f} ms/step",
               f"{out['cold_ms_per_step'] / out['warm_ms_per_step']:.1f}x the cached steps' time; "
               f"{read_note}; a default fit's 8,000 steps would take "
               f"{out['cold_ms_per_step'] * 8:.1f} s if every read missed")
