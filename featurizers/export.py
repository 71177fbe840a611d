"""Export a tuned last layer: as numpy arrays, into a timm checkpoint, into a transformers folder.

The head exported is the estimator's decision function, the mask folded in
(``coef_`` and ``intercept_`` of the NeuronTune family are already the weights
that predict). It is always written with one row per class:
``logits = X @ coef.T + intercept``, the predicted class is
``classes[argmax(logits)]`` and the probabilities are ``softmax(logits)``.
A two-class estimator's single row ``w, b`` becomes the rows ``[0, w]`` and
intercepts ``[0, b]``: the same argmax and softmax, and
``logits[:, 1] - logits[:, 0]`` is its ``decision_function``. A store's own
``head.npz`` has this layout too.

- :func:`export_head_npz`: ``coef``, ``intercept``, ``classes`` (and
  ``class_names``) in an ``.npz`` any numpy user can apply.
- :func:`export_timm_checkpoint`: the store's timm backbone with its classifier
  replaced, a state dict that ``timm.create_model(name, pretrained=False,
  num_classes=C, checkpoint_path=PATH)`` loads.
- :func:`export_transformers_folder`: the store's transformers backbone as a
  sequence-classification model whose classifier is the tuned head
  (``save_pretrained`` with its tokenizer).

The backbones are recovered from the store's manifest (model name, weights
source and hash); a weights file or folder passed by the caller must have the
hash the store recorded. Each model export checks, on a probe input, that the
classifier it replaces reads exactly the store's embeddings, and checks the
written files by loading them back; otherwise it refuses with the reason and
writes nothing. Files are written to a temporary name and renamed into place.
"""

import hashlib
import logging
import os

import numpy as np

from ._atomic import atomic_path, refuse_existing, write_json
from .runtime import require
from .store import load_manifest

__all__ = ["ExportError", "head_rows", "export_head_npz", "export_timm_checkpoint",
           "export_transformers_folder", "check_exportable", "EXPORT_KINDS"]

logger = logging.getLogger(__name__)

EXPORT_KINDS = ("numpy", "timm", "transformers")
_TEXT_WEIGHT_FILES = ("config.json", "model.safetensors", "pytorch_model.bin")


class ExportError(ValueError):
    """The model cannot be exported in the asked form; the message says why."""


def head_rows(estimator):
    """The head as ``(coef (C, d), intercept (C,), classes)``, one row per class.

    ``estimator`` is a fitted classifier whose ``coef_`` and ``intercept_`` are its
    decision function (one row for two classes, as ``LogisticRegression``), or a
    tuple ``(coef, intercept, classes)`` in either layout (a store's head).
    """
    if isinstance(estimator, tuple):
        coef, intercept, classes = estimator
    else:
        coef = getattr(estimator, "coef_", None)
        intercept = getattr(estimator, "intercept_", None)
        classes = getattr(estimator, "classes_", None)
        if getattr(estimator, "head_init_", None) == "offset":
            raise ExportError(f"{type(estimator).__name__} corrects a non-linear reference "
                              "model (its decision function adds the reference's "
                              "log-probabilities): it is not a linear head")
        if coef is None or intercept is None or classes is None:
            raise ExportError(f"{type(estimator).__name__} has no linear head (coef_, "
                              "intercept_, classes_) to export")
    coef = np.atleast_2d(np.asarray(coef))
    intercept = np.atleast_1d(np.asarray(intercept))
    classes = np.asarray(classes)
    if len(classes) == 2 and coef.shape[0] == 1:
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros_like(intercept), intercept])
    if coef.shape[0] != len(classes) or intercept.shape != (len(classes),):
        raise ExportError(f"a head for {len(classes)} classes needs coef ({len(classes)}, d) "
                          f"and intercept ({len(classes)},); got {coef.shape} and "
                          f"{intercept.shape}")
    return coef, intercept, classes


# -- numpy ----------------------------------------------------------------------------------

def export_head_npz(estimator, path, *, class_names=None, overwrite=False):
    """Write the head as ``.npz``: ``coef`` (C, d), ``intercept`` (C,), ``classes``.

    ``logits = X @ coef.T + intercept``; ``classes[logits.argmax(1)]`` is
    ``estimator.predict(X)``. ``class_names`` (one per class) is added when given.
    The weights keep the estimator's precision. Returns ``path``.
    """
    coef, intercept, classes = head_rows(estimator)
    arrays = {"coef": coef, "intercept": intercept, "classes": classes}
    if class_names is not None:
        arrays["class_names"] = np.asarray([str(n) for n in class_names])
    with atomic_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append .npz to a name
            np.savez(fh, **arrays)
    return os.fspath(path)


