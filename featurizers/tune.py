"""The ``nt-tune`` command (also ``python -m featurizers.tune``): tune a store's head.

Fits NeuronTune, or another estimator of the family, on the splits of an
embedding store with class labels only, prints per-class (and, where the
store has groups, per-group) metrics of the reference and the tuned model,
and writes the tuned head into the store beside the original
(``heads/<name>.npz`` and ``heads/<name>.json``, never ``head.npz``); with
``--export`` also a numpy head, a timm checkpoint or a transformers folder
(:mod:`featurizers.export`). It takes seconds, so it resumes nothing; every
file is written to a temporary name first.

Examples
--------
The paper's setting (identify on ``val``, tune on ``train``), exported with the
backbone::

    nt-tune stores/birds-r50 --export timm --export-to birds-nt.pth --weights erm.pth

NeuronTune-dagger (halves of ``val``), two epochs, the FDR threshold::

    nt-tune stores/birds-r50 --tune-split none --param n_epochs=2 --param threshold=fdr
"""

import argparse
import datetime
import json
import logging
import os
import re
import sys
import time
import warnings

import numpy as np

from ._tune_report import _metrics, _table, _versions, display_names
from .clitools import add_debug_flag, guarded, non_negative_int
from ._atomic import refuse_existing, write_json
from .store import EmbeddingStore

__all__ = ["METHODS", "build_parser", "main", "display_names", "tune"]

logger = logging.getLogger(__name__)

#: ``--method`` -> (estimator class name in nt_sklearn, uses group labels)
METHODS = {
    "neurontune": ("NeuronTuneClassifier", False),
    "neurontune-auto": ("NeuronTuneAutoClassifier", False),
    "class-balanced": ("ClassBalancedRetraining", False),
    "random-mask": ("RandomMaskClassifier", False),
    "erm": ("ERMHead", False),
    "jtt": ("JTTLastLayer", False),
    "afr": ("AFRClassifier", False),
    "dfr": ("DFRClassifier", True),
}
#: methods fitted on the identification split alone by default (``--tune-split none``)
TUNED_ON_VALIDATION = {"neurontune-auto"}
HEADS_DIR = "heads"


def _head_name(text):
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", text) or text.endswith(".npz"):
        raise argparse.ArgumentTypeError(
            f"{text!r}: a head name is letters, digits, '.', '_' or '-' (no extension)")
    return text


def build_parser():
    """The argument parser of ``nt-tune``."""
    p = argparse.ArgumentParser(
        prog="nt-tune", description="Tune the last layer of a store's model with class labels "
        "only (NeuronTune or another method of the family), report per-class and per-group "
        "metrics, write the tuned head into the store, optionally export it.",
        epilog="Group labels, where the store has them, are used for reporting only (and by "
        "--method dfr, which needs them).")
    p.add_argument("store", help="an embedding store made by nt-featurize")
    p.add_argument("--method", choices=sorted(METHODS), default="neurontune",
                   help="the estimator (default: neurontune); dfr fits on group labels, so it "
                   "needs a store that has them")
    p.add_argument("--id-split", metavar="SPLIT", help="the held-out split the method "
                   "identifies on (its X; default: val, as the paper)")
    p.add_argument("--tune-split", metavar="SPLIT", help="the split the head is tuned on "
                   "(X_tune; default: train, as the paper, and none for neurontune-auto, the "
                   "recommended label-free configuration); 'none': the method's own fallback, "
                   "for NeuronTune halves of --id-split (NeuronTune-dagger)")
    p.add_argument("--eval-splits", metavar="SPLIT", nargs="+",
                   help="splits to report (default: all others)")
    p.add_argument("--reference", choices=("auto", "head", "logistic"), default="auto",
                   help="the biased reference model: the store's head.npz (auto: when it "
                   "predicts these classes) or a logistic regression stand-in")
    p.add_argument("--reference-split", metavar="SPLIT", help="where the logistic stand-in is "
                   "fitted (default: the tuning split; with --tune-split none, train)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="an estimator parameter, VALUE read as JSON else as a string "
                   "(repeatable), e.g. n_epochs=2, threshold=fdr")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="the estimator's random_state (default: 0)")
    p.add_argument("--name", type=_head_name, help="the head's file name under heads/ "
                   "(default: the method)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing head of that name and an existing export")
    e = p.add_argument_group("export")
    e.add_argument("--export", choices=("numpy", "timm", "transformers"))
    e.add_argument("--export-to", metavar="PATH",
                   help="the file (numpy, timm) or folder (transformers)")
    e.add_argument("--weights", metavar="PATH", help="timm: the backbone's weights file the "
                   "store was made from (named sources are found by themselves)")
    e.add_argument("--backbone", metavar="DIR",
                   help="transformers: the model folder the store was made from")
    e.add_argument("--trust-checkpoint", action="store_true",
                   help="allow a weights file holding pickled objects")
    p.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    add_debug_flag(p)
    return p


