"""Shared machinery of the readers for the paper's datasets.

Everything here checks a published layout and fails with a message that
names the file, column or folder that is missing or wrong: the CSV column
reader, label checks, the image-existence check, folder listing, and
:class:`PublishedReader`, the base that validates, caches and summarises
every split a reader loads.
"""

import csv
import logging
import os
from dataclasses import dataclass, field
from operator import itemgetter

import numpy as np

from .base import DatasetReader, SplitData, split_summary

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")

# csv's default field limit (128 KiB) is too small for a few long comments.
csv.field_size_limit(2**31 - 1)


def find_file(root, candidates, what):
    """Return the first of ``root/candidate`` that exists.

    Raises
    ------
    FileNotFoundError
        Naming every path tried and ``what`` was looked for.
    """
    tried = [os.path.join(root, c) for c in candidates]
    for path in tried:
        if os.path.exists(path):
            return path
    raise FileNotFoundError(
        f"{what} not found; expected one of: {', '.join(tried)}"
    )


def read_csv_columns(path, columns, optional=(), text=(), delimiter=","):
    """Read the named columns of a CSV file as arrays of str.

    Parameters
    ----------
    path : str
    columns : sequence of str or of tuple of str
        Required columns; a tuple lists aliases, the first present is used
        and returned under the tuple's first name.
    optional : sequence of str
        Columns returned when present.
    text : sequence of str
        Columns of free text, returned as object arrays (a fixed-width str
        array would be as wide as the longest text in every row).
    delimiter : str

    Returns
    -------
    dict of str -> ndarray of str (object for ``text`` columns)
        Also holds ``"__header__"`` (the header as a list) and
        ``"__index__"`` when the first header cell is empty (a pandas
        index column).
    """
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path} is empty: expected a header row") from None
        names, index = [], []
        for col in columns:
            aliases = (col,) if isinstance(col, str) else tuple(col)
            hit = next((a for a in aliases if a in header), None)
            if hit is None:
                raise ValueError(
                    f"column {' or '.join(repr(a) for a in aliases)} missing from {path}; "
                    f"columns found: {header}"
                )
            names.append(aliases[0])
            index.append(header.index(hit))
        for col in optional:
            if col in header and col not in names:
                names.append(col)
                index.append(header.index(col))
        if header[0] == "":
            names.append("__index__")
            index.append(0)
        pick = itemgetter(*index)
        width = len(header)
        rows = []
        for row in reader:
            if len(row) != width:
                if not row:
                    continue
                raise ValueError(
                    f"{path}, line {reader.line_num}: {len(row)} fields where the "
                    f"header has {width}"
                )
            rows.append(pick(row))
    if len(index) == 1:
        rows = [(r,) for r in rows]
    cols = list(zip(*rows)) if rows else [()] * len(names)
    out = {}
    for n, c in zip(names, cols):
        if n in text:
            out[n] = np.empty(len(c), dtype=object)
            out[n][:] = c
        else:
            out[n] = np.asarray(c, dtype=str)
    out["__header__"] = header
    return out


def as_numbers(values, path, column):
    """Parse an array of str as float64; empty cells become NaN."""
    values = np.asarray(values, dtype=str)
    values = np.where(np.char.strip(values) == "", "nan", values)
    try:
        return values.astype(np.float64)
    except ValueError:
        bad = next(v for v in values if not _is_float(v))
        raise ValueError(
            f"column {column!r} of {path} holds a non-numeric value {bad!r}"
        ) from None


