"""The ``nt-featurize`` command (also ``python -m featurizers``).

Examples
--------
Images, the real EfficientNet-Lite0 weights, a generic CSV dataset::

    nt-featurize image --dataset csv --root data/birds --model tf_efficientnet_lite0 \\
        --weights efficientnet-lite0 --out stores/birds-effnet

Texts, all-MiniLM-L6-v2 from its offline package::

    nt-featurize text --dataset csv --root data/reviews --model all-MiniLM-L6-v2 \\
        --out stores/reviews-minilm

Several GPUs: ``torchrun --nproc-per-node 4 -m featurizers image ...``.

An error in the input (a bad number, a misspelled ``--dataset-option``, a
damaged, missing or foreign file, a full disk) ends the command with one line
``nt-featurize: error: ...`` naming the file, and exit code 2; ``--debug``
shows the traceback instead.
"""

import argparse
import logging
import os
import sys
import time

from .clitools import add_debug_flag, guarded, non_negative_int, positive_int
from .datasets import parse_dataset_options

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)

#: Tokens per row where the dataset's reader does not say (the authors' settings).
DATASET_MAX_LENGTH = {"multinli": 128, "civilcomments": 220}

_EPILOG = """Re-running the same command resumes a killed run; a store made with another
model, weights or settings is refused unless --overwrite. Under torchrun each process
embeds its own block of rows into the same store."""


def _common(p):
    g = p.add_argument_group("data and output")
    g.add_argument("--dataset", required=True, help="dataset reader name, e.g. csv")
    g.add_argument("--root", required=True, help="the dataset folder")
    g.add_argument("--csv", help="for --dataset csv: the CSV file (default ROOT/metadata.csv)")
    g.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE",
                   help="more options for the dataset reader (repeatable)")
    g.add_argument("--out", required=True, help="the store folder")
    g.add_argument("--splits", nargs="+", help="splits to embed (default: all)")
    g.add_argument("--overwrite", action="store_true",
                   help="replace a store made with another model, weights or settings")
    g.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    r = p.add_argument_group("model and run")
    r.add_argument("--model", required=True)
    r.add_argument("--batch-size", type=positive_int, default=64)
    r.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda, cuda:1")
    r.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                   help="auto: bf16 or fp16 autocast on GPUs, fp32 on CPU")
    r.add_argument("--no-head", dest="head", action="store_false",
                   help="do not export the model's classifier as the store's head")
    r.add_argument("-q", "--quiet", action="store_true", help="warnings only, no progress bar")
    add_debug_flag(r)


def build_parser():
    """The argument parser of ``nt-featurize``."""
    parser = argparse.ArgumentParser(
        prog="nt-featurize", description="Embed a dataset with a frozen backbone into an "
        "embedding store (X.npy per split, manifest.json, the model's own head).",
        epilog=_EPILOG)
    sub = parser.add_subparsers(dest="modality", required=True)
    img = sub.add_parser("image", help="timm image backbones", epilog=_EPILOG)
    _common(img)
    img.add_argument("--weights", help="checkpoint file, 'efficientnet-lite0', or 'timm' "
                     "(timm's pretrained weights, only if cached on this machine)")
    img.add_argument("--preprocess", choices=("model", "paper", "square"), default="model",
                     help="model: timm's data config; paper: short side 256, centre crop "
                     "224, ImageNet mean/std; square: resize to SxS")
    img.add_argument("--image-size", type=positive_int, help="input size for model/square")
    img.add_argument("--workers", type=non_negative_int, help="DataLoader workers (default: "
                     "up to 8 on GPU; on CPU one per 6 cores, none below 6)")
    img.add_argument("--skip-bad-images", action="store_true",
                     help="decode every image first; leave out unreadable ones, listed in the "
                     "manifest")
    img.add_argument("--trust-checkpoint", action="store_true",
                     help="allow checkpoints holding pickled objects (runs their code)")
    txt = sub.add_parser("text", help="transformers text encoders", epilog=_EPILOG)
    _common(txt)
    txt.add_argument("--pooling", choices=("auto", "cls", "pooler", "pooler_relu", "mean"),
                     default="auto")
    txt.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=None,
                     help="L2-normalise (default: as the sentence-transformers config says)")
    txt.add_argument("--max-length", type=positive_int, help="tokens per row (default: the "
                     "dataset's, else the model's)")
    return parser


def _options(args):
    opts = parse_dataset_options(args.dataset_option)
    if args.csv:
        opts["csv"] = args.csv
    return opts


def _run(args, dist):
    from .datasets import get_reader
    from .encoder import build_encoder
    from .pipeline import featurize

    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out {args.out} is an existing file, not a folder; choose a folder "
                         "for the store")
    reader = get_reader(args.dataset, args.root, **_options(args))
    if reader.modality != args.modality:
        raise ValueError(f"dataset {args.dataset!r} holds {reader.modality}s; use "
                         f"'nt-featurize {reader.modality}'")
    for split in args.splits or reader.splits():  # a bad file fails now, not after the model
        reader.load(split)
    if args.modality == "image":
        options = dict(preprocess=args.preprocess, image_size=args.image_size,
                       workers=args.workers, trust_checkpoint=args.trust_checkpoint)
    else:
        if args.quiet:
            import transformers
            transformers.utils.logging.disable_progress_bar()
        options = dict(pooling=args.pooling, normalize=args.normalize,
                       max_length=(args.max_length or getattr(reader, "max_length", None)
                                   or DATASET_MAX_LENGTH.get(args.dataset)))
    encoder = build_encoder(args.modality, args.model, weights=getattr(args, "weights", None),
                            head=args.head, device=args.device, precision=args.precision,
                            local_rank=dist.local_rank, **options)
    return featurize(reader, encoder, args.out, splits=args.splits, batch_size=args.batch_size,
                     dtype=args.dtype, overwrite=args.overwrite,
                     skip_bad_images=getattr(args, "skip_bad_images", False), dist=dist,
                     progress=not args.quiet)


def _print_summary(summary, seconds):
    print(f"nt-featurize: wrote {summary['out_dir']}  (dim {summary['dim']}, "
          f"{summary['dtype']}, head: {'yes' if summary['head'] else 'no'}, "
          f"{summary['world_size']} process(es), {seconds:.1f} s)")
    print(f"  {'split':<12}{'rows':>10}{'skipped':>9}{'embedded':>10}{'seconds':>9}{'rows/s':>9}")
    for name, s in summary["splits"].items():
        print(f"  {name:<12}{s['rows']:>10}{s['skipped']:>9}{s['embedded']:>10}"
              f"{s['seconds']:>9.1f}{s['rows_per_s'] or 0:>9.1f}")
    for name, counts in summary.get("rewritten", {}).items():
        what = ", ".join(f"{k} {v}" for k, v in counts.items())
        print(f"  {name}: rewritten in place since the last run: {what} (embeddings kept)")


def main(argv=None):
    """Entry point of ``nt-featurize``; returns the process exit code (2 after an error)."""
    args = build_parser().parse_args(argv)
    rank = int(os.environ.get("RANK", 0))
    level = logging.WARNING if (args.quiet or rank) else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    logging.getLogger("featurizers").setLevel(level)

    def run():
        from .runtime import Distributed

        t0 = time.perf_counter()
        dist = None
        try:
            dist = Distributed()
            summary = _run(args, dist)
        finally:
            if dist is not None:
                dist.close()
        if rank == 0:
            _print_summary(summary, time.perf_counter() - t0)
        return 0

    return guarded("nt-featurize", run, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
