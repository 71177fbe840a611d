"""How the processes that share a store divide its work.

:func:`on_main` runs a step on the main process and lets every process fail
together; :class:`OneProcess` stands in for the process group when there is
none; :class:`RowBlock` writes one process's block of rows and commits it.
:class:`featurizers.store.EmbeddingStoreWriter` uses them; numpy and the
standard library only.
"""

import time

from ..runtime import rank_block

__all__ = ["RowBlock", "OneProcess", "on_main"]


class OneProcess:
    """The process group when the caller coordinates the processes itself (or there is one)."""

    def __init__(self, rank=0, world_size=1):
        self.rank, self.world_size = rank, world_size

    @property
    def is_main(self):
        return self.rank == 0

    def barrier(self):
        pass

    def all_ok(self, ok):
        return bool(ok)

    def total(self, value):
        return int(value)

    def block(self, n, align=1):
        return rank_block(n, self.rank, self.world_size, align)


def on_main(group, fn):
    """Run ``fn`` on the main process; if it fails there, every process raises."""
    result, error = None, None
    if group.is_main:
        try:
            result = fn()
        except Exception as exc:  # re-raised below, after telling the other processes
            error = exc
    if not group.all_ok(error is None):
        if error is not None:
            raise error
        raise RuntimeError("rank 0 failed while preparing the store; see its error")
    group.barrier()
    return result


class RowBlock:
    """One process's rows ``[lo, hi)`` of a split, written in order from ``lo + done``.

    Made by :meth:`EmbeddingStoreWriter.start_split`. Use it as a context
    manager: it opens ``X.npy`` on entry; :meth:`write` puts the next rows in
    place and commits them (flush, then record) every ``commit_every`` seconds
    and after the last row. Rows written after the last commit when an error
    interrupts the block are not recorded (a resume embeds them again). On a
    normal exit, a block with rows missing raises RuntimeError.

    Attributes
    ----------
    split : str
    lo, hi : int
        The block's first row and the row after its last.
    done : int
        Rows of the block an earlier run committed.
    pos : int
        The next row to write.
    """

    def __init__(self, writer, split, lo, hi, done):
        self._writer, self.split, self.lo, self.hi, self.done = writer, split, lo, hi, done
        self.pos = lo + done
        self._X = None
        self._last = None

    @property
    def todo(self):
        """Rows left to write."""
        return self.hi - self.pos

    def __enter__(self):
        self._X = self._writer.open_rows(self.split)
        self._last = time.monotonic()
        return self

    def write(self, rows):
        """Write ``rows`` (n, dim) at ``pos`` (cast to the store's dtype); commit when due."""
        w = self._writer
        end = self.pos + len(rows)
        if end > self.hi:
            raise RuntimeError(f"the encoder gave {end - self.lo} rows for a block of "
                               f"{self.hi - self.lo}")
        self._X[self.pos:end] = rows.astype(w.dtype, copy=False)
        self.pos = end
        if end == self.hi or time.monotonic() - self._last >= w.commit_every:
            w.commit(self.split, self._X, self.lo, end - self.lo)
            self._last = time.monotonic()
            if w.pause_after_commit:
                time.sleep(w.pause_after_commit)

    def __exit__(self, exc_type, exc, tb):
        self._X = None  # unmaps X.npy (every committed row is flushed)
        if exc_type is None and self.pos != self.hi:
            raise RuntimeError(f"the encoder gave {self.pos - self.lo} rows for a block of "
                               f"{self.hi - self.lo}")
        return False
