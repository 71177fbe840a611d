"""The interface every dataset reader implements, and the base of the published layouts.

A reader turns a dataset in its published file layout into, per split, the
rows the featurizers embed: sample ids, inputs (image paths, texts or text
pairs), integer class labels and, where the dataset defines them, integer
group ids. Group ids are for evaluation only; nothing fits on them.

:class:`DatasetReader` is the interface; :class:`PublishedReader` is the base
of the readers of the paper's datasets (a template method: its ``load``
validates, logs and caches what the subclass's ``_load`` returns).
"""

import logging
import os
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import numpy as np

from ._csv import check_unique

__all__ = ["SplitData", "DatasetReader", "PublishedReader", "make_split", "split_summary"]

logger = logging.getLogger(__name__)


@dataclass
class SplitData:
    """The rows of one split, in the dataset's own order.

    Attributes
    ----------
    ids : ndarray of shape (n_rows,)
        The dataset's own sample ids (file names, row numbers), so that rows
        of the store can be traced back to files.
    inputs : sequence of str or of (str, str)
        Image paths (absolute), texts, or (premise, hypothesis) pairs.
    y : ndarray of shape (n_rows,), dtype int64
        Class labels, ``0 .. n_classes - 1``.
    groups : ndarray of shape (n_rows,), dtype int64, or None
        Group ids where the dataset defines them; see the reader's
        ``group_names``.
    """

    ids: np.ndarray
    inputs: Sequence[Union[str, tuple]]
    y: np.ndarray
    groups: Optional[np.ndarray] = None

    def __len__(self):
        return len(self.y)


@dataclass
class DatasetReader:
    """Base class of the readers: subclasses fill ``load``.

    Attributes
    ----------
    name : str
        The name users type (``--dataset NAME``).
    modality : {"image", "text"}
    root : str
        The folder holding the dataset.
    class_names : list of str
        ``class_names[i]`` names class label ``i``.
    group_names : list of str
        ``group_names[g]`` names group id ``g`` (empty where there are none).
    """

    name: str = ""
    modality: str = "image"
    root: str = ""
    class_names: list = field(default_factory=list)
    group_names: list = field(default_factory=list)

    def splits(self):
        """The split names this dataset offers, in their usual order."""
        raise NotImplementedError

    def load(self, split):
        """Return the :class:`SplitData` of ``split``."""
        raise NotImplementedError

    def describe(self):
        """A JSON-serialisable record for the store's manifest."""
        return {
            "name": self.name,
            "modality": self.modality,
            "root": str(self.root),
            "class_names": list(self.class_names),
            "group_names": list(self.group_names),
        }


def split_summary(data, n_classes, n_groups=0):
    """Row, class and group counts of one split, JSON-serialisable.

    Parameters
    ----------
    data : SplitData
    n_classes : int
    n_groups : int, default=0
        Number of group ids; 0 (or ``data.groups`` None) leaves out the
        group counts.

    Returns
    -------
    dict
        ``{"n_rows": int, "class_counts": [int] * n_classes}`` and, where
        there are groups, ``"group_counts": [int] * n_groups``.
    """
    out = {
        "n_rows": int(len(data.y)),
        "class_counts": np.bincount(data.y, minlength=n_classes).tolist(),
    }
    if data.groups is not None and n_groups:
        out["group_counts"] = np.bincount(data.groups, minlength=n_groups).tolist()
    return out


@dataclass
class PublishedReader(DatasetReader):
    """Base of the readers of published layouts: validates, caches, summarises.

    Subclasses set ``name``, ``modality``, ``class_names`` and
    ``group_names`` in ``__post_init__`` and implement ``splits`` and
    ``_load(split)``. :meth:`load` checks that the split is known and not
    empty, that labels and groups are in range and that no sample id or image
    file is listed twice, logs its class and group sizes, and caches it;
    :meth:`describe` adds the sizes of every split.
    """

    name: str = field(default="", init=False)
    modality: str = field(default="image", init=False)
    class_names: list = field(default_factory=list, init=False)
    group_names: list = field(default_factory=list, init=False)
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        self.root = os.fspath(self.root)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"dataset root {self.root} is not a directory")

    def _source(self):
        """The file or folder the split rows come from, for error messages."""
        return self.root

    def _load(self, split):
        raise NotImplementedError

    def load(self, split):
        """Return the :class:`SplitData` of ``split`` (validated, cached)."""
        if split in self._cache:
            return self._cache[split]
        names = self.splits()
        if split not in names:
            raise ValueError(f"unknown split {split!r} of {self.name}; splits: {names}")
        data = self._load(split)
        if len(data) == 0:
            raise ValueError(f"split {split!r} of {self.name} is empty in {self._source()}")
        n_classes = len(self.class_names)
        if data.y.min() < 0 or data.y.max() >= n_classes:
            raise ValueError(
                f"labels of split {split!r} outside 0..{n_classes - 1} in {self._source()}"
            )
        if data.groups is not None and (
            data.groups.min() < 0 or data.groups.max() >= len(self.group_names)
        ):
            raise ValueError(f"group ids of split {split!r} out of range in {self._source()}")
        check_unique(data.ids, "sample id", self._source())
        if self.modality == "image":
            check_unique([os.path.normpath(p) for p in data.inputs], "image file",
                         self._source())
        summary = split_summary(data, n_classes, len(self.group_names))
        logger.info("%s %s: %s", self.name, split, summary)
        self._cache[split] = data
        return data

    def describe(self):
        """The base record plus, per split, row, class and group counts."""
        out = super().describe()
        out["splits"] = {
            s: split_summary(self.load(s), len(self.class_names), len(self.group_names))
            for s in self.splits()
        }
        return out


def make_split(ids, inputs, y, groups=None):
    """A :class:`SplitData` with the dtypes the store expects."""
    return SplitData(
        ids=np.asarray(ids),
        inputs=inputs,
        y=np.asarray(y, dtype=np.int64),
        groups=None if groups is None else np.asarray(groups, dtype=np.int64),
    )
