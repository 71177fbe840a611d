"""The contract every encoder meets, and the one way to build an encoder.

:class:`Encoder` writes down what :func:`featurizers.pipeline.featurize` and the
command line rely on; :class:`featurizers.image.ImageEncoder` and
:class:`featurizers.text.TextEncoder` meet it. :func:`build_encoder` builds
either from a modality, a model and options (what ``nt-featurize`` passes).
This module imports numpy only; torch, timm and transformers are imported when
an encoder is built.
"""

from typing import Optional, Protocol, Sequence, runtime_checkable

import numpy as np

__all__ = ["Encoder", "build_encoder", "MODALITY_OPTIONS"]

#: The options each modality takes besides model, weights, head, device, precision
#: and local_rank (the keyword arguments of ImageEncoder and TextEncoder).
MODALITY_OPTIONS = {
    "image": ("preprocess", "image_size", "workers", "trust_checkpoint"),
    "text": ("pooling", "normalize", "max_length", "chunk_batches"),
}


@runtime_checkable
class Encoder(Protocol):
    """What an encoder offers the pipeline and its users.

    Attributes
    ----------
    modality : {"image", "text"}
        The kind of inputs it embeds (a dataset reader's ``modality``).
    identity : dict
        JSON-serialisable record of everything that decides the embeddings'
        values (model, weights hash, preprocessing or pooling, precision). The
        store refuses to resume into a store made with another identity.
    dim : int
        The embedding width.
    head : tuple (coef, intercept, classes) or None
        The model's own last layer as a linear map of the embeddings, when it is
        exported (constructor argument ``head=True``) and reproduces the model's
        outputs; None otherwise.
    """

    modality: str
    identity: dict
    dim: int
    head: Optional[tuple]

    def align(self, batch_size: int) -> int:
        """Rows per unit of work: resumes and the blocks of several processes start at
        multiples of it, so every batch is the same in every run."""

    def prepare(self, inputs: Sequence, ids=None, *, skip_bad: bool = False) -> np.ndarray:
        """Check ``inputs`` before anything is written; return the boolean mask of the
        rows to embed (all of them unless ``skip_bad``), or raise naming bad rows."""

    def embed(self, inputs: Sequence, lo: int, hi: int, batch_size: int):
        """Yield float32 arrays of consecutive rows ``lo .. hi - 1`` of ``inputs``, one
        array per unit of work; ``lo`` is a multiple of ``align(batch_size)``."""

    def encode(self, inputs, *, batch_size: int = ..., progress: bool = False) -> np.ndarray:
        """Embed ``inputs`` in memory: a float32 array of shape (n_inputs, dim), rows
        in the order of ``inputs``, equal to the rows the pipeline would store."""


def encode_rows(encoder, inputs, batch_size, progress=False):
    """All rows of ``encoder.embed(inputs, 0, len(inputs), batch_size)`` in one array.

    The shared body of the encoders' ``encode``: the batches are those the
    pipeline embeds for a store, so the rows are the same to the bit.
    """
    from tqdm.auto import tqdm

    n = len(inputs)
    out = np.empty((n, encoder.dim), dtype=np.float32)
    pos = 0
    with tqdm(total=n, desc="encode", unit="rows", disable=not progress,
              dynamic_ncols=True) as bar:
        for block in encoder.embed(inputs, 0, n, batch_size):
            out[pos:pos + len(block)] = block
            pos += len(block)
            bar.update(len(block))
    if pos != n:
        raise RuntimeError(f"the encoder gave {pos} rows for {n} inputs")
    return out


def build_encoder(modality, model, *, weights=None, head=True, device="auto", precision="auto",
                  local_rank=0, **options):
    """Build the encoder of ``modality`` (what ``nt-featurize image|text`` builds).

    Parameters
    ----------
    modality : {"image", "text"}
    model : str
        A timm model name (images), or a local transformers folder or
        ``"all-MiniLM-L6-v2"`` (texts).
    weights : str, optional
        Images only: a checkpoint file, a named offline source or ``"timm"`` (see
        :func:`featurizers.weights.resolve_checkpoint`). Text models carry their
        weights in their folder.
    head : bool, default=True
        Export the model's own classifier as the encoder's ``head``.
    device : str, default="auto"
    precision : {"auto", "fp32", "bf16", "fp16"}, default="auto"
    local_rank : int, default=0
        GPU index under ``torchrun``.
    **options
        Images: ``preprocess``, ``image_size``, ``workers``, ``trust_checkpoint``;
        texts: ``pooling``, ``normalize``, ``max_length``, ``chunk_batches`` (see
        :class:`~featurizers.image.ImageEncoder` and
        :class:`~featurizers.text.TextEncoder`).

    Returns
    -------
    Encoder
        An :class:`~featurizers.image.ImageEncoder` or a
        :class:`~featurizers.text.TextEncoder`.

    Raises
    ------
    ValueError
        For an unknown modality, an option the modality does not take, or
        ``weights`` for a text model.
    """
    if modality not in MODALITY_OPTIONS:
        raise ValueError(f"modality must be one of {sorted(MODALITY_OPTIONS)}, got {modality!r}")
    unknown = sorted(set(options) - set(MODALITY_OPTIONS[modality]))
    if unknown:
        raise ValueError(f"{modality} encoders take no option {', '.join(unknown)}; their "
                         f"options: {', '.join(MODALITY_OPTIONS[modality])}")
    common = dict(head=head, device=device, precision=precision, local_rank=local_rank)
    if modality == "image":
        from .image import ImageEncoder

        return ImageEncoder(model, weights, **common, **options)
    if weights is not None:
        raise ValueError("text models carry their weights in their folder: pass the folder "
                         "as the model, not weights")
    from .text import TextEncoder

    return TextEncoder(model, **common, **options)
