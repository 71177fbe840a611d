"""Careful file handling shared by the store and the readers (standard library only).

Every helper here fails with a message that names the file and the problem:
names that become folders (:func:`check_name`, :func:`inside`), JSON files
(:func:`read_json`), text files in another encoding or malformed CSV
(:func:`naming_file`), writes that must never leave half a file or a temporary
file behind (:func:`atomic_write`), and disk space (:func:`check_free_space`,
:func:`preallocate`).
"""

import contextlib
import csv
import errno
import json
import logging
import os
import re
import shutil

__all__ = ["SAFE_NAME", "check_name", "inside", "read_json", "naming_file", "atomic_write",
           "check_free_space", "preallocate", "format_bytes"]

logger = logging.getLogger(__name__)

#: What a name that becomes a folder of a store may look like (a split name).
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_name(name, what="split name"):
    """Raise ValueError unless ``name`` can name a folder: letters, digits, ``_ . -``,
    not starting with a punctuation mark, no ``..``, no path separator.

    Examples
    --------
    >>> check_name("test_mixed-rand.v2")
    'test_mixed-rand.v2'
    >>> check_name("../other/train")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: split name '../other/train' cannot name a folder of the store: ...
    """
    if not (isinstance(name, str) and SAFE_NAME.fullmatch(name) and ".." not in name):
        raise ValueError(
            f"{what} {name!r} cannot name a folder of the store: use letters, digits, '_', "
            "'.' and '-' only, starting with a letter or digit, without '..' (a path or a "
            "'..' would write outside the store)")
    return name


def inside(root, *parts):
    """``root/parts...``, checked to resolve (symbolic links followed) inside ``root``."""
    path = os.path.join(root, *parts)
    real_root, real = os.path.realpath(root), os.path.realpath(path)
    if real == real_root or os.path.commonpath([real_root, real]) != real_root:
        raise ValueError(f"{path} resolves to {real}, outside the store {real_root}; "
                         "a store's files stay inside its folder")
    return path


def read_json(path, what="JSON file", kind=dict):
    """Parse the JSON object (or, with ``kind=list``, array) in ``path``; errors name the
    file and the problem.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError
        As ``open`` does (their message names the file).
    ValueError
        When the file is not UTF-8 text, not valid JSON, or holds something
        other than a JSON object (array).
    """
    with naming_file(path, what), open(path, encoding="utf-8-sig") as fh:
        try:
            obj = json.load(fh)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{what} {path} is not valid JSON: {exc.msg} at line {exc.lineno}, "
                             f"column {exc.colno}") from None
    if not isinstance(obj, kind):
        expected = "an object ({...})" if kind is dict else "an array ([...])"
        found = {dict: "object", list: "array", str: "string"}.get(type(obj), type(obj).__name__)
        raise ValueError(f"{what} {path} holds a JSON {found}, not {expected}")
    return obj


@contextlib.contextmanager
def naming_file(path, what="file"):
    """Turn codec and CSV errors raised while reading ``path`` into a ValueError naming it."""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what} {path} is not UTF-8 text: byte {exc.object[exc.start]:#04x} "
                         f"at offset {exc.start} ({exc.reason}); save it as UTF-8") from None
    except csv.Error as exc:
        raise ValueError(f"{what} {path} is not a readable CSV file: {exc}") from None


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Yield a file object on a temporary file beside ``path``; on success it is synced
    and renamed onto ``path``, on any error removed (so no half file and no temporary
    file stays). An OSError names ``path``."""
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.tmp{os.getpid()}")
    try:
        with open(tmp, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(exc, OSError) and not exc.filename:
            raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc
        raise


def format_bytes(n):
    """``1536`` -> ``'1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def check_free_space(folder, needed, what, reclaimable=0):
    """Raise OSError (ENOSPC) when ``folder``'s file system has less than ``needed`` bytes
    free (plus ``reclaimable``, the size of files the write replaces)."""
    free = shutil.disk_usage(folder).free + reclaimable
    if free < needed:
        raise OSError(errno.ENOSPC, f"not enough free disk space in {folder} for {what}: "
                      f"needs {format_bytes(needed)}, {format_bytes(free)} free. Free some "
                      "space (or choose another folder) and run the same command again: it "
                      "resumes where it stopped")


def preallocate(path, offset, length):
    """Reserve the blocks of ``path[offset:offset + length]`` on disk.

    Writes through a memory map to a sparse file fail with SIGBUS when the disk
    fills up; with the blocks reserved up front, a full disk is an OSError here
    instead. File systems that cannot reserve blocks are left as they are.
    """
    if length <= 0 or not hasattr(os, "posix_fallocate"):
        return
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, offset, length)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            logger.debug("cannot preallocate %s (%s); writing it sparse", path, exc)
            return
        raise OSError(exc.errno, f"cannot reserve {format_bytes(length)} for {path}: "
                      f"{exc.strerror}. Free some space (or choose another folder) and run "
                      "the same command again: it resumes where it stopped") from exc
    finally:
        os.close(fd)
