"""The on-disk embedding store: a resumable writer and a numpy-only reader.

One folder per dataset x backbone::

    manifest.json        what made the store, and per split its progress
    head.npz             optional: the backbone's own last layer (coef, intercept, classes)
    <split>/X.npy        embeddings, float32 (or float16), rows in the dataset's order
    <split>/y.npy        class labels (int64)
    <split>/groups.npy   group ids, where the dataset defines them
    <split>/ids.npy      the dataset's own sample ids

The writer fills ``X.npy`` through :func:`numpy.lib.format.open_memmap` batch by
batch. After each committed batch it flushes ``X`` and only then records the
number of rows done (in the manifest, or, when several processes share the
store, in one small progress file per process). A killed run resumes from the
recorded row; a split is marked complete only after its last row is flushed.
The reader needs numpy only.
"""

import datetime
import json
import logging
import os
import platform

import numpy as np

__all__ = [
    "EmbeddingStore",
    "EmbeddingStoreWriter",
    "StoreMismatchError",
    "IncompleteSplitError",
    "load_manifest",
    "load_split",
    "load_head",
]

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
HEAD = "head.npz"
FORMAT = "neurontune-embedding-store"
FORMAT_VERSION = 1
_SPLIT_FILES = ("X.npy", "y.npy", "groups.npy", "ids.npy")


class StoreMismatchError(ValueError):
    """The output folder holds a store made by another model or setting."""


class IncompleteSplitError(ValueError):
    """A split was requested whose rows are not all written yet."""


def _write_json(path, obj):
    """Write JSON atomically: a temporary file, fsync, then rename."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=1, default=_json_default)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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


def load_manifest(store_dir):
    """Return the manifest of the store in ``store_dir`` as a dict."""
    path = os.path.join(store_dir, MANIFEST)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{store_dir!r} holds no embedding store (no {MANIFEST})")
    with open(path) as fh:
        return json.load(fh)


def load_split(store_dir, split, *, allow_incomplete=False):
    """Open one split of a store.

    Parameters
    ----------
    store_dir : str or path-like
        The store folder.
    split : str
        The split name, e.g. ``"train"``.
    allow_incomplete : bool, default=False
        Open a split whose writing has not finished (rows past the manifest's
        ``done`` count are zeros).

    Returns
    -------
    X : memmap of shape (n_rows, dim)
        Opened read-only with ``mmap_mode="r"``.
    y : ndarray of shape (n_rows,)
    groups : ndarray of shape (n_rows,) or None
    ids : ndarray of shape (n_rows,)
    """
    manifest = load_manifest(store_dir)
    info = manifest["splits"].get(split)
    if info is None:
        raise KeyError(f"store {store_dir!r} has no split {split!r}; "
                       f"it has {sorted(manifest['splits'])}")
    if not info.get("complete") and not allow_incomplete:
        raise IncompleteSplitError(
            f"split {split!r} of {store_dir!r} is incomplete ({info.get('done', 0)} of "
            f"{info['rows']} rows); resume the featurizer run, or pass allow_incomplete=True"
        )
    d = os.path.join(store_dir, split)
    X = np.load(os.path.join(d, "X.npy"), mmap_mode="r")
    y = np.load(os.path.join(d, "y.npy"))
    gpath = os.path.join(d, "groups.npy")
    groups = np.load(gpath) if os.path.exists(gpath) else None
    ids = np.load(os.path.join(d, "ids.npy"), allow_pickle=False)
    return X, y, groups, ids


def load_head(store_dir):
    """Return the backbone's own last layer ``(coef, intercept, classes)``, or None."""
    path = os.path.join(store_dir, HEAD)
    if not os.path.exists(path):
        return None
    with np.load(path, allow_pickle=False) as z:
        return z["coef"], z["intercept"], z["classes"]


