"""nt_sklearn never imports torch; it works where torch cannot be imported."""

import subprocess
import sys

CODE = """
import sys
{block}
import numpy as np
import nt_sklearn
from nt_sklearn import NeuronTuneClassifier
X = np.random.default_rng(0).normal(size=(41, 3)); y = np.arange(41) % 2
NeuronTuneClassifier(n_epochs=1, batches_per_epoch=2).fit(X, y)
heavy = sorted(m for m in ("torch", "timm", "transformers", "torchvision") if m in sys.modules)
print("HEAVY", heavy)
"""


def run(block):
    out = subprocess.run(
        [sys.executable, "-c", CODE.format(block=block)], capture_output=True, text=True, check=True
    )
    return out.stdout


def test_nt_sklearn_does_not_import_torch():
    assert "HEAVY []" in run("")


def test_nt_sklearn_works_when_torch_cannot_be_imported():
    # a meta-path finder that refuses them, as on a machine without the featurizers extra
    block = (
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'timm', 'transformers', 'torchvision'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Refuse())\n"
        "try:\n    import torch\nexcept ImportError:\n    print('TORCH BLOCKED')"
    )
    out = run(block)
    assert "TORCH BLOCKED" in out and "HEAVY []" in out
