"""A generic CSV dataset: one row per sample, any dataset in a few columns.

``--dataset csv --root DIR`` reads ``DIR/metadata.csv`` (or ``--csv FILE``)::

    path,label,group,split              (images; paths relative to DIR or absolute)
    birds/001.jpg,waterbird,0,train

    text,label,split                    (texts)
    text,text_pair,label,split          (sentence pairs, e.g. premise and hypothesis)

Columns (aliases in brackets): ``path`` (image, filename) or ``text`` (premise,
sentence, sentence1) with optional ``text_pair`` (hypothesis, sentence2);
``label`` (y); optional ``group``, ``split`` (all rows form split ``"all"``
without it) and ``id`` (default: the image path, or the row number for texts).
Labels and groups may be numbers or names; they are numbered in sorted order
and the names kept in ``class_names`` and ``group_names``. When every value
is a number they are compared as numbers (``1`` and ``1.0`` are one class,
named ``"1"``); names and numbers mixed are compared as text, and two
spellings of one number among them are refused. Rows keep the file's order
within each split.

The file is UTF-8, with or without a byte-order mark. Refused, with the file
and the values named: a column named twice in the header, a split value that
cannot name a folder (``../x``, ``/tmp/x``: split names become folders of the
store), an ``id`` or an image file listed twice within one split (one file may
serve several splits).
"""

import csv
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .._io import check_name
from ._csv import check_header, check_unique, open_csv
from .base import DatasetReader, SplitData

__all__ = ["CSVReader"]

_ALIASES = {
    "path": ("path", "image", "filename"),
    "text": ("text", "premise", "sentence", "sentence1"),
    "text_pair": ("text_pair", "hypothesis", "sentence2"),
    "label": ("label", "y"),
    "group": ("group",),
    "split": ("split",),
    "id": ("id",),
}
_SPLIT_ORDER = ("train", "val", "valid", "validation", "dev", "test")


