import numpy as np
import pytest

from tests._spurious import make_spurious


@pytest.fixture
def spurious_data():
    rng = np.random.default_rng(0)
    train = make_spurious(4000, 0.95, rng)
    val = make_spurious(1000, 0.95, rng)
    test = make_spurious(4000, 0.10, rng)
    return train, val, test
