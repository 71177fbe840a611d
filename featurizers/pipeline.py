"""Featurize a dataset with an encoder into an embedding store, resumably.

The loop for one split drives reader -> encoder -> writer: the reader's rows,
checked by the encoder (missing images, empty texts); the writer's block of
rows for this process (where a killed run stopped, which rows under
``torchrun``); the encoder's embeddings of that block, written and committed
by the writer; and the writer's end of the split, once every process is done.
"""

import logging
import os
import time

import numpy as np

from ._fingerprint import input_fingerprints
from .runtime import Distributed
from .store import EmbeddingStoreWriter

__all__ = ["featurize"]

logger = logging.getLogger(__name__)


def _progress_bar(total, initial, desc, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="rows",
                disable=not enabled, dynamic_ncols=True)


def _split_rows(reader, encoder, split, skip_bad, is_main):
    """The rows of ``split`` to embed (unreadable images left out when ``skip_bad``) and,
    on the main process, their inputs' fingerprints."""
    data = reader.load(split)
    ids = np.asarray(data.ids)
    keep = encoder.prepare(data.inputs, ids, skip_bad=skip_bad)
    inputs, y, groups = data.inputs, np.asarray(data.y), data.groups
    skipped = ids[~keep]
    if len(skipped):
        logger.warning("split %r: skipping %d unreadable image(s), e.g. %s", split,
                       len(skipped), [str(s) for s in skipped[:3]])
        idx = np.flatnonzero(keep)
        inputs, ids, y = [inputs[i] for i in idx], ids[idx], y[idx]
        groups = None if groups is None else np.asarray(groups)[idx]
    # the main process alone compares the inputs with the store's record of them
    fingerprint = input_fingerprints(inputs, encoder.modality) if is_main else None
    return {"ids": ids, "inputs": inputs, "y": y, "groups": groups, "skipped": skipped,
            "fingerprint": fingerprint}


def featurize(reader, encoder, out_dir, *, splits=None, batch_size=64, dtype="float32",
              overwrite=False, skip_bad_images=False, dist=None, progress=None,
              commit_every=None):
    """Embed the splits of ``reader`` with ``encoder`` into the store ``out_dir``.

    Parameters
    ----------
    reader : featurizers.datasets.DatasetReader
    encoder : featurizers.encoder.Encoder
        An ImageEncoder or a TextEncoder (see :func:`featurizers.build_encoder`).
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
        ``embedded``, ``seconds``, ``rows_per_s`` and ``rewritten`` (labels and group
        ids rewritten in place, e.g. ``{"labels": 3}``); ``rewritten`` also at the top
        level for every split of the store, those not embedded in this run included.

    Notes
    -----
    A re-run checks each split of the store before resuming it (see
    :class:`featurizers.store.EmbeddingStoreWriter`): rows whose inputs changed
    since they were embedded are refused (``overwrite=True`` embeds the split
    again); changed labels and groups are rewritten in place, in the other
    splits of the store too.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    dist = dist or Distributed()
    if progress is None:
        progress = logging.getLogger("featurizers").getEffectiveLevel() <= logging.INFO
    splits = list(splits or reader.splits())
    writer = EmbeddingStoreWriter(
        out_dir, dict(encoder.identity, dataset=reader.name), encoder.dim, dtype=dtype,
        overwrite=overwrite, extra={"dataset": reader.describe()}, head=encoder.head, dist=dist,
        commit_every=commit_every)
    summary = {"out_dir": os.path.abspath(out_dir), "dim": encoder.dim, "dtype": dtype,
               "head": encoder.head is not None, "world_size": writer.world_size, "splits": {}}
    # Every split's rows and inputs are checked before anything is written, so that a
    # refused split leaves the store as it was (labels and class names included).
    rows = {}
    for split in splits:
        t0 = time.perf_counter()
        rows[split] = r = _split_rows(reader, encoder, split, skip_bad_images, writer.is_main)
        writer.check_inputs(split, r["ids"], r["fingerprint"], skipped=r["skipped"])
        r["seconds"] = time.perf_counter() - t0
    # The manifest describes the dataset as it is now (class names included): the
    # labels of the store's other splits follow, so that they keep matching it.
    for split in [s for s in writer.manifest["splits"] if s not in splits]:
        if split in reader.splits():
            data = reader.load(split)
            writer.refresh_labels(split, data.ids, data.y, data.groups)
    for split in splits:
        t0 = time.perf_counter()
        r = rows.pop(split)
        inputs, y = r["inputs"], r["y"]
        block = writer.start_split(split, r["ids"], y, r["groups"], skipped=r["skipped"],
                                   options={"batch_size": int(batch_size)},
                                   align=encoder.align(batch_size),
                                   fingerprint=r["fingerprint"])
        if block.todo:
            logger.info("split %r: rows %d..%d of %d%s", split, block.pos, block.hi, len(y),
                        f" (resuming after {block.done})" if block.done else "")
            bar = _progress_bar(block.hi - block.lo, block.done, split,
                                progress and writer.is_main)
            try:
                with block:
                    for batch in encoder.embed(inputs, block.pos, block.hi, batch_size):
                        block.write(batch)
                        bar.update(len(batch))
            finally:
                bar.close()
        embedded = writer.end_split(block)
        dt = time.perf_counter() - t0 + r["seconds"]
        summary["splits"][split] = {"rows": len(y), "skipped": len(r["skipped"]),
                                    "embedded": embedded, "seconds": round(dt, 3),
                                    "rows_per_s": round(embedded / dt, 1) if dt else None,
                                    "rewritten": writer.changes.get(split, {})}
    summary["rewritten"] = writer.changes
    writer.close()
    return summary
