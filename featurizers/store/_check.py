"""Checking a store's files against its manifest before anything is loaded (numpy only).

A damaged store is named file by file: the manifest (not JSON, not an object,
a key missing, not a store's), a ``.npy`` file that is not one, holds Python
objects, is truncated, or has another shape or dtype than the manifest says,
a ``head.npz`` that is not a zip of three arrays. Nothing is ever read with
``allow_pickle``: a pickle runs code when loaded.
"""

import os
import re
import zipfile

import numpy as np

from .._io import check_name, inside, read_json

__all__ = ["CorruptStoreError", "check_manifest", "split_dir", "open_npy", "read_head",
           "is_temp_file", "FORMAT", "FORMAT_VERSION"]

FORMAT = "neurontune-embedding-store"
FORMAT_VERSION = 1

#: Temporary files of an interrupted write: ours (``.<name>.tmp<pid>``) and those of
#: earlier versions (``manifest.json.tmp<pid>``, ``.head.tmp<pid>.npz``).
_TEMP = re.compile(r"(\..+\.tmp\d+|manifest\.json\.tmp\d+|\.head\.tmp\d+\.npz)")
_DAMAGED = ("; run the same nt-featurize command again to rewrite it (or choose another "
            "folder)")


_KIND_NAMES = {"i": "integers", "u": "unsigned integers", "U": "strings", "S": "bytes",
               "f": "floats"}


class CorruptStoreError(ValueError):
    """A file of the store is damaged or not what the manifest says; the message names it."""


def is_temp_file(name):
    """Whether ``name`` is a temporary file left by an interrupted write of the store."""
    return bool(_TEMP.fullmatch(name))


def check_manifest(path):
    """Read and check the manifest at ``path``; return it as a dict.

    Raises :class:`CorruptStoreError` naming the file and the problem: not
    UTF-8, not JSON, not a JSON object, not an embedding store's, a key
    missing or of the wrong type, a split name that is not a folder name.
    """
    try:
        m = read_json(path, "store manifest")
    except ValueError as exc:
        raise CorruptStoreError(str(exc)) from None

    def bad(problem):
        return CorruptStoreError(f"store manifest {path}: {problem}")

    if m.get("format") != FORMAT:
        found = f"'format' is {m['format']!r}" if "format" in m else "key 'format' missing"
        raise bad(f"{found}, expected {FORMAT!r}: this manifest.json is not an embedding "
                  "store's")
    version = m.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise bad(f"format_version {version!r}: written by a newer version of this package")
    expected = {"identity": dict, "dim": int, "dtype": str, "splits": dict}
    for key, kind in expected.items():
        if key not in m:
            raise bad(f"key {key!r} missing")
        if not isinstance(m[key], kind) or isinstance(m[key], bool):
            raise bad(f"{key!r} is a {type(m[key]).__name__}, expected a {kind.__name__}")
    if m["dim"] <= 0 or m["dtype"] not in ("float32", "float16"):
        raise bad(f"dim {m['dim']!r} / dtype {m['dtype']!r} (expected dim > 0, float32 or "
                  "float16)")
    head = m.get("head")
    if head is not None and not (isinstance(head, dict) and isinstance(head.get("n_classes"),
                                                                        int)):
        raise bad(f"'head' is {head!r}, expected null or {{'n_classes': int}}")
    for split, info in m["splits"].items():
        try:
            check_name(split)
        except ValueError as exc:
            raise bad(str(exc)) from None
        if not isinstance(info, dict):
            raise bad(f"split {split!r} is a {type(info).__name__}, expected an object")
        for key, kind in (("rows", int), ("done", int), ("complete", bool)):
            if not isinstance(info.get(key), kind):
                raise bad(f"split {split!r}: key {key!r} missing or not a {kind.__name__}")
    return m


def split_dir(store_dir, split):
    """The folder of ``split``, its name checked and its path resolved inside the store."""
    return inside(store_dir, check_name(split))


