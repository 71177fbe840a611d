"""Binary data with a planted spurious attribute, shared by the estimator and benchmark tests."""

import numpy as np


def make_spurious(n, p_aligned, rng, n_noise=3, d_core=1.0):
    """Binary data with one core and one spurious (presence-coded) dimension.

    Column 0 is the core feature, column 1 the spurious attribute's presence
    (equal to the label with probability ``p_aligned``), the rest noise.
    Returns X, y, groups (2 * y + aligned).
    """
    y = rng.integers(0, 2, n)
    aligned = rng.random(n) < p_aligned
    a = np.where(aligned, y, 1 - y)
    X = np.column_stack(
        [
            (2 * y - 1) * d_core + rng.normal(0, 0.76, n),
            a + rng.normal(0, 0.325, n),
            rng.normal(0, 1.0, (n, n_noise)),
        ]
    )
    return X, y, 2 * y + aligned
