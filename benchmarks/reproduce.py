"""One command per paper dataset: ERM model -> embeddings -> every method -> the paper's table.

    python -m benchmarks.reproduce --dataset waterbirds --root DATA/waterbirds \\
        --init-weights resnet50-0676ba61.pth
    python -m benchmarks.reproduce --dataset multinli --root DATA/multinli \\
        --model DIR/bert-base-uncased
    python -m benchmarks.reproduce --dataset imagenet9 --root DATA/imagenet \\
        --imagenet-a-root DATA/imagenet-a
    python -m benchmarks.reproduce --dataset celeba --root DATA/celeba --erm-checkpoint erm/best.pth

Steps, each resumable (re-running the command continues where it stopped):

1. ERM training with the paper's preset (:mod:`benchmarks.train_erm`) into ``OUT/erm``,
   unless ``--erm-checkpoint`` names a model already trained (a timm state dict for
   images, a ``save_pretrained`` folder for text). Several GPUs: run ``train_erm``
   under ``torchrun`` first and pass its ``best.pth`` / ``best/`` here.
2. Embedding every split of the reader with the featurizers into ``OUT/store``
   (ResNets: pooled pre-logits, the featurizers' ``paper`` preprocessing; BERT: the
   pooler output), with the ERM model's own classifier as the store's head. For
   ImageNet-9 also ImageNet-A into ``OUT/store-imagenet-a``.
3. NeuronTune and its peers over ``--seeds`` seeds on the readers' own splits:
   identification on ``val``, tuning on ``train``, evaluation on ``test``, with the
   paper's NeuronTune settings for the dataset (Table 10). The reference (ERM) model
   is the backbone's own last layer.
4. ``OUT/report.md`` and ``OUT/results.json``: the paper's Table 1, 2 or 3 with its
   figures beside ours and the differences (ours - paper, percentage points).

Decisions (the paper is silent or the tools force a choice):

- BERT embeddings are the pooler output as BERT's classifier reads it (``pooling
  'pooler'``), so the store's head *is* the ERM model and NeuronTune repairs it. The
  authors pass the pooler output through a ReLU; ``--pooling pooler_relu`` does that,
  but no linear head reads those features, so the reference model becomes the plain
  logistic regression fitted on the training embeddings (``benchmarks.methods.
  reference_model``).
- ``--dataset imagenet9`` reads the paper's ImageNet-9, ReBias' 9-class subset of
  ImageNet (reader ``imagenet9-rebias``; ``--reader imagenet9`` takes the Backgrounds
  Challenge release instead). It has only ``train`` and ``val``; as in the paper,
  ``val`` selects the ERM epoch, identifies NeuronTune's biased dimensions and gives
  the in-distribution accuracy. There are no groups, so DFR (which needs them) is not
  run and the report gives accuracy on ImageNet-9 and ImageNet-A and their gap.
- The peers are those of :mod:`benchmarks.methods` (JTT is its last-layer form; the
  paper's JTT retrains the whole model); "NT=No" is compared with the paper's Table 4.
"""

import argparse
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from featurizers.datasets import parse_dataset_options

from . import paper_results as paper
from . import train_erm
from .methods import build_methods

logger = logging.getLogger(__name__)

#: Per dataset: the reader, the ERM preset, and NeuronTune's settings (Table 10;
#: batch size 128 and 200 batches per epoch everywhere, the estimator's defaults).
SPECS = {
    "waterbirds": dict(reader="waterbirds", modality="image",
                       nt=dict(optimizer="sgd", learning_rate=1e-3, n_epochs=40)),
    "celeba": dict(reader="celeba", modality="image",
                   nt=dict(optimizer="sgd", learning_rate=1e-3, n_epochs=40)),
    "multinli": dict(reader="multinli", modality="text",
                     nt=dict(optimizer="adamw", learning_rate=1e-5, n_epochs=60)),
    "civilcomments": dict(reader="civilcomments", modality="text",
                          nt=dict(optimizer="adamw", learning_rate=1e-3, n_epochs=60)),
    "imagenet9": dict(reader="imagenet9-rebias", modality="image",
                      nt=dict(optimizer="sgd", learning_rate=1e-3, n_epochs=1)),
}
NAMES = {"waterbirds": "Waterbirds", "celeba": "CelebA", "multinli": "MultiNLI",
         "civilcomments": "CivilComments", "imagenet9": "ImageNet-9 -> ImageNet-A"}


