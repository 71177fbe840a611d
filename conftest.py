"""Collection rules for the whole repository (the tests' own fixtures are in tests/conftest.py)."""

import importlib.util

# nt_sklearn.plotting's doctest draws with matplotlib, an optional dependency: the
# estimator tests also run without it (make test-oldest)
collect_ignore = []
if importlib.util.find_spec("matplotlib") is None:
    collect_ignore.append("nt_sklearn/plotting.py")
