"""Every method on every dataset of a suite, over several seeds, with a report.

    python -m benchmarks.run --suite demo            # digits (make demo)
    python -m benchmarks.run --suite offline         # the four offline datasets (make bench)
    python -m benchmarks.run --store DIR [DIR ...]   # any store made by nt-featurize

Writes ``results.json`` (one record per dataset x validation regime x method x
seed), ``report.md`` and PNG figures under ``--out``, and prints the summary
table. Group labels are used only to evaluate, and by DFR, which needs them
(its row says so).
"""

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from nt_sklearn.metrics import group_accuracies, mean_accuracy, worst_group_accuracy

from . import report
from ._cli import add_debug_flag, guarded, setup_logging
from .methods import ABLATIONS, DIAGNOSTICS, MAIN_METHODS, VARIANTS, reference_model

logger = logging.getLogger(__name__)


def load_dataset(store_dir):
    """Splits of a store as in-memory arrays, and the backbone's head (or None)."""
    from featurizers.store import EmbeddingStore

    store = EmbeddingStore(store_dir)
    data = {}
    for split in store.splits:
        X, y, groups, _ = store.load(split)
        if groups is None:
            raise ValueError(f"{store_dir}: split {split!r} has no groups; they are needed "
                             "to evaluate")
        data[split] = (np.asarray(X, dtype=np.float32), np.asarray(y), np.asarray(groups))
    for needed in ("train", "test"):
        if needed not in data:
            raise ValueError(f"{store_dir} has no complete {needed!r} split (has {sorted(data)})")
    if not any(s.startswith("val") for s in data):
        raise ValueError(f"{store_dir} has no validation split (a split named val...)")
    return data, store.head()


def evaluate(model, data, val, *, train_groups=None):
    """Test metrics of a fitted model; for NeuronTune models also the per-epoch study.

    With ``train_groups`` (the group ids of the training rows) the record also holds
    ``avg_train_weighted``: the test per-group accuracies weighted by the training group
    proportions (Waterbirds' usual "mean accuracy"), over the groups the test split has.
    """
    X_te, y_te, g_te = data["test"]
    pred = model.predict(X_te)
    row = {
        "wga": worst_group_accuracy(y_te, pred, g_te),
        "avg": mean_accuracy(y_te, pred),
        "group_acc": {str(k): v for k, v in group_accuracies(y_te, pred, g_te).items()},
    }
    row["gap"] = row["avg"] - row["wga"]
    if train_groups is not None:
        train_groups = np.asarray(train_groups)
        row["avg_train_weighted"] = mean_accuracy(
            y_te, pred, g_te, convention="train_weighted",
            train_groups=train_groups[np.isin(train_groups, g_te)])
    if hasattr(model, "biased_features_"):
        row["masked_fraction"] = float(np.mean(model.feature_scale_ != 1.0))
    if hasattr(model, "coef_path_"):
        row["epochs"] = _epoch_study(model, data, val)
    return row


def _epoch_study(model, data, val):
    """Validation and test WGA of every epoch's head beside SFit and the selected epoch."""
    X_te, y_te, g_te = data["test"]
    X_v, y_v, g_v = data[val]
    classes = model.classes_
    val_wga, test_wga = [], []
    for coef, intercept in zip(model.coef_path_, model.intercept_path_):  # one per epoch
        val_wga.append(worst_group_accuracy(
            y_v, classes[np.argmax(X_v @ coef.T + intercept, 1)], g_v))
        test_wga.append(worst_group_accuracy(
            y_te, classes[np.argmax(X_te @ coef.T + intercept, 1)], g_te))
    return {"sfit": model.sfit_history_.tolist(), "val_wga": val_wga, "test_wga": test_wga,
            "selected": int(model.best_epoch_)}


def run_one(method, reference, data, val, seed, n_epochs, train_groups=None):
    """Fit one method with one seed on validation regime ``val``; its :func:`evaluate` record."""
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = method.fit(reference, data, val, seed, n_epochs)
    row = evaluate(model, data, val, train_groups=train_groups)
    row.update(method=method.name, seed=seed, regime=val, seconds=time.perf_counter() - t)
    return row


def run_parallel(fn, tasks, *, jobs, progress=None, desc=None):
    """``[fn(*task) for task in tasks]`` on ``jobs`` joblib workers, in order.

    ``progress``: a tqdm-like wrapper of the results as they arrive, or None.
    """
    out = Parallel(n_jobs=jobs, return_as="generator")(delayed(fn)(*t) for t in tasks)
    if progress is not None:
        out = progress(out, total=len(tasks), desc=desc)
    return list(out)


def run_methods(methods, reference, data, *, regimes, seeds, n_epochs, jobs, progress=None,
                desc=None, train_groups=None):
    """:func:`run_one` for every validation regime x method x seed, in that order."""
    tasks = [(m, reference, data, v, s, n_epochs, train_groups)
             for v in regimes for m in methods for s in seeds]
    return run_parallel(run_one, tasks, jobs=jobs, progress=progress, desc=desc)


