"""Performance and scale: ``python -m benchmarks.perf [--quick]``.

Measures, side by side in one run, and prints every figure as it goes:

1. **Fit speed** on planted data shaped like CelebA (tuning 162,770 x 2048,
   identification 19,867 x 2048, 2 classes) and MultiNLI (206,175 x 768 and
   82,462 x 768, 3 classes): a default ``NeuronTuneClassifier`` fit (40 epochs x
   200 batches, SFit after every epoch) against the straightforward PyTorch
   implementation of the same recipe (:mod:`benchmarks.torch_reference`), and
   whether both select the same biased dimensions.
2. **Identification speed**: the scores of every dimension and class, vectorised
   against a per-dimension loop; one per-epoch SFit with and without the
   presorted columns; the fraction of the fit spent in SFit.
3. **Memory**: a default fit whose tuning set is a read-only memory-mapped
   ``.npy`` of at least 8 GB of float32, in a child process whose anonymous
   memory (``RssAnon`` in ``/proc/self/status``) is sampled during the fit; and
   what the random row reads of the mini-batches cost when the file is not in
   the page cache.
4. **Featurizer throughput** on this machine: EfficientNet-Lite0 (224 px)
   images/s and all-MiniLM-L6-v2 sentences/s, each against a naive
   one-sample-at-a-time loop; on a CUDA machine, ResNet-50 (bf16,
   channels_last) images/s from files against the same model's forward on
   random tensors (the ceiling).
5. **Grid search**: ``GridSearchCV(scoring=SFitScorer())`` over 8
   configurations with ``n_jobs=1`` and ``n_jobs=2``, and under joblib's dask
   backend on a ``dask.distributed.LocalCluster``: speed-ups and identical
   results.

The machine may be shared: every timing is repeated and the median kept, the
load average is printed with the figures, and the comparisons are ratios
measured in the same run. BLAS and torch are limited to ``--threads`` threads
(2 by default) for both sides. Results go to ``benchmarks/results/perf.md``.

The planted data: non-negative ReLU features ``max(0, -0.3 + 0.5 z + shifts)``
(70% zeros, like pooled ReLU features), a class signal spread over 300
dimensions (a shift on a block of dimensions per class), a spurious attribute
over 64 other dimensions that goes with the class in 93% of the tuning rows and
in 50% of the identification rows. The reference head is a logistic
regression fitted on 20,000 tuning rows; it errs on 14-22% of the
identification rows, mostly in the groups where the attribute disagrees with
the class.
"""

import argparse
import datetime
import functools
import gc
import json
import logging
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nt_sklearn.metrics import worst_group_accuracy
from threadpoolctl import threadpool_limits

logger = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "perf.md"

#: data shaped like the paper's datasets (tuning = training split, identification = validation)
SHAPES = {
    "celeba": dict(n_tune=162_770, n_id=19_867, d=2048, n_classes=2, prior=(0.85, 0.15),
                   core_shift=0.11),
    "multinli": dict(n_tune=206_175, n_id=82_462, d=768, n_classes=3, prior=None,
                     core_shift=0.14),
}
QUICK_SCALE = 0.05  # --quick: 5% of the rows


# ----------------------------------------------------------------------------- data


@dataclass
class Planted:
    X_tune: np.ndarray
    y_tune: np.ndarray
    X_id: np.ndarray
    y_id: np.ndarray
    groups_id: np.ndarray  # class * 2 + (attribute == class), for reporting only
    core: np.ndarray
    spurious: np.ndarray
    coef: np.ndarray  # reference head, one row per class
    intercept: np.ndarray

    def head(self):
        from nt_sklearn import LinearHead

        return LinearHead(coef=self.coef, intercept=self.intercept, classes=np.arange(len(self.coef)))


