"""The command line of ``python -m benchmarks.paper_setting``."""

import argparse
import logging
import time
from pathlib import Path

from .._cli import LOG_FORMAT, add_debug_flag, guarded, quiet_level, setup_logging
from ..offline_suite import MissingSource

logger = logging.getLogger(__name__)


def build_parser():
    """The argument parser of ``python -m benchmarks.paper_setting``."""
    from .pipeline import DEFAULT_CACHE

    p = argparse.ArgumentParser(
        prog="python -m benchmarks.paper_setting",
        description="NeuronTune in the paper's own setting, offline: two analogues of its "
        "benchmarks in their published layouts, ERM fine-tuning, embeddings, every method "
        "over several seeds, and whether the mask carries the attribute.",
        epilog="Every step is cached; re-running a killed command resumes it.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, text in (("build", "write the two analogue datasets only"),
                       ("run", "everything: build, ERM, embeddings, methods, analysis, report")):
        s = sub.add_parser(name, help=text, description=text)
        s.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                       help=f"where data, models, stores and results go (default {DEFAULT_CACHE})")
        s.add_argument("--tiny", action="store_true",
                       help="a few rows per group (the test's quick path)")
        s.add_argument("--only", choices=("image", "text"), help="one analogue")
        s.add_argument("-q", "--quiet", action="store_true", help="warnings only")
        add_debug_flag(s)
        if name == "build":
            continue
        s.add_argument("--seeds", type=int, default=5)
        s.add_argument("--jobs", type=int, default=-1, help="parallel method fits (joblib)")
        s.add_argument("--erm-epochs", type=int, help="default: the presets'")
        s.add_argument("--nt-epochs", type=int, help="NeuronTune's (default: Table 10's)")
        s.add_argument("--batches-per-epoch", type=int, help="NeuronTune's (default: 200)")
        s.add_argument("--image-model", help="timm name (default tf_efficientnet_lite0)")
        s.add_argument("--image-init", help="initial (and frozen) image weights: a file or a "
                       "named source (default efficientnet-lite0)")
        s.add_argument("--text-model", help="a local transformers folder (default: the "
                       "offline all-MiniLM-L6-v2)")
        s.add_argument("--image-size", type=int, help="default 64 (32 with --tiny)")
        s.add_argument("--report", type=Path, help="also write the report here")
        s.add_argument("--threads", type=int, help="torch threads (default: torch's). On a "
                       "machine busy with other work, 1 is several times faster: torch's "
                       "threads wait for each other at every operation")
    return p


def main(argv=None):
    """Entry point; returns the process exit code (2 after an expected error)."""
    args = build_parser().parse_args(argv)
    setup_logging(quiet_level(args.quiet), LOG_FORMAT, packages=("benchmarks", "featurizers"))
    return guarded("paper_setting", lambda: _run(args), debug=args.debug)


def _run(args):
    if not getattr(args, "threads", None):
        return _steps(args)
    import torch

    # restored afterwards: main() may run inside another program (the tests do)
    before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _steps(args)
    finally:
        torch.set_num_threads(before)


def _steps(args):
    from . import pipeline, report

    t0 = time.perf_counter()
    try:
        if args.command == "build":
            run = pipeline.Run(cache=Path(args.cache_dir))
            todo = pipeline.analogues(tiny=args.tiny)
        else:
            run = pipeline.Run(cache=Path(args.cache_dir), seeds=args.seeds, jobs=args.jobs,
                               erm_epochs=args.erm_epochs, nt_epochs=args.nt_epochs,
                               batches_per_epoch=args.batches_per_epoch)
            todo = pipeline.analogues(tiny=args.tiny, image_model=args.image_model,
                                      image_init=args.image_init, text_model=args.text_model,
                                      image_size=args.image_size)
        todo = [a for a in todo if args.only in (None, a.name)]
        state = pipeline.run_all(run, todo, steps=("build",) if args.command == "build"
                                 else pipeline.ALL_STEPS)
    except MissingSource as exc:  # a Debian data package is not installed
        raise FileNotFoundError(str(exc)) from exc
    if args.command == "build":
        for name, info in state["analogues"].items():
            print(f"{name}: {info['root']} ({info['counts']})")
        return 0
    text = report.write(state, Path(args.cache_dir) / "report.md")
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(text)
    print(text)
    print(f"Wrote {Path(args.cache_dir) / 'report.md'}"
          + (f" and {args.report}" if args.report else "")
          + f" ({time.perf_counter() - t0:.0f} s)")
    return 0
