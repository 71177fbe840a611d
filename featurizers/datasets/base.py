"""The interface every dataset reader implements.

A reader turns a dataset in its published file layout into, per split, the
rows the featurizers embed: sample ids, inputs (image paths, texts or text
pairs), integer class labels and, where the dataset defines them, integer
group ids. Group ids are for evaluation only; nothing fits on them.
"""

from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import numpy as np

__all__ = ["SplitData", "DatasetReader", "split_summary"]


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
