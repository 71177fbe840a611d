"""Hostile and careless inputs to the store, the readers and nt-featurize (issue 16).

Each test reproduces one case of the review (split names that are paths, stale
resumes, damaged stores, a full disk, CLI mistakes, foreign manifests, surprising
CSVs, hostile checkpoints) and asserts the clear error or the correct result.
Commands run in-process through ``featurizers.cli.main``, except where a real exit
code or the absence of a traceback is the point.
"""

import errno
import json
import os
import shutil

import numpy as np
import pytest

from featurizers.datasets import get_reader
from featurizers.store import (CorruptStoreError, EmbeddingStore, EmbeddingStoreWriter,
                               InputsChangedError, StoreMismatchError, load_head, load_manifest,
                               load_split)
from tests._featurizer_data import (run_cli, save_timm_checkpoint, save_tiny_bert, write_images,
                                    write_texts)

pytest.importorskip("timm")
pytest.importorskip("transformers")

from featurizers.cli import main  # noqa: E402

IDENTITY = {"modality": "image", "model": "m", "weights": {"sha256": "abc"}}


class Payload:
    """Unpickling it would create ``path``: proof that no pickle was ever executed."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "ck.pth"
    save_timm_checkpoint(path, num_classes=2)
    return path


def _images(tmp_path, n=12):
    write_images(tmp_path / "data", n, n_train=8, size=(24, 24))
    return tmp_path / "data"


def _args(root, out, ckpt, *extra):
    return ["image", "--dataset", "csv", "--root", str(root), "--model", "test_resnet",
            "--weights", str(ckpt), "--out", str(out), "--image-size", "32", "--batch-size",
            "4", "--workers", "0", "-q", *extra]


def _run(capsys, argv):
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(rc, err, *needles):
    assert rc == 2, err
    assert err.startswith("nt-featurize: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


def _store(path, n=6, dim=3, head=True):
    w = EmbeddingStoreWriter(path, IDENTITY, dim)
    if head:
        w.write_head(np.ones((2, dim)), np.zeros(2), [0, 1])
    block = w.start_split("train", np.arange(n), np.arange(n) % 2, np.arange(n) % 3)
    with block:
        block.write(np.arange(n * dim, dtype=np.float32).reshape(n, dim))
    w.end_split(block)
    return path


# ------------------------------------------------------------ 1. split names become paths

@pytest.mark.parametrize("value", ["../other/train", "ABS", "a/b", "..", ".hidden", "x y"])
def test_split_values_that_are_not_folder_names_are_refused_before_anything_is_written(
        tmp_path, capsys, ckpt, value):
    root = _images(tmp_path)
    value = str(tmp_path / "abs" / "train") if value == "ABS" else value
    meta = root / "metadata.csv"
    lines = meta.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + f",{value}"
    meta.write_text("\n".join(lines) + "\n")
    out = tmp_path / "store"
    rc, _, err = _run(capsys, _args(root, out, ckpt))
    _one_line_error(rc, err, repr(value), "metadata.csv, line 4", "cannot name a folder")
    assert not out.exists() and not (tmp_path / "other").exists()
    assert not (tmp_path / "abs").exists()


@pytest.mark.parametrize("split", ["../other/train", "/tmp/nt-hostile-abs", "a/b", ""])
def test_the_writer_itself_refuses_split_names_that_leave_the_store(tmp_path, split):
    w = EmbeddingStoreWriter(tmp_path / "s", IDENTITY, 2)
    with pytest.raises(ValueError, match="cannot name a folder of the store"):
        w.begin_split(split, np.arange(3), np.zeros(3, int))
    assert not (tmp_path / "other").exists() and not os.path.exists("/tmp/nt-hostile-abs")


def test_a_split_folder_linked_outside_the_store_is_refused(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tmp_path / "s").mkdir()
    os.symlink(outside, tmp_path / "s" / "train")
    w = EmbeddingStoreWriter(tmp_path / "s", IDENTITY, 2, overwrite=True)
    with pytest.raises(ValueError, match="outside the store"):
        w.begin_split("train", np.arange(3), np.zeros(3, int))
    assert os.listdir(outside) == []


def test_an_X_linked_outside_the_store_is_replaced_not_written_through(tmp_path):
    s = _store(tmp_path / "s")
    target = tmp_path / "precious.npy"
    shutil.move(s / "train" / "X.npy", target)
    os.symlink(target, s / "train" / "X.npy")
    before = target.read_bytes()
    w = EmbeddingStoreWriter(s, IDENTITY, 3)
    info = w.begin_split("train", np.arange(6), np.arange(6) % 2, np.arange(6) % 3)
    assert info["done"] == 0 and not os.path.islink(s / "train" / "X.npy")
    M = w.open_rows("train")
    M[:] = 7
    w.commit("train", M, 0, 6)
    assert target.read_bytes() == before


def test_overwrite_cannot_delete_files_outside_the_store(tmp_path):
    victim = _store(tmp_path / "victim")
    before = (victim / "train" / "X.npy").read_bytes()
    s = _store(tmp_path / "s")
    m = json.loads((s / "manifest.json").read_text())
    m["splits"]["../victim/train"] = m["splits"]["train"]  # a crafted manifest
    (s / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(StoreMismatchError, match=r"'\.\./victim/train' cannot name a folder"):
        EmbeddingStoreWriter(s, dict(IDENTITY, model="other"), 3, overwrite=True)
    assert (victim / "train" / "X.npy").read_bytes() == before
    assert (victim / "train" / "groups.npy").exists()


# ------------------------------------------------------------ 6. foreign manifests

def test_overwrite_refuses_a_folder_whose_manifest_is_not_a_stores(tmp_path):
    (tmp_path / "train").mkdir()
    np.save(tmp_path / "train" / "X.npy", np.ones((2, 2)))
    (tmp_path / "manifest.json").write_text(json.dumps({"name": "my project",
                                                        "splits": {"train": {}}}))
    with pytest.raises(StoreMismatchError, match="(?s)key 'format' missing.*not an embedding "
                       "store's.*Nothing in .* is replaced, even with overwrite"):
        EmbeddingStoreWriter(tmp_path, IDENTITY, 2, overwrite=True)
    assert (tmp_path / "train" / "X.npy").exists() and (tmp_path / "manifest.json").exists()


# ------------------------------------------------------------ 2. stale resumes

def test_edited_labels_and_groups_are_rewritten_in_place_in_every_split(tmp_path, capsys, ckpt):
    root, out = _images(tmp_path), tmp_path / "store"
    assert main(_args(root, out, ckpt)) == 0
    X_before = (out / "train" / "X.npy").read_bytes()
    meta = root / "metadata.csv"
    lines = meta.read_text().splitlines()
    lines[1] = lines[1].replace(",dog,0,", ",bird,2,")  # a new class in train, group 0 -> 2
    lines[2] = lines[2].replace(",cat,1,", ",dog,1,")
    meta.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    rc, printed, _ = _run(capsys, _args(root, out, ckpt, "--splits", "test"))
    assert rc == 0
    assert "train: rewritten in place since the last run: labels 8, group ids 1" in printed
    store = EmbeddingStore(out)
    names = store.manifest["dataset"]["class_names"]
    assert names == ["bird", "cat", "dog"]
    reader = get_reader("csv", root)
    for split in ("train", "test"):
        X, y, groups, ids = store.load(split)
        data = reader.load(split)
        np.testing.assert_array_equal(y, data.y)
        np.testing.assert_array_equal(groups, data.groups)
    assert [names[c] for c in store.load("train")[1][:2]] == ["bird", "dog"]
    assert (out / "train" / "X.npy").read_bytes() == X_before  # nothing embedded again


def test_a_replaced_image_is_refused_naming_the_row_and_overwrite_embeds_again(
        tmp_path, capsys, ckpt):
    root, out = _images(tmp_path), tmp_path / "store"
    assert main(_args(root, out, ckpt)) == 0
    X_before = np.array(load_split(out, "train")[0])
    y_before = (out / "test" / "y.npy").read_bytes()
    shutil.copy(root / "img" / "005.png", root / "img" / "001.png")
    meta = root / "metadata.csv"
    meta.write_text(meta.read_text().replace("img/011.png,cat", "img/011.png,bird"))
    capsys.readouterr()
    rc, _, err = _run(capsys, _args(root, out, ckpt))
    _one_line_error(rc, err, "the inputs of 1 of the 8 rows already embedded changed",
                    "ids img/001.png", "--overwrite", "Restore the original inputs")
    # refused before anything was written: labels and class names still agree
    assert load_manifest(out)["dataset"]["class_names"] == ["cat", "dog"]
    assert (out / "test" / "y.npy").read_bytes() == y_before
    rc, printed, _ = _run(capsys, _args(root, out, ckpt, "--overwrite"))
    assert rc == 0
    X_after = load_split(out, "train")[0]
    np.testing.assert_array_equal(X_after[1], X_after[5])
    assert not np.array_equal(X_after[1], X_before[1])


def test_another_root_with_the_same_file_names_is_refused(tmp_path, capsys, ckpt):
    root, out = _images(tmp_path), tmp_path / "store"
    assert main(_args(root, out, ckpt)) == 0
    other = tmp_path / "copy"
    shutil.copytree(root, other)  # same names, sizes and modification times
    rc, _, err = _run(capsys, _args(other, out, ckpt))
    _one_line_error(rc, err, "the inputs of 8 of the 8 rows", "img/000.png, img/001.png")


def test_an_edited_text_is_refused_and_an_old_store_without_fingerprints_is_trusted_once(
        tmp_path, capsys, caplog):
    save_tiny_bert(tmp_path / "bert")
    write_texts(tmp_path / "data", 9)
    out = tmp_path / "store"
    args = ["text", "--dataset", "csv", "--root", str(tmp_path / "data"), "--model",
            str(tmp_path / "bert"), "--out", str(out), "--pooling", "mean", "--max-length",
            "16", "--batch-size", "4", "-q"]
    assert main(args) == 0
    os.remove(out / "train" / "fingerprint.npy")  # a store made before fingerprints existed
    capsys.readouterr()
    rc, printed, _ = _run(capsys, args)
    assert rc == 0 and "records no fingerprint of its inputs" in caplog.text
    assert (out / "train" / "fingerprint.npy").exists()
    meta = tmp_path / "data" / "metadata.csv"
    lines = meta.read_text().splitlines()
    lines[3] = "an edited text," + lines[3].split(",", 1)[1]
    meta.write_text("\n".join(lines) + "\n")
    rc, _, err = _run(capsys, args)
    _one_line_error(rc, err, "the inputs of 1 of the 6 rows", "ids 2", "--overwrite")


def test_the_writer_refuses_changed_inputs_unless_overwrite(tmp_path):
    fp = np.arange(5, dtype=np.uint64)
    w = EmbeddingStoreWriter(tmp_path, IDENTITY, 2)
    w.begin_split("train", np.arange(5), np.zeros(5, int), fingerprint=fp)
    w.commit("train", w.open_rows("train"), 0, 3)  # rows 0..2 embedded
    changed = fp.copy()
    changed[4] = 99  # a row not embedded yet may change: its new input is recorded
    again = EmbeddingStoreWriter(tmp_path, IDENTITY, 2)
    assert again.begin_split("train", np.arange(5), np.zeros(5, int),
                             fingerprint=changed)["done"] == 3
    changed[1] = 98
    with pytest.raises(InputsChangedError, match=r"1 of the 3 rows .*ids 1\)"):
        again.begin_split("train", np.arange(5), np.zeros(5, int), fingerprint=changed)
    forced = EmbeddingStoreWriter(tmp_path, IDENTITY, 2, overwrite=True)
    assert forced.begin_split("train", np.arange(5), np.zeros(5, int),
                              fingerprint=changed)["done"] == 0


# ------------------------------------------------------------ 3. store integrity

def test_a_truncated_X_is_named_at_load_and_embedded_again_on_resume(tmp_path):
    s = _store(tmp_path / "s")
    with open(s / "train" / "X.npy", "r+b") as fh:
        fh.truncate(os.path.getsize(s / "train" / "X.npy") - 5)
    with pytest.raises(CorruptStoreError, match=r"X\.npy is truncated"):
        load_split(s, "train")
    w = EmbeddingStoreWriter(s, IDENTITY, 3)
    info = w.begin_split("train", np.arange(6), np.arange(6) % 2, np.arange(6) % 3)
    assert info["done"] == 0 and not info["complete"]
    assert w.open_rows("train").shape == (6, 3)


def test_labels_shorter_than_X_are_named_and_rewritten_on_resume(tmp_path):
    s = _store(tmp_path / "s")
    np.save(s / "train" / "y.npy", np.zeros(3, dtype=np.int64))
    with pytest.raises(CorruptStoreError, match=r"y\.npy holds int64 of shape \(3,\), the "
                       r"manifest expects int64 of shape \(6,\)"):
        load_split(s, "train")
    w = EmbeddingStoreWriter(s, IDENTITY, 3)
    assert w.begin_split("train", np.arange(6), np.arange(6) % 2, np.arange(6) % 3)["complete"]
    assert w.changes == {"train": {"labels": 6}}
    assert load_split(s, "train")[1].tolist() == [0, 1, 0, 1, 0, 1]


def test_garbage_files_are_called_what_they_are_not(tmp_path):
    s = _store(tmp_path / "s")
    (s / "train" / "X.npy").write_bytes(os.urandom(300))
    with pytest.raises(CorruptStoreError, match=r"X\.npy is not a \.npy file"):
        load_split(s, "train")
    (s / "head.npz").write_bytes(os.urandom(300))
    with pytest.raises(CorruptStoreError, match=r"head\.npz is not a \.npz file"):
        load_head(s)


def test_pickled_arrays_are_refused_and_never_unpickled(tmp_path):
    s = _store(tmp_path / "s")
    marker = tmp_path / "PWNED"
    ids = np.empty(6, dtype=object)
    ids[:] = [Payload(marker)] * 6
    np.save(s / "train" / "ids.npy", ids, allow_pickle=True)
    with pytest.raises(CorruptStoreError, match=r"ids\.npy holds Python objects"):
        load_split(s, "train")
    np.savez(s / "head.npz", coef=np.ones((2, 3)), intercept=np.zeros(2), classes=ids[:2])
    with pytest.raises(CorruptStoreError, match=r"head\.npz holds Python objects"):
        load_head(s)
    assert not marker.exists()


def test_a_head_of_the_wrong_width_is_named(tmp_path):
    s = _store(tmp_path / "s")
    np.savez(s / "head.npz", coef=np.ones((2, 5)), intercept=np.zeros(2), classes=[0, 1])
    with pytest.raises(CorruptStoreError, match=r"head\.npz: coef \(2, 5\).*2 classes on 3"):
        EmbeddingStore(s).head()


@pytest.mark.parametrize("text, match", [
    ("{not json", r"is not valid JSON: .* at line 1, column 2"),
    ("[1, 2]", "holds a JSON array, not an object"),
    ('{"format": "neurontune-embedding-store"}', "key 'identity' missing"),
    ('{"format": "something else", "splits": {}}', "not an embedding store's"),
    ('{"format": "neurontune-embedding-store", "identity": {}, "dim": 3, "dtype": "float32", '
     '"splits": {"train": 3}}', "split 'train' is a int, expected an object"),
    ("\udcff", "is not UTF-8 text"),
])
def test_manifest_problems_name_the_file_and_the_problem(tmp_path, text, match):
    (tmp_path / "manifest.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(CorruptStoreError, match=match) as info:
        EmbeddingStore(tmp_path)
    assert str(tmp_path / "manifest.json") in str(info.value)


def test_a_temporary_file_left_by_a_kill_during_the_first_write_is_cleaned(tmp_path):
    (tmp_path / "manifest.json.tmp4242").write_text('{"format": ')  # the old temporary name
    (tmp_path / ".manifest.json.tmp4243").write_text("")
    EmbeddingStoreWriter(tmp_path, IDENTITY, 2)
    assert sorted(os.listdir(tmp_path)) == ["manifest.json"]


# ------------------------------------------------------------ 5. disk, CLI mistakes

def test_a_full_disk_is_one_error_and_the_store_resumes_after(tmp_path, capsys, ckpt,
                                                              monkeypatch):
    import featurizers._io

    root, out = _images(tmp_path), tmp_path / "store"
    real = shutil.disk_usage
    monkeypatch.setattr(featurizers._io.shutil, "disk_usage",
                        lambda p: real(p)._replace(free=100))
    rc, _, err = _run(capsys, _args(root, out, ckpt))
    _one_line_error(rc, err, "not enough free disk space in", "split 'train'",
                    "run the same command again")
    monkeypatch.undo()
    assert "train" not in load_manifest(out)["splits"]
    rc, printed, _ = _run(capsys, _args(root, out, ckpt))
    assert rc == 0 and EmbeddingStore(out).splits == ["train", "test"]


def test_a_failed_write_leaves_no_temporary_file_and_names_the_file(tmp_path, monkeypatch):
    w = EmbeddingStoreWriter(tmp_path, IDENTITY, 2)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match=r"cannot write .*head\.npz: No space left on device"):
        w.write_head(np.ones((2, 2)), np.zeros(2), [0, 1])
    with pytest.raises(OSError, match=r"cannot write .*manifest\.json"):
        w.begin_split("train", np.arange(4), np.zeros(4, int))
    monkeypatch.undo()
    leftovers = [n for n in os.listdir(tmp_path) + os.listdir(tmp_path / "train")
                 if ".tmp" in n]
    assert leftovers == [] and not (tmp_path / "head.npz").exists()
    assert load_manifest(tmp_path)["head"] is None


def test_the_blocks_of_X_are_reserved_so_a_full_disk_cannot_end_in_sigbus(tmp_path):
    probe = tmp_path / "probe"
    probe.write_bytes(b"")
    fd = os.open(probe, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, 1 << 16)
    except (AttributeError, OSError):
        pytest.skip("this file system cannot reserve blocks")
    finally:
        os.close(fd)
    w = EmbeddingStoreWriter(tmp_path / "s", IDENTITY, 256)
    w.begin_split("train", np.arange(512), np.zeros(512, int))
    st = os.stat(tmp_path / "s" / "train" / "X.npy")
    assert st.st_blocks * 512 >= 512 * 256 * 4  # allocated, not a sparse file


@pytest.mark.parametrize("flag, value", [("--batch-size", "0"), ("--batch-size", "-1"),
                                         ("--batch-size", "x"), ("--workers", "-1"),
                                         ("--image-size", "0"), ("--max-length", "0")])
def test_numbers_are_checked_by_argparse_before_anything_happens(tmp_path, capsys, flag, value):
    modality = "text" if flag == "--max-length" else "image"
    with pytest.raises(SystemExit) as info:
        main([modality, "--dataset", "csv", "--root", str(tmp_path), "--model", "m", "--out",
              str(tmp_path / "s"), flag, value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: must be " in err and repr(value) in err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_the_library_refuses_a_batch_size_that_is_not_positive(tmp_path, batch_size):
    from featurizers.pipeline import featurize

    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        featurize(None, None, tmp_path / "s", batch_size=batch_size)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("module, argv", [
    ("benchmarks.train_erm.cli", ["--batch-size", "0"]),
    ("benchmarks.train_erm.cli", ["--lr=-1e-3"]),
    ("benchmarks.train_erm.cli", ["--workers", "-2"]),
    ("benchmarks.train_erm.cli", ["--milestones", "3", "0"]),
    ("benchmarks.reproduce.cli", ["--jobs", "0"]),
    ("benchmarks.reproduce.cli", ["--seeds", "0"]),
    ("benchmarks.reproduce.cli", ["--feature-batch-size", "-4"]),
    ("benchmarks.reproduce.cli", ["--erm-lr", "nan"]),
])
def test_the_benchmark_commands_check_their_numbers_too(capsys, module, argv):
    import importlib

    parser = importlib.import_module(module).build_parser()
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--dataset", "waterbirds", "--root", "r", "--out", "o", *argv])
    assert info.value.code == 2 and "must be " in capsys.readouterr().err


def test_a_misspelled_dataset_option_lists_the_valid_keys(tmp_path, capsys, ckpt):
    root = _images(tmp_path)
    rc, _, err = _run(capsys, _args(root, tmp_path / "s", ckpt, "--dataset-option", "cvs=x"))
    _one_line_error(rc, err, "takes no option 'cvs' (did you mean 'csv'?)", "its options")
    with pytest.raises(ValueError, match=r"'targt_attribute' \(did you mean 'target_attribute'"):
        get_reader("celeba", tmp_path, targt_attribute="Smiling")


def test_out_pointing_at_a_file_is_one_line(tmp_path, capsys, ckpt):
    root = _images(tmp_path)
    (tmp_path / "file").write_text("mine")
    rc, _, err = _run(capsys, _args(root, tmp_path / "file", ckpt))
    _one_line_error(rc, err, "is an existing file, not a folder")
    assert (tmp_path / "file").read_text() == "mine"
    with pytest.raises(ValueError, match="is an existing file, not a folder"):
        EmbeddingStoreWriter(tmp_path / "file", IDENTITY, 2)


def test_a_symlink_loop_in_an_imagenet9_class_folder_is_one_line(tmp_path, capsys, ckpt):
    from featurizers.datasets._imagenet_classes import BG_CHALLENGE_FOLDERS

    for folder in BG_CHALLENGE_FOLDERS:
        (tmp_path / "in9" / "original" / "val" / folder).mkdir(parents=True)
    loop = tmp_path / "in9" / "original" / "val" / BG_CHALLENGE_FOLDERS[0] / "a.JPEG"
    os.symlink(loop, loop)
    argv = _args(tmp_path / "in9", tmp_path / "s", ckpt)
    argv[argv.index("csv")] = "imagenet9"
    rc, _, err = _run(capsys, argv)
    _one_line_error(rc, err, f"{loop}: cannot examine it (Too many levels of symbolic links)")


@pytest.mark.parametrize("dataset", ["csv", "waterbirds"])
def test_metadata_csv_that_is_a_folder_is_one_line(tmp_path, capsys, ckpt, dataset):
    (tmp_path / "data" / "metadata.csv").mkdir(parents=True)
    argv = _args(tmp_path / "data", tmp_path / "s", ckpt)
    argv[argv.index("csv")] = dataset
    rc, _, err = _run(capsys, argv)
    _one_line_error(rc, err, f"{tmp_path / 'data' / 'metadata.csv'}: is a folder")


@pytest.mark.parametrize("kind", ["random", "pickle.safetensors", "truncated"])
def test_a_file_that_is_not_a_checkpoint_is_called_that_without_advising_trust(
        tmp_path, capsys, ckpt, kind):
    import torch

    root = _images(tmp_path)
    bad = tmp_path / ("ck.safetensors" if kind.endswith("safetensors") else "ck.pth")
    if kind == "random":
        bad.write_bytes(os.urandom(4096))
    elif kind == "truncated":
        data = ckpt.read_bytes()
        bad.write_bytes(data[:len(data) // 2])
    else:
        torch.save({"w": Payload(tmp_path / "PWNED")}, bad)
    rc, _, err = _run(capsys, _args(root, tmp_path / "s", bad))
    expected = {"random": "is not a PyTorch checkpoint", "truncated": "the file is damaged",
                "pickle.safetensors": "is not a safetensors file"}[kind]
    _one_line_error(rc, err, expected, str(bad))
    assert "--trust-checkpoint" not in err and not (tmp_path / "PWNED").exists()


def test_a_pickled_checkpoint_is_refused_and_only_then_trust_is_offered(tmp_path, capsys, ckpt):
    import torch

    root = _images(tmp_path)
    bad = tmp_path / "pickled.pth"
    torch.save({"state_dict": Payload(tmp_path / "PWNED")}, bad)
    rc, _, err = _run(capsys, _args(root, tmp_path / "s", bad))
    _one_line_error(rc, err, "as tensors only", "you trust the file", "--trust-checkpoint")
    assert not (tmp_path / "PWNED").exists()


def test_a_text_model_with_a_malicious_pytorch_model_bin_is_one_line(tmp_path, capsys):
    import torch

    save_tiny_bert(tmp_path / "bert")
    os.remove(tmp_path / "bert" / "model.safetensors")
    torch.save({"x": Payload(tmp_path / "PWNED")}, tmp_path / "bert" / "pytorch_model.bin")
    write_texts(tmp_path / "data", 6)
    rc, _, err = _run(capsys, ["text", "--dataset", "csv", "--root", str(tmp_path / "data"),
                               "--model", str(tmp_path / "bert"), "--out", str(tmp_path / "s")])
    _one_line_error(rc, err, "cannot load the model of the text model in",
                    "holds pickled Python objects (", "open), which are refused",
                    "model.safetensors")
    assert not (tmp_path / "PWNED").exists()


def test_an_error_is_one_line_and_exit_code_2_and_a_traceback_only_with_debug(tmp_path):
    (tmp_path / "file").write_text("")
    argv = ["image", "--dataset", "csv", "--root", str(tmp_path), "--model", "m", "--out",
            str(tmp_path / "file")]
    res = run_cli(argv)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0 and "nt-featurize: error:" in res.stderr
    res = run_cli([*argv, "--debug"])
    assert res.returncode == 1 and "Traceback (most recent call last)" in res.stderr


# ------------------------------------------------------------ 7. surprising CSVs

def _csv(tmp_path, text, name="metadata.csv", encoding="utf-8"):
    (tmp_path / name).write_bytes(text.encode(encoding))
    return tmp_path


def test_numeric_labels_are_compared_as_numbers(tmp_path):
    r = get_reader("csv", _csv(tmp_path, "text,label,group\na,1,0\nb,1.0,0.0\nc,0,1\nd,2.5,1\n"))
    assert r.class_names == ["0", "1", "2.5"] and r.group_names == ["0", "1"]
    assert r.load("all").y.tolist() == [1, 1, 0, 2]


def test_one_number_written_two_ways_among_names_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"labels '1' and '1.0' are one number written two "
                       r"ways.*\['cat'\]"):
        get_reader("csv", _csv(tmp_path, "text,label\na,1\nb,1.0\nc,cat\n"))


@pytest.mark.parametrize("text, match", [
    ("text,label,id\na,0,x\nb,1,y\nc,0,x\n",
     r"1 id\(s\) appear more than once in split 'all': x \(lines 2, 4\)"),
    ("path,label\nimg/a.png,0\nimg/b.png,1\n./img/a.png,1\n",
     r"1 image file\(s\) appear more than once in split 'all': .*img/a.png "
     r"\(lines 2, 4\)"),
    ("text,label,label\na,0,1\n", r"column 'label' appears twice in the header .*columns 2 "
     r"and 3"),
])
def test_repeated_ids_paths_and_header_names_are_refused(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        get_reader("csv", _csv(tmp_path, text))


def test_one_image_may_serve_several_splits(tmp_path):
    # the offline suite draws two validation regimes from one pool: a file listed once
    # per split is fine, the store keeps the splits apart
    reader = get_reader("csv", _csv(tmp_path, "path,label,split,id\nimg/a.png,0,val_a,1\n"
                                    "img/b.png,1,val_a,2\nimg/a.png,0,val_b,1\n"))
    assert reader.splits() == ["val_a", "val_b"]


def test_a_duplicated_celeba_attribute_in_the_header_is_refused(tmp_path):
    attrs = [f"A{i}" for i in range(38)] + ["Blond_Hair", "Male"]
    attrs[5] = "Male"
    _csv(tmp_path, "image_id," + ",".join(attrs) + "\n1.jpg," + ",".join(["1"] * 40) + "\n",
         "list_attr_celeba.csv")
    _csv(tmp_path, "image_id,partition\n1.jpg,0\n", "list_eval_partition.csv")
    with pytest.raises(ValueError, match=r"column 'Male' appears twice in the header of "
                       r".*list_attr_celeba.csv"):
        get_reader("celeba", tmp_path).load("train")


def test_a_repeated_waterbirds_image_is_refused(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    _csv(tmp_path, "img_id,img_filename,y,split,place\n1,a.jpg,0,0,0\n2,a.jpg,1,0,1\n")
    with pytest.raises(ValueError, match=r"1 image file\(s\) appear more than once: a.jpg"):
        get_reader("waterbirds", tmp_path).load("train")


@pytest.mark.parametrize("words", ["", " , ", ()])
def test_empty_negation_words_are_refused(tmp_path, words):
    _csv(tmp_path, ",gold_label,split\n0,0,0\n", "metadata_random.csv")
    with pytest.raises(ValueError, match="negation_words is empty"):
        get_reader("multinli", tmp_path, negation_words=words)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    r = get_reader("csv", _csv(tmp_path, "\ufeffpath,label\na.jpg,x\n"))
    assert r.modality == "image" and r.load("all").ids.tolist() == ["a.jpg"]
    _csv(tmp_path, "\ufeffimg_id,img_filename,y,split,place\n1,a.jpg,0,0,0\n")
    assert get_reader("waterbirds", tmp_path).load("train").ids.tolist() == ["a.jpg"]


def test_a_long_text_cell_is_read(tmp_path):
    long_text = "word " * 40_000  # 200 kB, over the csv module's 128 KiB default
    r = get_reader("csv", _csv(tmp_path, f"text,label\n{long_text},0\nshort,1\n"))
    assert r.load("all").inputs[0] == long_text


@pytest.mark.parametrize("dataset, name", [("csv", "metadata.csv"),
                                           ("waterbirds", "metadata.csv"),
                                           ("multinli", "metadata_random.csv")])
def test_a_file_in_another_encoding_is_named(tmp_path, dataset, name):
    _csv(tmp_path, "text,label\ncafé,0\n" if dataset == "csv" else
         ",gold_label,split,sentence1,sentence2\n0,0,0,café,thé\n"
         if dataset == "multinli" else "img_id,img_filename,y,split,place\n1,é.jpg,0,0,0\n",
         name, encoding="latin-1")
    with pytest.raises(ValueError, match=rf"{name} is not UTF-8 text: byte 0xe9"):
        get_reader(dataset, tmp_path).load("train" if dataset != "csv" else "all")


def test_json_errors_name_their_file(tmp_path):
    (tmp_path / "n01498041").mkdir()
    (tmp_path / "table.json").write_text('{"class_names": ["a"], "wnids": ')
    with pytest.raises(ValueError, match=r"class table .*table\.json is not valid JSON"):
        get_reader("imagenet-a", tmp_path, classes=str(tmp_path / "table.json"))
    (tmp_path / "table.json").write_text('{"class_names": "a", "wnids": {}}')
    with pytest.raises(ValueError, match=r"'class_names' in .*table\.json is a str"):
        get_reader("imagenet-a", tmp_path, classes=str(tmp_path / "table.json"))


def test_a_broken_sentence_transformers_file_is_named(tmp_path, capsys):
    save_tiny_bert(tmp_path / "bert")
    (tmp_path / "bert" / "modules.json").write_text('{"type": "Pooling"}')
    write_texts(tmp_path / "data", 6)
    rc, _, err = _run(capsys, ["text", "--dataset", "csv", "--root", str(tmp_path / "data"),
                               "--model", str(tmp_path / "bert"), "--out", str(tmp_path / "s")])
    _one_line_error(rc, err, f"{tmp_path / 'bert' / 'modules.json'} holds a JSON object, "
                    "not an array")
