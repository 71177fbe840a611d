"""Writing an embedding store, resumably, from one process or from several.

:class:`EmbeddingStoreWriter` fills ``X.npy`` through
:func:`numpy.lib.format.open_memmap` batch by batch. After each committed batch
it flushes ``X`` and only then records the number of rows done (in the
manifest, or, when several processes share the store, in one small progress
file per process). A killed run resumes from the recorded row; a split is
marked complete only after its last row is flushed.

The writer also owns the division of work between processes (``torchrun``):
given the process group (:class:`featurizers.runtime.Distributed`), the main
process writes the manifest, the head and the label files while the others
wait; each process writes its own contiguous block of rows, cut at the
encoder's alignment so that every batch is the one a single process embeds;
the main process marks a split complete once every process has committed its
block. :meth:`EmbeddingStoreWriter.start_split` and
:meth:`EmbeddingStoreWriter.end_split` are those collective steps;
:class:`RowBlock` writes one process's rows and commits them.

Nothing is written outside the store folder (split names are checked and every
path resolved), no file is left half written (the manifest, the head and the
label files go through a temporary file that is removed on failure), and a
full disk is found before a split is started: its space is checked and the
blocks of ``X.npy`` reserved. How a resume treats a split already in the store
is in :mod:`featurizers.store._split_files`.
"""

import datetime
import json
import logging
import os
import platform

import numpy as np

from .._io import atomic_write, inside, read_json
from ._blocks import OneProcess, RowBlock, on_main
from ._check import is_temp_file, split_dir
from ._split_files import InputsChangedError, SplitFiles, is_progress_file
from .reader import (FORMAT, FORMAT_VERSION, HEAD, MANIFEST, _SPLIT_FILES, CorruptStoreError,
                     StoreMismatchError, load_manifest)

__all__ = ["EmbeddingStoreWriter", "RowBlock", "InputsChangedError"]

logger = logging.getLogger(__name__)


def _write_json(path, obj):
    """Write JSON atomically: a temporary file, fsync, then rename (no temporary file stays)."""
    with atomic_write(path, "w") as fh:
        json.dump(obj, fh, indent=1, default=_json_default)


def _remove_temp_files(folder):
    """Remove what an interrupted write left in ``folder`` (no other writer runs now)."""
    for name in os.listdir(folder):
        if is_temp_file(name):
            logger.info("removing %s, left by an interrupted run", os.path.join(folder, name))
            os.remove(os.path.join(folder, name))