# -- what a store allows ---------------------------------------------------------------------

def _identity(store_dir):
    manifest = load_manifest(store_dir)
    return manifest, manifest.get("identity", {})


def _class_names(manifest, classes):
    names = (manifest.get("dataset") or {}).get("class_names") or []
    out = []
    for c in classes:
        try:
            out.append(str(names[int(c)]))
        except (IndexError, TypeError, ValueError):
            out.append(str(c))
    return out


def check_exportable(store_dir, kind, *, weights=None, backbone=None):
    """Refuse early (:class:`ExportError`) what the store's manifest already rules out.

    ``kind`` is one of :data:`EXPORT_KINDS`. Nothing heavy is imported; the full
    checks run in the export functions.
    """
    if kind not in EXPORT_KINDS:
        raise ExportError(f"export kind must be one of {EXPORT_KINDS}, got {kind!r}")
    if kind == "numpy":
        return
    _, ident = _identity(store_dir)
    modality = ident.get("modality")
    want = "image" if kind == "timm" else "text"
    if modality != want:
        other = {"image": "timm", "text": "transformers"}.get(modality)
        article = {"image": "an image", "text": "a text"}
        raise ExportError(f"a {kind} export needs a store made by {article[want]} model; this "
                          f"store's embeddings come from {article.get(modality, 'an unknown')} "
                          "model"
                          + (f" (export {other} instead)" if other else ""))
    source = (ident.get("weights") or {}).get("source")
    if kind == "timm" and source == "file" and weights is None:
        raise ExportError(
            f"the store's backbone weights came from the file "
            f"{ident['weights'].get('file')!r} (sha256 {ident['weights'].get('sha256')}); pass "
            "that file as weights (--weights PATH)")
    if kind == "transformers":
        if ident.get("normalize"):
            raise ExportError("the store's embeddings are L2-normalised; no sequence-"
                              "classification head of transformers reads normalised embeddings")
        if ident.get("pooling") not in ("pooler", "cls"):
            raise ExportError(
                f"the store's embeddings use pooling {ident.get('pooling')!r}; transformers' "
                "sequence-classification heads read the pooler output (BERT) or the first "
                "token, so only stores made with pooling 'pooler' (or 'cls' for a model whose "
                "classifier reads that token) can be exported")
        if source not in _offline_text_models() and backbone is None:
            raise ExportError(f"pass the folder of the model the store was made from as "
                              f"backbone (--backbone DIR); the store records model "
                              f"{ident.get('model')!r}")


def _offline_text_models():
    from .text import OFFLINE_MODELS

    return OFFLINE_MODELS


def _probe_ok(actual, expected):
    torch = require("torch")
    return bool(torch.allclose(actual, expected, atol=1e-4 * (1 + expected.abs().max().item())))


def _install_head(clf, coef, intercept, logits_of, embeddings_of):
    """Put the head into the linear layer ``clf``; return the model's probe logits, or None
    when they are not ``embeddings @ coef.T + intercept``.

    The check runs first with random weights, then with the head's: a head that ignores
    its input (all zeros, say) would pass it whatever the layer reads.
    """
    torch = require("torch")
    g = torch.Generator().manual_seed(0)
    heads = [(torch.randn(clf.weight.shape, generator=g), torch.randn(clf.bias.shape, generator=g)),
             (torch.as_tensor(coef, dtype=torch.float32),
              torch.as_tensor(intercept, dtype=torch.float32))]
    for W, b in heads:
        with torch.no_grad():
            clf.weight.copy_(W.to(clf.weight.dtype))
            clf.bias.copy_(b.to(clf.bias.dtype))
        with torch.inference_mode():
            logits, z = logits_of().float(), embeddings_of().float()
        if z.shape[1] != W.shape[1] or not _probe_ok(logits, z @ W.T + b):
            return None
    return logits


# -- timm ---------------------------------------------------------------------------------

