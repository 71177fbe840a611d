"""Two CPU processes (gloo) under torchrun write the same store as one process."""

import os
import subprocess
import sys

import numpy as np
import pytest

from tests._featurizer_data import REPO, save_timm_checkpoint, write_images

pytest.importorskip("timm")

from featurizers.cli import main  # noqa: E402
from featurizers.store import EmbeddingStore, load_manifest  # noqa: E402


def test_torchrun_two_processes_equal_one(tmp_path):
    write_images(tmp_path / "data", 17, n_train=10)
    save_timm_checkpoint(tmp_path / "ck.pth", num_classes=2)
    args = ["image", "--dataset", "csv", "--root", str(tmp_path / "data"), "--model",
            "test_resnet", "--weights", str(tmp_path / "ck.pth"), "--image-size", "48",
            "--batch-size", "4", "-q"]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    env = dict(os.environ, PYTHONPATH=REPO, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc-per-node", "2", "-m", "featurizers", *args,
                          "--out", str(tmp_path / "two")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "2 process(es)" in res.stdout
    one, two = EmbeddingStore(tmp_path / "one"), EmbeddingStore(tmp_path / "two")
    assert two.splits == ["train", "test"]
    for split in ("train", "test"):
        X1, y1, g1, i1 = one.load(split)
        X2, y2, g2, i2 = two.load(split)
        assert (X2 != 0).any(axis=1).all()  # both ranks wrote their rows
        np.testing.assert_allclose(X2, X1, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(y2, y1)
        np.testing.assert_array_equal(g2, g1)
        np.testing.assert_array_equal(i2, i1)
        assert load_manifest(tmp_path / "two")["splits"][split]["world_size"] == 2
        assert not [f for f in os.listdir(tmp_path / "two" / split) if f.startswith("progress")]
    np.testing.assert_array_equal(one.head()[0], two.head()[0])