def _draw(n, d, n_classes, prior, p_aligned, core, spurious, rng, core_shift, spurious_shift):
    y = rng.choice(n_classes, n, p=prior)
    aligned = rng.random(n) < p_aligned
    attr = np.where(aligned, y, (y + rng.integers(1, n_classes, n)) % n_classes)
    X = rng.standard_normal((n, d), dtype=np.float32)
    X *= 0.5
    X -= 0.3
    for c, (core_c, spur_c) in enumerate(zip(np.array_split(core, n_classes),
                                             np.array_split(spurious, n_classes))):
        X[np.ix_(y == c, core_c)] += core_shift
        X[np.ix_(attr == c, spur_c)] += spurious_shift
    np.maximum(X, 0, out=X)
    return X, y, y * 2 + (attr == y)


def make_planted(n_tune, n_id, d, n_classes, *, prior=None, core_shift=0.11, spurious_shift=0.8,
                 n_core=300, n_spurious=64, p_aligned_tune=0.93, p_aligned_id=0.5,
                 reference_rows=20_000, seed=0):
    """Tuning and identification data with a planted spurious attribute, and a biased head."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    dims = rng.permutation(d)
    core, spurious = np.sort(dims[:n_core]), np.sort(dims[n_core:n_core + n_spurious])
    draw = functools.partial(_draw, d=d, n_classes=n_classes, prior=prior, core=core,
                             spurious=spurious, rng=rng, core_shift=core_shift,
                             spurious_shift=spurious_shift)
    X_tune, y_tune, _ = draw(n_tune, p_aligned=p_aligned_tune)
    X_id, y_id, groups_id = draw(n_id, p_aligned=p_aligned_id)
    rows = slice(0, min(reference_rows, n_tune))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs may stop at max_iter; the head is meant to be biased
        lr = LogisticRegression(max_iter=300).fit(X_tune[rows], y_tune[rows])
    coef, intercept = lr.coef_, lr.intercept_
    if n_classes == 2:  # one row per class: logits (0, w.x + b)
        coef, intercept = np.vstack([np.zeros(d), coef[0]]), np.array([0.0, intercept[0]])
    return Planted(X_tune, y_tune, X_id, y_id, groups_id, core, spurious, coef, intercept)


# ----------------------------------------------------------------------------- helpers


class Report:
    """Figures in measurement order; printed as they come and written as a markdown table."""

    def __init__(self):
        self.rows = []

    def add(self, section, figure, value, note=""):
        self.rows.append((section, figure, value, note))
        print(f"[{section}] {figure}: {value}" + (f"  ({note})" if note else ""), flush=True)


def timed(fn, repeats=1):
    """``(median wall seconds, median CPU seconds of this process, last result)``."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), result


def load_average():
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _set_torch_threads(n):
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(n)


# ----------------------------------------------------------------------------- 1 + 2: fit speed


class _SfitTimer:
    """Times the SFit work inside ``NeuronTuneClassifier.fit``.

    The benchmark swaps the fit's ``_ClassMedianScorer`` (the presorted scores,
    computed once for the reference and once per epoch) for a subclass that
    accumulates its time; nothing in ``nt_sklearn`` is changed.
    """

    def __enter__(self):
        import nt_sklearn._neurontune as module

        self.module, self.original = module, getattr(module, "_ClassMedianScorer", None)
        self.init_s = self.call_s = 0.0
        self.calls = 0
        if self.original is None:
            return self
        timer = self

        class Timed(self.original):
            def __init__(self, *args, **kwargs):
                t0 = time.perf_counter()
                super().__init__(*args, **kwargs)
                timer.init_s += time.perf_counter() - t0

            def __call__(self, *args, **kwargs):
                t0 = time.perf_counter()
                try:
                    return super().__call__(*args, **kwargs)
                finally:
                    timer.call_s += time.perf_counter() - t0
                    timer.calls += 1

        module._ClassMedianScorer = Timed
        return self

    def __exit__(self, *exc):
        if self.original is not None:
            self.module._ClassMedianScorer = self.original


def fit_ours(data, **params):
    from nt_sklearn import NeuronTuneClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NeuronTuneClassifier(data.head(), random_state=0, **params).fit(
            data.X_id, data.y_id, X_tune=data.X_tune, y_tune=data.y_tune)


