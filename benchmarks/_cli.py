"""What every ``python -m benchmarks.<name>`` command shares: logging and error handling.

An expected error (bad input; a file missing, damaged, not UTF-8 or not JSON; a
full disk; a missing optional dependency; the library's own errors are
``ValueError`` subclasses) ends the command with one line ``<prog>: error:
<message>`` on stderr and exit code 2, as argparse does for a bad flag.
``--debug`` lets the exception through, traceback and all. The argparse types
of numbers, the error handling and ``--debug`` are ``nt-featurize``'s
(:mod:`featurizers.clitools`), re-exported here.
"""

import logging

from featurizers.clitools import (EXIT_ERROR, EXPECTED_ERRORS, add_debug_flag, error_message,
                                  guarded, n_jobs, non_negative_float, non_negative_int,
                                  positive_float, positive_int)

__all__ = ["EXPECTED_ERRORS", "EXIT_ERROR", "LOG_FORMAT", "add_debug_flag", "setup_logging",
           "quiet_level", "error_message", "guarded", "positive_int", "non_negative_int",
           "positive_float", "non_negative_float", "n_jobs"]

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s: %(message)s"


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
