"""Every method on every dataset of a suite, over several seeds, with a report.

    python -m benchmarks.run --suite demo            # digits (make demo)
    python -m benchmarks.run --suite offline         # the four offline datasets (make bench)
    python -m benchmarks.run --store DIR [DIR ...]   # any store made by nt-featurize

Writes ``results.json`` (one record per dataset x validation regime x method x
seed), ``report.md`` and PNG figures under ``--out``, and prints the summary
table. Group labels are used only to evaluate, and by DFR, which needs them
(its row says so). A store given with ``--store`` whose splits have no group
labels (class labels only) runs the group-free methods and reports per-class
metrics, with worst-class accuracy in the place of WGA; DFR and the
group-label diagnostic are left out.
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
from .methods import (ABLATIONS, DIAGNOSTICS, MAIN_METHODS, VARIANTS, build_methods,
                      reference_model)

logger = logging.getLogger(__name__)


def load_dataset(store_dir, *, require_groups=True):
    """Splits of a store as in-memory arrays, and the backbone's head (or None).

    With ``require_groups=False`` a store whose splits have no group labels is
    accepted (their groups are None); one that has them in some splits only is not.
    """
    from featurizers.store import EmbeddingStore

    store = EmbeddingStore(store_dir)
    data = {}
    for split in store.splits:
        X, y, groups, _ = store.load(split)
        if groups is None and require_groups:
            raise ValueError(f"{store_dir}: split {split!r} has no groups; they are needed "
                             "to evaluate")
        data[split] = (np.asarray(X, dtype=np.float32), np.asarray(y),
                       None if groups is None else np.asarray(groups))
    with_groups = sorted(s for s, v in data.items() if v[2] is not None)
    if with_groups and len(with_groups) < len(data):
        raise ValueError(f"{store_dir}: splits {with_groups} have group labels and "
                         f"{sorted(set(data) - set(with_groups))} have none; give every split "
                         "groups, or none")
    for needed in ("train", "test"):
        if needed not in data:
            raise ValueError(f"{store_dir} has no complete {needed!r} split (has {sorted(data)})")
    if not any(s.startswith("val") for s in data):
        raise ValueError(f"{store_dir} has no validation split (a split named val...)")
    return data, store.head()


def has_groups(data):
    """Whether the splits of ``data`` carry group labels (all do, or none)."""
    return all(v[2] is not None for v in data.values())


def evaluate(model, data, val, *, train_groups=None):
    """Test metrics of a fitted model; for NeuronTune models also the per-epoch study.

    Every record holds the per-class accuracies (``class_acc``) and the worst of them
    (``wca``); with group labels also ``wga``, ``group_acc`` and ``gap`` (Avg - WGA),
    without them ``gap`` is Avg - worst-class accuracy. With ``train_groups`` (the
    group ids of the training rows) the record also holds ``avg_train_weighted``: the
    test per-group accuracies weighted by the training group proportions (Waterbirds'
    usual "mean accuracy"), over the groups the test split has.
    """
    X_te, y_te, g_te = data["test"]
    pred = model.predict(X_te)
    class_acc = group_accuracies(y_te, pred, y_te)
    row = {"avg": mean_accuracy(y_te, pred), "wca": min(class_acc.values()),
           "class_acc": {str(k): v for k, v in class_acc.items()}}
    if g_te is not None:
        row["wga"] = worst_group_accuracy(y_te, pred, g_te)
        row["group_acc"] = {str(k): v for k, v in group_accuracies(y_te, pred, g_te).items()}
    row["gap"] = row["avg"] - row.get("wga", row["wca"])
    if train_groups is not None:
        train_groups = np.asarray(train_groups)
        row["avg_train_weighted"] = mean_accuracy(
            y_te, pred, g_te, convention="train_weighted",
            train_groups=train_groups[np.isin(train_groups, g_te)])
    if hasattr(model, "kept_reference_"):
        row["kept_reference"] = bool(model.kept_reference_)
    if hasattr(model, "biased_features_"):
        row["masked_fraction"] = float(np.mean(model.feature_scale_ != 1.0))
    if hasattr(model, "coef_path_"):
        row["epochs"] = _epoch_study(model, data, val)
    return row


def _epoch_study(model, data, val):
    """Validation and test WGA of every epoch's head beside SFit and the selected epoch
    (``val_wga``, ``test_wga``); without group labels worst-class accuracy instead
    (``val_wca``, ``test_wca``)."""
    X_te, y_te, g_te = data["test"]
    X_v, y_v, g_v = data[val]
    classes = model.classes_
    key = "wga" if g_te is not None else "wca"
    # worst-class accuracy is worst-group accuracy with the classes as the groups
    g_v, g_te = (g_v, g_te) if key == "wga" else (y_v, y_te)
    val_m, test_m = [], []
    for coef, intercept in zip(model.coef_path_, model.intercept_path_):  # one per epoch
        val_m.append(worst_group_accuracy(
            y_v, classes[np.argmax(X_v @ coef.T + intercept, 1)], g_v))
        test_m.append(worst_group_accuracy(
            y_te, classes[np.argmax(X_te @ coef.T + intercept, 1)], g_te))
    return {"sfit": model.sfit_history_.tolist(), f"val_{key}": val_m, f"test_{key}": test_m,
            "selected": int(model.best_epoch_)}


def dataset_names(store_dir, data):
    """``{"classes": {label: name}, "groups": {group: name}}`` for the figures and tables,
    from the store's manifest (see :func:`featurizers.tune.display_names`); keys are
    strings, as in the records' ``class_acc`` and ``group_acc``."""
    from featurizers.store import load_manifest
    from featurizers.tune import display_names

    _, y, g = data["test"]
    classes, groups = display_names(load_manifest(store_dir), y, g)
    return {"classes": {str(k): v for k, v in classes.items()},
            "groups": {str(k): v for k, v in groups.items()}}


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


