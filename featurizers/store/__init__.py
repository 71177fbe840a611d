"""The on-disk embedding store: a numpy-only reader and a resumable writer.

One folder per dataset x backbone::

    manifest.json        what made the store, and per split its progress
    head.npz             optional: the backbone's own last layer (coef, intercept, classes)
    <split>/X.npy        embeddings, float32 (or float16), rows in the dataset's order
    <split>/y.npy        class labels (int64)
    <split>/groups.npy   group ids, where the dataset defines them
    <split>/ids.npy      the dataset's own sample ids
    <split>/fingerprint.npy  one uint64 per row: what the row's input was (its file's
                         resolved path, size and modification time, or its text), so
                         that a resume refuses rows whose inputs changed

Split names are folder names: letters, digits, ``_ . -``, starting with a
letter or digit, no ``..`` (anything else is refused, so that no split can
write outside the store).

:mod:`featurizers.store.reader` opens a store (numpy only, ``X`` memory-mapped),
checking every file against the manifest; :mod:`featurizers.store.writer`
makes one batch by batch, resumes a killed run from the last committed row,
and divides the rows between the processes of a ``torchrun`` launch. Neither
imports torch.

A re-run into an existing store (the same command again) checks each split
before resuming it: the same rows (count and ids) and intact files, else the
split is embedded again; the same inputs for the rows already embedded, else
:class:`InputsChangedError` names the rows (``overwrite=True`` embeds the split
again); changed labels or groups are rewritten in place. A store written before
fingerprints were recorded is trusted once and its fingerprints recorded.
"""

from .reader import (FORMAT, FORMAT_VERSION, HEAD, MANIFEST, CorruptStoreError, EmbeddingStore,
                     IncompleteSplitError, StoreMismatchError, load_head, load_manifest,
                     load_split)
from .writer import EmbeddingStoreWriter, InputsChangedError, RowBlock

__all__ = [
    "EmbeddingStore",
    "EmbeddingStoreWriter",
    "RowBlock",
    "StoreMismatchError",
    "IncompleteSplitError",
    "CorruptStoreError",
    "InputsChangedError",
    "load_manifest",
    "load_split",
    "load_head",
    "MANIFEST",
    "HEAD",
    "FORMAT",
    "FORMAT_VERSION",
]
