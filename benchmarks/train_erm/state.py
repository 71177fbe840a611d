"""What makes a run resumable: per-epoch seeds, RNG states, ``last.pt`` and ``log.jsonl``.

Each epoch's shuffling, augmentation and dropout draw from a seed derived from
``(seed, epoch, rank)``; ``last.pt`` also keeps the global generators' states, so a
resumed run continues exactly where an uninterrupted one would be.
"""

import json
import os
import random

import numpy as np

from featurizers.runtime import require

from .config import RUNTIME_KEYS


def epoch_seed(seed, epoch, rank=0):
    """The seed of one epoch in one process, a function of (seed, epoch, rank) only."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0])


def seed_everything(seed):
    """Seed torch, numpy's and Python's global generators (training scripts only)."""
    torch = require("torch")
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def worker_init(worker_id):
    """DataLoader workers: numpy's and Python's generators from the worker's torch seed."""
    seed = require("torch").initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def rng_state():
    """The global generators' states (torch, Python, numpy, CUDA), as ``torch.load``-safe data."""
    torch = require("torch")
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)),
                       *np_state[2:])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    """Restore what :func:`rng_state` saved."""
    torch = require("torch")
    torch.set_rng_state(state["torch"])
    random.setstate(tuple(tuple(s) if isinstance(s, list) else s for s in state["python"]))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_atomic(obj, path):
    """``torch.save`` to a temporary file, then rename it over ``path``."""
    torch = require("torch")
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_checkpoint(path, *, settings, epoch, model, optimizer, scheduler, scaler, best,
                    history):
    """Atomically replace ``last.pt`` with everything a resumption needs."""
    save_atomic({"config": settings, "epoch": epoch,
                 "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                 "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                 "best": best, "history": history, "rng": rng_state()}, path)


def load_checkpoint(path, settings):
    """``last.pt``'s content, after checking it was made with ``settings``."""
    torch = require("torch")
    state = torch.load(path, map_location="cpu", weights_only=True)
    check_resumable(state["config"], settings, path)
    return state


def check_resumable(saved, settings, path):
    """Refuse to resume when a setting recorded in the checkpoint differs."""
    diff = sorted(k for k in set(saved) | set(settings)
                  if k not in RUNTIME_KEYS and saved.get(k) != settings.get(k))
    if diff:
        raise ValueError(
            f"{path} was made with other settings ("
            + ", ".join(f"{k}: {saved.get(k)!r} -> {settings.get(k)!r}" for k in diff)
            + "); use another --out, or delete last.pt to start over")


def write_log(path, history):
    """Atomically rewrite ``log.jsonl`` with one line per finished epoch."""
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in history)
    os.replace(tmp, path)


def append_log(path, record):
    """Append one epoch's line to ``log.jsonl``."""
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")
