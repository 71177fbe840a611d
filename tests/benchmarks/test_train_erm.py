"""ERM training (benchmarks.train_erm): presets, checkpoints the featurizers load, resume."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")

from tests._featurizer_data import REPO, save_timm_checkpoint  # noqa: E402
from tests._reproduce_data import write_waterbirds  # noqa: E402

from benchmarks import train_erm  # noqa: E402

EPOCHS = 3
SIZES = {"train": 16, "val": 8, "test": 8}


def _argv(root, out):
    return ["--dataset", "waterbirds", "--root", str(root), "--out", str(out),
            "--model", "test_resnet", "--init-weights", "none", "--epochs", str(EPOCHS),
            "--batch-size", "4", "--image-size", "32", "--workers", "0", "--seed", "3", "-q"]


@pytest.fixture(scope="module")
def waterbirds(tmp_path_factory):
    return write_waterbirds(str(tmp_path_factory.mktemp("wb")), sizes=SIZES)


@pytest.fixture(scope="module")
def uninterrupted(waterbirds, tmp_path_factory):
    out = tmp_path_factory.mktemp("erm_full")
    assert train_erm.main(_argv(waterbirds, out)) == 0
    return out


def _tensors(path):
    import torch

    obj = torch.load(path, map_location="cpu", weights_only=True)
    return obj["model"] if "model" in obj else obj


def test_presets_are_table_9():
    P = train_erm.PRESETS
    assert (P["waterbirds"]["model"], P["waterbirds"]["lr"], P["waterbirds"]["epochs"],
            P["waterbirds"]["batch_size"], P["waterbirds"]["schedule"]) == \
        ("resnet50", 3e-3, 100, 32, "cosine")
    assert (P["celeba"]["epochs"], P["celeba"]["batch_size"]) == (20, 128)
    assert (P["imagenet9"]["model"], P["imagenet9"]["init"], P["imagenet9"]["milestones"],
            P["imagenet9"]["epochs"]) == ("resnet18", "none", (40, 60, 80), 120)
    assert (P["multinli"]["optimizer"], P["multinli"]["lr"], P["multinli"]["schedule"],
            P["multinli"]["batch_size"]) == ("adamw", 1e-5, "linear", 16)
    assert P["civilcomments"]["lr"] == 1e-3 and "civilcomments" in train_erm.PRESET_NOTES
    assert all(p["weight_decay"] == 1e-4 for p in P.values())


def test_schedules():
    cfg = {"epochs": 4, "schedule": "cosine", "milestones": []}
    f = [train_erm.lr_factor(s, 10, **cfg) for s in (0, 20, 40)]
    assert f == pytest.approx([1.0, 0.5, 0.0])
    cfg.update(schedule="linear")
    assert train_erm.lr_factor(10, 10, **cfg) == pytest.approx(0.75)
    cfg.update(schedule="multistep", milestones=[1, 3])
    assert [train_erm.lr_factor(s, 10, **cfg) for s in (9, 10, 29, 30)] == \
        pytest.approx([1.0, 0.1, 0.1, 0.01])


def test_init_weights_from_a_local_file(tmp_path):
    import torch

    ckpt = tmp_path / "imagenet.pth"
    src = save_timm_checkpoint(str(ckpt), "test_resnet", num_classes=7)
    model = train_erm.build_image_model("test_resnet", 2, str(ckpt))
    assert model.get_classifier().out_features == 2
    own, theirs = model.state_dict(), src.state_dict()
    backbone = [k for k in theirs if not k.startswith("fc.")]
    assert all(torch.equal(own[k], theirs[k]) for k in backbone)
    with pytest.raises(FileNotFoundError, match="init-weights"):
        train_erm.build_image_model("test_resnet", 2, str(tmp_path / "missing.pth"))


def test_timm_weights_must_be_cached_locally(monkeypatch):
    import featurizers.weights

    monkeypatch.setattr(featurizers.weights, "timm_cached_file", lambda model: None)
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        train_erm.build_image_model("test_resnet", 2, "timm")


def test_checkpoint_loads_in_the_featurizer_with_its_head(uninterrupted):
    from featurizers.image import ImageEncoder

    log = [json.loads(line) for line in open(uninterrupted / "log.jsonl")]
    assert [r["epoch"] for r in log] == list(range(1, EPOCHS + 1))
    assert {"train_loss", "train_acc", "val_acc", "lr", "seconds"} <= set(log[0])
    summary = json.load(open(uninterrupted / "summary.json"))
    best = max(log, key=lambda r: r["val_acc"])  # the first epoch among ties
    assert summary["best_epoch"] == best["epoch"]
    enc = ImageEncoder("test_resnet", str(uninterrupted / "best.pth"), preprocess="paper",
                       device="cpu")
    coef, intercept, classes = enc.head  # checked by the encoder to reproduce the logits
    assert coef.shape == (2, enc.dim) and list(classes) == [0, 1]


def test_changed_settings_are_refused(waterbirds, uninterrupted, capsys):
    argv = _argv(waterbirds, uninterrupted)
    argv[argv.index("--epochs") + 1] = str(EPOCHS + 1)
    assert train_erm.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("train_erm: error: ") and "other settings" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_resume_after_kill_gives_the_same_weights(waterbirds, uninterrupted, tmp_path):
    out = tmp_path / "erm_killed"
    env = dict(os.environ, PYTHONPATH=REPO, NT_TRAIN_ERM_PAUSE_AFTER_EPOCH="60")
    cmd = [sys.executable, "-m", "benchmarks.train_erm", *_argv(waterbirds, out)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    log = out / "log.jsonl"
    deadline = time.monotonic() + 300  # a bound only: a loaded machine needs more than 60 s
    try:
        while not (log.exists() and log.read_text().count("\n") >= 1):
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "no epoch finished within 300 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    import torch

    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 1
    assert train_erm.main(_argv(waterbirds, out)) == 0  # resumes (in this process)
    for name in ("last.pt", "best.pth"):
        a, b = _tensors(uninterrupted / name), _tensors(out / name)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{name}: {k} differs after resuming"
    logs = [[json.loads(x) for x in open(d / "log.jsonl")] for d in (uninterrupted, out)]
    assert [r["epoch"] for r in logs[1]] == list(range(1, EPOCHS + 1))
    np.testing.assert_array_equal([r["val_acc"] for r in logs[0]], [r["val_acc"] for r in logs[1]])
    assert [r["train_loss"] for r in logs[0]] == [r["train_loss"] for r in logs[1]]
