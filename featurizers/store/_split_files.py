"""The main process's part of a split: create its files, or check them for a resume.

:class:`SplitFiles` is the half of :class:`featurizers.store.EmbeddingStoreWriter`
that handles one split's files: the label files, ``fingerprint.npy`` and the
empty ``X.npy`` of a new split (disk space checked and blocks reserved first),
and, for a split already in the store, the checks of
:mod:`featurizers.store._resume` and what follows from them: resume, rewrite
changed labels and groups, refuse changed inputs, or start the split again.
"""

import logging
import os
import re

import numpy as np

from .._io import atomic_write, check_free_space, format_bytes, inside, preallocate
from ._blocks import on_main
from ._check import is_temp_file, split_dir
from ._resume import changed_inputs, embedded_rows, label_changes, resume_problem, shown_ids
from .reader import _SPLIT_FILES, StoreMismatchError

__all__ = ["SplitFiles", "InputsChangedError"]

logger = logging.getLogger(__name__)

_PROGRESS = re.compile(r"progress\.rank\d+\.json")


class InputsChangedError(StoreMismatchError):
    """Rows already embedded came from inputs that have changed since (files, texts)."""


def is_progress_file(name):
    """Whether ``name`` is a process's progress file (``progress.rank<r>.json``)."""
    return bool(_PROGRESS.fullmatch(name))


def save_npy(path, arr):
    """``np.save`` through a temporary file: a file is either the old one or the new one."""
    with atomic_write(path) as fh:
        np.save(fh, arr)