def _json_default(obj):
    """numpy scalars and arrays (e.g. in a reader's description) as plain JSON."""
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _versions():
    import importlib.metadata as md

    out = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("torch", "torchvision", "timm", "transformers"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


class EmbeddingStoreWriter(SplitFiles):
    """Create, or resume, an embedding store.

    Only the main process (rank 0, the only one in a single-process run) writes
    the manifest, the head and the label files; every process writes its own
    block of rows of ``X.npy``. In a multi-process run each process records its
    progress in ``<split>/progress.rank<r>.json``; the main process marks the
    split complete once all have committed their last row.

    With ``dist`` (a :class:`featurizers.runtime.Distributed`) the writer
    coordinates the processes itself: the constructor, :meth:`start_split`,
    :meth:`end_split` and :meth:`close` are collective (every process calls
    them, in the same order) and an error on the main process is raised on
    every process. Without it, ``rank`` and ``world_size`` describe this
    process and the caller provides the barriers between the low-level steps
    (:meth:`begin_split`, :meth:`rows_done`, :meth:`open_rows`, :meth:`commit`,
    :meth:`finish_split`).

    Parameters
    ----------
    out_dir : str or path-like
        The store folder (created when missing).
    identity : dict
        Everything that decides the embeddings' values (model, weights hash,
        preprocessing, pooling, precision, dtype, dataset). Resuming into a
        store whose identity differs raises :class:`StoreMismatchError`.
    dim : int
        The embedding width.
    dtype : {"float32", "float16"}, default="float32"
    overwrite : bool, default=False
        Replace a store with another identity (only the files its manifest lists
        are removed; a folder whose ``manifest.json`` is not a store's is never
        touched), and embed again a split whose inputs changed since its rows
        were embedded (see :meth:`begin_split`).
    rank, world_size : int, default=0, 1
        This process and the number of processes sharing the store (taken from
        ``dist`` when it is given).
    extra : dict, optional
        More manifest fields (dataset description, run options).
    head : tuple (coef, intercept, classes), optional
        The backbone's own last layer, saved by the main process as ``head.npz``
        (see :meth:`write_head`).
    dist : featurizers.runtime.Distributed, optional
        The process group the writer coordinates.
    commit_every : float, optional
        Seconds between progress commits of a :class:`RowBlock` (default 1.0, env
        ``NT_FEATURIZE_COMMIT_EVERY``).

    Attributes
    ----------
    changes : dict
        Per split, the labels and group ids this run rewrote in place (main
        process), e.g. ``{"train": {"labels": 3}}``.
    """

    def __init__(self, out_dir, identity, dim, *, dtype="float32", overwrite=False,
                 rank=0, world_size=1, extra=None, head=None, dist=None, commit_every=None):
        if dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be 'float32' or 'float16', got {dtype!r}")
        self.out_dir = os.fspath(out_dir)
        self._extra = None
        self.overwrite = bool(overwrite)
        self.changes = {}
        self.dim = int(dim)
        self.dtype = dtype
        self._group = OneProcess(rank, world_size) if dist is None else dist
        self.rank, self.world_size = self._group.rank, self._group.world_size
        if commit_every is None:
            commit_every = float(os.environ.get("NT_FEATURIZE_COMMIT_EVERY", 1.0))
        self.commit_every = commit_every
        # a pause after each commit, so that tests can kill a run between two commits
        self.pause_after_commit = float(os.environ.get("NT_FEATURIZE_PAUSE_AFTER_COMMIT", 0))
        self.identity = json.loads(json.dumps(dict(identity, dtype=dtype, dim=self.dim),
                                              default=_json_default))
        self._path = os.path.join(self.out_dir, MANIFEST)

        def open_as_main():
            self._open_as_main(overwrite, extra or {})
            if head is not None:
                self.write_head(*head)

        if dist is None:
            if self.is_main:
                open_as_main()
        else:
            on_main(dist, open_as_main)
            if not self.is_main:
                self.reload()

    @property
    def is_main(self):
        """Whether this process writes the manifest, the head and the labels (rank 0)."""
        return self.rank == 0

    # -- manifest ---------------------------------------------------------
    def _open_as_main(self, overwrite, extra):
        if os.path.exists(self.out_dir) and not os.path.isdir(self.out_dir):
            raise ValueError(f"the store folder {self.out_dir} is an existing file, not a "
                             "folder; choose a folder for the store (--out)")
        os.makedirs(self.out_dir, exist_ok=True)
        _remove_temp_files(self.out_dir)
        if os.path.exists(self._path):
            try:
                old = load_manifest(self.out_dir)
            except CorruptStoreError as exc:
                raise StoreMismatchError(
                    f"{exc}\nNothing in {self.out_dir!r} is replaced, even with overwrite=True "
                    "(--overwrite), since its manifest is not a store's: choose another folder "
                    f"(or, if the store is yours, remove {self._path} yourself)") from None
            diff = sorted(k for k in set(old["identity"]) | set(self.identity)
                          if old["identity"].get(k) != self.identity.get(k))
            if diff and not overwrite:
                lines = [f"  {k}: store has {old['identity'].get(k)!r}, "
                         f"this run has {self.identity.get(k)!r}" for k in diff]
                raise StoreMismatchError(
                    f"{self.out_dir!r} holds an embedding store made differently:\n"
                    + "\n".join(lines)
                    + "\nChoose another output folder, or pass overwrite=True (--overwrite) "
                    "to replace it."
                )
            if diff:
                logger.warning("overwriting the store in %s (differs in %s)", self.out_dir, diff)
                self._remove_store_files(old)
            else:
                # This run's description (class names...) enters the manifest with the first
                # split written, after check_inputs had its chance to refuse the run.
                self.manifest, self._extra = old, extra
                return
        elif os.listdir(self.out_dir) and not overwrite:
            raise StoreMismatchError(
                f"{self.out_dir!r} is not empty and holds no embedding store; choose an empty "
                "or new folder (or pass overwrite=True to write into it anyway)"
            )
        self.manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                         "identity": self.identity, "dim": self.dim, "dtype": self.dtype,
                         "head": None, "splits": {}, "created": _now(),
                         "versions": _versions()}
        self.manifest.update(extra)
        self._save_manifest()

    def _remove_store_files(self, old):
        """Remove the files the old manifest lists (its splits' files, head, manifest)."""
        for split in old["splits"]:
            try:
                d = split_dir(self.out_dir, split)
            except ValueError as exc:  # a split folder linked outside the store: left alone
                logger.warning("not removing split %r: %s", split, exc)
                continue
            if not os.path.isdir(d):
                continue
            for name in os.listdir(d):
                if name in _SPLIT_FILES or is_progress_file(name) or is_temp_file(name):
                    os.remove(os.path.join(d, name))
        for name in (HEAD, MANIFEST):
            p = os.path.join(self.out_dir, name)
            if os.path.exists(p):
                os.remove(p)

    def _save_manifest(self):
        self.manifest["updated"] = _now()
        _write_json(self._path, self.manifest)

    def reload(self):
        """Re-read the manifest (non-zero ranks, after rank 0 wrote it)."""
        self.manifest = load_manifest(self.out_dir)

    def write_head(self, coef, intercept, classes):
        """Save the backbone's own last layer as ``head.npz`` (rank 0)."""
        coef = np.asarray(coef, dtype=np.float32)
        intercept = np.asarray(intercept, dtype=np.float32)
        if coef.shape != (len(intercept), self.dim):
            raise ValueError(f"head coef has shape {coef.shape}, "
                             f"expected ({len(intercept)}, {self.dim})")
        with atomic_write(os.path.join(self.out_dir, HEAD)) as fh:
            np.savez(fh, coef=coef, intercept=intercept, classes=np.asarray(classes))
        self.manifest["head"] = {"n_classes": int(len(intercept))}
        self._save_manifest()

    def split_info(self, split):
        return self.manifest["splits"].get(split)

    # -- the collective steps: every process calls them, in the same order ------
    def start_split(self, split, ids, y, groups=None, *, skipped=(), options=None, align=1,
                    fingerprint=None):
        """Prepare ``split`` on the main process, then give this process its rows.

        The main process runs :meth:`begin_split` while the others wait (they
        re-read the manifest after it). The ``len(y)`` rows are cut into one
        contiguous block per process at multiples of ``align`` (the encoder's
        ``align(batch_size)``), so that blocks and resumes start where the
        batches of a single process start.

        Returns
        -------
        RowBlock
            This process's rows ``[lo, hi)``; ``done`` of them were committed by
            an earlier run.
        """
        on_main(self._group, lambda: self.begin_split(split, ids, y, groups, skipped=skipped,
                                                       options=options,
                                                       fingerprint=fingerprint))
        if not self.is_main:
            self.reload()
        lo, hi = self._group.block(len(y), align)
        # rows_done counts a complete split's rows up to its end, past this block's
        return RowBlock(self, split, lo, hi, min(self.rows_done(split, lo), hi - lo))

    def end_split(self, block):
        """Wait for every process, mark the split complete (main process) and return the
        number of rows all processes embedded in this run."""
        self._group.barrier()
        if self.is_main:
            self.finish_split(block.split)
        return self._group.total(block.hi - block.lo - block.done)

    def close(self):
        """Record this run's description in the manifest (main process) and wait until every
        process is done with the store."""
        if self.is_main and self._extra is not None:
            self._apply_extra()
            self._save_manifest()
        self._group.barrier()

    def _apply_extra(self):
        if self._extra is not None:
            self.manifest.update(self._extra)
            self._extra = None

    # -- the low-level steps -----------------------------------------------------
    def _progress_path(self, split):
        return os.path.join(split_dir(self.out_dir, split), f"progress.rank{self.rank}.json")

    def rows_done(self, split, lo):
        """Rows of this rank's block ``[lo, hi)`` already written: resume from ``lo + done``."""
        info = self.manifest["splits"][split]
        if info["complete"]:
            return info["rows"] - lo
        if self.world_size == 1:
            return info["done"]
        p = self._progress_path(split)
        if os.path.exists(p):
            try:
                prog = read_json(p, "progress file")
            except ValueError as exc:  # written atomically, so only damaged by hand
                logger.warning("%s; this process's rows of split %r start again", exc, split)
                return 0
            if prog.get("lo") == lo and isinstance(prog.get("done"), int):
                return prog["done"]
        return 0

    def open_rows(self, split):
        """Open ``X.npy`` of ``split`` for writing (mode ``r+``)."""
        return np.lib.format.open_memmap(inside(split_dir(self.out_dir, split), "X.npy"),
                                         mode="r+")

    def commit(self, split, X, lo, done):
        """Flush ``X`` to disk, then record that rows ``[lo, lo + done)`` are written."""
        X.flush()
        if self.world_size == 1:
            self.manifest["splits"][split]["done"] = int(done)
            self._save_manifest()
        else:
            _write_json(self._progress_path(split), {"lo": int(lo), "done": int(done)})

    def finish_split(self, split):
        """Mark ``split`` complete (rank 0, after every rank committed its last row)."""
        info = self.manifest["splits"][split]
        info["done"], info["complete"] = info["rows"], True
        info["finished"] = _now()
        self._save_manifest()
        d = split_dir(self.out_dir, split)
        for name in os.listdir(d):
            if is_progress_file(name) or is_temp_file(name):
                os.remove(os.path.join(d, name))
