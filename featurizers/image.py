"""Image embeddings from timm backbones: timm's pooled pre-logits.

The embedding of an image is ``model.forward_head(model.forward_features(x),
pre_logits=True)``, the input of the model's classifier (``model.head_hidden_size``
wide). When the weights carry a trained linear classifier, :attr:`ImageEncoder.head`
holds it as ``(coef, intercept, classes)``, checked on a probe batch to reproduce
the model's logits. torch and timm are imported when an encoder is built.
"""

import concurrent.futures
import contextlib
import logging
import os
import time

import numpy as np

from .encoder import encode_rows
from .runtime import autocast, require, resolve_device, resolve_precision
from .weights import resolve_checkpoint

__all__ = ["ImageEncoder", "BadImageError", "check_images", "build_transform", "PREPROCESS"]

logger = logging.getLogger(__name__)

#: ``model``: timm's data config of the model; ``paper``: resize the short side to
#: 256, centre crop 224, ImageNet mean/std; ``square``: resize to SxS, model mean/std.
PREPROCESS = ("model", "paper", "square")


class BadImageError(ValueError):
    """An image file is missing or cannot be decoded; the message names the file."""


def open_rgb(path):
    """The image at ``path`` (or a PIL image) as an RGB PIL image; :class:`BadImageError`
    naming the file when it is missing or cannot be decoded."""
    from PIL import Image

    if isinstance(path, Image.Image):  # encode() takes PIL images as well as paths
        return path.convert("RGB")
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except Exception as exc:
        raise BadImageError(f"cannot read image {path!r}: {type(exc).__name__}: {exc}") from exc


def _decodes(path):
    try:
        open_rgb(path)
        return True
    except BadImageError:
        return False


def check_images(paths, *, decode=False, workers=2):
    """Boolean mask of the images that exist (and, with ``decode=True``, fully decode).

    The decoding pass runs in a thread pool (PIL releases the GIL while decoding).
    """
    ok = np.fromiter((os.path.isfile(p) for p in paths), dtype=bool, count=len(paths))
    if decode and ok.any():
        idx = np.flatnonzero(ok)
        with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
            dec = list(pool.map(_decodes, [paths[i] for i in idx], chunksize=64))
        ok[idx] = dec
    return ok


class ImageFiles:
    """Map-style dataset of image files for ``torch.utils.data.DataLoader``."""

    def __init__(self, paths, transform):
        self.paths, self.transform = paths, transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return self.transform(open_rgb(self.paths[i]))


def build_transform(model, preprocess="model", image_size=None):
    """Return ``(transform, record)``; ``record`` is what the manifest stores."""
    timm_data = require("timm.data")
    cfg = timm_data.resolve_model_data_config(model)
    if preprocess == "model":
        if image_size:
            cfg["input_size"] = (3, image_size, image_size)
        record = dict(cfg)
        transform = timm_data.create_transform(**cfg, is_training=False)
    elif preprocess in ("paper", "square"):
        T = require("torchvision.transforms")
        if preprocess == "paper":
            mean, std = timm_data.IMAGENET_DEFAULT_MEAN, timm_data.IMAGENET_DEFAULT_STD
            size = [T.Resize(256, interpolation=T.InterpolationMode.BILINEAR), T.CenterCrop(224)]
            record = {"resize_short": 256, "center_crop": 224}
        else:
            s = image_size or cfg["input_size"][-1]
            mean, std = cfg["mean"], cfg["std"]
            size = [T.Resize((s, s), interpolation=T.InterpolationMode.BILINEAR)]
            record = {"input_size": (3, s, s)}
        record.update(interpolation="bilinear", mean=tuple(mean), std=tuple(std))
        transform = T.Compose([*size, T.ToTensor(), T.Normalize(mean, std)])
    else:
        raise ValueError(f"preprocess must be one of {PREPROCESS}, got {preprocess!r}")
    record = {"name": preprocess, **{k: list(v) if isinstance(v, tuple) else v
                                      for k, v in record.items()}}
    return transform, record


# On CPU, decoding a 224 px JPEG costs about a sixth of a CNN backbone's forward on one core:
# one decoding worker per 6 cores keeps both busy.
CPU_CORES_PER_WORKER = 6
# On CPU a CNN's activations for a large batch overflow the caches, and the best part size
# depends on the CPU: EfficientNet-Lite0 at 224 px on 2 cores ran (through embed(), decoding
# included) at 47 images/s 4 at a time, 39 at 8, 21 at 64 and 33 one at a time on one EPYC,
# and (the forward alone) at 115 images/s 2 at a time, 92 one at a time, 68 4 at a time and
# 57 8 at a time on an AVX-512 EPYC. The rows of a batch (the store's unit of work) go
# through the model in parts on CPU (on a GPU, whole): the fastest size of
# CPU_FORWARD_BATCHES, timed once per encoder on its first full batch, among those whose
# embeddings equal bit for bit those of CPU_FORWARD_BATCH parts (one at a time differed in
# the last bits there), so that the choice changes the speed and never the rows.
CPU_FORWARD_BATCH = 4
CPU_FORWARD_BATCHES = (1, 2, 4, 8)


