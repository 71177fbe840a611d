"""Files written whole or not at all: a temporary name beside the target, then a rename.

What :mod:`featurizers.export` and ``nt-tune`` write (heads, reports, checkpoints,
model folders) goes through :func:`atomic_path`, so that an interrupted or failed
write never leaves a half-written file under the final name.
"""

import contextlib
import json
import os
import shutil
import tempfile

import numpy as np

__all__ = ["atomic_path", "refuse_existing", "write_json"]


def refuse_existing(path, overwrite):
    """Raise FileExistsError when ``path`` exists, unless ``overwrite``."""
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"{path!r} exists; choose another path or pass overwrite=True "
                              "(--overwrite)")


@contextlib.contextmanager
def atomic_path(path, *, overwrite=False, directory=False):
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    On any error the temporary file (or folder) is removed and ``path`` is left as
    it was. A folder that replaces another is swapped in by two renames.
    """
    path = os.path.abspath(path)
    refuse_existing(path, overwrite)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    base = os.path.basename(path)
    if directory:
        tmp = tempfile.mkdtemp(prefix=f".{base}.tmp", dir=parent)
    else:
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.tmp", suffix=os.path.splitext(base)[1],
                                   dir=parent)
        os.close(fd)
    try:
        yield tmp
        # mkstemp and mkdtemp create private files; give the result the usual permissions
        os.chmod(tmp, (0o777 if directory else 0o666) & ~_umask())
        if directory and os.path.isdir(path):
            old = tempfile.mkdtemp(prefix=f".{base}.old", dir=parent)
            os.rmdir(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.exists(tmp):
            os.remove(tmp)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path, obj, *, overwrite=True):
    """Write ``obj`` as JSON to ``path`` atomically."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "w") as fh:
            json.dump(obj, fh, indent=1, default=_json_default)
            fh.write("\n")


def _json_default(obj):
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