def bench_fit(name, data, report, *, threads, repeats, ref_epochs, n_epochs=40, torch_threads=None):
    from benchmarks.torch_reference import TorchNeuronTune

    ref_pred = np.argmax(data.X_id @ data.coef.T.astype(np.float32) + data.intercept, axis=1)
    report.add(name, "shape", f"tuning {data.X_tune.shape[0]:,} x {data.X_tune.shape[1]}, "
               f"identification {data.X_id.shape[0]:,}, {len(data.coef)} classes")
    report.add(name, "reference head: error / worst-group accuracy on the identification data",
               f"{np.mean(ref_pred != data.y_id):.1%} / "
               f"{worst_group_accuracy(data.y_id, ref_pred, data.groups_id):.1%}")

    with threadpool_limits(threads):
        with _SfitTimer() as timer:
            wall, cpu, nt = timed(lambda: fit_ours(data, n_epochs=n_epochs), repeats)
        sfit_s = (timer.init_s + timer.call_s) / repeats
        short_wall, _, _ = timed(lambda: fit_ours(data, n_epochs=ref_epochs), repeats)
    report.add(name, f"ours: {'default ' if n_epochs == 40 else ''}fit ({n_epochs} epochs x 200 batches, "
               "SFit every epoch)",
               f"{wall:.1f} s wall, {cpu:.1f} s CPU", f"median of {repeats}, {threads} threads, "
               f"load {load_average()}")
    report.add(name, "ours: time in SFit (presort once + per-epoch scores)",
               f"{sfit_s:.2f} s = {sfit_s / wall:.0%} of the fit",
               f"presort {timer.init_s / repeats:.2f} s, {timer.calls // repeats} calls "
               f"{timer.call_s / max(timer.calls, 1) * 1e3:.0f} ms each")
    pred = nt.predict(data.X_id)
    report.add(name, "ours: masked dims / planted spurious found / core masked",
               f"{len(nt.biased_feature_indices_)} / "
               f"{np.isin(data.spurious, nt.biased_feature_indices_).mean():.0%} / "
               f"{np.isin(data.core, nt.biased_feature_indices_).mean():.0%}")
    report.add(name, "ours: error / worst-group accuracy (identification data)",
               f"{np.mean(pred != data.y_id):.1%} / "
               f"{worst_group_accuracy(data.y_id, pred, data.groups_id):.1%}")

    # the reference: torch at the same thread count, and at one thread (on a shared machine
    # OpenMP's two threads can wait on each other for a core: the faster is the fair one)
    ref = {}
    for n_threads in torch_threads or sorted({threads, 1}, reverse=True):
        _set_torch_threads(n_threads)
        wall_r, cpu_r, tr = timed(lambda: TorchNeuronTune(
            data.coef, data.intercept, n_epochs=ref_epochs).fit(
                data.X_id, data.y_id, data.X_tune, data.y_tune))
        ref[n_threads] = (wall_r, tr)
        report.add(name, f"torch reference: {ref_epochs} epochs, {n_threads} thread(s)",
                   f"{wall_r:.1f} s wall, {cpu_r:.1f} s CPU")
    _set_torch_threads(threads)
    best_threads = min(ref, key=lambda k: ref[k][0])
    wall_r, tr = ref[best_threads]
    report.add(name, f"ours: {ref_epochs} epochs (same work as the reference run)",
               f"{short_wall:.1f} s", f"median of {repeats}")
    report.add(name, f"SPEED-UP over torch, {ref_epochs} epochs measured side by side",
               f"{wall_r / short_wall:.1f}x", f"torch at its faster setting, {best_threads} thread(s)")
    per_epoch_ref = wall_r / ref_epochs
    report.add(name, f"SPEED-UP over torch, full {n_epochs}-epoch fit",
               f"{per_epoch_ref * n_epochs / wall:.1f}x",
               f"torch extrapolated: {per_epoch_ref:.2f} s/epoch x {n_epochs} = "
               f"{per_epoch_ref * n_epochs:.0f} s")
    same = np.array_equal(tr.biased_features_, nt.biased_features_)
    differ = np.flatnonzero(tr.biased_features_ != nt.biased_features_)
    report.add(name, "same biased dimensions as the torch reference",
               "yes" if same else f"no: {len(differ)} differ {differ[:10].tolist()}",
               f"{int(tr.biased_features_.sum())} masked by torch")
    return {"fit_s": wall, "sfit_fraction": sfit_s / wall, "speedup": per_epoch_ref * n_epochs / wall,
            "same_dims": same}