def _parallel(fn, tasks, jobs, desc, quiet):
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    out = Parallel(n_jobs=jobs, return_as="generator")(delayed(fn)(*t) for t in tasks)
    return list(tqdm(out, total=len(tasks), desc=desc, disable=quiet))


def run_group_methods(data, head, methods, *, seeds, n_epochs, jobs=1, quiet=True):
    """Every method x seed on a dataset with groups, evaluated as ``benchmarks.run`` does.

    Adds to each record ``avg_train_weighted``: the test per-group accuracies weighted
    by the training group proportions (Waterbirds' usual "mean accuracy").
    """
    from .methods import reference_model
    from .run import run_one

    reference = reference_model(data, head)
    tasks = [(m, reference, data, "val", s, n_epochs) for m in methods for s in seeds]
    records = _parallel(run_one, tasks, jobs, "methods", quiet)
    g_train = data["train"][2]
    weights = np.bincount(g_train) / len(g_train)
    for r in records:
        acc = r["group_acc"]
        present = [g for g in range(len(weights)) if weights[g] > 0 and str(g) in acc]
        w = weights[present] / weights[present].sum()
        r["avg_train_weighted"] = float(sum(wi * acc[str(g)] for wi, g in zip(w, present)))
    return records


def _run_ood_one(method, reference, data, seed, n_epochs):
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = method.fit(reference, data, "val", seed, n_epochs)
    X_v, y_v, _ = data["val"]
    X_o, y_o, _ = data["ood"]
    in_acc = float(np.mean(model.predict(X_v) == y_v))
    ood_acc = float(np.mean(model.predict(X_o) == y_o))
    return {"method": method.name, "seed": seed, "in_acc": in_acc, "ood_acc": ood_acc,
            "gap": in_acc - ood_acc, "seconds": time.perf_counter() - t}


def run_ood_methods(data, head, methods, *, seeds, n_epochs, jobs=1, quiet=True):
    """Every method x seed without groups: accuracy on ``val`` (in distribution) and
    on ``ood`` (ImageNet-A), and their gap. ``data``: ``{split: (X, y, None)}`` with
    ``train``, ``val`` and ``ood``."""
    from .methods import reference_model

    reference = reference_model(data, head)
    tasks = [(m, reference, data, s, n_epochs) for m in methods for s in seeds]
    return _parallel(_run_ood_one, tasks, jobs, "methods", quiet)


# ----------------------------------------------------------------------------- report
def _mean_std(values):
    v = 100 * np.asarray(values, dtype=float)
    return v.mean(), v.std()


def _fmt(mean, std=None):
    if mean is None:
        return "-"
    return f"{mean:.1f}" if std is None else f"{mean:.1f} \u00b1 {std:.1f}"


def _delta(ours, theirs):
    return "-" if ours is None or theirs is None else f"{ours - theirs:+.1f}"


def _groups_cell(train, val):
    def yn(v):
        return "-" if v is None else ("Yes" if v else "No")
    return f"{yn(train)} / {yn(val)}"


