"""Reading an embedding store: numpy only, memory-mapped, never torch.

The format (see :mod:`featurizers.store`) and its file names are defined here;
:mod:`featurizers.store.writer` writes what this module reads. ``X.npy`` opens
with ``mmap_mode="r"``, so a split larger than memory is read page by page.
Every file is checked against the manifest before it is loaded (shape, dtype,
size; no pickles): a damaged file raises :class:`CorruptStoreError` naming it.
"""

import os

from ._check import (FORMAT, FORMAT_VERSION, CorruptStoreError, check_manifest, open_npy,
                     read_head, split_dir)

__all__ = [
    "EmbeddingStore",
    "StoreMismatchError",
    "IncompleteSplitError",
    "CorruptStoreError",
    "load_manifest",
    "load_split",
    "load_head",
    "MANIFEST",
    "HEAD",
    "FORMAT",
    "FORMAT_VERSION",
]

MANIFEST = "manifest.json"
HEAD = "head.npz"
#: The files of a split folder; ``fingerprint.npy`` (the inputs' fingerprints, for resumes)
#: is written by the featurizers and read by the writer only.
_SPLIT_FILES = ("X.npy", "y.npy", "groups.npy", "ids.npy", "fingerprint.npy")


class StoreMismatchError(ValueError):
    """The output folder holds a store made by another model or setting."""


class IncompleteSplitError(ValueError):
    """A split was requested whose rows are not all written yet."""


def load_manifest(store_dir):
    """Return the manifest of the store in ``store_dir`` as a dict.

    Raises
    ------
    FileNotFoundError
        When ``store_dir`` has no ``manifest.json``.
    CorruptStoreError
        Naming the file and the problem when it is not a store's manifest (not
        JSON, not an object, a key missing, another format).
    """
    path = os.path.join(store_dir, MANIFEST)
    if not os.path.isfile(path):
        if os.path.isdir(path):
            raise CorruptStoreError(f"{path} is a folder, not a store manifest")
        raise FileNotFoundError(f"{store_dir!r} holds no embedding store (no {MANIFEST})")
    return check_manifest(path)


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

    Raises
    ------
    KeyError
        When the store has no such split.
    IncompleteSplitError
        When its rows are not all written and ``allow_incomplete`` is False.
    CorruptStoreError
        Naming the file that is missing, truncated, not a ``.npy`` file, holds
        Python objects, or whose shape or dtype is not what the manifest says.
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
    return _open_split(store_dir, split, manifest["dim"], manifest["dtype"], info["rows"])


def _open_split(store_dir, split, dim, dtype, rows):
    """The split's arrays, each checked against the manifest (shape, dtype, size)."""
    d = split_dir(store_dir, split)

    def path(name):
        p = os.path.join(d, name)
        if not os.path.isfile(p):
            raise CorruptStoreError(f"{p} is missing from the store; run the same nt-featurize "
                                    "command again to rewrite it")
        return p

    X = open_npy(path("X.npy"), shape=(rows, dim), dtype=dtype, mmap=True)
    y = open_npy(path("y.npy"), shape=(rows,), dtype="int64")
    gpath = os.path.join(d, "groups.npy")
    groups = open_npy(gpath, shape=(rows,), dtype="int64") if os.path.exists(gpath) else None
    ids = open_npy(path("ids.npy"), shape=(rows,), kinds="iuUS")
    return X, y, groups, ids


def load_head(store_dir):
    """Return the backbone's own last layer ``(coef, intercept, classes)``, or None.

    Checked against the manifest (width ``dim``, ``head.n_classes`` rows) when
    the store has one; a damaged file raises :class:`CorruptStoreError`.
    """
    path = os.path.join(store_dir, HEAD)
    if not os.path.exists(path):
        return None
    dim = n_classes = None
    if os.path.exists(os.path.join(store_dir, MANIFEST)):
        manifest = load_manifest(store_dir)
        dim, n_classes = manifest["dim"], (manifest.get("head") or {}).get("n_classes")
    return read_head(path, dim, n_classes)


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
