"""``benchmarks/results/perf.md``: how the figures were measured, then every figure."""

import os
import platform
from pathlib import Path

import numpy as np

from ..tables import markdown_table
from .timing import cpu_model, load_average

RESULTS = Path(__file__).resolve().parents[1] / "results" / "perf.md"


def write_markdown(report, path, *, command, threads, started, elapsed, quick):
    """Write the figures of ``report`` (a :class:`~.timing.Report`) to ``path``."""
    lines = [
        "# Performance figures (`benchmarks/perf.py`)",
        "",
        f"- command: `{command}`" + (" (quick mode: 5% of the rows, small files; not the targets)"
                                     if quick else ""),
        f"- date: {started:%Y-%m-%d %H:%M} (run took {elapsed / 60:.1f} min)",
        f"- machine: {cpu_model()}, {os.cpu_count()} logical CPUs, BLAS and torch limited to "
        f"{threads} threads; Python {platform.python_version()}, numpy {np.__version__}",
        f"- load average at the end (1/5/15 min): {load_average()}; the machine is shared, so "
        "timings are medians of repeats and comparisons are ratios measured in the same run",
        "",
        markdown_table(["section", "figure", "value", "note"],
                       [[str(x).replace("|", "/") for x in row] for row in report.rows]),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