class EmbeddingStore:
    """Read access to an embedding store (numpy only).

    Parameters
    ----------
    path : str or path-like
        The store folder.

    Attributes
    ----------
    manifest : dict
        The parsed ``manifest.json``.
    splits : list of str
        Split names whose rows are all written.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self.manifest = load_manifest(self.path)

    @property
    def splits(self):
        return [s for s, info in self.manifest["splits"].items() if info.get("complete")]

    @property
    def dim(self):
        return self.manifest["dim"]

    def load(self, split, *, allow_incomplete=False):
        """``(X, y, groups, ids)`` of ``split``; see :func:`load_split`."""
        return load_split(self.path, split, allow_incomplete=allow_incomplete)

    def head(self):
        """``(coef, intercept, classes)`` or None; see :func:`load_head`."""
        return load_head(self.path)

    def __repr__(self):
        return f"EmbeddingStore({self.path!r}, splits={self.splits}, dim={self.dim})"


class EmbeddingStoreWriter:
    """Create, or resume, an embedding store.

    Only rank 0 (the only process in a single-process run) writes the manifest,
    the head and the label files; every rank writes its own block of rows of
    ``X.npy``. In a multi-process run each rank records its progress in
    ``<split>/progress.rank<r>.json``; rank 0 marks the split complete after a
    barrier that the caller provides.

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
        Replace a store with another identity (only the store's own files are
        removed).
    rank, world_size : int, default=0, 1
        This process and the number of processes sharing the store.
    extra : dict, optional
        More manifest fields (dataset description, run options).
    """

    def __init__(self, out_dir, identity, dim, *, dtype="float32", overwrite=False,
                 rank=0, world_size=1, extra=None):
        if dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be 'float32' or 'float16', got {dtype!r}")
        self.out_dir = os.fspath(out_dir)
        self.dim = int(dim)
        self.dtype = dtype
        self.rank, self.world_size = rank, world_size
        self.identity = json.loads(json.dumps(dict(identity, dtype=dtype, dim=self.dim),
                                              default=_json_default))
        self._path = os.path.join(self.out_dir, MANIFEST)
        if rank == 0:
            self._open_as_main(overwrite, extra or {})

    # -- manifest ---------------------------------------------------------
    def _open_as_main(self, overwrite, extra):
        os.makedirs(self.out_dir, exist_ok=True)
        if os.path.exists(self._path):
            old = load_manifest(self.out_dir)
            diff = sorted(k for k in set(old.get("identity", {})) | set(self.identity)
                          if old.get("identity", {}).get(k) != self.identity.get(k))
            if diff and not overwrite:
                lines = [f"  {k}: store has {old.get('identity', {}).get(k)!r}, "
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
                self.manifest = old
                self.manifest.update(extra)
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
        for split in old.get("splits", {}):
            for name in _SPLIT_FILES:
                p = os.path.join(self.out_dir, split, name)
                if os.path.exists(p):
                    os.remove(p)
            for name in os.listdir(os.path.join(self.out_dir, split)) if os.path.isdir(
                    os.path.join(self.out_dir, split)) else []:
                if name.startswith("progress.rank"):
                    os.remove(os.path.join(self.out_dir, split, name))
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
        tmp = os.path.join(self.out_dir, f".head.tmp{os.getpid()}.npz")
        np.savez(tmp, coef=coef, intercept=intercept, classes=np.asarray(classes))
        os.replace(tmp, os.path.join(self.out_dir, HEAD))
        self.manifest["head"] = {"n_classes": int(len(intercept))}
        self._save_manifest()

    # -- splits -----------------------------------------------------------
    def split_info(self, split):
        return self.manifest["splits"].get(split)

    def begin_split(self, split, ids, y, groups=None, *, skipped=(), options=None):
        """Create a split's files, or check them for a resume (rank 0).

        Returns the split's manifest entry. An entry is reused only when the
        ids and the skipped ids match and, for an incomplete split, the number
        of processes too; otherwise the split restarts from row 0.
        """
        n = len(y)
        d = os.path.join(self.out_dir, split)
        info = self.manifest["splits"].get(split)
        skipped = [str(s) for s in skipped]
        same = (info is not None and info["rows"] == n and info.get("skipped", []) == skipped
                and (info["complete"] or info.get("world_size", 1) == self.world_size)
                and os.path.exists(os.path.join(d, "X.npy")))
        ids = np.asarray(ids)
        if ids.dtype == object:
            ids = ids.astype(str)
        if same:
            old_ids = np.load(os.path.join(d, "ids.npy"), allow_pickle=False)
            same = np.array_equal(old_ids, ids)
        if same:
            if info.get("options") != options:
                logger.warning("split %r: resuming with other run options %s (was %s); values "
                               "may differ in the last bits", split, options, info.get("options"))
            return info
        if info is not None:
            logger.warning("split %r: its rows, ids or process count changed since the last "
                           "run; restarting it", split)
        os.makedirs(d, exist_ok=True)
        for name in os.listdir(d):
            if name.startswith("progress.rank"):
                os.remove(os.path.join(d, name))
        np.save(os.path.join(d, "y.npy"), np.asarray(y, dtype=np.int64))
        np.save(os.path.join(d, "ids.npy"), ids)
        gpath = os.path.join(d, "groups.npy")
        if groups is not None:
            np.save(gpath, np.asarray(groups, dtype=np.int64))
        elif os.path.exists(gpath):
            os.remove(gpath)
        X = np.lib.format.open_memmap(os.path.join(d, "X.npy"), mode="w+",
                                      dtype=self.dtype, shape=(n, self.dim))
        X.flush()
        del X
        info = {"rows": n, "done": 0, "complete": n == 0, "skipped": skipped,
                "world_size": self.world_size, "options": options}
        self.manifest["splits"][split] = info
        self._save_manifest()
        return info

    def _progress_path(self, split):
        return os.path.join(self.out_dir, split, f"progress.rank{self.rank}.json")

    def rows_done(self, split, lo):
        """Rows of this rank's block ``[lo, hi)`` already written: resume from ``lo + done``."""
        info = self.manifest["splits"][split]
        if info["complete"]:
            return info["rows"] - lo
        if self.world_size == 1:
            return info["done"]
        p = self._progress_path(split)
        if os.path.exists(p):
            with open(p) as fh:
                prog = json.load(fh)
            if prog.get("lo") == lo:
                return prog["done"]
        return 0

    def open_rows(self, split):
        """Open ``X.npy`` of ``split`` for writing (mode ``r+``)."""
        return np.lib.format.open_memmap(os.path.join(self.out_dir, split, "X.npy"), mode="r+")

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
        d = os.path.join(self.out_dir, split)
        for name in os.listdir(d):
            if name.startswith("progress.rank"):
                os.remove(os.path.join(d, name))
