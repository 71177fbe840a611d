"""Column-wise sorts of float32 activations, for the SFit presort.

Each column of a (rows, features) block is sorted by the bits of its values,
made to sort as the floats do, in one of two ways that give the same
permutation; which is faster depends on the CPU and is timed once per process.
"""

import functools
import time

import numpy as np


def _sort_columns(A, order, nonnegative=False, method=None, keys=None):
    """Write into ``order`` the permutation that sorts each column of ``A``.

    For float32 the values' bits are made to sort as the floats do, and
    sorted in one of two ways that give the same permutation (equal bit
    patterns stay in row order; -0.0 sorts before 0.0), ``method``:

    - ``"keys"``: one sort of 64-bit keys, the bits above the row index
      (``keys``: a reused buffer of shape ``A.shape[::-1]``, or None);
    - ``"radix"``: a radix sort in two passes of 16 bits (numpy's stable
      argsort of 16-bit integers), a few features at a time.

    Which is faster depends on the CPU: numpy sorts 64-bit integers with
    AVX-512 where the CPU has it (64 features of 16,917 rows: 4.8 ms against
    13.6 ms for the radix sort on an AVX-512 EPYC), and the radix sort won on
    another EPYC (20 ms against 28 ms). None: :func:`_float32_sort_method`,
    timed once per process. ``argsort`` of the floats, which numpy does not
    vectorise, is slower than both. ``nonnegative`` says that no value has
    its sign bit set (``|x|``, which also maps -0.0 to 0.0).
    """
    if A.dtype != np.float32:
        order[...] = np.argsort(_transposed(A), axis=1)
        return
    bits = _transposed(A.view(np.uint32))
    if not nonnegative and np.signbit(A).any():
        # the bits of non-negative floats sort as the floats; with a sign, set the sign bit
        # of the positive values and flip every bit of the negative ones
        bits ^= np.where(bits >> 31, np.uint32(0xFFFFFFFF), np.uint32(0x80000000))
    if (method or _float32_sort_method()) == "keys":
        _sort_keys(bits, order, keys)
    else:
        _radix_sort(bits, order)


def _sort_keys(bits, order, keys=None):
    """``order`` of each row of ``bits`` by one sort of (bits << 32 | position) keys."""
    if keys is None or keys.shape != bits.shape:
        keys = np.empty(bits.shape, dtype=np.uint64)
    keys[...] = bits
    keys <<= np.uint64(32)
    keys |= np.arange(bits.shape[1], dtype=np.uint64)
    keys.sort(axis=1)
    np.copyto(order, keys, casting="unsafe")  # the low bits: the position (fewer than 2**32)


def _radix_sort(bits, order):
    """``order`` of each row of ``bits`` by a stable radix sort of two 16-bit passes."""
    step = max(4, (1 << 16) // bits.shape[1])  # 4 features of 16k rows at a time: in cache
    for lo in range(0, len(bits), step):
        part = bits[lo : lo + step]
        low = np.argsort((part & 0xFFFF).astype(np.uint16), axis=1, kind="stable")
        low = low.astype(order.dtype)  # (half the traffic of numpy's int64 indices)
        high = np.take_along_axis((part >> 16).astype(np.uint16), low, axis=1)
        by_high = np.argsort(high, axis=1, kind="stable")
        order[lo : lo + step] = np.take_along_axis(low, by_high, axis=1)


@functools.cache
def _float32_sort_method():
    """``"keys"`` or ``"radix"``: whichever of :func:`_sort_columns`' two sorts is faster on
    this machine, timed once per process on 8 features of 16,384 rows (a few ms). Both give
    the same permutation, so the choice changes the speed only."""
    A = np.abs(np.random.default_rng(0).standard_normal((1 << 14, 8), dtype=np.float32))
    order = np.empty(A.shape[::-1], dtype=np.uint16)
    keys = np.empty(A.shape[::-1], dtype=np.uint64)
    best = {}
    for _ in range(3):  # interleaved, the fastest of three: robust to a busy machine
        for method in ("keys", "radix"):
            start = time.perf_counter()
            _sort_columns(A, order, nonnegative=True, method=method, keys=keys)
            elapsed = time.perf_counter() - start
            best[method] = min(best.get(method, elapsed), elapsed)
    return min(best, key=best.get)


def _transposed(A, block=64, out=None):
    """``A.T`` as a C-contiguous copy (or into ``out``), ``block`` rows of ``A`` at a time.

    Copying a transposed view in one call walks one of the two arrays with a
    large stride; copying row blocks keeps both sides in cache (~5x faster on
    a (20000, 256) float32 slice).
    """
    if out is None:
        out = np.empty(A.shape[::-1], dtype=A.dtype)
    for lo in range(0, A.shape[0], block):
        out[:, lo : lo + block] = A[lo : lo + block].T
    return out


