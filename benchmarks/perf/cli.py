"""The command line of ``python -m benchmarks.perf``: the sections in order, then perf.md."""

import argparse
import datetime
import logging
import os
import shlex
import sys
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from .._cli import add_debug_flag, guarded, setup_logging
from .data import QUICK_SCALE, SHAPES, make_planted
from .fit_speed import bench_fit
from .grid import bench_grid
from .identification import bench_identification
from .markdown import RESULTS, read_figures, write_markdown
from .memory import bench_memory, memory_child
from .throughput import bench_featurizers
from .timing import Report, cpu_model, load_average, presort_method, simd_extensions

logger = logging.getLogger(__name__)

SECTIONS = "fit,identification,memory,featurizers,grid"


def build_parser():
    """The argument parser of ``python -m benchmarks.perf``."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.perf",
        description="Performance and scale: ``python -m benchmarks.perf [--quick]``.")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes for CI (under a minute); the figures are not the targets")
    parser.add_argument("--threads", type=int, default=2, help="BLAS and torch threads (default 2)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="repeats per timing, the median is kept (default 3, 1 with --quick)")
    parser.add_argument("--sections", default=SECTIONS,
                        help=f"comma-separated subset of {SECTIONS}")
    parser.add_argument("--memory-gb", type=float, default=None,
                        help="size of the memory-mapped tuning set (default 8.2, 0.05 with "
                             "--quick)")
    parser.add_argument("--ref-epochs", type=int, default=None,
                        help="epochs run by the torch reference (default 3, 1 with --quick); its "
                             "40-epoch time is extrapolated per epoch")
    parser.add_argument("--fit-epochs", type=int, default=None,
                        help="epochs of our fits (default 40, the paper's; 5 with --quick)")
    parser.add_argument("--tmpdir", default=None, help="where the memory-mapped file is written")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help=f"markdown output (default {RESULTS})")
    parser.add_argument("--before", type=Path, default=None,
                        help="a perf.md written earlier (for instance by the code before a "
                             "change): its figures are shown beside this run's")
    parser.add_argument("--before-label", default=None,
                        help="what --before measured, for the table's title")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--memory-steps", type=int, default=200, help=argparse.SUPPRESS)
    return add_debug_flag(parser)


def main(argv=None):
    """Entry point; returns the process exit code (2 after an expected error)."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if args.memory_child:
        return guarded("perf", lambda: memory_child(args.memory_child, args.threads,
                                                    args.memory_steps, args.fit_epochs or 40),
                       debug=args.debug)
    setup_logging(logging.WARNING, logging.BASIC_FORMAT)
    command = ("python -m benchmarks.perf "
               + shlex.join(argv if argv is not None else sys.argv[1:])).rstrip()
    return guarded("perf", lambda: _run(args, command), debug=args.debug)


class _PlantedSets:
    """The CelebA- and MultiNLI-shaped planted data, each drawn once when first asked for."""

    def __init__(self, scale, threads):
        self.scale, self.threads, self.sets = scale, threads, {}

    def __call__(self, name):
        if name not in self.sets:
            shape = dict(SHAPES[name])
            shape["n_tune"] = int(shape["n_tune"] * self.scale)
            shape["n_id"] = int(shape["n_id"] * self.scale)
            with threadpool_limits(self.threads):
                t0 = time.perf_counter()
                self.sets[name] = make_planted(**shape)
            logger.info("planted %s in %.1f s", name, time.perf_counter() - t0)
        return self.sets[name]

    def drop(self, name):
        self.sets.pop(name, None)


def _run(args, command):
    quick, threads = args.quick, args.threads
    repeats = args.repeats or (1 if quick else 3)
    ref_epochs = args.ref_epochs or (1 if quick else 3)
    memory_gb = args.memory_gb or (0.05 if quick else 8.2)
    fit_epochs = args.fit_epochs or (5 if quick else 40)
    sections = set(args.sections.split(","))
    before = read_figures(args.before) if args.before else None
    started, t_start = datetime.datetime.now(), time.perf_counter()
    report = Report()
    report.add("machine", "CPU", f"{cpu_model()}, {os.cpu_count()} logical CPUs",
               f"{threads} threads used; load {load_average()}")
    report.add("machine", "numpy SIMD extensions found", simd_extensions())
    report.add("machine", "SFit presort: the faster of its two sorts on this CPU", presort_method(),
               "keys: one sort of 64-bit keys (AVX-512 where numpy has it); radix: two passes of "
               "16 bits; the same permutation either way")
    dataset = _PlantedSets(QUICK_SCALE if quick else 1.0, threads)

    if "fit" in sections:
        for name in SHAPES:
            bench_fit(name, dataset(name), report, threads=threads, repeats=repeats,
                      ref_epochs=ref_epochs, n_epochs=fit_epochs,
                      torch_threads=[1] if quick else None)  # quick: skip the slow 2-thread run
    if "identification" in sections:
        bench_identification(dataset("celeba"), report, threads=threads, repeats=repeats)
    if "memory" in sections:
        bench_memory(dataset("celeba"), report, threads=threads, target_gb=memory_gb,
                     n_steps=20 if quick else 200, n_epochs=fit_epochs, workdir=args.tmpdir)
    dataset.drop("multinli")
    if "featurizers" in sections:
        bench_featurizers(report, threads=threads,
                          n_images=8 if quick else 128, n_naive_images=4 if quick else 32,
                          n_texts=32 if quick else 512, n_naive_texts=8 if quick else 64,
                          repeats=repeats)
    if "grid" in sections:
        small = make_planted(n_tune=1_200 if quick else 12_000, n_id=400 if quick else 3_000,
                             d=256, n_classes=2, prior=(0.85, 0.15), core_shift=0.2, n_core=80,
                             n_spurious=16)
        bench_grid(small, report, threads=threads, repeats=repeats, processes=not quick)

    elapsed = time.perf_counter() - t_start
    write_markdown(report, args.out, command=command, threads=threads, started=started,
                   elapsed=elapsed, quick=quick, before=before,
                   before_label=args.before_label or str(args.before))
    print(f"wrote {args.out} ({elapsed / 60:.1f} min)")
