"""``python -m benchmarks.train_erm`` (also under ``torchrun ... -m benchmarks.train_erm``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
