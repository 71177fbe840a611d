"""Small helpers shared by the steps: JSON records written atomically, identities of inputs."""

import hashlib
import json
import os
from pathlib import Path


def read_json(path):
    """The JSON content of ``path``, or None when it does not exist."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None


def write_json(path, obj):
    """Write ``obj`` as JSON to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)


def file_identity(path):
    """``name:size`` of an input file: enough to notice a different source file cheaply."""
    path = Path(path)
    return f"{path.name}:{path.stat().st_size}"


def digest(obj):
    """A short stable hash of a JSON-able object (a step's key)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
