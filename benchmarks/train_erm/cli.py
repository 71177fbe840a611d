"""The command line of ``python -m benchmarks.train_erm``."""

import argparse
import logging
import os

from featurizers.datasets import parse_dataset_options

from .._cli import (LOG_FORMAT, add_debug_flag, guarded, non_negative_float, non_negative_int,
                    positive_float, positive_int, quiet_level, setup_logging)
from .config import PRESET_NOTES, PRESETS, ERMConfig
from .loop import train

logger = logging.getLogger(__name__)


def build_parser():
    """The argument parser of ``python -m benchmarks.train_erm``."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.train_erm",
        description="ERM training of a timm image model or a transformers text classifier on "
        "a dataset the featurizers read; the paper's settings as presets (Table 9).",
        epilog="Re-running the same command resumes after the last finished epoch. "
        "Several GPUs: torchrun --nproc-per-node N -m benchmarks.train_erm ...")
    p.add_argument("--dataset", required=True, help="dataset reader name (see docs/DATASETS.md)")
    p.add_argument("--root", required=True, help="the dataset folder")
    p.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE",
                   help="more options for the dataset reader (repeatable)")
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="the paper's settings (default: the dataset's own, if it has one)")
    p.add_argument("--out", required=True, help="output folder (checkpoints, log)")
    p.add_argument("--model", help="timm model name, or a local transformers folder for text "
                   "(default: the preset's; text presets need it)")
    p.add_argument("--init-weights", help="image models: a checkpoint FILE (e.g. torchvision's "
                   "resnet50-0676ba61.pth), 'timm' (timm's weights, only if cached on this "
                   "machine) or 'none' (from scratch); default: the preset's")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--batch-size", type=positive_int, help="global batch size")
    p.add_argument("--lr", type=positive_float)
    p.add_argument("--weight-decay", type=non_negative_float)
    p.add_argument("--optimizer", choices=("sgd", "adamw"))
    p.add_argument("--schedule", choices=("cosine", "linear", "multistep", "constant"))
    p.add_argument("--milestones", type=positive_int, nargs="*",
                   help="epochs of the multistep schedule")
    p.add_argument("--image-size", type=positive_int, default=224,
                   help="training crop; evaluation resizes to size*256/224 and centre-crops "
                   "(224: the featurizers' 'paper' preprocessing)")
    p.add_argument("--max-length", type=positive_int, help="text tokens per row (default: the "
                   "featurizers' for the dataset, else the model's limit)")
    p.add_argument("--train-split", default="train")
    p.add_argument("--val-split", default="val")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                   help="auto: bf16 (or fp16 with a gradient scaler) on GPUs, fp32 on CPU")
    p.add_argument("--workers", type=non_negative_int, help="DataLoader workers per process "
                   "(default: up to 8 on a GPU, 0 on CPU)")
    p.add_argument("--eval-batch-size", type=positive_int, help="default: twice --batch-size")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow --init-weights files that hold pickled objects")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings only, no progress bar")
    return add_debug_flag(p)


def resolve_config(args):
    """The :class:`ERMConfig` of parsed command-line ``args``: the preset and its overrides."""
    preset = args.preset or (args.dataset if args.dataset in PRESETS else None)
    if preset is None:
        raise ValueError(f"dataset {args.dataset!r} has no preset; pass --preset NAME "
                         f"({', '.join(sorted(PRESETS))})")
    return ERMConfig.from_preset(
        preset, dataset=args.dataset, root=args.root, out=args.out,
        dataset_options=parse_dataset_options(args.dataset_option),
        model=args.model, init=args.init_weights, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        optimizer=args.optimizer, schedule=args.schedule, milestones=args.milestones,
        image_size=args.image_size, max_length=args.max_length, train_split=args.train_split,
        val_split=args.val_split, seed=args.seed, device=args.device, precision=args.precision,
        workers=args.workers, eval_batch_size=args.eval_batch_size,
        trust_checkpoint=args.trust_checkpoint, quiet=args.quiet)


def main(argv=None):
    """Entry point; returns the process exit code (2 after an expected error)."""
    args = build_parser().parse_args(argv)
    rank = int(os.environ.get("RANK", 0))
    setup_logging(quiet_level(args.quiet, rank), LOG_FORMAT,
                  packages=("benchmarks", "featurizers"))
    return guarded("train_erm", lambda: _run(args, rank), debug=args.debug)


def _run(args, rank):
    cfg = resolve_config(args)
    if cfg.preset in PRESET_NOTES and rank == 0:
        logger.info("preset note: %s", PRESET_NOTES[cfg.preset])
    summary = train(cfg)
    if rank == 0:
        print(f"train_erm: best epoch {summary['best_epoch']} of {summary['epochs']}, "
              f"val accuracy {summary['best_val_acc']:.4f}; checkpoint {summary['checkpoint']}")
    return 0