def group_table(dataset, records, methods):
    """The paper's Table 1 / 2 for one dataset, ours beside the paper's; Markdown."""
    convention = paper.ACC_CONVENTION.get(dataset, "sample")
    acc_key = "avg_train_weighted" if convention == "train_weighted" else "avg"
    rows = paper.paper_table(dataset)
    by_name = {r.method: r for r in rows}
    lines = ["| Algorithm | group labels train / val (ours; paper) | WGA ours | WGA paper | "
             "\u0394 WGA | Acc. ours | Acc. paper | \u0394 Acc. | Gap ours | Gap paper | "
             "\u0394 Gap |", "|---" * 11 + "|"]
    used = set()
    for m in methods:
        rs = [r for r in records if r["method"] == m.name]
        if not rs:
            continue
        wga = _mean_std([r["wga"] for r in rs])
        acc = _mean_std([r[acc_key] for r in rs])
        gap = _mean_std([r[acc_key] - r["wga"] for r in rs])
        p = by_name.get(paper.OURS_TO_PAPER.get(m.name, ""))
        if p is not None:
            used.add(p.method)
            pw, pa, pg = (p.wga, p.wga_std), (p.acc, p.acc_std), (p.gap, None)
            label, pgroups = f"{m.name} (paper: {p.method})", _groups_cell(p.train_groups,
                                                                          p.val_groups)
        elif m.name.startswith("NT=No") and dataset in paper.TABLE4["NT=No"]:
            pw, pa, pg = paper.TABLE4["NT=No"][dataset], (None, None), (None, None)
            label, pgroups = f"{m.name} (paper: Table 4, NT=No)", "No / No"
        else:
            pw = pa = pg = (None, None)
            label, pgroups = f"{m.name} (not in the paper)", "-"
        lines.append(
            f"| {label} | {_groups_cell(m.train_groups, m.val_groups)}; {pgroups} | "
            f"{_fmt(*wga)} | {_fmt(*pw)} | {_delta(wga[0], pw[0])} | "
            f"{_fmt(*acc)} | {_fmt(*pa)} | {_delta(acc[0], pa[0])} | "
            f"{_fmt(*gap)} | {_fmt(pg[0])} | {_delta(gap[0], pg[0])} |")
    for p in rows:
        if p.method not in used:
            lines.append(
                f"| {p.method} (paper only; not run here) | -; "
                f"{_groups_cell(p.train_groups, p.val_groups)} | - | {_fmt(p.wga, p.wga_std)} | "
                f"- | - | {_fmt(p.acc, p.acc_std)} | - | - | {_fmt(p.gap)} | - |")
    what = ("the test per-group accuracies weighted by the training group proportions"
            if acc_key == "avg_train_weighted" else "the plain test mean")
    note = (f"Acc.: {what} (our reading of the paper's column; `results.json` holds both "
            "conventions). Gap = Acc. - WGA. \u0394 = ours - paper, percentage points.")
    return "\n".join(lines) + "\n\n" + note


