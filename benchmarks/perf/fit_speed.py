"""Fit speed: a default NeuronTune fit against the straightforward PyTorch implementation."""

import hashlib
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from nt_sklearn.metrics import worst_group_accuracy

from .choices import bench_batch_reads
from .data import reference_predictions
from .fit_times import sfit_seconds
from .timing import load_average, set_torch_threads, timed


def fit_ours(data, **params):
    """A ``NeuronTuneClassifier`` on the planted data (seed 0), warnings silenced."""
    from nt_sklearn import NeuronTuneClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NeuronTuneClassifier(data.head(), random_state=0, **params).fit(
            data.X_id, data.y_id, X_tune=data.X_tune, y_tune=data.y_tune)


def fit_fingerprint(model):
    """The first 16 hex digits of the sha256 of what a fit selected: its SFit history, selected
    epoch and mask, bit for bit (two implementations agree exactly when these agree)."""
    digest = hashlib.sha256()
    for array in (model.sfit_history_, np.int64(model.best_epoch_), model.biased_features_):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def _errors(data, pred):
    """``"error / worst-group accuracy"`` of predictions on the identification rows."""
    return (f"{np.mean(pred != data.y_id):.1%} / "
            f"{worst_group_accuracy(data.y_id, pred, data.groups_id):.1%}")


def bench_fit(name, data, report, *, threads, repeats, ref_epochs, n_epochs=40,
              torch_threads=None):
    """Our fit, its SFit share and its masks, then the torch reference side by side."""
    report.add(name, "shape", f"tuning {data.X_tune.shape[0]:,} x {data.X_tune.shape[1]}, "
               f"identification {data.X_id.shape[0]:,}, {len(data.coef)} classes")
    report.add(name, "reference head: error / worst-group accuracy on the identification data",
               _errors(data, reference_predictions(data)))

    with threadpool_limits(threads):
        wall, cpu, nt, sfit = sfit_seconds(lambda: fit_ours(data, n_epochs=n_epochs), repeats)
        short_wall, _, _ = timed(lambda: fit_ours(data, n_epochs=ref_epochs), repeats)
    default = "default " if n_epochs == 40 else ""
    report.add(name, f"ours: {default}fit ({n_epochs} epochs x 200 batches, SFit every epoch)",
               f"{wall:.1f} s wall, {cpu:.1f} s CPU", f"median of {repeats}, {threads} threads, "
               f"load {load_average()}")
    report.add(name, "ours: time in SFit (setup once + per-epoch evaluation, fit_times_)",
               f"{sfit.total:.2f} s = {sfit.total / wall:.0%} of the fit",
               f"setup {sfit.setup:.2f} s, {sfit.calls} calls "
               f"{sfit.per_call * 1e3:.0f} ms each")
    report.add(name, "ours: SFit one-off cost (scorer setup; first scores and mask)",
               f"{sfit.setup:.2f} s; {sfit.identify:.2f} s", "fit_times_ sfit_setup; identify")
    report.add(name, "ours: fit fingerprint (sha256 of sfit_history_, best_epoch_, "
               "biased_features_)", fit_fingerprint(nt),
               "equal fingerprints: the same selected epoch, mask and SFit history, bit for bit")
    masked = nt.biased_feature_indices_
    report.add(name, "ours: masked dims / planted spurious found / core masked",
               f"{len(masked)} / {np.isin(data.spurious, masked).mean():.0%} / "
               f"{np.isin(data.core, masked).mean():.0%}")
    report.add(name, "ours: error / worst-group accuracy (identification data)",
               _errors(data, nt.predict(data.X_id)))

    per_epoch_ref, tr = _bench_torch_reference(name, data, report, threads=threads,
                                               ref_epochs=ref_epochs,
                                               torch_threads=torch_threads,
                                               short_wall=short_wall, repeats=repeats)
    speedup = per_epoch_ref * n_epochs / wall
    report.add(name, f"SPEED-UP over torch, full {n_epochs}-epoch fit", f"{speedup:.1f}x",
               f"torch extrapolated: {per_epoch_ref:.2f} s/epoch x {n_epochs} = "
               f"{per_epoch_ref * n_epochs:.0f} s")
    same = np.array_equal(tr.biased_features_, nt.biased_features_)
    differ = np.flatnonzero(tr.biased_features_ != nt.biased_features_)
    report.add(name, "same biased dimensions as the torch reference",
               "yes" if same else f"no: {len(differ)} differ {differ[:10].tolist()}",
               f"{int(tr.biased_features_.sum())} masked by torch")
    bench_batch_reads(name, data, report, threads=threads, repeats=repeats)
    return {"fit_s": wall, "sfit_fraction": sfit.total / wall, "speedup": speedup,
            "same_dims": same}


def _bench_torch_reference(name, data, report, *, threads, ref_epochs, torch_threads,
                           short_wall, repeats):
    """The torch reference at ``ref_epochs``; returns (its seconds per epoch, the fit)."""
    from ..torch_reference import TorchNeuronTune

    # torch at the same thread count, and at one thread (on a shared machine OpenMP's two
    # threads can wait on each other for a core: the faster is the fair one)
    ref = {}
    for n_threads in torch_threads or sorted({threads, 1}, reverse=True):
        set_torch_threads(n_threads)
        wall_r, cpu_r, tr = timed(lambda: TorchNeuronTune(
            data.coef, data.intercept, n_epochs=ref_epochs).fit(
                data.X_id, data.y_id, data.X_tune, data.y_tune))
        ref[n_threads] = (wall_r, tr)
        report.add(name, f"torch reference: {ref_epochs} epochs, {n_threads} thread(s)",
                   f"{wall_r:.1f} s wall, {cpu_r:.1f} s CPU")
    set_torch_threads(threads)
    best_threads = min(ref, key=lambda k: ref[k][0])
    wall_r, tr = ref[best_threads]
    report.add(name, f"ours: {ref_epochs} epochs (same work as the reference run)",
               f"{short_wall:.1f} s", f"median of {repeats}")
    report.add(name, f"SPEED-UP over torch, {ref_epochs} epochs measured side by side",
               f"{wall_r / short_wall:.1f}x",
               f"torch at its faster setting, {best_threads} thread(s)")
    return wall_r / ref_epochs, tr