def bench_identification(data, report, *, threads, repeats):
    from nt_sklearn import spuriousness_scores
    from nt_sklearn._scores import _ClassMedianScorer

    name = "identification"
    X, y = data.X_id, data.y_id
    pred = np.argmax(X @ data.coef.T.astype(np.float32) + data.intercept, axis=1)
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
            lambda: _ClassMedianScorer(X, y, n_classes, "abs", presort=True), 1)
        direct = _ClassMedianScorer(X, y, n_classes, "abs")
        per_epoch, _, _ = timed(lambda: scorer(pred), max(3, repeats))
        per_epoch_direct, _, direct_scores = timed(lambda: direct(pred), max(3, repeats))
    assert np.allclose(scores, loop_scores) and np.allclose(direct_scores[0], scores)
    shape = f"{X.shape[0]:,} x {X.shape[1]}, {n_classes} classes, {np.mean(pred != y):.0%} errors"
    report.add(name, "scores, vectorised (spuriousness_scores)", f"{vec * 1e3:.0f} ms", shape)
    report.add(name, "scores, per-dimension loop of np.median", f"{loop:.2f} s")
    report.add(name, "SPEED-UP vectorised over the loop", f"{loop / vec:.0f}x")
    report.add(name, "per-epoch SFit with presorted columns", f"{per_epoch * 1e3:.0f} ms",
               f"presort once: {presorted_init:.2f} s")
    report.add(name, "per-epoch SFit without presorting", f"{per_epoch_direct * 1e3:.0f} ms",
               f"presorting pays off after {presorted_init / max(per_epoch_direct - per_epoch, 1e-9):.0f} epochs")


# ----------------------------------------------------------------------------- 3: memory


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


