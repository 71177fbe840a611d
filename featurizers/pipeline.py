"""Featurize a dataset with an encoder into an embedding store, resumably.

The loop for one split: check the inputs (missing images, empty texts), create
the split's files (or find where a killed run stopped), embed this process's
rows block by block into ``X.npy``, commit progress after the block is
flushed, and mark the split complete once every process is done.
"""

import logging
import os
import time

import numpy as np

from .runtime import Distributed
from .store import EmbeddingStoreWriter

__all__ = ["featurize"]

logger = logging.getLogger(__name__)


def _on_main(dist, fn):
    """Run ``fn`` on rank 0; if it fails there, every rank raises."""
    result, error = None, None
    if dist.is_main:
        try:
            result = fn()
        except Exception as exc:  # re-raised below, after telling the other ranks
            error = exc
    if not dist.all_ok(error is None):
        if error is not None:
            raise error
        raise RuntimeError("rank 0 failed while preparing the store; see its error")
    dist.barrier()
    return result


def _progress_bar(total, initial, desc, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="rows",
                disable=not enabled, dynamic_ncols=True)


def featurize(reader, encoder, out_dir, *, splits=None, batch_size=64, dtype="float32",
              overwrite=False, skip_bad_images=False, dist=None, progress=None,
              commit_every=None):
    """Embed the splits of ``reader`` with ``encoder`` into the store ``out_dir``.

    Parameters
    ----------
    reader : featurizers.datasets.DatasetReader
    encoder : ImageEncoder or TextEncoder
    out_dir : str or path-like
    splits : list of str, optional
        Default: all the reader's splits.
    batch_size : int, default=64
    dtype : {"float32", "float16"}, default="float32"
    overwrite : bool, default=False
        Replace a store made with another model, weights or settings.
    skip_bad_images : bool, default=False
        Decode every image once before embedding; rows whose image is missing or
        corrupt are left out and their ids listed in the manifest (``skipped``).
        Without it, a missing image stops the run before anything is written and
        a corrupt one stops it with an error naming the file (rows already
        committed stay; fix the file and run again to resume). Under ``torchrun``
        every process runs this check on the whole split.
    dist : featurizers.runtime.Distributed, optional
        The process group (default: from the ``torchrun`` environment).
    progress : bool, optional
        Show a tqdm bar (default: when the log level is INFO or lower, on rank 0).
    commit_every : float, optional
        Seconds between progress commits (default 1.0, env ``NT_FEATURIZE_COMMIT_EVERY``).

    Returns
    -------
    summary : dict
        ``out_dir``, ``dim``, ``dtype``, ``head`` and per split ``rows``, ``skipped``,
        ``seconds``, ``rows_per_s``.
    """
    dist = dist or Distributed()
    if commit_every is None:
        commit_every = float(os.environ.get("NT_FEATURIZE_COMMIT_EVERY", 1.0))
    pause = float(os.environ.get("NT_FEATURIZE_PAUSE_AFTER_COMMIT", 0))  # for tests of resume
    if progress is None:
        progress = logging.getLogger("featurizers").getEffectiveLevel() <= logging.INFO
    splits = list(splits or reader.splits())
    identity = dict(encoder.identity, dataset=reader.name)
    extra = {"dataset": reader.describe()}

    def open_store():
        w = EmbeddingStoreWriter(out_dir, identity, encoder.dim, dtype=dtype, overwrite=overwrite,
                                 rank=0, world_size=dist.world_size, extra=extra)
        if encoder.head is not None:
            w.write_head(*encoder.head)
        return w

    writer = _on_main(dist, open_store)
    if writer is None:
        writer = EmbeddingStoreWriter(out_dir, identity, encoder.dim, dtype=dtype,
                                      rank=dist.rank, world_size=dist.world_size)
        writer.reload()
    summary = {"out_dir": os.path.abspath(out_dir), "dim": encoder.dim, "dtype": dtype,
               "head": encoder.head is not None, "world_size": dist.world_size, "splits": {}}
    for split in splits:
        t0 = time.perf_counter()
        data = reader.load(split)
        ids = np.asarray(data.ids)
        keep = encoder.prepare(data.inputs, ids, skip_bad=skip_bad_images)
        inputs, y, groups = data.inputs, np.asarray(data.y), data.groups
        skipped = ids[~keep]
        if len(skipped):
            logger.warning("split %r: skipping %d unreadable image(s), e.g. %s", split,
                           len(skipped), [str(s) for s in skipped[:3]])
            idx = np.flatnonzero(keep)
            inputs, ids, y = [inputs[i] for i in idx], ids[idx], y[idx]
            groups = None if groups is None else np.asarray(groups)[idx]
        options = {"batch_size": int(batch_size)}
        _on_main(dist, lambda: writer.begin_split(split, ids, y, groups, skipped=skipped,
                                                  options=options))
        if not dist.is_main:
            writer.reload()
        n = len(y)
        lo, hi = dist.block(n, encoder.align(batch_size))
        done = writer.rows_done(split, lo)
        pos = lo + done
        if pos < hi:
            logger.info("split %r: rows %d..%d of %d%s", split, pos, hi, n,
                        f" (resuming after {done})" if done else "")
            X = writer.open_rows(split)
            bar = _progress_bar(hi - lo, done, split, progress and dist.is_main)
            last = time.monotonic()
            try:
                for block in encoder.embed(inputs, pos, hi, batch_size):
                    X[pos:pos + len(block)] = block.astype(dtype, copy=False)
                    pos += len(block)
                    bar.update(len(block))
                    if pos == hi or time.monotonic() - last >= commit_every:
                        writer.commit(split, X, lo, pos - lo)
                        last = time.monotonic()
                        if pause:
                            time.sleep(pause)
            finally:
                bar.close()
            if pos != hi:
                raise RuntimeError(f"the encoder gave {pos - lo} rows for a block of {hi - lo}")
            del X
        dist.barrier()
        if dist.is_main:
            writer.finish_split(split)
        dt = time.perf_counter() - t0
        embedded = dist.total(hi - lo - done)
        summary["splits"][split] = {"rows": n, "skipped": len(skipped), "embedded": embedded,
                                    "seconds": round(dt, 3),
                                    "rows_per_s": round(embedded / dt, 1) if dt else None}
    dist.barrier()
    return summary
