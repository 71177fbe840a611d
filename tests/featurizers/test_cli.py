"""The nt-featurize command: both modalities, kill and resume, refusals."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests._featurizer_data import (REPO, run_cli, save_timm_checkpoint, save_tiny_bert,
                                    write_images, write_texts)

pytest.importorskip("timm")
pytest.importorskip("transformers")

from featurizers.cli import build_parser, main  # noqa: E402
from featurizers.store import EmbeddingStore, load_manifest  # noqa: E402

SPLIT_FILES = ("X.npy", "y.npy", "groups.npy", "ids.npy")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_images")
    write_images(root / "data", 30, n_train=24)
    save_timm_checkpoint(root / "ck.pth", num_classes=2)
    return root


def _image_args(root, out, *extra):
    return ["image", "--dataset", "csv", "--root", str(root / "data"), "--model", "test_resnet",
            "--weights", str(root / "ck.pth"), "--out", str(out), "--image-size", "48",
            "--batch-size", "4", *extra]


def test_parser_defaults_and_choices():
    args = build_parser().parse_args(["text", "--dataset", "csv", "--root", "r", "--model", "m",
                                      "--out", "o", "--no-normalize", "--splits", "train", "val"])
    assert (args.pooling, args.normalize, args.splits, args.head) == ("auto", False,
                                                                      ["train", "val"], True)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["image", "--dataset", "csv", "--root", "r", "--model", "m",
                                   "--out", "o", "--precision", "fp8"])


def test_image_command_and_refusals(images, tmp_path, capsys):
    out = tmp_path / "store"
    assert main(_image_args(images, out, "--dtype", "float16", "--splits", "test")) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "dim 96" in printed and "head: yes" in printed
    assert "test" in printed and "train" not in printed.split("rows/s")[1]
    store = EmbeddingStore(out)
    X, y, groups, ids = store.load("test")
    assert X.dtype == np.float16 and X.shape == (6, 96) and store.splits == ["test"]
    before = {n: (out / "test" / n).read_bytes() for n in SPLIT_FILES}
    # another model's store in the output folder: refused, nothing touched
    other = tmp_path / "other.pth"
    save_timm_checkpoint(other, num_classes=2)
    args = _image_args(images, out, "--dtype", "float16", "--splits", "test")
    args[args.index("--weights") + 1] = str(other)
    assert main(args) == 2  # exit code 2, as argparse
    err = capsys.readouterr().err
    assert "holds an embedding store made differently" in err and "sha256" in err
    assert "--overwrite" in err
    assert {n: (out / "test" / n).read_bytes() for n in SPLIT_FILES} == before
    assert main([*args, "--overwrite"]) == 0
    assert load_manifest(out)["identity"]["weights"]["file"] == "other.pth"
    # a text command on an image dataset, a missing dataset
    assert main(["text", "--dataset", "csv", "--root", str(images / "data"), "--model", "x",
                 "--out", str(tmp_path / "t")]) == 2
    assert "use 'nt-featurize image'" in capsys.readouterr().err
    assert main(["image", "--dataset", "nope", "--root", ".", "--model", "x", "--out", "o"]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err


def test_text_command(tmp_path, capsys):
    model, tok = save_tiny_bert(tmp_path / "bert")
    write_texts(tmp_path / "data", 15, pairs=True)
    out = tmp_path / "store"
    rc = main(["text", "--dataset", "csv", "--root", str(tmp_path / "data"), "--model",
               str(tmp_path / "bert"), "--out", str(out), "--pooling", "mean", "--max-length",
               "16", "--batch-size", "4", "-q"])
    assert rc == 0
    assert "dim 32" in capsys.readouterr().out
    store = EmbeddingStore(out)
    assert store.splits == ["train", "val"] and store.head() is None
    m = store.manifest["identity"]
    assert (m["pooling"], m["max_length"], m["modality"]) == ("mean", 16, "text")
    X, y, groups, ids = store.load("val")
    assert X.shape == (5, 32) and groups is None and ids.tolist() == [10, 11, 12, 13, 14]


@pytest.fixture
def one_torch_thread():
    """torch at one intra-op thread, as the killed subprocess runs (OMP_NUM_THREADS=1): on
    some CPUs the convolutions' results depend on the thread count in the last bits."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_killed_run_resumes_byte_identical(images, tmp_path, capsys, one_torch_thread):
    ref, out = tmp_path / "ref", tmp_path / "resumed"
    assert main(_image_args(images, ref, "-q")) == 0
    env = dict(os.environ, PYTHONPATH=REPO, HF_HUB_OFFLINE="1", NT_FEATURIZE_COMMIT_EVERY="0",
               NT_FEATURIZE_PAUSE_AFTER_COMMIT="0.25", OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "featurizers", *_image_args(images, out, "-q")],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done, deadline = 0, time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                done = json.loads((out / "manifest.json").read_text())["splits"]["train"]["done"]
            except (FileNotFoundError, KeyError, json.JSONDecodeError):
                done = 0
            if done >= 8:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert 8 <= done < 24, proc.stderr.read().decode()
    partial = load_manifest(out)["splits"]["train"]
    assert not partial["complete"] and "test" not in load_manifest(out)["splits"]
    capsys.readouterr()
    assert main(_image_args(images, out)) == 0  # the same command again resumes
    table = capsys.readouterr().out.splitlines()
    train_row = next(line.split() for line in table if line.strip().startswith("train"))
    assert int(train_row[1]) == 24 and int(train_row[3]) == 24 - partial["done"]  # not restarted
    for split in ("train", "test"):
        for name in SPLIT_FILES:
            a, b = (ref / split / name).read_bytes(), (out / split / name).read_bytes()
            assert a == b, f"{split}/{name} differs after resume"
    np.testing.assert_array_equal(EmbeddingStore(ref).head()[0], EmbeddingStore(out).head()[0])


def test_subprocess_entry_point_reports_bad_checkpoint(images, tmp_path):
    bad = tmp_path / "bad.pth"
    save_timm_checkpoint(bad, name="test_efficientnet", num_classes=2)
    args = _image_args(images, tmp_path / "s", "-q")
    args[args.index("--weights") + 1] = str(bad)
    res = run_cli(args)
    assert res.returncode == 2
    assert "nt-featurize: error" in res.stderr and "missing keys" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "s").exists()
