"""Fingerprints of a split's inputs, so that a resume can tell whether its rows still hold.

One 64-bit BLAKE2b digest per row: of the text (or the text pair), or of an
image file's resolved path, size and modification time (its folder resolved
through symbolic links, so another root holding files of the same names gives
other fingerprints). The store keeps them in ``<split>/fingerprint.npy``; the
writer compares them on a resume (see
:meth:`featurizers.store.EmbeddingStoreWriter.begin_split`). Reading the
image files themselves is left out on purpose: a stat per file costs what the
existence check before embedding already costs, a hash of every image would
cost a second pass over the data.
"""

import hashlib
import os

import numpy as np

__all__ = ["input_fingerprints"]


def _digest(text):
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=8).digest()


def _file_keys(paths):
    real_dirs = {}
    for p in paths:
        folder, name = os.path.split(p)
        real = real_dirs.get(folder)
        if real is None:
            real = real_dirs[folder] = os.path.realpath(folder or ".")
        try:
            st = os.stat(p)
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:  # a missing file: its own fingerprint, compared like the others
            size = mtime = -1
        yield f"file\0{real}/{name}\0{size}\0{mtime}"


def _text_keys(items):
    for t in items:
        if isinstance(t, (tuple, list)):
            yield "pair\0" + "\0".join(str(s) for s in t)
        else:
            yield "text\0" + str(t)


def input_fingerprints(inputs, modality):
    """One uint64 fingerprint per row of ``inputs``.

    Parameters
    ----------
    inputs : sequence of str or of (str, str)
        Image paths (``modality="image"``), texts or text pairs.
    modality : {"image", "text"}

    Returns
    -------
    ndarray of shape (n_rows,), dtype uint64

    Examples
    --------
    >>> a = input_fingerprints(["a cat", "a dog", ("a", "cat")], "text")
    >>> a.dtype, len(set(a.tolist()))
    (dtype('uint64'), 3)
    >>> bool((input_fingerprints(["a cat"], "text") == a[0]).all())
    True
    """
    if modality not in ("image", "text"):
        raise ValueError(f"modality must be 'image' or 'text', got {modality!r}")
    keys = _file_keys([os.fspath(p) for p in inputs]) if modality == "image" else \
        _text_keys(inputs)
    raw = b"".join(map(_digest, keys))
    return np.frombuffer(raw, dtype="<u8").astype(np.uint64)
