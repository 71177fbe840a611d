"""What a resume checks: a split on disk against the rows of this run (numpy only).

Three questions, in order, decide what happens to a split already in the store
(:meth:`featurizers.store.EmbeddingStoreWriter.begin_split` asks them):

1. :func:`resume_problem`: are they the same rows? The row count, the rows
   left out as unreadable, the process count of an unfinished split, ``X.npy``
   and ``ids.npy`` intact and the ids equal. If not, the split is embedded again.
2. :func:`changed_inputs`: do the rows already embedded still come from the
   same inputs? Their fingerprints (see :mod:`featurizers._fingerprint`) must
   be those recorded in ``fingerprint.npy``; if not, the writer refuses (or,
   with ``overwrite``, embeds the split again).
3. :func:`label_changes`: are labels and groups still those of the store? They
   do not enter the embeddings, so changed ones are rewritten in place.
"""

import os

import numpy as np

from .._io import inside
from ._check import _DAMAGED, CorruptStoreError, open_npy

__all__ = ["resume_problem", "changed_inputs", "label_changes", "shown_ids"]


def shown_ids(ids, rows, limit=5):
    """``"a, b, c, ... (12 rows)"``: the first ids of ``rows``, for messages."""
    shown = ", ".join(str(ids[i]) for i in rows[:limit])
    return shown + (f", ... ({len(rows)} rows)" if len(rows) > limit else "")


def _problem(exc):
    return str(exc).split(_DAMAGED)[0]


def resume_problem(d, info, ids, skipped, *, dim, dtype, world_size):
    """Why the split in folder ``d`` cannot be resumed with these rows, or None."""
    n = len(ids)
    if info["rows"] != n:
        return f"its row count changed ({info['rows']} in the store, {n} now)"
    if info.get("skipped", []) != skipped:
        return "the rows left out as unreadable images changed"
    if not info["complete"] and info.get("world_size", 1) != world_size:
        return (f"it was being written by {info.get('world_size', 1)} process(es), this run "
                f"has {world_size}")
    try:
        for name in ("X.npy", "ids.npy"):
            if not os.path.isfile(os.path.join(d, name)):
                return f"{os.path.join(d, name)} is missing"
            inside(d, name)  # X.npy is written through: a link out of the store is refused
        open_npy(os.path.join(d, "X.npy"), shape=(n, dim), dtype=dtype, mmap=True)
        old_ids = open_npy(os.path.join(d, "ids.npy"), shape=(n,), kinds="iuUS")
    except (CorruptStoreError, ValueError) as exc:
        return _problem(exc)
    if not np.array_equal(old_ids, ids):
        return "its sample ids changed"
    return None


def embedded_rows(info, world_size):
    """How many leading rows may hold embeddings (all of them when processes share them)."""
    if info["complete"] or world_size > 1 or info.get("world_size", 1) > 1:
        return info["rows"]
    return info["done"]


def changed_inputs(d, info, fingerprint, world_size):
    """Rows already embedded whose inputs changed, and the recorded fingerprints.

    Returns
    -------
    changed : ndarray of int
        Row numbers among the embedded rows whose fingerprint differs.
    recorded : ndarray or None
        The fingerprints in ``fingerprint.npy``, None when the store has none
        (made by an older version, or the file is damaged).
    """
    path = os.path.join(d, "fingerprint.npy")
    try:
        recorded = open_npy(path, shape=(len(fingerprint),), dtype="uint64") \
            if os.path.exists(path) else None
    except CorruptStoreError:
        recorded = None
    if recorded is None:
        return np.zeros(0, dtype=np.int64), None
    k = embedded_rows(info, world_size)
    return np.flatnonzero(recorded[:k] != fingerprint[:k]), recorded


def label_changes(d, name, new):
    """Rows whose value in ``d/name`` differs from ``new`` (all rows when the file is
    missing or damaged); None when nothing is to be written or removed."""
    path = os.path.join(d, name)
    exists = os.path.exists(path)
    if new is None:
        return np.zeros(0, dtype=np.int64) if exists else None
    try:
        old = open_npy(path, shape=new.shape, dtype="int64") if exists else None
    except CorruptStoreError:
        old = None
    if old is None:
        return np.arange(len(new))
    changed = np.flatnonzero(old != new)
    return changed if changed.size else None