def select_methods(methods, names):
    """The ``methods`` named in ``names`` (all with None), in the order of ``methods``; an
    unknown name is refused with the known ones."""
    if names is None:
        return methods
    known = [m.name for m in methods]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; known: {known}")
    return [m for m in methods if m.name in names]


def run_dataset(name, data, head, *, seeds, n_epochs, jobs, ablations, progress, variants=False,
                only=None):
    """Every method of the suite on one dataset (only those named in ``only`` when given);
    returns the records and the reference model."""
    reference = reference_model(data, head)
    regimes = sorted(s for s in data if s.startswith("val"))
    groups = has_groups(data)
    # without group labels: DFR (it fits on them) and the diagnostic (it explains with them)
    main = MAIN_METHODS if groups else build_methods(groups=False)
    methods = (main + (ABLATIONS if ablations else [])
               + (VARIANTS + (DIAGNOSTICS if groups else []) if variants else []))
    methods = select_methods(methods, only)
    # deterministic methods (ERM, DFR's own seeds aside) still run per seed: cheap, uniform
    records = run_methods(methods, reference, data, regimes=regimes, seeds=seeds,
                          n_epochs=n_epochs, jobs=jobs, progress=progress, desc=name)
    for row in records:
        row["dataset"] = name
    return records, reference


def plot_identification(path, name, data, reference, regime, n_epochs, class_names=None):
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
                           "samples", class_names=class_names)


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
    parser.add_argument("--methods", nargs="+", metavar="NAME",
                        help="run only these methods (names as in the tables; ERM is needed "
                        "for the comparisons)")
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
    records, meta, names = [], {}, {}
    t0 = time.perf_counter()
    for name, store in stores.items():
        # the suites' stores all have groups; a user's store may have class labels only
        data, head = load_dataset(store, require_groups=bool(args.suite))
        if has_groups(data):
            meta[name] = {s: {"rows": len(v[1]), "group_counts": np.bincount(v[2]).tolist()}
                          for s, v in data.items()}
        else:
            meta[name] = {s: {"rows": len(v[1]), "class_counts": np.bincount(v[1]).tolist()}
                          for s, v in data.items()}
            print(f"{name}: no group labels (class labels only); WGA needs group labels, so "
                  "the report gives per-class metrics and worst-class accuracy, and leaves out "
                  "DFR and the group-label diagnostic")
        names[name] = dataset_names(store, data)
        rows, reference = run_dataset(name, data, head, seeds=list(range(args.seeds)),
                                      n_epochs=args.epochs, jobs=args.jobs,
                                      ablations=not args.no_ablations, progress=tqdm,
                                      variants=not args.no_variants, only=args.methods)
        records += rows
        out.mkdir(parents=True, exist_ok=True)
        regime = sorted(s for s in data if s.startswith("val"))[0]
        if args.methods is None:  # a selection of methods is a study: no figure of NeuronTune
            plot_identification(out / f"{name}_dimensions.png", name, data, reference, regime,
                                args.epochs, class_names=names[name]["classes"])
    out.mkdir(parents=True, exist_ok=True)
    results = {"config": {"seeds": args.seeds, "epochs": args.epochs, "suite": args.suite},
               "datasets": meta, "names": names, "records": records,
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
