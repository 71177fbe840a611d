"""The command line of ``python -m benchmarks.reproduce``."""

import argparse
from pathlib import Path

from .._cli import (LOG_FORMAT, add_debug_flag, guarded, n_jobs, non_negative_int,
                    positive_float, positive_int, quiet_level, setup_logging)
from .pipeline import SPECS, default_out, reproduce


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
    e.add_argument("--erm-epochs", type=positive_int)
    e.add_argument("--erm-batch-size", type=positive_int)
    e.add_argument("--erm-lr", type=positive_float)
    e.add_argument("--image-size", type=positive_int, default=224,
                   help="ERM training crop; other than 224 (quick runs), the embeddings use "
                   "train_erm's own evaluation transform at that size")
    e.add_argument("--seed", type=non_negative_int, default=0, help="ERM training seed")
    f = p.add_argument_group("embeddings")
    f.add_argument("--pooling", choices=("pooler", "pooler_relu"), default="pooler",
                   help="text only (see the module docstring)")
    f.add_argument("--feature-batch-size", type=positive_int, default=64)
    f.add_argument("--overwrite-store", action="store_true",
                   help="replace stores made from another checkpoint or settings")
    m = p.add_argument_group("methods")
    m.add_argument("--seeds", type=positive_int, default=5)
    m.add_argument("--epochs", type=positive_int, help="NeuronTune epochs (default: the paper's)")
    m.add_argument("--batches-per-epoch", type=positive_int, help="NeuronTune (default: 200)")
    m.add_argument("--jobs", type=n_jobs, default=-1, help="parallel fits (joblib)")
    r = p.add_argument_group("run")
    r.add_argument("--device", default="auto")
    r.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto")
    r.add_argument("--workers", type=non_negative_int)
    r.add_argument("-q", "--quiet", action="store_true")
    return add_debug_flag(p)


def main(argv=None):
    """Entry point; returns the process exit code (2 after an expected error)."""
    args = build_parser().parse_args(argv)
    setup_logging(quiet_level(args.quiet), LOG_FORMAT, packages=("benchmarks", "featurizers"))
    return guarded("reproduce", lambda: _run(args), debug=args.debug)


def _run(args):
    results = reproduce(args)
    print(results["report"])
    out = default_out(args)
    print(f"Wrote {out}/report.md and {out}/results.json")
    return 0