def drop_from_page_cache(path):
    """Ask the kernel to evict a (flushed) file's pages: a cold read without root."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def memory_child(folder, threads, n_steps, n_epochs=40):
    """Runs in a fresh process: cold/warm batch reads, then a default fit with RssAnon sampled."""
    from nt_sklearn import LinearHead, NeuronTuneClassifier
    from nt_sklearn._head import train_linear_head

    threadpool_limits(threads)
    folder = Path(folder)
    tune_path = folder / "X_tune.npy"
    X_tune = np.load(tune_path, mmap_mode="r")
    y_tune = np.load(folder / "y_tune.npy")
    X_id, y_id = np.load(folder / "X_id.npy"), np.load(folder / "y_id.npy")
    head = np.load(folder / "head.npz")
    d, n_classes = X_tune.shape[1], len(head["coef"])
    out = {}

    def batches(seed):
        zeros = np.zeros((n_classes, d))
        for _ in train_linear_head(X_tune, y_tune, n_classes, coef=zeros, intercept=zeros[:, 0],
                                   feature_scale=np.ones(d), batches_per_epoch=n_steps,
                                   n_epochs=1, rng=np.random.default_rng(seed)):
            pass

    drop_from_page_cache(tune_path)
    t0 = time.perf_counter()
    batches(1)
    out["cold_ms_per_step"] = (time.perf_counter() - t0) / n_steps * 1e3
    t0 = time.perf_counter()
    batches(1)  # the same rows again, now in the page cache
    out["warm_ms_per_step"] = (time.perf_counter() - t0) / n_steps * 1e3

    drop_from_page_cache(tune_path)
    gc.collect()
    out["anon_before_fit_mb"] = _rss_kb("RssAnon") / 1024
    sampler = RssSampler()
    sampler.start()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = NeuronTuneClassifier(LinearHead(head["coef"], head["intercept"], np.arange(n_classes)),
                                   n_epochs=n_epochs, random_state=0).fit(
            X_id, y_id, X_tune=X_tune, y_tune=y_tune)
    out["fit_s"] = time.perf_counter() - t0
    sampler.stop()
    out["anon_peak_mb"] = sampler.peak_anon / 1024
    out["file_peak_mb"] = sampler.peak_file / 1024
    out["n_masked"] = int(len(clf.biased_feature_indices_))
    out["still_memmap"] = bool(isinstance(X_tune, np.memmap) and not X_tune.flags.writeable)
    print(json.dumps(out))


def bench_memory(data, report, *, threads, target_gb, n_steps, n_epochs=40, workdir=None):
    name = "memory"
    d = data.X_tune.shape[1]
    n_rows = int(np.ceil(target_gb * 1e9 / (4 * d)))
    need = n_rows * d * 4
    with tempfile.TemporaryDirectory(prefix="nt-perf-", dir=workdir) as tmp:
        free = os.statvfs(tmp).f_bavail * os.statvfs(tmp).f_frsize
        if free < need * 1.2:
            report.add(name, "skipped", f"{free / 1e9:.1f} GB free in {tmp}, {need / 1e9:.1f} GB needed")
            return None
        folder = Path(tmp)
        t0 = time.perf_counter()
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
        report.add(name, "tuning set on disk", f"{n_rows:,} x {d} float32 = {need / 1e9:.2f} GB",
                   f"written in {time.perf_counter() - t0:.0f} s (the CelebA-shaped tuning set repeated)")
        cmd = [sys.executable, "-m", "benchmarks.perf", "--memory-child", tmp,
               "--threads", str(threads), "--memory-steps", str(n_steps), "--fit-epochs", str(n_epochs)]
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent.parent)
        if proc.returncode != 0:
            report.add(name, "FAILED", proc.stderr.strip().splitlines()[-1] if proc.stderr else "?")
            return None
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    report.add(name, f"fit ({n_epochs} epochs) on the memory-mapped tuning set", f"{out['fit_s']:.1f} s",
               f"file evicted from the page cache first; load {load_average()}")
    report.add(name, "peak anonymous memory during the fit (RssAnon)",
               f"{out['anon_peak_mb']:.0f} MB",
               f"{out['anon_before_fit_mb']:.0f} MB before the fit (Python, numpy, sklearn, "
               f"X_id {data.X_id.nbytes / 1e6:.0f} MB in RAM); sampled every 5 ms from "
               "/proc/self/status in a thread of a child process")
    report.add(name, "peak file-backed resident memory (RssFile: page cache of the memmap)",
               f"{out['file_peak_mb']:.0f} MB", "reclaimable by the kernel, not a copy")
    report.add(name, "mini-batch steps, memmap in the page cache", f"{out['warm_ms_per_step']:.2f} ms/step")
    report.add(name, "mini-batch steps, memmap evicted (random reads from disk)",
               f"{out['cold_ms_per_step']:.2f} ms/step",
               f"{out['cold_ms_per_step'] / out['warm_ms_per_step']:.0f}x slower; a default fit's "
               f"8,000 steps would take {out['cold_ms_per_step'] * 8:.0f} s if every read missed")
    return out


# ----------------------------------------------------------------------------- 4: featurizers


def _write_images(folder, n, size=(320, 240), seed=0):
    """Smooth random JPEG photos-ish images (gradients plus noise)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]] / max(size)
    paths = []
    for i in range(n):
        a = rng.random((3, 3))
        img = np.stack([a[c, 0] * xx + a[c, 1] * yy + a[c, 2] for c in range(3)], axis=-1)
        img = np.clip(img * 160 + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
        path = os.path.join(folder, f"{i:05d}.jpg")
        Image.fromarray(img).save(path, quality=90)
        paths.append(path)
    return paths


def _sentences(n, seed=0):
    words = ("the a man woman dog cat is was not never runs sits plays in on under near park street "
             "with without happy quietly large small red blue house car music game today").split()
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(words, rng.integers(6, 30))) for _ in range(n)]