def _read_header(path):
    with open(path, "rb") as fh:
        try:
            version = np.lib.format.read_magic(fh)
        except ValueError:
            raise CorruptStoreError(f"{path} is not a .npy file (it does not start with the "
                                    f"numpy magic bytes){_DAMAGED}") from None
        try:
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        except ValueError as exc:
            raise CorruptStoreError(f"{path} has a damaged .npy header ({exc}){_DAMAGED}") \
                from None
        return shape, dtype, fh.tell()


def open_npy(path, *, shape, dtype=None, kinds=None, mmap=False):
    """Load the ``.npy`` file ``path`` after checking it holds ``shape`` of ``dtype``.

    Parameters
    ----------
    path : str
    shape : tuple of int
    dtype : str, optional
        The exact dtype, e.g. ``"float32"``.
    kinds : str, optional
        Or the accepted dtype kinds, e.g. ``"iuUS"`` (integers or strings).
    mmap : bool, default=False
        Open read-only memory-mapped.

    Raises
    ------
    CorruptStoreError
        Naming the file: not a .npy file, Python objects in it, truncated, or
        another shape or dtype.
    """
    dtype_name = dtype
    file_shape, dtype, offset = _read_header(path)
    if dtype.hasobject:
        raise CorruptStoreError(f"{path} holds Python objects (pickled data): refused, a store "
                                "holds numbers and strings only and loading a pickle can run "
                                f"code{_DAMAGED}")
    ok_dtype = dtype.name == dtype_name if dtype_name else dtype.kind in kinds
    if file_shape != tuple(shape) or not ok_dtype:
        expected = dtype_name or "/".join(_KIND_NAMES[k] for k in kinds)
        raise CorruptStoreError(f"{path} holds {dtype.name} of shape {file_shape}, the manifest "
                                f"expects {expected} of shape {tuple(shape)}{_DAMAGED}")
    needed = offset + int(np.prod(file_shape, dtype=np.int64)) * dtype.itemsize
    size = os.path.getsize(path)
    if size < needed:
        raise CorruptStoreError(f"{path} is truncated: {size} bytes where its header's shape "
                                f"{file_shape} needs {needed}{_DAMAGED}")
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def read_head(path, dim=None, n_classes=None):
    """``(coef, intercept, classes)`` of ``head.npz``, checked; CorruptStoreError naming it."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"PK\x03\x04":
        raise CorruptStoreError(f"{path} is not a .npz file (not a zip archive){_DAMAGED}")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("coef", "intercept", "classes")}
    except KeyError as exc:
        raise CorruptStoreError(f"{path} has no array {exc}{_DAMAGED}") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        what = ("holds Python objects (pickled data): refused" if "pickle" in str(exc)
                else f"cannot be read ({exc})")
        raise CorruptStoreError(f"{path} {what}{_DAMAGED}") from None
    coef, intercept, classes = arrays["coef"], arrays["intercept"], arrays["classes"]
    c = len(intercept)
    width = coef.shape[1] if coef.ndim == 2 else None
    # one row per class, or one row for two classes (a binary logistic model's layout)
    n_labels = 2 if c == 1 else c
    if (coef.ndim != 2 or coef.shape[0] != c or intercept.ndim != 1
            or classes.shape != (n_labels,)
            or (dim is not None and width != dim)
            or (n_classes is not None and c != n_classes)):
        raise CorruptStoreError(
            f"{path}: coef {coef.shape}, intercept {intercept.shape}, classes {classes.shape} "
            f"do not fit a head of {n_classes if n_classes is not None else 'C'} classes on "
            f"{dim if dim is not None else 'd'} dimensions{_DAMAGED}")
    if coef.dtype.kind != "f" or intercept.dtype.kind != "f":
        raise CorruptStoreError(f"{path}: coef and intercept must be floats, found "
                                f"{coef.dtype} and {intercept.dtype}{_DAMAGED}")
    return coef, intercept, classes
