"""The evidence behind NeuronTuneAutoClassifier's defaults (README, "Beyond the paper").

Three studies, each printing what README quotes:

- ``validation STORE...``: the design study that chose cross-fitting. Every configuration is
  fitted on one half of a validation split (class labels only) and scored by worst-group
  accuracy on the other half, then the halves swap; the mean gain over the reference (ERM)
  per validation regime. Validation group labels score the design choice; no test split is
  read.
- ``marks STORE...``: are the rows the label-free options mark on the tuning half (the
  reference's errors; the disagreements of the reference and a strongly regularised model
  fitted on the identification half) minority rows? Validation group labels explain only.
- ``ceiling RESULTS.json METHOD``: from a ``benchmarks.run`` results file, the gain over ERM
  of a perfect guard that picks, fit by fit, the better of ERM and ``METHOD`` (an unguarded
  head) by its *test* worst-group accuracy: what no label-free guard can exceed.

``python -m benchmarks.labelfree_study validation benchmarks/results/cache/*_store``
"""

import argparse
import json
import warnings

import numpy as np

from nt_sklearn import NeuronTuneAutoClassifier
from nt_sklearn._base import _split_halves
from nt_sklearn._pseudo_groups import disagreement_model
from nt_sklearn.metrics import worst_group_accuracy

from ._cli import add_debug_flag, guarded, positive_int

#: the configurations of the design study, by name
CONFIGS = {
    "one fit": dict(cross_fit=False),
    "cross-fitted (default)": dict(cross_fit=True),
    "cross-fitted + disagreement": dict(cross_fit=True, reweighting="disagreement"),
}


def _regime(split):
    return "skewed" if "skewed" in split else "balanced"


def _validation_splits(store):
    from .methods import reference_model
    from .run import load_dataset

    data, head = load_dataset(store)
    reference = reference_model(data, head)
    for split in sorted(s for s in data if s.startswith("val")):
        X, y, g = data[split]
        yield data, reference, split, X, y, g, np.searchsorted(np.unique(y), y)


def validation_study(stores, seeds, configs=CONFIGS, say=print):
    """``{regime: {config or "ERM": mean gain over ERM}}`` of the held-out-half design study."""
    gains = {}
    for store in stores:
        for _, reference, split, X, y, g, y_enc in _validation_splits(store):
            for seed in range(seeds):
                halves = _split_halves(y_enc, len(np.unique(y)), np.random.RandomState(100 + seed))
                erm = np.mean([worst_group_accuracy(y[r], reference.predict(X[r]), g[r])
                               for r in halves])
                for name, params in configs.items():
                    scores = []
                    for fit_rows, eval_rows in (halves, halves[::-1]):
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore", UserWarning)
                            model = NeuronTuneAutoClassifier(reference, random_state=seed,
                                                             **params).fit(X[fit_rows],
                                                                           y[fit_rows])
                        scores.append(worst_group_accuracy(y[eval_rows],
                                                           model.predict(X[eval_rows]),
                                                           g[eval_rows]))
                    gains.setdefault(_regime(split), {}).setdefault(name, []).append(
                        np.mean(scores) - erm)
            say(f"{store} {split}: done")
    return {regime: {name: 100 * float(np.mean(v)) for name, v in by.items()}
            for regime, by in gains.items()}


def marks_study(stores, seeds=3, say=print):
    """Share of minority rows (the smaller training groups) among the tuning-half rows each
    label-free option marks: ``{(store, split): {"errors": share, "disagreement": share}}``."""
    shares = {}
    for store in stores:
        for data, reference, split, X, y, g, y_enc in _validation_splits(store):
            counts = np.bincount(data["train"][2])
            minority = counts[g] < np.median(counts)
            found = {"errors": [], "disagreement": []}
            for seed in range(seeds):
                ident, tune = _split_halves(y_enc, len(np.unique(y)), np.random.RandomState(seed))
                ref_pred = reference.predict(X[tune])
                other = disagreement_model().fit(X[ident], y[ident]).predict(X[tune])
                for name, marked in (("errors", ref_pred != y[tune]),
                                     ("disagreement", other != ref_pred)):
                    if marked.any():
                        found[name].append(minority[tune][marked].mean())
            shares[(store, split)] = {k: 100 * float(np.mean(v)) if v else float("nan")
                                      for k, v in found.items()}
            say(f"{store} {split}: minority share among the marked rows "
                + ", ".join(f"{k} {v:.0f}%" for k, v in shares[(store, split)].items())
                + f" (all rows {100 * minority.mean():.1f}%)")
    return shares


def perfect_guard_ceiling(records, method, reference="ERM"):
    """``{regime: mean gain over the reference}`` when, for each dataset, regime and seed, the
    better of the reference and ``method`` by test WGA is kept."""
    wga = {(r["dataset"], r["regime"], r["seed"], r["method"]): r["wga"] for r in records}
    keys = {k[:3] for k in wga if k[3] == method}
    if not keys:
        raise ValueError(f"no records of {method!r}; methods: "
                         f"{sorted({r['method'] for r in records})}")
    gains = {}
    for key in keys:
        ref = wga[(*key, reference)]
        gains.setdefault(_regime(key[1]), []).append(max(ref, wga[(*key, method)]) - ref)
    return {regime: 100 * float(np.mean(v)) for regime, v in gains.items()}


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m benchmarks.labelfree_study",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="study", required=True)
    for name in ("validation", "marks"):
        p = sub.add_parser(name)
        p.add_argument("stores", nargs="+", help="stores with validation group labels")
        p.add_argument("--seeds", type=positive_int, default=3)
    p = sub.add_parser("ceiling")
    p.add_argument("results", help="results.json of benchmarks.run")
    p.add_argument("method", help="the unguarded method's row name")
    return add_debug_flag(parser)


def _run(args):
    if args.study == "validation":
        for regime, by in validation_study(args.stores, args.seeds).items():
            print(regime, "validation, gain over ERM (WGA points): "
                  + ", ".join(f"{k} {v:+.1f}" for k, v in by.items()))
    elif args.study == "marks":
        marks_study(args.stores, args.seeds)
    else:
        with open(args.results, encoding="utf-8") as f:
            records = json.load(f)["records"]
        for regime, gain in sorted(perfect_guard_ceiling(records, args.method).items()):
            print(f"{regime}: a perfect guard over {args.method!r} gains {gain:+.1f}")
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    return guarded("labelfree_study", lambda: _run(args), debug=args.debug)


if __name__ == "__main__":
    raise SystemExit(main())
