"""Reading an embedding store: numpy only, memory-mapped, never torch.

The format (see :mod:`featurizers.store`) and its file names are defined here;
:mod:`featurizers.store.writer` writes what this module reads. ``X.npy`` opens
with ``mmap_mode="r"``, so a split larger than memory is read page by page.
"""

import json
import os

import numpy as np

__all__ = [
    "EmbeddingStore",
    "StoreMismatchError",
    "IncompleteSplitError",
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
FORMAT = "neurontune-embedding-store"
FORMAT_VERSION = 1
_SPLIT_FILES = ("X.npy", "y.npy", "groups.npy", "ids.npy")


class StoreMismatchError(ValueError):
    """The output folder holds a store made by another model or setting."""


class IncompleteSplitError(ValueError):
    """A split was requested whose rows are not all written yet."""


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
