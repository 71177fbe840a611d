"""What every ``python -m benchmarks.<name>`` command shares: logging and error handling.

An expected error (a missing file, bad input, a missing optional dependency; the
library's own errors are ``ValueError`` subclasses) ends the command with one
line ``<prog>: error: <message>`` on stderr and exit code 2, as argparse does
for a bad flag. ``--debug`` lets the exception through, traceback and all.
"""

import logging
import sys

#: Errors that a user's input or machine explains; anything else is a bug and keeps its traceback.
EXPECTED_ERRORS = (FileNotFoundError, ValueError, ImportError, KeyError)
EXIT_ERROR = 2
LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s: %(message)s"


def add_debug_flag(parser):
    """Add ``--debug`` (show the traceback of an error instead of one line) to ``parser``."""
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error instead of one line")
    return parser


def setup_logging(level=logging.WARNING, fmt="%(message)s", packages=()):
    """Configure the root logger once, and set ``level`` on the loggers of ``packages``.

    Modules log through ``logging.getLogger(__name__)``; naming ``"benchmarks"`` and
    ``"featurizers"`` in ``packages`` makes their INFO lines show under ``-q``-less runs
    even when another library configured logging first.
    """
    logging.basicConfig(level=level, format=fmt)
    for name in packages:
        logging.getLogger(name).setLevel(level)


def quiet_level(quiet, rank=0):
    """INFO, or WARNING under ``-q`` and on every process but the first of a torchrun launch."""
    return logging.WARNING if (quiet or rank) else logging.INFO


def error_message(exc):
    """The text of an exception; a ``KeyError``'s without the quotes ``str`` adds."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)


def guarded(prog, run, *, debug=False):
    """Call ``run()``; return its exit code (None counts as 0), or 2 after an expected error."""
    try:
        code = run()
    except EXPECTED_ERRORS as exc:
        if debug:
            raise
        print(f"{prog}: error: {error_message(exc)}", file=sys.stderr)
        return EXIT_ERROR
    return 0 if code is None else code