def export_timm_checkpoint(estimator, store_dir, path, *, weights=None, trust_checkpoint=False,
                           overwrite=False):
    """Write the store's timm backbone with the tuned head as its classifier.

    Parameters
    ----------
    estimator : fitted classifier or tuple
        The tuned head (see :func:`head_rows`); its classes must be 0 .. C-1 (the
        store's labels), since output ``j`` of the model is label ``j``.
    store_dir : str or path-like
        The store the head was fitted on; its manifest names the backbone.
    path : str or path-like
        The checkpoint to write (a state dict; ``.safetensors`` by that suffix, else
        ``torch.save``). A JSON beside it (``PATH.json``) records the model name,
        classes, class names, the store's preprocessing and provenance.
    weights : str, optional
        The backbone's weights file, needed when the store was made from a file
        (the manifest records its name and hash only); checked against the hash.
        Named sources (``efficientnet-lite0``, ``timm``) are found by themselves.
    trust_checkpoint : bool, default=False
        Allow a weights file holding pickled objects.
    overwrite : bool, default=False

    Returns
    -------
    str
        ``path``. ``timm.create_model(name, pretrained=False, num_classes=C,
        checkpoint_path=path)`` then gives logits equal to the head's on the
        store's embeddings.
    """
    from .weights import resolve_checkpoint

    torch = require("torch")
    timm = require("timm")
    check_exportable(store_dir, "timm", weights=weights)
    manifest, ident = _identity(store_dir)
    coef, intercept, classes = head_rows(estimator)
    n_classes = len(classes)
    _check_classes(classes, "timm")
    _check_width(coef, manifest)
    refuse_existing(path, overwrite)
    name = ident["model"]
    recorded = ident.get("weights") or {}
    ckpt = resolve_checkpoint(name, weights if weights is not None else recorded.get("source"),
                              trust_pickle=trust_checkpoint)
    if ckpt.identity()["sha256"] != recorded.get("sha256"):
        raise ExportError(f"the weights {ckpt.path!r} are not the store's backbone (sha256 "
                          f"{ckpt.identity()['sha256']}, the store recorded "
                          f"{recorded.get('sha256')})")
    model = ckpt.model.eval()
    model.reset_classifier(n_classes)
    clf = model.get_classifier()
    if not isinstance(clf, torch.nn.Linear) or clf.in_features != coef.shape[1]:
        raise ExportError(f"the classifier of timm's {name} is a {type(clf).__name__}, not a "
                          f"linear layer on the {coef.shape[1]}-wide pre-logits the store holds")
    size = (ident.get("preprocess") or {}).get("input_size") or [3, 224, 224]
    x = torch.randn(2, *size, generator=torch.Generator().manual_seed(0))
    logits = _install_head(clf, coef, intercept, lambda: model(x), lambda: model.forward_head(
        model.forward_features(x), pre_logits=True))
    if logits is None:
        raise ExportError(f"timm's {name} does not compute its logits as a linear map of the "
                          "pre-logits the store holds; no checkpoint written")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path, overwrite=overwrite) as tmp:
        if str(path).endswith(".safetensors"):
            require("safetensors.torch").save_file(state, tmp)
        else:
            torch.save(state, tmp)
        loaded = timm.create_model(name, pretrained=False, num_classes=n_classes,
                                   checkpoint_path=tmp).eval()
        with torch.inference_mode():
            if not _probe_ok(loaded(x).float(), logits):
                raise ExportError("the written checkpoint does not reproduce the model")
        write_json(f"{path}.json", {
            "format": "timm-state-dict", "model": name, "num_classes": n_classes,
            "load": f"timm.create_model({name!r}, pretrained=False, num_classes={n_classes}, "
                    f"checkpoint_path=PATH)",
            "classes": classes, "class_names": _class_names(manifest, classes),
            "preprocess": ident.get("preprocess"), "precision": ident.get("precision"),
            "store": _provenance(store_dir, manifest)}, overwrite=True)
    _warn_precision(ident)
    return os.fspath(path)


def _check_classes(classes, kind):
    if not np.array_equal(classes, np.arange(len(classes))):
        raise ExportError(f"a {kind} model's output j is label j, so the classes must be "
                          f"0 .. {len(classes) - 1}; got {classes.tolist()}")


def _check_width(coef, manifest):
    if coef.shape[1] != manifest.get("dim"):
        raise ExportError(f"the head is {coef.shape[1]} features wide, the store's embeddings "
                          f"{manifest.get('dim')}: it was not fitted on this store")


def _warn_precision(ident):
    if ident.get("precision") not in (None, "fp32"):
        logger.warning("the store was embedded under %s autocast; the exported model runs in "
                       "the precision you load it in, so its logits may differ in the last "
                       "digits", ident["precision"])


