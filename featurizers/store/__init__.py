"""The on-disk embedding store: a numpy-only reader and a resumable writer.

One folder per dataset x backbone::

    manifest.json        what made the store, and per split its progress
    head.npz             optional: the backbone's own last layer (coef, intercept, classes)
    <split>/X.npy        embeddings, float32 (or float16), rows in the dataset's order
    <split>/y.npy        class labels (int64)
    <split>/groups.npy   group ids, where the dataset defines them
    <split>/ids.npy      the dataset's own sample ids

:mod:`featurizers.store.reader` opens a store (numpy only, ``X`` memory-mapped);
:mod:`featurizers.store.writer` makes one batch by batch, resumes a killed run
from the last committed row, and divides the rows between the processes of a
``torchrun`` launch. Neither imports torch.
"""

from .reader import (FORMAT, FORMAT_VERSION, HEAD, MANIFEST, EmbeddingStore,
                     IncompleteSplitError, StoreMismatchError, load_head, load_manifest,
                     load_split)
from .writer import EmbeddingStoreWriter, RowBlock

__all__ = [
    "EmbeddingStore",
    "EmbeddingStoreWriter",
    "RowBlock",
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