def per_group_table(records, methods, group_names):
    lines = ["| method | " + " | ".join(group_names) + " |",
             "|---" * (len(group_names) + 1) + "|"]
    for m in methods:
        rs = [r for r in records if r["method"] == m.name]
        if rs:
            cells = [_fmt(*_mean_std([r["group_acc"].get(str(g), np.nan) for r in rs]))
                     for g in range(len(group_names))]
            lines.append(f"| {m.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ood_table(records, methods):
    """The paper's Table 3, ours beside the paper's; Markdown."""
    rows = {r["method"]: r for r in paper.TABLE3["imagenet9"]}
    lines = ["| Method | ImageNet-9 ours | paper | \u0394 | ImageNet-A ours | paper | \u0394 | "
             "Gap ours | paper | \u0394 |", "|---" * 10 + "|"]
    used = set()
    for m in methods:
        rs = [r for r in records if r["method"] == m.name]
        if not rs:
            continue
        ins, ood, gap = (_mean_std([r[k] for r in rs]) for k in ("in_acc", "ood_acc", "gap"))
        p = rows.get(m.name) or {"in9": None, "ina": None, "gap": None}
        used.add(m.name)
        label = m.name if m.name in rows else f"{m.name} (not in the paper)"
        lines.append(f"| {label} | {_fmt(*ins)} | {_fmt(p['in9'])} | {_delta(ins[0], p['in9'])} | "
                     f"{_fmt(*ood)} | {_fmt(p['ina'])} | {_delta(ood[0], p['ina'])} | "
                     f"{_fmt(*gap)} | {_fmt(p['gap'])} | {_delta(gap[0], p['gap'])} |")
    for name, p in rows.items():
        if name not in used:
            lines.append(f"| {name} (paper only; not run here) | - | {_fmt(p['in9'])} | - | - | "
                         f"{_fmt(p['ina'])} | - | - | {_fmt(p['gap'])} | - |")
    return "\n".join(lines) + (
        "\n\nAccuracies: plain means, in %. ImageNet-9 accuracy is on its validation split "
        "(the paper's only held-out split, also used to select the ERM epoch and to identify "
        "the biased dimensions). Gap = ImageNet-9 - ImageNet-A. The paper's accuracy cells "
        "marked '-' were lost in the text extraction (see benchmarks/paper_results.py).")


def write_report(results, out):
    """Write ``out/report.md`` from ``results``; return its text."""
    dataset = results["config"]["dataset"]
    methods = build_methods(results["config"]["nt_params"],
                            groups=dataset != "imagenet9")
    erm = results.get("erm") or {}
    parts = [f"# NeuronTune reproduction: {NAMES[dataset]} (the paper's Table "
             f"{paper.TABLE_OF[dataset]})", "",
             f"Ours: mean \u00b1 std over {results['config']['seeds']} seed(s); the paper: as "
             "printed (mean \u00b1 std over its 5 seeds where it gives one).", "",
             f"- ERM model: `{results['erm_checkpoint']}`"
             + (f" (best epoch {erm['best_epoch']} of {erm['epochs']}, validation accuracy "
                f"{100 * erm['best_val_acc']:.1f}%)" if erm.get("best_epoch") else ""),
             f"- embeddings: `{results['store']}` ({results['features']})",
             f"- NeuronTune: {results['config']['nt_params']}, {results['config']['n_epochs']} "
             "epoch(s); identification on `val`, tuning on `train`",
             f"- split sizes: " + "; ".join(f"{s} {n}" for s, n in results["sizes"].items()),
             f"- total time {results['seconds']:.0f} s", ""]
    if dataset == "imagenet9":
        parts += ["## Table 3: ImageNet-9 -> ImageNet-A", "",
                  ood_table(results["records"], methods)]
    else:
        parts += [f"## Table {paper.TABLE_OF[dataset]}: {NAMES[dataset]}", "",
                  group_table(dataset, results["records"], methods), "",
                  "Our test accuracy per group (%):", "",
                  per_group_table(results["records"], methods, results["group_names"])]
    parts += ["", "JTT here is its last-layer form (the paper's retrains the whole model). "
              + ("Without groups DFR is not run; the paper's other Table 3 methods are not "
                 "implemented here." if dataset == "imagenet9" else
                 "DFR uses the validation split's group labels. The paper's SELF, CNC, BAM, "
                 "BPA and GEORGE are not implemented here.")]
    text = "\n".join(parts) + "\n"
    Path(out, "report.md").write_text(text)
    return text


# ----------------------------------------------------------------------------- pipeline
def build_parser():
    """The argument parser of ``python -m benchmarks.reproduce``."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.reproduce",
        description="Reproduce one of the paper's tables: ERM training, embeddings, "
        "NeuronTune and its peers over several seeds, and a report beside the paper's figures.")
    p.add_argument("--dataset", required=True, choices=sorted(SPECS))
    p.add_argument("--root", required=True, help="the dataset folder (docs/DATASETS.md)")
    p.add_argument("--out", type=Path, help="default benchmarks/results/reproduce/<dataset>")
    p.add_argument("--reader", help="another reader of the same data (default: the paper's: "
                   "waterbirds, celeba, multinli, civilcomments, imagenet9-rebias)")
    p.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--imagenet-a-root", help="ImageNet-A folder (imagenet9 only)")
    e = p.add_argument_group("ERM model")
    e.add_argument("--erm-checkpoint", help="skip training: a timm state dict (.pth) or a "
                   "save_pretrained folder")
    e.add_argument("--model", help="timm name (default: the preset's) or, for text, the "
                   "pretrained folder (bert-base-uncased) to fine-tune")
    e.add_argument("--init-weights", help="ImageNet weights FILE, 'timm' (cache) or 'none'")
    e.add_argument("--erm-epochs", type=int)
    e.add_argument("--erm-batch-size", type=int)
    e.add_argument("--erm-lr", type=float)
    e.add_argument("--image-size", type=int, default=224, help="ERM training crop; other than "
                   "224 (quick runs), the embeddings use 'square' preprocessing at that size")
    e.add_argument("--seed", type=int, default=0, help="ERM training seed")
    f = p.add_argument_group("embeddings")
    f.add_argument("--pooling", choices=("pooler", "pooler_relu"), default="pooler",
                   help="text only (see the module docstring)")
    f.add_argument("--feature-batch-size", type=int, default=64)
    f.add_argument("--overwrite-store", action="store_true",
                   help="replace stores made from another checkpoint or settings")
    m = p.add_argument_group("methods")
    m.add_argument("--seeds", type=int, default=5)
    m.add_argument("--epochs", type=int, help="NeuronTune epochs (default: the paper's)")
    m.add_argument("--batches-per-epoch", type=int, help="NeuronTune (default: 200)")
    m.add_argument("--jobs", type=int, default=-1, help="parallel fits (joblib)")
    r = p.add_argument_group("run")
    r.add_argument("--device", default="auto")
    r.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto")
    r.add_argument("--workers", type=int)
    r.add_argument("-q", "--quiet", action="store_true")
    return p


def _erm_argv(args, spec, out):
    argv = ["--dataset", args.reader or spec["reader"], "--root", args.root,
            "--preset", args.dataset, "--out", str(out), "--image-size", str(args.image_size),
            "--seed", str(args.seed), "--device", args.device, "--precision", args.precision]
    for flag, value in (("--model", args.model), ("--init-weights", args.init_weights),
                        ("--epochs", args.erm_epochs), ("--batch-size", args.erm_batch_size),
                        ("--lr", args.erm_lr), ("--workers", args.workers)):
        if value is not None:
            argv += [flag, str(value)]
    for opt in args.dataset_option:
        argv += ["--dataset-option", opt]
    return argv + (["--quiet"] if args.quiet else [])


def _encoder(args, spec, checkpoint, dataset_name):
    if spec["modality"] == "image":
        from featurizers.image import ImageEncoder

        model = args.model or train_erm.PRESETS[args.dataset]["model"]
        paper_size = args.image_size == 224
        enc = ImageEncoder(model, checkpoint, preprocess="paper" if paper_size else "square",
                           image_size=None if paper_size else args.image_size,
                           device=args.device, precision=args.precision, workers=args.workers)
        how = "paper" if paper_size else "square"
        return enc, f"{model}, pooled pre-logits, {how} preprocessing"
    import transformers
    from transformers import AutoConfig

    from featurizers.cli import DATASET_MAX_LENGTH
    from featurizers.text import TextEncoder

    if args.quiet:
        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    cfg = AutoConfig.from_pretrained(checkpoint, local_files_only=True)
    limit = min(getattr(cfg, "max_position_embeddings", 512) or 512, 512)
    max_length = min(DATASET_MAX_LENGTH.get(dataset_name, limit), limit)
    enc = TextEncoder(checkpoint, pooling=args.pooling, max_length=max_length,
                      device=args.device, precision=args.precision,
                      head=args.pooling == "pooler")
    return enc, f"{os.path.basename(os.path.normpath(checkpoint))}, {args.pooling} output"


def reproduce(args):
    """Run the whole pipeline for ``args`` (see :func:`build_parser`); return results."""
    from featurizers.datasets import get_reader
    from featurizers.pipeline import featurize
    from featurizers.store import EmbeddingStore

    t0 = time.perf_counter()
    spec = SPECS[args.dataset]
    out = Path(args.out or Path("benchmarks/results/reproduce") / args.dataset)
    out.mkdir(parents=True, exist_ok=True)
    if args.dataset == "imagenet9" and not args.imagenet_a_root:
        raise ValueError("--dataset imagenet9 needs --imagenet-a-root (the ImageNet-A folder)")

    erm = None
    if args.erm_checkpoint:
        checkpoint = os.path.abspath(args.erm_checkpoint)
        if not os.path.exists(checkpoint):
            raise FileNotFoundError(f"--erm-checkpoint {checkpoint} does not exist")
    else:
        cfg = train_erm.resolve_config(train_erm.build_parser().parse_args(
            _erm_argv(args, spec, out / "erm")))
        logger.info("step 1/4: ERM training into %s", out / "erm")
        erm = train_erm.train(cfg)
        checkpoint = erm["checkpoint"]

    reader_name = args.reader or spec["reader"]
    reader = get_reader(reader_name, args.root, **parse_dataset_options(args.dataset_option))
    encoder, features = _encoder(args, spec, checkpoint, reader_name)
    logger.info("step 2/4: embeddings into %s", out / "store")
    featurize(reader, encoder, out / "store", batch_size=args.feature_batch_size,
              overwrite=args.overwrite_store, progress=not args.quiet)
    if args.dataset == "imagenet9":
        ood_reader = get_reader("imagenet-a", args.imagenet_a_root,
                                classes="rebias" if reader_name == "imagenet9-rebias"
                                else "bg_challenge")
        featurize(ood_reader, encoder, out / "store-imagenet-a",
                  batch_size=args.feature_batch_size, overwrite=args.overwrite_store,
                  progress=not args.quiet)
    del encoder

    nt_params = dict(spec["nt"])
    default_epochs = nt_params.pop("n_epochs")
    n_epochs = args.epochs or default_epochs
    if args.batches_per_epoch:
        nt_params["batches_per_epoch"] = args.batches_per_epoch
    seeds = list(range(args.seeds))
    logger.info("step 3/4: methods x %d seeds", len(seeds))
    store = EmbeddingStore(out / "store")
    if args.dataset == "imagenet9":
        data = {}
        for split in ("train", "val"):
            X, y, _, _ = store.load(split)
            data[split] = (np.asarray(X, dtype=np.float32), np.asarray(y), None)
        X, y, _, _ = EmbeddingStore(out / "store-imagenet-a").load("test")
        data["ood"] = (np.asarray(X, dtype=np.float32), np.asarray(y), None)
        methods = build_methods(nt_params, groups=False)
        records = run_ood_methods(data, store.head(), methods, seeds=seeds, n_epochs=n_epochs,
                                  jobs=args.jobs, quiet=args.quiet)
    else:
        from .run import load_dataset

        data, head = load_dataset(out / "store")
        methods = build_methods(nt_params)
        records = run_group_methods(data, head, methods, seeds=seeds, n_epochs=n_epochs,
                                    jobs=args.jobs, quiet=args.quiet)
    results = {
        "config": {"dataset": args.dataset, "reader": reader_name,
                   "root": os.path.abspath(args.root),
                   "seeds": args.seeds, "n_epochs": n_epochs, "nt_params": nt_params,
                   "pooling": args.pooling if spec["modality"] == "text" else None},
        "erm_checkpoint": checkpoint, "erm": erm, "store": str(out / "store"),
        "features": features, "group_names": list(reader.group_names),
        "sizes": {s: int(len(v[1])) for s, v in data.items()},
        "records": records, "seconds": time.perf_counter() - t0,
    }
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    logger.info("step 4/4: report")
    results["report"] = write_report(results, out)
    return results


def main(argv=None):
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    level = logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    for name in ("benchmarks", "featurizers"):
        logging.getLogger(name).setLevel(level)
    try:
        results = reproduce(args)
    except (ValueError, FileNotFoundError, ImportError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"reproduce: error: {msg}", file=sys.stderr)
        return 1
    print(results["report"])
    out = args.out or Path("benchmarks/results/reproduce") / args.dataset
    print(f"Wrote {out}/report.md and {out}/results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
