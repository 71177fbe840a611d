"""Dataset readers by name: ``get_reader(name, root, **options)``.

The registry maps a name (what users type after ``--dataset``) to a reader
class, or to ``"module:Class"`` imported only when that reader is asked for,
so one reader's missing dependency or error never breaks the others.
Register a reader with one line::

    register_reader("waterbirds", "featurizers.datasets.waterbirds:WaterbirdsReader")
"""

import dataclasses
import difflib
import importlib
import inspect

from .base import DatasetReader, SplitData

__all__ = [
    "DatasetReader", "SplitData", "get_reader", "register_reader", "available_readers",
    "parse_dataset_options", "reader_options",
]

_READERS = {}


def register_reader(name, cls):
    """Register ``cls`` (a DatasetReader subclass or ``"module:Class"``) under ``name``."""
    _READERS[name] = cls


def available_readers():
    """The registered names, sorted."""
    return sorted(_READERS)


def parse_dataset_options(items):
    """``["KEY=VALUE", ...]`` (``--dataset-option``) as reader keyword arguments."""
    opts = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--dataset-option expects KEY=VALUE, got {item!r}")
        opts[key.replace("-", "_")] = value
    return opts


def reader_options(cls):
    """The keyword options a reader class takes besides ``root`` (``--dataset-option`` keys)."""
    if dataclasses.is_dataclass(cls):
        names = [f.name for f in dataclasses.fields(cls) if f.init]
    else:
        names = [p.name for p in inspect.signature(cls).parameters.values()
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return [n for n in names if n not in ("root", "name", "modality", "class_names",
                                          "group_names")]


def get_reader(name, root, **options):
    """Build the reader registered as ``name`` for the dataset in ``root``.

    Parameters
    ----------
    name : str
    root : str or path-like
    **options
        Passed to the reader class, e.g. ``csv="meta.csv"`` for ``"csv"``.

    Raises
    ------
    KeyError
        For an unknown dataset name.
    ValueError
        For an option the reader does not take; the message lists those it takes.
    """
    if name not in _READERS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(available_readers())}")
    cls = _READERS[name]
    if isinstance(cls, str):
        module, _, attr = cls.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ImportError(f"the reader of dataset {name!r} ({_READERS[name]}) does not "
                              f"import: {exc}") from exc
    valid = reader_options(cls)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        hints = [f"{k!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, valid, 1))
                 else repr(k) for k in unknown]
        raise ValueError(f"dataset {name!r} takes no option {', '.join(hints)}; its options "
                         f"(--dataset-option KEY=VALUE): {', '.join(valid) or 'none'}")
    return cls(root=root, **options)


register_reader("csv", "featurizers.datasets.csv_reader:CSVReader")
# The readers of the paper's datasets register below, one line each.
register_reader("waterbirds", "featurizers.datasets.waterbirds:WaterbirdsReader")
register_reader("celeba", "featurizers.datasets.celeba:CelebAReader")
register_reader("multinli", "featurizers.datasets.multinli:MultiNLIReader")
register_reader("civilcomments", "featurizers.datasets.civilcomments:CivilCommentsReader")
register_reader("imagenet9", "featurizers.datasets.imagenet9:BackgroundsChallengeReader")
register_reader("imagenet9-rebias", "featurizers.datasets.imagenet9:ReBiasImageNet9Reader")
register_reader("imagenet-a", "featurizers.datasets.imagenet_a:ImageNetAReader")