def _number_name(x):
    """``1.0`` -> ``"1"``, ``0.5`` -> ``"0.5"``: the name of a numeric class."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _codes(values, what, path):
    """Number the distinct values in sorted order (as numbers when all are numbers).

    Examples
    --------
    >>> _codes(["1", "1.0", "0", "10"], "label", "f.csv")
    (array([1, 1, 0, 2]), ['0', '1', '10'])
    >>> _codes(["dog", "cat", "dog"], "label", "f.csv")
    (array([1, 0, 1]), ['cat', 'dog'])
    """
    values = np.char.strip(np.asarray(values, dtype=str))
    empty = np.flatnonzero(values == "")
    if len(empty):
        raise ValueError(f"{path}: {len(empty)} row(s) with an empty {what} "
                         f"(first at data row {empty[0] + 1}, line {empty[0] + 2})")
    uniq, inverse = np.unique(values, return_inverse=True)
    try:
        nums = uniq.astype(np.float64)
    except ValueError:
        nums = None
    if nums is not None and np.isfinite(nums).all():
        keys, of_uniq = np.unique(nums, return_inverse=True)
        return of_uniq[inverse].astype(np.int64), [_number_name(k) for k in keys]
    spellings = {}
    for u in uniq:  # one pass over the distinct values, not the rows
        try:
            x = float(u)
        except ValueError:
            continue
        spellings.setdefault(x, []).append(str(u))
    same = [v for v in spellings.values() if len(v) > 1]
    if same:
        numeric = {u for v in spellings.values() for u in v}
        words = [str(u) for u in uniq if str(u) not in numeric][:3]
        raise ValueError(f"{path}: the {what}s {same[0][0]!r} and {same[0][1]!r} are one number "
                         f"written two ways, among {what}s that are not all numbers (e.g. "
                         f"{words}); write each {what} one way")
    return inverse.astype(np.int64), [str(u) for u in uniq]


@dataclass
class CSVReader(DatasetReader):
    """Read a dataset from one CSV file (see the module docstring for its columns).

    Parameters
    ----------
    root : str
        The dataset folder; image paths are relative to it.
    csv : str, optional
        The CSV file (absolute, or relative to ``root``); default ``root/metadata.csv``.
    """

    name: str = "csv"
    csv: Optional[str] = None

    def __post_init__(self):
        self.root = os.fspath(self.root)
        path = os.path.join(self.root, self.csv or "metadata.csv")
        self.path = path
        if os.path.isdir(path):
            raise IsADirectoryError(21, "is a folder, not a CSV file (pass csv=... / --csv "
                                    "FILE)", path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"CSV file {path!r} not found (pass csv=... / --csv FILE)")
        with open_csv(path) as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None or not any(h.strip() for h in header):
                raise ValueError(f"CSV file {path!r} is empty: expected a header row "
                                 "(path or text, label, optional group, split)")
            header = [h.strip() for h in header]
            check_header(header, path)
            rows, lines = [], []
            for row in reader:
                if not row:
                    continue
                if len(row) != len(header):
                    raise ValueError(f"{path}, line {reader.line_num}: {len(row)} fields where "
                                     f"the header has {len(header)} ({header})")
                rows.append(row)
                lines.append(reader.line_num)
        if not rows:
            raise ValueError(f"CSV file {path!r} has a header but no rows")
        cols = {}
        for key, aliases in _ALIASES.items():
            hit = next((a for a in aliases if a in header), None)
            if hit is not None:
                cols[key] = np.asarray([r[header.index(hit)] for r in rows], dtype=object)
        if "label" not in cols or ("path" in cols) == ("text" in cols):
            raise ValueError(f"{path}: needs a label column and exactly one of an image path "
                             f"or a text column; columns found: {header}")
        self.modality = "image" if "path" in cols else "text"
        self._y, self.class_names = _codes(cols["label"], "label", path)
        self._groups, self.group_names = (_codes(cols["group"], "group", path)
                                          if "group" in cols else (None, []))
        split = np.char.strip(cols["split"].astype(str)) if "split" in cols else \
            np.full(len(rows), "all")
        if (split == "").any():
            raise ValueError(f"{path}: empty split at line {lines[np.flatnonzero(split == '')[0]]}")
        first_seen = {str(s): i for i, s in reversed(list(enumerate(split)))}
        for name, i in first_seen.items():
            try:
                check_name(name, "split")
            except ValueError as exc:
                raise ValueError(f"{path}, line {lines[i]}: {exc}") from None
        self._splits = sorted(map(str, first_seen), key=lambda s: (
            _SPLIT_ORDER.index(s) if s in _SPLIT_ORDER else len(_SPLIT_ORDER), first_seen[s]))
        self._split = split
        if self.modality == "image":
            rel = cols["path"].astype(str)
            root = os.path.abspath(self.root)
            self._inputs = [os.path.join(root, p) for p in rel]
            _unique_per_split([os.path.normpath(p) for p in self._inputs], split, "image file",
                              path, lines)
            default_ids = rel
        else:
            text = cols["text"]
            self._inputs = (list(zip(text, cols["text_pair"])) if "text_pair" in cols
                            else list(text))
            default_ids = np.arange(len(rows))
        self._ids = cols["id"].astype(str) if "id" in cols else default_ids
        if "id" in cols:
            _unique_per_split(self._ids, split, "id", path, lines)

    def splits(self):
        """Split names, train/val/test first, then in order of appearance."""
        return list(self._splits)

    def load(self, split):
        """The rows of ``split`` in the file's order."""
        if split not in self._splits:
            raise ValueError(f"unknown split {split!r} in {self.path}; splits: {self._splits}")
        idx = np.flatnonzero(self._split == split)
        return SplitData(ids=np.asarray(self._ids)[idx], inputs=[self._inputs[i] for i in idx],
                         y=self._y[idx],
                         groups=None if self._groups is None else self._groups[idx])

    def describe(self):
        out = super().describe()
        out.update(csv=os.path.abspath(self.path),
                   rows={s: int((self._split == s).sum()) for s in self._splits})
        return out


def _unique_per_split(values, split, what, path, lines):
    """Refuse a value repeated within one split; the same file or id may serve several
    splits (e.g. two validation regimes drawn from one pool), as the store keeps
    every split apart."""
    values, split, lines = np.asarray(values), np.asarray(split), np.asarray(lines)
    for name in np.unique(split):
        rows = split == name
        check_unique(values[rows], what, path, lines[rows], split=str(name))