def _provenance(store_dir, manifest):
    return {"path": os.path.abspath(store_dir), "identity": manifest.get("identity"),
            "created": manifest.get("created")}


# -- transformers ------------------------------------------------------------------------

def _folder_hash(path):
    # the same bytes, in the same order, as the text encoder's identity hash, so that a
    # folder can be checked against the store it made (a test builds both and compares)
    h = hashlib.sha256()
    for name in _TEXT_WEIGHT_FILES:
        p = os.path.join(path, name)
        if os.path.isfile(p):
            with open(p, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    h.update(block)
    return h.hexdigest()


def export_transformers_folder(estimator, store_dir, path, *, backbone=None, overwrite=False):
    """Write the store's transformers backbone as a sequence-classifier with the tuned head.

    Parameters
    ----------
    estimator : fitted classifier or tuple
        The tuned head (see :func:`head_rows`); classes 0 .. C-1.
    store_dir : str or path-like
        The store the head was fitted on (a text store, pooling ``pooler``, or
        ``cls`` where the model's classifier reads that token, no normalisation).
    path : str or path-like
        The folder to write (``save_pretrained`` of the model and its tokenizer,
        whose ``model_max_length`` is the store's ``max_length``, and
        ``nt_export.json`` with the provenance).
    backbone : str, optional
        The model folder the store was made from (checked against the hash the
        store recorded); not needed for the named offline models.
    overwrite : bool, default=False

    Returns
    -------
    str
        ``path``, for ``AutoModelForSequenceClassification.from_pretrained(path)``.
    """
    torch = require("torch")
    tf = require("transformers")
    check_exportable(store_dir, "transformers", backbone=backbone)
    manifest, ident = _identity(store_dir)
    coef, intercept, classes = head_rows(estimator)
    _check_classes(classes, "transformers")
    _check_width(coef, manifest)
    refuse_existing(path, overwrite)
    source = (ident.get("weights") or {}).get("source")
    folder = os.fspath(backbone) if backbone is not None else _offline_text_models()[source]()
    if not os.path.isdir(folder):
        raise ExportError(f"backbone {folder!r} is not a model folder")
    if _folder_hash(folder) != (ident.get("weights") or {}).get("sha256"):
        raise ExportError(f"the model in {folder!r} is not the store's backbone (its weights' "
                          "hash differs from the one the store recorded)")
    names = _class_names(manifest, classes)
    id2label = {i: n for i, n in enumerate(names)}
    model = tf.AutoModelForSequenceClassification.from_pretrained(
        folder, num_labels=len(classes), id2label=id2label,
        label2id={n: i for i, n in id2label.items()}, ignore_mismatched_sizes=True,
        local_files_only=True).eval()
    clf = getattr(model, "classifier", None)
    if not isinstance(clf, torch.nn.Linear) or clf.in_features != coef.shape[1]:
        raise ExportError(f"the classification head of {type(model).__name__} is a "
                          f"{type(clf).__name__}, not one linear layer on the "
                          f"{coef.shape[1]}-wide embedding the store holds")
    tok = tf.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if ident.get("max_length"):
        tok.model_max_length = int(ident["max_length"])
    enc = tok(["a probe sentence for the export check", "another one"], padding=True,
              truncation=True, return_tensors="pt")
    def embeddings():
        out = model.base_model(**enc)
        return out.pooler_output if ident["pooling"] == "pooler" else out.last_hidden_state[:, 0]

    logits = _install_head(clf, coef, intercept, lambda: model(**enc).logits, embeddings)
    if logits is None:
        raise ExportError(f"the classifier of {type(model).__name__} does not read the store's "
                          f"pooling {ident['pooling']!r}; no folder written")
    with atomic_path(path, overwrite=overwrite, directory=True) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        write_json(os.path.join(tmp, "nt_export.json"), {
            "format": "transformers-sequence-classification", "classes": classes,
            "class_names": names, "pooling": ident["pooling"],
            "max_length": ident.get("max_length"), "store": _provenance(store_dir, manifest)})
        loaded = tf.AutoModelForSequenceClassification.from_pretrained(
            tmp, local_files_only=True).eval()
        with torch.inference_mode():
            if not _probe_ok(loaded(**enc).logits.float(), logits):
                raise ExportError("the written folder does not reproduce the model")
    _warn_precision(ident)
    return os.fspath(path)
