"""``benchmarks/results/perf.md``: how the figures were measured, then every figure."""

import os
import platform
from pathlib import Path

import numpy as np

from ..tables import markdown_table
from .timing import cpu_model, load_average

RESULTS = Path(__file__).resolve().parents[1] / "results" / "perf.md"


def read_figures(path):
    """``{(section, figure): (value, note)}`` of the table of a ``perf.md`` written earlier."""
    figures = {}
    for line in Path(path).read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 4 and cells[0] != "section":
            figures[cells[0], cells[1]] = (cells[2], cells[3])
    if not figures:
        raise ValueError(f"{path}: no table of figures found (is it a perf.md?)")
    return figures


def before_after(report, before):
    """Rows ``[section, figure, before, after]``: every figure of ``report`` that ``before``
    (from :func:`read_figures`) also has, in measurement order."""
    rows = []
    for section, figure, value, _ in report.rows:
        if (section, figure) in before:
            rows.append([section, figure, before[section, figure][0], str(value)])
    return rows


def write_markdown(report, path, *, command, threads, started, elapsed, quick, before=None,
                   before_label=None):
    """Write the figures of ``report`` (a :class:`~.timing.Report`) to ``path``; with
    ``before`` (from :func:`read_figures`), first a table of the figures side by side."""
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
    ]
    if before:
        lines += [
            f"## Before / after ({before_label})",
            "",
            markdown_table(["section", "figure", "before", "after"],
                           [[x.replace("|", "/") for x in row]
                            for row in before_after(report, before)]),
            "",
            "## Every figure of this run",
            "",
        ]
    lines += [
        markdown_table(["section", "figure", "value", "note"],
                       [[str(x).replace("|", "/") for x in row] for row in report.rows]),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
