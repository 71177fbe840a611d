"""What every command of the project shares: checked numbers, ``--debug``, one-line errors.

``nt-featurize`` and the ``python -m benchmarks.<name>`` commands build their
parsers with the argparse types below, so that ``--batch-size 0`` is refused
by argparse (exit code 2, before anything is loaded or created) instead of
failing later. :func:`guarded` runs a command: an expected error (bad input, a
file that is missing, damaged, not UTF-8 or not JSON, a full disk, a missing
optional dependency) ends it with one line ``<prog>: error: <message>`` on
stderr and exit code 2; ``--debug`` lets the exception through, traceback and
all. Anything else is a bug and keeps its traceback.

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser()
>>> _ = p.add_argument("--batch-size", type=positive_int)
>>> p.parse_args(["--batch-size", "8"]).batch_size
8
>>> positive_int("0")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: must be a positive integer, got '0'
"""

import argparse
import json
import re
import sys

__all__ = ["positive_int", "non_negative_int", "positive_float", "non_negative_float",
           "n_jobs", "add_debug_flag", "EXPECTED_ERRORS", "EXIT_ERROR", "error_message",
           "guarded"]

#: Errors that a user's input or machine explains (files, codecs and JSON included: their
#: classes derive from these); anything else is a bug and keeps its traceback.
EXPECTED_ERRORS = (OSError, ValueError, ImportError, KeyError)
EXIT_ERROR = 2


def _number(cast, test, what):
    def parse(text):
        try:
            value = cast(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    parse.__name__ = what.replace(" ", "_")  # argparse names the type in its messages
    return parse


def _finite(x):
    return x == x and abs(x) != float("inf")


positive_int = _number(int, lambda v: v > 0, "a positive integer")
positive_int.__doc__ = "argparse type: an integer > 0 (batch sizes, epochs, sizes)."
non_negative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
non_negative_int.__doc__ = "argparse type: an integer >= 0 (workers, seeds)."
positive_float = _number(float, lambda v: _finite(v) and v > 0, "a positive number")
positive_float.__doc__ = "argparse type: a finite number > 0 (learning rates)."
non_negative_float = _number(float, lambda v: _finite(v) and v >= 0, "a number >= 0")
non_negative_float.__doc__ = "argparse type: a finite number >= 0 (weight decay)."
n_jobs = _number(int, lambda v: v != 0, "a non-zero integer (-1: all cores)")
n_jobs.__doc__ = "argparse type: joblib's n_jobs, a non-zero integer (-1 means all cores)."


def add_debug_flag(parser):
    """Add ``--debug`` (show the traceback of an error instead of one line) to ``parser``."""
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error instead of one line")
    return parser


def error_message(exc):
    """The text of an exception for a one-line error: the file named where there is one.

    Examples
    --------
    >>> error_message(KeyError("unknown dataset 'x'"))
    "unknown dataset 'x'"
    >>> error_message(IsADirectoryError(21, "Is a directory", "data/metadata.csv"))
    'data/metadata.csv: Is a directory'
    >>> error_message(OSError(28, "not enough free disk space in /s"))
    'not enough free disk space in /s'
    """
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, OSError) and exc.strerror:
        if exc.filename is not None:
            names = exc.filename if exc.filename2 is None else \
                f"{exc.filename} -> {exc.filename2}"
            return f"{names}: {exc.strerror}"
        return exc.strerror
    if isinstance(exc, UnicodeDecodeError):  # the readers name the file; this is a fallback
        return f"a file is not UTF-8 text ({exc.reason} at byte {exc.start}); run with --debug"
    if isinstance(exc, json.JSONDecodeError):
        return f"a file is not valid JSON ({exc.msg} at line {exc.lineno}); run with --debug"
    text = str(exc) or type(exc).__name__
    return re.sub(r"^\[Errno \d+\] ", "", text)


def guarded(prog, run, *, debug=False):
    """Call ``run()``; return its exit code (None counts as 0), or 2 after an expected error.

    The error is printed as ``<prog>: error: <message>`` on stderr; with ``debug``
    it is raised instead.
    """
    try:
        code = run()
    except EXPECTED_ERRORS as exc:
        if debug:
            raise
        print(f"{prog}: error: {error_message(exc)}", file=sys.stderr)
        return EXIT_ERROR
    return 0 if code is None else code