def bench_featurizers(report, *, threads, n_images, n_naive_images, n_texts, n_naive_texts):
    import torch

    from featurizers.image import ImageEncoder, _open_rgb
    from featurizers.text import TextEncoder

    name = "featurizers"
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="nt-perf-img-") as tmp:
        paths = _write_images(tmp, n_images)
        enc = ImageEncoder("tf_efficientnet_lite0", device="cpu")
        list(enc.embed(paths, 0, min(8, n_images), batch_size=8))  # warm-up
        batched, _, _ = timed(lambda: list(enc.embed(paths, 0, n_images, batch_size=64)))

        def naive():
            with torch.inference_mode():
                for p in paths[:n_naive_images]:
                    x = enc.transform(_open_rgb(p)).unsqueeze(0)
                    enc.model.forward_head(enc.model.forward_features(x), pre_logits=True).numpy()

        one_by_one, _, _ = timed(naive)
        # torch's OpenMP threads wait on each other when another process holds a core:
        # the forward alone at 1 and at `threads` threads shows how much that costs here
        x = torch.randn(16, 3, 224, 224)
        forward = {}
        for n_threads in sorted({threads, 1}):
            torch.set_num_threads(n_threads)
            with torch.inference_mode():
                enc.model.forward_features(x[:2])
                forward[n_threads] = 16 / timed(lambda: enc.model.forward_features(x))[0]
        torch.set_num_threads(threads)
    img_rate, naive_rate = n_images / batched, n_naive_images / one_by_one
    report.add(name, "EfficientNet-Lite0 224 px, CPU: embed() (DataLoader, batch 64)",
               f"{img_rate:.1f} images/s", f"{enc.workers} decoding worker(s), {threads} torch threads, "
               f"{n_images} JPEGs 320x240")
    report.add(name, "EfficientNet-Lite0 224 px, CPU: one image at a time", f"{naive_rate:.1f} images/s")
    report.add(name, "SPEED-UP batched images", f"{img_rate / naive_rate:.1f}x")
    report.add(name, "EfficientNet-Lite0 forward alone, batch 16, by torch threads",
               ", ".join(f"{k} thread(s): {v:.1f} images/s" for k, v in forward.items()),
               f"load {load_average()}")

    texts = _sentences(n_texts)
    tenc = TextEncoder("all-MiniLM-L6-v2", device="cpu")
    list(tenc.embed(texts, 0, 32, batch_size=32))  # warm-up
    batched, _, _ = timed(lambda: list(tenc.embed(texts, 0, n_texts, batch_size=64)))
    one_by_one, _, _ = timed(lambda: [list(tenc.embed(texts, i, i + 1, batch_size=1))
                                      for i in range(n_naive_texts)])
    txt_rate, naive_txt = n_texts / batched, n_naive_texts / one_by_one
    report.add(name, "all-MiniLM-L6-v2, CPU: embed() (length-sorted batches of 64)",
               f"{txt_rate:.0f} sentences/s", "6-30 words each")
    report.add(name, "all-MiniLM-L6-v2, CPU: one sentence at a time", f"{naive_txt:.0f} sentences/s")
    report.add(name, "SPEED-UP batched sentences", f"{txt_rate / naive_txt:.1f}x")

    if not torch.cuda.is_available():
        report.add(name, "ResNet-50 bf16 channels_last on GPU vs pure forward (ceiling)",
                   "skipped", "no CUDA device on this machine")
        return
    bench_gpu_loader(report, n_images=max(n_images, 2048))