def run_dataset(name, data, head, *, seeds, n_epochs, jobs, ablations, progress, variants=False):
    """Every method of the suite on one dataset; returns the records and the reference model."""
    reference = reference_model(data, head)
    regimes = sorted(s for s in data if s.startswith("val"))
    methods = (MAIN_METHODS + (ABLATIONS if ablations else [])
               + (VARIANTS + DIAGNOSTICS if variants else []))
    # deterministic methods (ERM, DFR's own seeds aside) still run per seed: cheap, uniform
    records = run_methods(methods, reference, data, regimes=regimes, seeds=seeds,
                          n_epochs=n_epochs, jobs=jobs, progress=progress, desc=name)
    for row in records:
        row["dataset"] = name
    return records, reference


def plot_identification(path, name, data, reference, regime, n_epochs):
    """The paper's Figs 3-6 for NeuronTune (seed 0) on one validation regime."""
    from nt_sklearn import NeuronTuneClassifier

    X_v, y_v, _ = data[regime]
    X_tr, y_tr, _ = data["train"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = NeuronTuneClassifier(reference, random_state=0, n_epochs=1).fit(
            X_v, y_v, X_tune=X_tr, y_tune=y_tr
        )
    report.plot_dimensions(path, model, X_v, y_v, reference.predict(X_v),
                           f"{name} ({regime}): reference model's correct vs misclassified "
                           "samples")


def build_parser():
    """The argument parser of ``python -m benchmarks.run``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run",
                                     description="Run every method on a benchmark suite.")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--suite", choices=["demo", "offline"])
    what.add_argument("--store", nargs="+", type=Path, help="stores made by nt-featurize")
    parser.add_argument("--out", type=Path, default=None,
                        help="default benchmarks/results/<suite>")
    parser.add_argument("--cache", type=Path, default=Path("benchmarks/results/cache"),
                        help="where the suite's stores are built and cached")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=40, help="tuning epochs (paper: 40)")
    parser.add_argument("--no-ablations", action="store_true")
    parser.add_argument("--no-variants", action="store_true",
                        help="skip the options beyond the paper and the group-label diagnostic")
    parser.add_argument("--jobs", type=int, default=-1, help="parallel fits (joblib)")
    parser.add_argument("--datasets", nargs="+", help="a subset of the suite's datasets")
    return add_debug_flag(parser)


def _stores(args):
    """``({name: store folder}, output folder)`` of a suite (built or cached) or of --store."""
    if not args.suite:
        return ({Path(s).name: s for s in args.store},
                args.out or Path("benchmarks/results/stores"))
    from .offline_suite import SUITES, MissingSource, build

    stores = {}
    for name in args.datasets or SUITES[args.suite]:
        try:
            t = time.perf_counter()
            stores[name] = build(name, args.cache)
            print(f"{name}: store ready in {time.perf_counter() - t:.0f} s ({stores[name]})")
        except MissingSource as exc:
            print(f"{name}: skipped, {exc}")
    return stores, args.out or Path("benchmarks/results") / args.suite


def _run(args):
    from tqdm.auto import tqdm

    stores, out = _stores(args)
    records, meta = [], {}
    t0 = time.perf_counter()
    for name, store in stores.items():
        data, head = load_dataset(store)
        meta[name] = {s: {"rows": len(v[1]), "group_counts": np.bincount(v[2]).tolist()}
                      for s, v in data.items()}
        rows, reference = run_dataset(name, data, head, seeds=list(range(args.seeds)),
                                      n_epochs=args.epochs, jobs=args.jobs,
                                      ablations=not args.no_ablations, progress=tqdm,
                                      variants=not args.no_variants)
        records += rows
        out.mkdir(parents=True, exist_ok=True)
        regime = sorted(s for s in data if s.startswith("val"))[0]
        plot_identification(out / f"{name}_dimensions.png", name, data, reference, regime,
                            args.epochs)
    out.mkdir(parents=True, exist_ok=True)
    results = {"config": {"seeds": args.seeds, "epochs": args.epochs, "suite": args.suite},
               "datasets": meta, "records": records,
               "seconds": round(time.perf_counter() - t0, 1)}
    (out / "results.json").write_text(json.dumps(results, indent=1))
    text = report.write(results, out, stores)
    print(report.summary(results))
    print(f"\nWrote {out}/results.json, {out}/report.md and figures "
          f"({len(text)} characters of report)")


def main(argv=None):
    """Entry point; returns the process exit code (2 after an expected error)."""
    args = build_parser().parse_args(argv)
    setup_logging(logging.WARNING)
    return guarded("run", lambda: _run(args), debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