class SplitFiles:
    """A split's files, on the main process (a mixin of the store writer).

    Uses the writer's ``out_dir``, ``dim``, ``dtype``, ``world_size``,
    ``overwrite``, ``manifest``, ``changes``, ``_group``, ``_apply_extra`` and
    ``_save_manifest``.
    """

    def begin_split(self, split, ids, y, groups=None, *, skipped=(), options=None,
                    fingerprint=None):
        """Create a split's files, or check them for a resume (rank 0).

        Returns the split's manifest entry. An entry is reused only when the
        row count, the ids (and ``ids.npy`` and ``X.npy`` intact) and the
        skipped ids match and, for an incomplete split, the number of processes
        too; otherwise the split restarts from row 0. When it is reused:

        - the ``fingerprint`` of every row already embedded must equal the one
          recorded: otherwise :class:`InputsChangedError` names the rows (with
          ``overwrite=True`` the split restarts instead). A store without
          recorded fingerprints (written by an older version) is trusted and
          the fingerprints are recorded, with a log line;
        - changed labels or groups are rewritten in place (the embeddings do not
          depend on them) and logged; :attr:`changes` counts them.

        Parameters
        ----------
        split : str
            Letters, digits, ``_ . -``; it names a folder of the store.
        ids, y : array-like of shape (n_rows,)
        groups : array-like of shape (n_rows,), optional
        skipped : sequence
            Ids left out of the split (unreadable images).
        options : dict, optional
            Run options recorded with the split.
        fingerprint : array-like of uint64, shape (n_rows,), optional
            One fingerprint per row of the inputs (see
            :func:`featurizers._fingerprint.input_fingerprints`).
        """
        d = split_dir(self.out_dir, split)
        self._apply_extra()
        y = np.asarray(y, dtype=np.int64)
        n = len(y)
        ids = np.asarray(ids)
        if ids.dtype == object:
            ids = ids.astype(str)
        groups = None if groups is None else np.asarray(groups, dtype=np.int64)
        if fingerprint is not None:
            fingerprint = np.asarray(fingerprint, dtype=np.uint64)
            if fingerprint.shape != (n,):
                raise ValueError(f"fingerprint has shape {fingerprint.shape}, expected ({n},)")
        skipped = [str(s) for s in skipped]
        info = self.manifest["splits"].get(split)
        if info is not None:
            problem = resume_problem(d, info, ids, skipped, dim=self.dim, dtype=self.dtype,
                                     world_size=self.world_size)
            if problem is None and fingerprint is not None:
                problem = self._check_inputs(split, d, info, ids, fingerprint)
            if problem is None:
                self._refresh_labels(split, d, ids, y, groups)
                if info.get("options") != options:
                    logger.warning("split %r: resuming with other run options %s (was %s); "
                                   "values may differ in the last bits", split, options,
                                   info.get("options"))
                if not info["complete"]:
                    self._reserve(split, n)
                return info
            logger.warning("split %r: %s; embedding it again from row 0", split, problem)
        return self._create_split(split, d, ids, y, groups, skipped, options, fingerprint)

    def _check_inputs(self, split, d, info, ids, fingerprint):
        """None when the embedded rows' inputs are unchanged (recording the fingerprints
        where needed); the reason to restart under overwrite; else InputsChangedError."""
        changed, recorded = changed_inputs(d, info, fingerprint, self.world_size)
        if recorded is None:
            if info["done"] or info["complete"]:
                logger.warning("split %r: the store records no fingerprint of its inputs (made "
                               "by an older version, or fingerprint.npy was lost); trusting "
                               "that its embedded rows come from the current inputs and "
                               "recording their fingerprints", split)
            save_npy(os.path.join(d, "fingerprint.npy"), fingerprint)
            return None
        if changed.size:
            if self.overwrite:
                return (f"the inputs of {changed.size} embedded row(s) changed (ids "
                        f"{shown_ids(ids, changed)})")
            raise self._inputs_changed(split, info, ids, changed)
        if not np.array_equal(recorded, fingerprint):  # rows not embedded yet changed
            save_npy(os.path.join(d, "fingerprint.npy"), fingerprint)
        return None

    def _inputs_changed(self, split, info, ids, changed):
        return InputsChangedError(
            f"split {split!r} of {self.out_dir!r}: the inputs of {changed.size} of the "
            f"{embedded_rows(info, self.world_size)} rows already embedded changed since they "
            f"were embedded (ids {shown_ids(ids, changed)}): a file was replaced or modified, "
            "the dataset's root points elsewhere, or a text was edited. Restore the original "
            "inputs and run again to resume, or pass overwrite=True (--overwrite) to embed the "
            "split again.")

    def check_inputs(self, split, ids, fingerprint, *, skipped=()):
        """Raise :class:`InputsChangedError` if rows of ``split`` already embedded came from
        other inputs, writing nothing (collective: the main process checks).

        Nothing is raised under ``overwrite``, for a split the store does not hold,
        or one whose rows changed (it will be embedded again anyway).
        """
        def run():
            info = self.manifest["splits"].get(split)
            if info is None or fingerprint is None or self.overwrite:
                return
            d = split_dir(self.out_dir, split)
            rows = np.asarray(ids)
            rows = rows.astype(str) if rows.dtype == object else rows
            if resume_problem(d, info, rows, [str(s) for s in skipped], dim=self.dim,
                              dtype=self.dtype, world_size=self.world_size) is not None:
                return
            changed, recorded = changed_inputs(d, info, np.asarray(fingerprint, np.uint64),
                                               self.world_size)
            if recorded is not None and changed.size:
                raise self._inputs_changed(split, info, rows, changed)

        on_main(self._group, run)

    def _refresh_labels(self, split, d, ids, y, groups):
        """Rewrite ``y.npy`` / ``groups.npy`` where this run's values differ; log it."""
        for name, new, what in (("y.npy", y, "label"), ("groups.npy", groups, "group id")):
            changed = label_changes(d, name, new)
            if changed is None:
                continue
            path = os.path.join(d, name)
            if new is None:
                os.remove(path)
                logger.warning("split %r: the dataset has no groups any more; removed %s",
                               split, path)
                changed = np.arange(len(y))
            else:
                save_npy(path, new)
                logger.warning("split %r: %d %s(s) changed since the last run (ids %s); "
                               "rewrote %s, the embeddings are kept (they do not depend on "
                               "it)", split, changed.size, what, shown_ids(ids, changed), path)
            self.changes.setdefault(split, {})[what + "s"] = int(changed.size)

    def refresh_labels(self, split, ids, y, groups=None):
        """Bring the labels and groups of a split already in the store up to date, without
        embedding anything (collective: every process calls it; the main one writes).

        Rows left out as unreadable when the split was made are left out here too.
        A split whose rows changed is left as it was, with a warning. Returns
        whether the split's labels now match.
        """
        def run():
            self._apply_extra()
            info = self.manifest["splits"].get(split)
            if info is None:
                return False
            d = split_dir(self.out_dir, split)
            keep = ~np.isin(np.asarray(ids).astype(str), info.get("skipped", []))
            rows = np.asarray(ids)[keep]
            if rows.dtype == object:
                rows = rows.astype(str)
            problem = resume_problem(d, info, rows, info.get("skipped", []), dim=self.dim,
                                     dtype=self.dtype, world_size=info.get("world_size", 1))
            if problem is not None:
                logger.warning("split %r of the store no longer matches the dataset (%s); its "
                               "labels and groups are left as they were: embed it again",
                               split, problem)
                return False
            y_keep = np.asarray(y, dtype=np.int64)[keep]
            g_keep = None if groups is None else np.asarray(groups, dtype=np.int64)[keep]
            self._refresh_labels(split, d, rows, y_keep, g_keep)
            return True

        return bool(on_main(self._group, run))

    def _create_split(self, split, d, ids, y, groups, skipped, options, fingerprint):
        """Write a split's label files and an empty ``X.npy``, its blocks reserved on disk."""
        n = len(y)
        os.makedirs(d, exist_ok=True)
        x_bytes = n * self.dim * np.dtype(self.dtype).itemsize
        arrays = [a for a in (y, ids, groups, fingerprint) if a is not None]
        needed = x_bytes + sum(a.nbytes for a in arrays) + 4096 * (len(arrays) + 1)
        present = [os.path.join(d, f) for f in _SPLIT_FILES]
        check_free_space(d, needed, f"split {split!r} (X.npy: {n} rows x {self.dim} "
                         f"{self.dtype}, {format_bytes(x_bytes)})",
                         reclaimable=sum(os.path.getsize(p) for p in present
                                         if os.path.isfile(p)))
        # The entry first: a kill while the files below are written leaves a split with
        # no row done, which the next run checks and embeds from row 0.
        info = {"rows": n, "done": 0, "complete": False, "skipped": skipped,
                "world_size": self.world_size, "options": options}
        self.manifest["splits"][split] = info
        self._save_manifest()
        for name in os.listdir(d):
            if is_progress_file(name) or is_temp_file(name):
                os.remove(os.path.join(d, name))
        save_npy(os.path.join(d, "y.npy"), y)
        save_npy(os.path.join(d, "ids.npy"), ids)
        for name, arr in (("groups.npy", groups), ("fingerprint.npy", fingerprint)):
            path = os.path.join(d, name)
            if arr is not None:
                save_npy(path, arr)
            elif os.path.exists(path):
                os.remove(path)
        xpath = os.path.join(d, "X.npy")
        if os.path.islink(xpath):  # never write through a link (it may lead out of the store)
            os.remove(xpath)
        X = np.lib.format.open_memmap(xpath, mode="w+", dtype=self.dtype, shape=(n, self.dim))
        X.flush()
        del X
        self._reserve(split, n)
        info["complete"] = n == 0
        self._save_manifest()
        return info

    def _reserve(self, split, n):
        """Reserve the blocks of ``X.npy`` (a full disk is then an error here, not SIGBUS)."""
        path = inside(split_dir(self.out_dir, split), "X.npy")
        x_bytes = n * self.dim * np.dtype(self.dtype).itemsize
        preallocate(path, os.path.getsize(path) - x_bytes, x_bytes)