def bench_gpu_loader(report, *, n_images, batch_size=256):
    """Images/s from JPEG files through ImageEncoder.embed vs the forward alone on random tensors."""
    import timm
    import torch

    from featurizers.image import ImageEncoder
    from featurizers.runtime import autocast

    name = "featurizers"
    with tempfile.TemporaryDirectory(prefix="nt-perf-gpu-") as tmp:
        ckpt = os.path.join(tmp, "resnet50.pth")
        torch.save(timm.create_model("resnet50", pretrained=False).state_dict(), ckpt)
        paths = _write_images(tmp, n_images, size=(400, 300))
        enc = ImageEncoder("resnet50", weights=ckpt, preprocess="paper")
        list(enc.embed(paths, 0, batch_size, batch_size=batch_size))  # warm-up (cudnn autotune)
        torch.cuda.synchronize()
        loader_s, _, _ = timed(lambda: list(enc.embed(paths, 0, n_images, batch_size=batch_size)))
        x = torch.randn(batch_size, 3, 224, 224, device=enc.device).contiguous(
            memory_format=torch.channels_last)

        def forward_only():
            with torch.inference_mode(), autocast(enc.device, enc.precision):
                for _ in range(n_images // batch_size):
                    enc.model.forward_head(enc.model.forward_features(x), pre_logits=True).float().cpu()
            torch.cuda.synchronize()

        forward_only()
        ceiling_s, _, _ = timed(forward_only, 3)
    rate, ceiling = n_images / loader_s, (n_images // batch_size) * batch_size / ceiling_s
    report.add(name, f"ResNet-50 {enc.precision} channels_last on {torch.cuda.get_device_name()}: "
               "from JPEG files", f"{rate:.0f} images/s", f"{enc.workers} DataLoader workers")
    report.add(name, "ResNet-50 pure forward on random tensors (ceiling)", f"{ceiling:.0f} images/s")
    report.add(name, "loader efficiency (files / ceiling)", f"{rate / ceiling:.0%}")


# ----------------------------------------------------------------------------- 5: grid search


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
    name = "grid search"
    n_fits = 8 * 3 + 1
    with threadpool_limits(threads):
        serial_s, _, serial = timed(lambda: grid_search(data, 1), repeats)
    parallel_s, _, parallel = timed(lambda: grid_search(data, 2), repeats)
    report.add(name, f"GridSearchCV, 8 configurations x 3 folds + refit, n_jobs=1",
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
    cluster_kw = dict(n_workers=2, threads_per_worker=1, processes=processes, dashboard_address=None,
                      silence_logs=logging.ERROR)
    with LocalCluster(**cluster_kw) as cluster, Client(cluster):
        startup = time.perf_counter() - t0
        dask_s, _, on_dask = timed(lambda: grid_search(data, -1, backend="dask"), repeats)
    kind = "processes" if processes else "threads"
    report.add(name, f"same search on dask.distributed LocalCluster(2 workers x 1 thread, {kind})",
               f"{dask_s:.1f} s", f"cluster start {startup:.1f} s not included")
    diff = np.max(np.abs(on_dask.cv_results_["mean_test_score"] - serial.cv_results_["mean_test_score"]))
    report.add(name, "dask: identical best parameters and scores",
               "yes" if on_dask.best_params_ == serial.best_params_ and diff == 0 else
               f"NO (best {on_dask.best_params_} vs {serial.best_params_}, max |diff| {diff:.3g})",
               f"best {serial.best_params_}")


# ----------------------------------------------------------------------------- output


def write_markdown(report, path, *, command, threads, started, elapsed, quick):
    lines = [
        "# Performance figures (`benchmarks/perf.py`)",
        "",
        f"- command: `{command}`" + (" (quick mode: 5% of the rows, small files; not the targets)"
                                     if quick else ""),
        f"- date: {started:%Y-%m-%d %H:%M} (run took {elapsed / 60:.1f} min)",
        f"- machine: {cpu_model()}, {os.cpu_count()} logical CPUs, BLAS and torch limited to "
        f"{threads} threads; Python {platform.python_version()}, numpy {np.__version__}",
        f"- load average at the end (1/5/15 min): {load_average()}; the machine is shared, so "
        "timings are medians of repeats and comparisons are ratios measured in the same run",
        "",
        "| section | figure | value | note |",
        "|---|---|---|---|",
    ]
    for section, figure, value, note in report.rows:
        cells = [str(x).replace("|", "/") for x in (section, figure, value, note)]
        lines.append("| " + " | ".join(cells) + " |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes for CI (under a minute); the figures are not the targets")
    parser.add_argument("--threads", type=int, default=2, help="BLAS and torch threads (default 2)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="repeats per timing, the median is kept (default 3, 1 with --quick)")
    parser.add_argument("--sections", default="fit,identification,memory,featurizers,grid",
                        help="comma-separated subset of fit,identification,memory,featurizers,grid")
    parser.add_argument("--memory-gb", type=float, default=None,
                        help="size of the memory-mapped tuning set (default 8.2, 0.05 with --quick)")
    parser.add_argument("--ref-epochs", type=int, default=None,
                        help="epochs run by the torch reference (default 3, 1 with --quick); its "
                             "40-epoch time is extrapolated per epoch")
    parser.add_argument("--fit-epochs", type=int, default=None,
                        help="epochs of our fits (default 40, the paper's; 5 with --quick)")
    parser.add_argument("--tmpdir", default=None, help="where the memory-mapped file is written")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"markdown output (default {RESULTS})")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--memory-steps", type=int, default=200, help=argparse.SUPPRESS)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if args.memory_child:
        memory_child(args.memory_child, args.threads, args.memory_steps, args.fit_epochs or 40)
        return
    logging.basicConfig(level=logging.WARNING)
    quick = args.quick
    repeats = args.repeats or (1 if quick else 3)
    ref_epochs = args.ref_epochs or (1 if quick else 3)
    memory_gb = args.memory_gb or (0.05 if quick else 8.2)
    fit_epochs = args.fit_epochs or (5 if quick else 40)
    sections = set(args.sections.split(","))
    scale = QUICK_SCALE if quick else 1.0
    started, t_start = datetime.datetime.now(), time.perf_counter()
    command = ("python -m benchmarks.perf " + shlex.join(argv if argv is not None else sys.argv[1:])).rstrip()
    report = Report()
    report.add("machine", "CPU", f"{cpu_model()}, {os.cpu_count()} logical CPUs",
               f"{args.threads} threads used; load {load_average()}")

    datasets = {}

    def dataset(name):
        if name not in datasets:
            shape = dict(SHAPES[name])
            shape["n_tune"] = int(shape["n_tune"] * scale)
            shape["n_id"] = int(shape["n_id"] * scale)
            with threadpool_limits(args.threads):
                t0 = time.perf_counter()
                datasets[name] = make_planted(**shape)
            logger.info("planted %s in %.1f s", name, time.perf_counter() - t0)
        return datasets[name]

    if "fit" in sections:
        for name in SHAPES:
            bench_fit(name, dataset(name), report, threads=args.threads, repeats=repeats,
                      ref_epochs=ref_epochs, n_epochs=fit_epochs,
                      torch_threads=[1] if quick else None)  # quick: skip the slow 2-thread run
    if "identification" in sections:
        bench_identification(dataset("celeba"), report, threads=args.threads, repeats=repeats)
    if "memory" in sections:
        bench_memory(dataset("celeba"), report, threads=args.threads, target_gb=memory_gb,
                     n_steps=20 if quick else 200, n_epochs=fit_epochs, workdir=args.tmpdir)
    datasets.pop("multinli", None)
    if "featurizers" in sections:
        bench_featurizers(report, threads=args.threads,
                          n_images=8 if quick else 128, n_naive_images=4 if quick else 32,
                          n_texts=32 if quick else 512, n_naive_texts=8 if quick else 64)
    if "grid" in sections:
        small = make_planted(n_tune=1_200 if quick else 12_000, n_id=400 if quick else 3_000, d=256,
                             n_classes=2, prior=(0.85, 0.15), core_shift=0.2, n_core=80, n_spurious=16)
        bench_grid(small, report, threads=args.threads, repeats=repeats, processes=not quick)

    elapsed = time.perf_counter() - t_start
    write_markdown(report, args.out, command=command, threads=args.threads, started=started,
                   elapsed=elapsed, quick=quick)
    print(f"wrote {args.out} ({elapsed / 60:.1f} min)")


if __name__ == "__main__":
    main()