def _is_float(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def as_labels(values, allowed, path, column):
    """Parse integer labels and check that each is one of ``allowed``.

    Raises
    ------
    ValueError
        Naming the file, the column, the allowed set and the values found
        outside it.
    """
    numbers = as_numbers(values, path, column)
    allowed = np.asarray(sorted(allowed))
    ok = np.isin(numbers, allowed)
    if not ok.all():
        bad = np.unique(np.asarray(values, dtype=str)[~ok])[:10]
        raise ValueError(
            f"labels outside the expected set {allowed.tolist()} in column {column!r} "
            f"of {path}: found {bad.tolist()} ({int((~ok).sum())} rows)"
        )
    return numbers.astype(np.int64)


def as_index(values, path, column):
    """Parse non-negative integer row numbers (an index column)."""
    numbers = as_numbers(values, path, column)
    ok = np.isfinite(numbers) & (numbers >= 0) & (numbers == np.round(numbers))
    if not ok.all():
        bad = np.asarray(values, dtype=str)[~ok][0]
        raise ValueError(f"column {column!r} of {path} holds {bad!r}, not a row number")
    return numbers.astype(np.int64)


def check_files_exist(root, relpaths, listed_in):
    """Check that every ``root/relpath`` exists, one directory listing each.

    Raises
    ------
    FileNotFoundError
        Naming the first missing file, how many are missing, and the file
        that listed them.
    """
    relpaths = np.asarray(relpaths, dtype=str)
    if relpaths.size == 0:
        return
    parts = np.char.rpartition(np.char.replace(relpaths, "\\", "/"), "/")
    heads, tails = parts[:, 0], parts[:, 2]
    present = np.zeros(relpaths.shape, dtype=bool)
    uniq, inverse = np.unique(heads, return_inverse=True)
    for k, head in enumerate(uniq):
        folder = os.path.join(root, head)
        try:
            with os.scandir(folder) as it:
                names = np.asarray([e.name for e in it], dtype=str)
        except (FileNotFoundError, NotADirectoryError):
            continue
        rows = inverse == k
        present[rows] = np.isin(tails[rows], names)
    if not present.all():
        first = os.path.join(root, relpaths[~present][0])
        raise FileNotFoundError(
            f"image file {first} listed in {listed_in} does not exist "
            f"({int((~present).sum())} of {relpaths.size} listed files are missing)"
        )


def list_images(folder):
    """Sorted names of the image files directly inside ``folder``."""
    with os.scandir(folder) as it:
        names = [
            e.name for e in it
            if e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS
        ]
    return sorted(names)


def list_class_folders(root, folders, labels, where):
    """Rows of the images in ``root/<folder>`` for each class folder.

    Parameters
    ----------
    root : str
    folders : sequence of str
        The class folders, each one must exist.
    labels : sequence of int
        The label of each folder.
    where : str
        Names the split in error messages.

    Returns
    -------
    ids : ndarray of str
        ``folder/file`` relative to ``root``.
    paths : list of str
        Absolute paths.
    y : ndarray of int64
    """
    ids, y = [], []
    for folder, label in zip(folders, labels):
        path = os.path.join(root, folder)
        if not os.path.isdir(path):
            raise FileNotFoundError(f"class folder {path} of {where} does not exist")
        names = list_images(path)
        ids.extend(f"{folder}/{n}" for n in names)
        y.append(np.full(len(names), label, dtype=np.int64))
    ids = np.asarray(ids, dtype=str)
    abs_root = os.path.abspath(root)
    paths = [os.path.join(abs_root, i) for i in ids]
    y = np.concatenate(y) if y else np.zeros(0, dtype=np.int64)
    return ids, paths, y


def split_codes(values, mapping, path, column):
    """Map split values (str) to split names; unknown values are an error."""
    values = np.asarray(values, dtype=str)
    known = np.isin(values, list(mapping))
    if not known.all():
        bad = np.unique(values[~known])[:10]
        raise ValueError(
            f"split values outside the expected set {sorted(mapping)} in column "
            f"{column!r} of {path}: found {bad.tolist()}"
        )
    return values


@dataclass
class PublishedReader(DatasetReader):
    """Base of the readers of published layouts: validates, caches, summarises.

    Subclasses set ``name``, ``modality``, ``class_names`` and
    ``group_names`` in ``__post_init__`` and implement ``splits`` and
    ``_load(split)``. :meth:`load` checks that the split is known and not
    empty and that labels and groups are in range, logs its class and group
    sizes, and caches it; :meth:`describe` adds the sizes of every split.
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
