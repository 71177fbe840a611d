"""Where and how a backbone runs: lazy imports, device, precision, torch.distributed.

GPU features (CUDA, bf16/fp16 autocast, channels_last, pinned memory, one
process per GPU under ``torchrun``) are chosen automatically when present;
everything works on CPU.
"""

import contextlib
import datetime
import importlib
import logging
import os

__all__ = ["require", "resolve_device", "resolve_precision", "autocast", "Distributed",
           "rank_block"]

logger = logging.getLogger(__name__)

EXTRA_HINT = "pip install neurontune[featurizers]"


def require(module):
    """Import ``module`` or raise an ImportError naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"the featurizers need {module!r}, which is not installed or does not import "
            f"({exc}); install the extra: {EXTRA_HINT}"
        ) from exc


def resolve_device(device="auto", local_rank=0):
    """``"auto"`` becomes ``cuda:<local_rank>`` when a GPU is present, else ``cpu``."""
    torch = require("torch")
    if device in (None, "auto"):
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no GPU")
    return device


def resolve_precision(precision, device):
    """``"auto"``: bf16 on GPUs that support it, fp16 on older GPUs, fp32 on CPU."""
    torch = require("torch")
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if precision != "auto":
        if precision == "fp16" and device.type == "cpu":
            logger.warning("fp16 autocast on CPU is slow and rarely supported; consider bf16")
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def autocast(device, precision):
    """A context for mixed precision, or a no-op for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    torch = require("torch")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def rank_block(n, rank, world_size, align=1):
    """Rows ``(lo, hi)`` of process ``rank`` when ``world_size`` processes share ``n`` rows.

    The blocks are contiguous, in rank order, and cut at multiples of ``align``
    (the last one ends at ``n``).

    Examples
    --------
    >>> [rank_block(10, r, 3, align=4) for r in range(3)]
    [(0, 4), (4, 8), (8, 10)]
    >>> [rank_block(11, r, 2, align=4) for r in range(2)]
    [(0, 4), (4, 11)]
    """
    n_units = -(-n // align)
    lo_u = n_units * rank // world_size
    hi_u = n_units * (rank + 1) // world_size
    return min(lo_u * align, n), min(hi_u * align, n)


class Distributed:
    """One process of a ``torchrun`` launch, or the only process.

    Reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` as set by ``torchrun``
    and, when ``WORLD_SIZE > 1``, joins the process group (NCCL on GPUs, gloo
    on CPU). ``block(n, align)`` gives this rank's contiguous share of ``n``
    rows, cut at multiples of ``align`` so that every batch is the same as in
    a single-process run.
    """

    def __init__(self):
        self.rank = int(os.environ.get("RANK", 0))
        self.world_size = int(os.environ.get("WORLD_SIZE", 1))
        self.local_rank = int(os.environ.get("LOCAL_RANK", 0))
        self._dist = None
        if self.world_size > 1:
            torch = require("torch")
            dist = torch.distributed
            if not dist.is_initialized():
                backend = "nccl" if torch.cuda.is_available() else "gloo"
                if backend == "nccl":
                    torch.cuda.set_device(self.local_rank)
                dist.init_process_group(backend, timeout=datetime.timedelta(hours=2))
            self._dist = dist
            logger.info("rank %d of %d (%s)", self.rank, self.world_size, dist.get_backend())

    @property
    def is_main(self):
        return self.rank == 0

    def barrier(self):
        if self._dist is not None:
            self._dist.barrier()

    def total(self, value):
        """The sum of an integer over all ranks."""
        if self._dist is None:
            return int(value)
        torch = require("torch")
        t = torch.tensor([int(value)], dtype=torch.int64)
        self._dist.all_reduce(t)
        return int(t.item())

    def all_ok(self, ok):
        """True when ``ok`` holds on every rank (lets all ranks stop together on an error)."""
        return self.total(0 if ok else 1) == 0

    def block(self, n, align=1):
        """This process's rows of ``n``; see :func:`rank_block`."""
        return rank_block(n, self.rank, self.world_size, align)

    def close(self):
        if self._dist is not None and self._dist.is_initialized():
            self._dist.destroy_process_group()
