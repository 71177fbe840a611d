"""CSV files of the published layouts: columns by name, and the cells parsed and checked.

Every function here fails with a message naming the file and the column (and,
for malformed rows, the line) that is wrong. Cells of free text can exceed the
csv module's default field limit (128 KiB; a few CivilComments comments do), so
every read runs inside :func:`long_fields`, which raises the process-wide
limit for the duration of the read only and then restores it. Files are read
as UTF-8 with an optional byte-order mark (what Excel writes); a header that
names a column twice is refused, since either column could be the one meant.
"""

import contextlib
import csv
from operator import itemgetter

import numpy as np

from .._io import naming_file

__all__ = [
    "long_fields",
    "open_csv",
    "check_header",
    "check_unique",
    "read_csv_columns",
    "as_numbers",
    "as_labels",
    "as_index",
    "split_codes",
]

#: The field limit while reading: the largest a C long holds on every platform.
LONG_FIELD_LIMIT = 2**31 - 1


@contextlib.contextmanager
def long_fields(limit=LONG_FIELD_LIMIT):
    """Raise ``csv.field_size_limit`` to ``limit`` inside the block, then restore it.

    The limit is process-wide, so a thread reading CSV at the same time sees the
    raised limit too (never a lower one than before).

    Examples
    --------
    >>> import csv
    >>> before = csv.field_size_limit()
    >>> with long_fields():
    ...     csv.field_size_limit() == LONG_FIELD_LIMIT
    True
    >>> csv.field_size_limit() == before
    True
    """
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


@contextlib.contextmanager
def open_csv(path, what="CSV file"):
    """Open ``path`` for the csv module: UTF-8 (a byte-order mark is skipped), long fields
    allowed, codec and CSV errors turned into a ValueError naming the file."""
    with long_fields(), naming_file(path, what), open(path, newline="",
                                                      encoding="utf-8-sig") as fh:
        yield fh


def check_header(header, path):
    """Raise ValueError naming a column that the header of ``path`` holds twice.

    Empty names (trailing delimiters, a pandas index column) are not compared.
    """
    seen = {}
    for i, name in enumerate(header):
        if name and name in seen:
            raise ValueError(f"column {name!r} appears twice in the header of {path} "
                             f"(columns {seen[name] + 1} and {i + 1}); rename one of them")
        seen.setdefault(name, i)


def check_unique(values, what, path, lines=None, split=None):
    """Raise ValueError naming the first repeated ``values`` (ids, image files) of ``path``.

    Parameters
    ----------
    values : array-like of str or int
    what : str
        What the values are, e.g. ``"sample id"``.
    path : str
    lines : array-like of int, optional
        The file line of each value, to name where the first repeats are.
    split : str, optional
        The split the values belong to, named in the message.
    """
    values = np.asarray(values)
    uniq, first, counts = np.unique(values, return_index=True, return_counts=True)
    if (counts == 1).all():
        return
    dup = np.flatnonzero(counts > 1)
    dup = dup[np.argsort(first[dup], kind="stable")]
    shown = []
    for k in dup[:5]:
        rows = np.flatnonzero(values == uniq[k])
        where = (f" (lines {', '.join(str(lines[r]) for r in rows[:3])})" if lines is not None
                 else f" ({counts[k]} times)")
        shown.append(f"{uniq[k]!s}{where}")
    within = f" in split {split!r}" if split is not None else ""
    raise ValueError(f"{path}: {dup.size} {what}(s) appear more than once{within}: "
                     f"{'; '.join(shown)}{'; ...' if dup.size > 5 else ''}. Every row needs "
                     f"its own {what}")


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
    with open_csv(path) as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path} is empty: expected a header row") from None
        check_header(header, path)
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
