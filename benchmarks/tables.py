"""Markdown tables of the benchmark reports: accuracy cells, differences, the table itself.

Accuracies arrive as fractions and are printed in % with one decimal; a cell over
seeds is ``mean <pm> std`` (population std, as numpy's default). Missing figures
print as ``-``.
"""

import numpy as np

PLUS_MINUS = "\u00b1"


def percent_mean_std(values):
    """``(mean, std)`` of ``values`` (fractions), in %."""
    v = 100 * np.asarray(values, dtype=float)
    return v.mean(), v.std()


def cell(mean, std=None, *, pm=PLUS_MINUS):
    """``"12.3"``, ``"12.3 <pm> 0.4"``, or ``"-"`` when ``mean`` is None (already in %)."""
    if mean is None:
        return "-"
    return f"{mean:.1f}" if std is None else f"{mean:.1f} {pm} {std:.1f}"


def mean_std_cell(values, *, pm=PLUS_MINUS):
    """The cell of a figure over seeds: ``values`` are fractions."""
    return cell(*percent_mean_std(values), pm=pm)


def percent(value):
    """A fraction in % with one decimal."""
    return f"{100 * value:.1f}"


def signed_percent(value):
    """A difference of fractions in percentage points with its sign."""
    return f"{100 * value:+.1f}"


def delta(ours, theirs):
    """``ours - theirs`` (both in %) with its sign, or ``"-"`` when one is missing."""
    return "-" if ours is None or theirs is None else f"{ours - theirs:+.1f}"


def yes_no(flag):
    """``Yes`` / ``No``, and ``-`` for None (not stated)."""
    return "-" if flag is None else ("Yes" if flag else "No")


def row(cells):
    """One Markdown table row."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown_table(header, rows):
    """A Markdown table: the header, the separator line and one line per row of cells."""
    return "\n".join([row(header), "|---" * len(header) + "|", *(row(r) for r in rows)])