def parse_params(items):
    """``["KEY=VALUE", ...]`` as a dict; VALUE is JSON where it parses, else a string."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--param expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _resolve_splits(store, args):
    have = store.splits
    id_split = args.id_split or ("val" if "val" in have else next(
        (s for s in have if s.startswith("val")), None))
    if id_split is None:
        raise ValueError(f"{store.path}: no validation split to identify on (complete splits: "
                         f"{have}); pass --id-split")
    tune_split = args.tune_split or ("none" if args.method in TUNED_ON_VALIDATION else "train")
    tune = None if tune_split.lower() == "none" else tune_split
    if tune == id_split:
        raise ValueError(f"--tune-split {tune!r} is the identification split; pass "
                         "--tune-split none to tune on half of it (NeuronTune-dagger)")
    for role, s in (("--id-split", id_split), ("--tune-split", tune)):
        if s is not None and s not in store.manifest["splits"]:
            raise ValueError(f"{role} {s!r}: {store.path} has no such split (has {have})"
                             + ("; pass --tune-split none to tune on halves of the "
                                "identification split" if role == "--tune-split" else ""))
    evals = args.eval_splits or [s for s in have if s not in (id_split, tune)]
    for s in evals:
        if s not in store.manifest["splits"]:
            raise ValueError(f"--eval-splits {s!r}: {store.path} has no such split (has {have})")
    return id_split, tune, evals


def _reference(args, store, data, classes, tune):
    """``(model, description)``: the store's head or a fitted logistic stand-in."""
    from sklearn.linear_model import LogisticRegression

    from nt_sklearn import LinearHead

    head = store.head()
    fits = (head is not None and len(head[2]) == len(classes)
            and np.array_equal(np.sort(head[2]), classes) and head[0].shape[1] == store.dim)
    if args.reference == "head" and not fits:
        raise ValueError(f"{store.path}: --reference head, but " + (
            "the store has no head.npz" if head is None else
            f"its head.npz predicts classes {np.asarray(head[2]).tolist()}, not "
            f"{classes.tolist()}"))
    if args.reference != "logistic" and fits:
        return LinearHead(coef=head[0], intercept=head[1], classes=head[2]), {
            "kind": "head", "file": "head.npz"}
    split = args.reference_split or tune or ("train" if "train" in store.splits else None)
    if split is None:
        raise ValueError("no split to fit the logistic stand-in reference on: the store has no "
                         "head.npz for these classes and no train split; pass --reference-split")
    X, y = _load(store, data, split)[:2]
    # the NeuronTune family's own stand-in (its docstrings): plain, unweighted, on the tuning data
    model = LogisticRegression(max_iter=1000).fit(X, y)
    return model, {"kind": "logistic", "split": split}


def _load(store, data, split):
    if split not in data:
        X, y, groups, _ = store.load(split)
        data[split] = (X, np.asarray(y), None if groups is None else np.asarray(groups))
    return data[split]


def _build(method, reference, params, seed):
    import nt_sklearn

    cls_name, _ = METHODS[method]
    est = getattr(nt_sklearn, cls_name)() if method == "dfr" else \
        getattr(nt_sklearn, cls_name)(reference)
    valid = sorted(set(est.get_params()) - {"estimator"})
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"{cls_name} has no parameter(s) {', '.join(unknown)}; its parameters: "
                         f"{', '.join(valid)}")
    if "random_state" in params:
        raise ValueError("set the random state with --seed, not --param random_state")
    if "random_state" in valid:
        params = dict(params, random_state=seed)
    return est.set_params(**params)