def _cpu_parts(xb, size):
    """``xb`` in parts of ``size`` images up to its last multiple of CPU_FORWARD_BATCH, the
    rest in one part, as in parts of CPU_FORWARD_BATCH: every part then has a size checked
    against those parts (or the same images as one of them)."""
    whole = len(xb) - len(xb) % CPU_FORWARD_BATCH
    rest = [xb[whole:]] if whole < len(xb) else []
    return [*xb[:whole].split(size), *rest]


@contextlib.contextmanager
def _cores_shared_with_workers(workers):
    """Torch's intra-op threads reduced by ``workers`` (at least 1 left), restored after:
    decoding processes and the model's OpenMP threads on the same cores would otherwise
    oversubscribe them, and OpenMP threads waiting on a descheduled one stall every op."""
    torch = require("torch")
    threads = torch.get_num_threads()
    if workers:
        torch.set_num_threads(max(1, threads - workers))
    try:
        yield
    finally:
        if workers:
            torch.set_num_threads(threads)


class ImageEncoder:
    """A timm backbone with local weights, ready to embed image files.

    Parameters
    ----------
    model_name : str
        Any timm model name, e.g. ``"resnet50"``, ``"tf_efficientnet_lite0"``.
    weights : str, optional
        A checkpoint file (see :mod:`featurizers.weights`), a named offline source
        (``"efficientnet-lite0"``) or ``"timm"`` (timm's pretrained weights, only
        when already cached on this machine). Default: the model's offline source
        where one exists, else ``"timm"``. Resolved by
        :func:`featurizers.weights.resolve_checkpoint`.
    head : bool, default=True
        Export the checkpoint's classifier as :attr:`head` when it is a linear map of
        the pre-logits that reproduces the model's logits; ``False``: no head.
    preprocess : {"model", "paper", "square"}, default="model"
    image_size : int, optional
        Input size for ``"model"`` and ``"square"`` (default: the model's).
    device : str, default="auto"
    precision : {"auto", "fp32", "bf16", "fp16"}, default="auto"
    workers : int, optional
        DataLoader worker processes that decode the images. Default: up to 8 on a
        GPU; on CPU one per 6 cores (none below 6 cores: the images are decoded
        between the model's batches, which on 2 cores is faster than a worker
        competing with torch's threads). On CPU, while :meth:`embed` runs with
        workers, torch's intra-op threads are reduced by as many (and restored
        after), so that decoding and the model share the cores.
    trust_checkpoint : bool, default=False
        Allow checkpoints that hold pickled objects (run arbitrary code when read).
    local_rank : int, default=0
        GPU index under ``torchrun``.

    Attributes
    ----------
    dim : int
    head : tuple (coef, intercept, classes) or None
    identity : dict
        What decides the embeddings' values (for the store's manifest).
    cpu_forward_batch : int or None
        On CPU, the images the model sees at a time in :meth:`embed`, chosen on the
        first batch of at least ``max(CPU_FORWARD_BATCHES)`` images (None before).

    See Also
    --------
    featurizers.encoder.Encoder : the contract this class meets.
    featurizers.build_encoder : builds either encoder by modality.
    """

    modality = "image"

    def __init__(self, model_name, weights=None, *, head=True, preprocess="model",
                 image_size=None, device="auto", precision="auto", workers=None,
                 trust_checkpoint=False, local_rank=0):
        torch = require("torch")
        self.device = resolve_device(device, local_rank)
        self.precision = resolve_precision(precision, self.device)
        cuda = self.device.type == "cuda"
        if workers is None:
            cpus = os.cpu_count() or 1
            workers = min(8, cpus) if cuda else cpus // CPU_CORES_PER_WORKER
        self.workers = workers
        self.cpu_forward_batch = None
        ckpt = resolve_checkpoint(model_name, weights, trust_pickle=trust_checkpoint)
        model = ckpt.model
        model.eval().to(self.device)
        if cuda:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.transform, self.preprocess = build_transform(model, preprocess, image_size)
        self.dim, self.head = self._probe(ckpt.n_classes if head else 0)
        self.identity = {
            "modality": "image", "model": model_name, "weights": ckpt.identity(),
            "preprocess": self.preprocess, "precision": self.precision,
        }

    def _probe(self, n_classes):
        """Embedding width, and the classifier if it maps pre-logits to the logits."""
        torch = require("torch")
        size = self.preprocess.get("input_size", [3, 224, 224])
        g = torch.Generator().manual_seed(0)
        x = torch.randn(2, *size, generator=g).to(self.device)
        with torch.inference_mode():
            feats = self.model.forward_features(x)
            pre = self.model.forward_head(feats, pre_logits=True).float()
            logits = self.model.forward_head(feats).float()
        dim = int(pre.shape[1])
        clf = self.model.get_classifier() if n_classes else None
        if not isinstance(clf, torch.nn.Linear):
            if n_classes:
                logger.warning("classifier of %s is not linear; no head exported",
                               type(clf).__name__)
            return dim, None
        W, b = clf.weight.detach().float(), clf.bias.detach().float() if clf.bias is not None \
            else torch.zeros(n_classes, device=clf.weight.device)
        recon = pre @ W.T + b
        if not torch.allclose(recon, logits, atol=1e-4 * (1 + logits.abs().max().item())):
            logger.warning("the classifier does not reproduce the logits from the pre-logits; "
                           "no head exported")
            return dim, None
        return dim, (W.cpu().numpy(), b.cpu().numpy(), np.arange(n_classes))

    def align(self, batch_size):
        """Resumes and shards start at multiples of the batch size (same batches every run)."""
        return batch_size

    def prepare(self, inputs, ids=None, *, skip_bad=False):
        """Mask of the rows to embed; raises :class:`BadImageError` on missing files."""
        ok = check_images(inputs, decode=skip_bad, workers=max(2, self.workers))
        if not skip_bad and not ok.all():
            bad = [inputs[i] for i in np.flatnonzero(~ok)[:5]]
            raise BadImageError(f"{(~ok).sum()} image file(s) missing, e.g. {bad}; fix the "
                                "paths, or pass skip_bad_images=True (--skip-bad-images)")
        return ok

    def embed(self, inputs, lo, hi, batch_size=64):
        """Yield float32 arrays of consecutive rows ``lo .. hi - 1``, one per batch (on CPU
        the model sees each batch in parts of :attr:`cpu_forward_batch` images: faster, as
        the activations of a part stay in cache)."""
        torch = require("torch")
        cuda = self.device.type == "cuda"
        data = torch.utils.data.Subset(ImageFiles(inputs, self.transform), range(lo, hi))
        loader = torch.utils.data.DataLoader(
            data, batch_size=batch_size, shuffle=False, num_workers=self.workers,
            pin_memory=cuda, persistent_workers=False)
        with _cores_shared_with_workers(0 if cuda else self.workers):
            for xb in loader:
                xb = xb.to(self.device, non_blocking=True)
                if cuda:
                    parts = [xb.contiguous(memory_format=torch.channels_last)]
                else:  # a few images at a time
                    sample = max(CPU_FORWARD_BATCHES)
                    if self.cpu_forward_batch is None and len(xb) >= sample:
                        self.cpu_forward_batch = self._fastest_cpu_part(xb[:sample])
                    parts = _cpu_parts(xb, self.cpu_forward_batch or CPU_FORWARD_BATCH)
                with torch.inference_mode(), autocast(self.device, self.precision):
                    f = torch.cat([self._forward(part) for part in parts])
                yield f.float().cpu().numpy()

    def _forward(self, x):
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)

    def _fastest_cpu_part(self, sample, rounds=2):
        """The size of CPU_FORWARD_BATCHES that embeds ``sample`` fastest (the best of
        ``rounds`` interleaved timings) among those that give exactly the embeddings of
        CPU_FORWARD_BATCH parts."""
        torch = require("torch")
        best = {}
        with torch.inference_mode(), autocast(self.device, self.precision):
            reference = torch.cat([self._forward(part)
                                   for part in sample.split(CPU_FORWARD_BATCH)])
            for _ in range(rounds):
                for size in CPU_FORWARD_BATCHES:
                    start = time.perf_counter()
                    out = torch.cat([self._forward(part) for part in sample.split(size)])
                    elapsed = time.perf_counter() - start
                    if torch.equal(out, reference):
                        best[size] = min(best.get(size, elapsed), elapsed)
        choice = min(best, key=best.get) if best else CPU_FORWARD_BATCH
        logger.info("CPU forward %d image(s) at a time (%s)", choice, ", ".join(
            f"{size}: {len(sample) / t:.0f} images/s" for size, t in sorted(best.items())))
        return choice

    def encode(self, inputs, *, batch_size=64, progress=False):
        """Embed images, as ``SentenceTransformer.encode`` embeds texts.

        Parameters
        ----------
        inputs : sequence of str, path-like or PIL.Image.Image
            Image files or decoded images (one path or image alone is one row).
        batch_size : int, default=64
        progress : bool, default=False
            Show a tqdm bar.

        Returns
        -------
        ndarray of shape (n_inputs, dim), float32
            The rows :meth:`embed` gives (what the pipeline writes into a store), in
            the order of ``inputs``.
        """
        from PIL import Image

        if isinstance(inputs, (str, os.PathLike, Image.Image)):
            inputs = [inputs]
        inputs = [x if isinstance(x, Image.Image) else os.fspath(x) for x in inputs]
        self.prepare([x for x in inputs if not isinstance(x, Image.Image)])
        return encode_rows(self, inputs, batch_size, progress)