def tune(args, say=print):
    """Run ``nt-tune`` for parsed ``args``; return the JSON report (a dict)."""
    from . import export

    t0 = time.perf_counter()
    store = EmbeddingStore(args.store)
    if args.export:
        if not args.export_to:
            raise ValueError("--export needs --export-to PATH")
        export.check_exportable(store.path, args.export, weights=args.weights,
                                backbone=args.backbone)
        refuse_existing(os.path.abspath(args.export_to), args.overwrite)
    elif args.export_to:
        raise ValueError("--export-to needs --export numpy|timm|transformers")
    name = args.name or args.method
    head_path = os.path.join(store.path, HEADS_DIR, f"{name}.npz")
    report_path = os.path.join(store.path, HEADS_DIR, f"{name}.json")
    for p in (head_path, report_path):
        refuse_existing(p, args.overwrite)
    id_split, tune_split, evals = _resolve_splits(store, args)
    data = {}
    X_id, y_id, g_id = _load(store, data, id_split)
    uses_groups = METHODS[args.method][1]
    if uses_groups and g_id is None:
        raise ValueError(f"--method dfr needs group labels, and split {id_split!r} has none; "
                         "the group-free methods: " + ", ".join(
                             m for m, (_, g) in METHODS.items() if not g))
    classes = np.unique(y_id)
    reference, ref_info = _reference(args, store, data, classes, tune_split)
    est = _build(args.method, reference, parse_params(args.param), args.seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if uses_groups:
            say(f"{args.method}: fits on the group labels of split {id_split!r} (the only "
                "method here that uses them)")
            est.fit(X_id, y_id, group_labels=g_id)
        elif tune_split is None:
            est.fit(X_id, y_id)
        else:
            from nt_sklearn import TuningData

            X_t, y_t, _ = _load(store, data, tune_split)
            # a container, so that splits of equal length are accepted (a direct call)
            est.fit(X_id, y_id, X_tune=TuningData(X_t, y_t))
    messages = sorted({str(w.message) for w in caught
                       if issubclass(w.category, (UserWarning, RuntimeWarning))})
    for m in messages:
        say(f"nt-tune: warning: {m}")
    say(f"{type(est).__name__} on {store.path}: X = {id_split!r} ({len(y_id)} rows), X_tune = "
        + (f"{tune_split!r} ({len(data[tune_split][1])} rows)" if tune_split else
           "none (the method's fallback: halves of X for the NeuronTune family)")
        + "; reference: " + ("the store's head.npz" if ref_info["kind"] == "head" else
                             f"logistic regression fitted on {ref_info['split']!r}"))
    masked = None
    scale = getattr(est, "feature_scale_", None)
    if scale is not None:  # 1-D, or one row per class with mask_scope="per_class"
        masked = np.flatnonzero(np.any(np.atleast_2d(scale) != 1.0, axis=0))
        say(f"masked {len(masked)} of {store.dim} features ({100 * len(masked) / store.dim:.1f}"
            f"%); selected epoch {getattr(est, 'best_epoch_', -1) + 1} of "
            f"{getattr(est, 'n_iter_', '?')}"
            + (" (kept the reference)" if getattr(est, "kept_reference_", False) else ""))
    metrics = {}
    for split in evals:
        X, y, g = _load(store, data, split)
        names = display_names(store.manifest, y, g)
        metrics[split] = {"rows": int(len(y)), "groups": g is not None,
                          "reference": _metrics(reference, X, y, g),
                          "tuned": _metrics(est, X, y, g)}
        say(_table(split, len(y), metrics[split]["reference"], metrics[split]["tuned"], names))
    if not evals:
        say("no other split to evaluate on (pass --eval-splits)")
    groups_note = ("none in the store" if all(not m["groups"] for m in metrics.values())
                   and g_id is None else "reporting only")
    if uses_groups:
        groups_note = f"fitting (split {id_split!r}) and reporting"
    say(f"group labels: {groups_note}")
    names = display_names(store.manifest, classes)[0] if np.issubdtype(
        classes.dtype, np.integer) else {}
    class_names = [names.get(int(c), str(c)) if names else str(c) for c in classes]
    exported = None
    if args.export:
        exported = _export(args, est, store, class_names)
        say(f"exported ({args.export}): {exported}")
    report = {
        "tool": "nt-tune", "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "store": {"path": os.path.abspath(store.path), "identity": store.manifest.get("identity"),
                  "created": store.manifest.get("created")},
        "method": args.method, "estimator": type(est).__name__,
        "params": {k: v for k, v in est.get_params().items() if k != "estimator"},
        "seed": args.seed, "splits": {"identify": id_split, "tune": tune_split, "eval": evals},
        "reference": ref_info, "group_labels": groups_note,
        "masked_features": None if masked is None else np.asarray(masked).tolist(),
        "n_features": store.dim, "classes": classes, "class_names": class_names,
        "metrics": metrics, "warnings": messages,
        "head": os.path.join(HEADS_DIR, f"{name}.npz"),
        "export": {"kind": args.export, "path": os.path.abspath(exported)} if exported else None,
        "versions": _versions(), "seconds": round(time.perf_counter() - t0, 2),
    }
    os.makedirs(os.path.join(store.path, HEADS_DIR), exist_ok=True)
    write_json(report_path, report, overwrite=args.overwrite)
    try:
        export.export_head_npz(est, head_path, class_names=class_names,
                               overwrite=args.overwrite)
    except BaseException:
        os.remove(report_path)  # a report without its head would describe nothing
        raise
    say(f"wrote {head_path} and {report_path}")
    return report


def _export(args, est, store, class_names):
    from . import export

    if args.export == "numpy":
        return export.export_head_npz(est, args.export_to, class_names=class_names,
                                      overwrite=args.overwrite)
    if args.export == "timm":
        return export.export_timm_checkpoint(est, store.path, args.export_to,
                                             weights=args.weights,
                                             trust_checkpoint=args.trust_checkpoint,
                                             overwrite=args.overwrite)
    return export.export_transformers_folder(est, store.path, args.export_to,
                                             backbone=args.backbone, overwrite=args.overwrite)


def main(argv=None):
    """Entry point of ``nt-tune``; returns the exit code (2 after an expected error)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s: %(message)s")
    say = (lambda *a, **k: None) if args.quiet else print

    def run():
        tune(args, say=say)

    return guarded("nt-tune", run, debug=args.debug)

if __name__ == "__main__":
    sys.exit(main())
