"""The embedding store (numpy only) and the dataset registry / CSV reader."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from featurizers.datasets import get_reader, register_reader
from featurizers.store import (EmbeddingStore, EmbeddingStoreWriter, IncompleteSplitError,
                               StoreMismatchError, load_head, load_manifest, load_split)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IDENTITY = {"modality": "image", "model": "m", "weights": {"sha256": "abc"}}


def _fill(writer, split, X, y, groups=None, *, stop=None, step=3):
    n = len(X)
    writer.begin_split(split, np.arange(n), y, groups)
    M = writer.open_rows(split)
    pos = writer.rows_done(split, 0)
    stop = n if stop is None else stop
    while pos < stop:
        hi = min(pos + step, stop)
        M[pos:hi] = X[pos:hi]
        writer.commit(split, M, 0, hi)
        pos = hi
    if stop == n:
        writer.finish_split(split)


def test_write_read_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    X, y, g = rng.normal(size=(10, 4)).astype(np.float32), rng.integers(0, 2, 10), np.arange(10) % 3
    w = EmbeddingStoreWriter(tmp_path / "s", IDENTITY, 4)
    w.write_head(np.ones((2, 4)), np.zeros(2), np.array([0, 1]))
    _fill(w, "train", X, y, g)
    Xr, yr, gr, ids = load_split(tmp_path / "s", "train")
    assert isinstance(Xr, np.memmap) and Xr.dtype == np.float32 and not Xr.flags.writeable
    np.testing.assert_array_equal(Xr, X)
    np.testing.assert_array_equal(yr, y)
    np.testing.assert_array_equal(gr, g)
    np.testing.assert_array_equal(ids, np.arange(10))
    coef, intercept, classes = load_head(tmp_path / "s")
    assert coef.shape == (2, 4) and classes.tolist() == [0, 1]
    store = EmbeddingStore(tmp_path / "s")
    assert store.splits == ["train"] and store.dim == 4 and store.head()[0].shape == (2, 4)


def test_float16_and_no_groups(tmp_path):
    X = np.linspace(0, 1, 12, dtype=np.float32).reshape(6, 2)
    w = EmbeddingStoreWriter(tmp_path, IDENTITY, 2, dtype="float16")
    _fill(w, "val", X.astype(np.float16), np.zeros(6, int))
    Xr, _, groups, _ = load_split(tmp_path, "val")
    assert Xr.dtype == np.float16 and groups is None
    np.testing.assert_allclose(Xr, X, atol=1e-3)
    assert load_head(tmp_path) is None


def test_resume_continues_from_committed_row(tmp_path):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(11, 3)).astype(np.float32), np.zeros(11, int)
    w = EmbeddingStoreWriter(tmp_path / "a", IDENTITY, 3)
    _fill(w, "train", X, y, stop=6)
    with pytest.raises(IncompleteSplitError, match="6 of 11"):
        load_split(tmp_path / "a", "train")
    assert EmbeddingStore(tmp_path / "a").splits == []
    w2 = EmbeddingStoreWriter(tmp_path / "a", IDENTITY, 3)
    assert w2.begin_split("train", np.arange(11), y)["done"] == 6
    assert w2.rows_done("train", 0) == 6
    _fill(w2, "train", X, y)
    ref = EmbeddingStoreWriter(tmp_path / "b", IDENTITY, 3)
    _fill(ref, "train", X, y)
    for name in ("X.npy", "y.npy", "ids.npy"):
        a = (tmp_path / "a" / "train" / name).read_bytes()
        assert a == (tmp_path / "b" / "train" / name).read_bytes(), name


def test_changed_rows_restart_the_split(tmp_path):
    X = np.ones((5, 2), np.float32)
    w = EmbeddingStoreWriter(tmp_path, IDENTITY, 2)
    _fill(w, "train", X, np.zeros(5, int), stop=3)
    w2 = EmbeddingStoreWriter(tmp_path, IDENTITY, 2)
    assert w2.begin_split("train", np.arange(7), np.zeros(7, int))["done"] == 0


def test_other_identity_is_refused_then_overwritten(tmp_path):
    w = EmbeddingStoreWriter(tmp_path, IDENTITY, 2)
    _fill(w, "train", np.ones((4, 2), np.float32), np.zeros(4, int))
    before = (tmp_path / "train" / "X.npy").read_bytes()
    other = dict(IDENTITY, model="other")
    with pytest.raises(StoreMismatchError, match=r"model: store has 'm', this run has 'other'"):
        EmbeddingStoreWriter(tmp_path, other, 2)
    with pytest.raises(StoreMismatchError, match="dtype"):
        EmbeddingStoreWriter(tmp_path, IDENTITY, 2, dtype="float16")
    assert (tmp_path / "train" / "X.npy").read_bytes() == before  # nothing lost
    (tmp_path / "notes.txt").write_text("mine")
    EmbeddingStoreWriter(tmp_path, other, 2, overwrite=True)
    m = load_manifest(tmp_path)
    assert m["identity"]["model"] == "other" and m["splits"] == {}
    assert not (tmp_path / "train" / "X.npy").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"  # only the store's own files go


def test_non_store_folder_is_refused(tmp_path):
    (tmp_path / "data.csv").write_text("x")
    with pytest.raises(StoreMismatchError, match="not empty"):
        EmbeddingStoreWriter(tmp_path, IDENTITY, 2)
    with pytest.raises(FileNotFoundError, match="no embedding store"):
        load_split(tmp_path, "train")


def test_manifest_records_progress_after_flush(tmp_path):
    w = EmbeddingStoreWriter(tmp_path, IDENTITY, 2)
    _fill(w, "train", np.full((7, 2), 5, np.float32), np.zeros(7, int), stop=4, step=2)
    info = json.loads((tmp_path / "manifest.json").read_text())["splits"]["train"]
    assert info["done"] == 4 and not info["complete"] and info["rows"] == 7
    X = np.load(tmp_path / "train" / "X.npy", mmap_mode="r")  # another reader sees the rows
    assert (X[:4] == 5).all() and (X[4:] == 0).all()


def test_reader_and_registry_import_without_torch(tmp_path):
    (tmp_path / "metadata.csv").write_text("text,label,split\nhello there,a,train\nbye,b,test\n")
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['timm'] = None; "
        "sys.modules['transformers'] = None\n"
        "import featurizers, featurizers.store.reader, featurizers.datasets, featurizers.cli\n"
        f"r = featurizers.datasets.get_reader('csv', {str(tmp_path)!r})\n"
        "print(r.splits(), r.load('train').inputs)\n"
        "try:\n    import featurizers.image as im; im.ImageEncoder('test_resnet')\n"
        "except ImportError as e:\n    print('ERR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=REPO))
    assert out.returncode == 0, out.stderr
    assert "['train', 'test'] ['hello there']" in out.stdout
    assert "ERR" in out.stdout and "pip install neurontune[featurizers]" in out.stdout


# -- the generic CSV reader ---------------------------------------------------

def _csv(tmp_path, text, name="metadata.csv"):
    (tmp_path / name).write_text(text)
    return tmp_path


def test_csv_images_labels_groups_splits(tmp_path):
    _csv(tmp_path, "path,label,group,split\na.png,dog,1,test\nb.png,cat,0,train\n"
                   "/abs/c.png,dog,1,train\nd.png,cat,0,val\n")
    r = get_reader("csv", tmp_path)
    assert r.modality == "image" and r.splits() == ["train", "val", "test"]
    assert r.class_names == ["cat", "dog"] and r.group_names == ["0", "1"]
    tr = r.load("train")
    assert tr.inputs == [str(tmp_path / "b.png"), "/abs/c.png"]
    assert tr.y.tolist() == [0, 1] and tr.groups.tolist() == [0, 1]
    assert tr.ids.tolist() == ["b.png", "/abs/c.png"]
    assert r.describe()["rows"] == {"train": 2, "val": 1, "test": 1}


def test_csv_numeric_labels_sort_numerically_and_pairs(tmp_path):
    _csv(tmp_path, "premise,hypothesis,label,id\np1,h1,10,x\np2,h2,2,y\np3,h3,2,z\n", "nli.csv")
    r = get_reader("csv", tmp_path, csv="nli.csv")
    assert r.modality == "text" and r.splits() == ["all"]
    d = r.load("all")
    assert d.inputs == [("p1", "h1"), ("p2", "h2"), ("p3", "h3")]
    assert r.class_names == ["2", "10"] and d.y.tolist() == [1, 0, 0]
    assert d.ids.tolist() == ["x", "y", "z"] and d.groups is None


@pytest.mark.parametrize("text, match", [
    ("", "is empty"),
    ("path,label,split\n", "header but no rows"),
    ("path,label,split\na.png,1,train\nb.png,0\n", "line 3: 2 fields where the header has 3"),
    ("path,split\na.png,train\n", "needs a label column"),
    ("path,text,label\na.png,hi,1\n", "exactly one of"),
    ("text,label\nhi,1\nho,\n", "empty label"),
])
def test_csv_bad_files(tmp_path, text, match):
    _csv(tmp_path, text)
    with pytest.raises(ValueError, match=match):
        get_reader("csv", tmp_path)


def test_registry_errors(tmp_path):
    with pytest.raises(KeyError, match="unknown dataset 'nope'"):
        get_reader("nope", tmp_path)
    with pytest.raises(FileNotFoundError, match="metadata.csv"):
        get_reader("csv", tmp_path)
    register_reader("_broken_for_test", "featurizers.datasets.no_such_module:Reader")
    with pytest.raises(ImportError, match="_broken_for_test"):
        get_reader("_broken_for_test", tmp_path)


def test_two_ranks_share_a_store_and_resume_their_own_blocks(tmp_path):
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    main = EmbeddingStoreWriter(tmp_path, IDENTITY, 2, world_size=2)
    main.begin_split("train", np.arange(10), np.zeros(10, int))
    other = EmbeddingStoreWriter(tmp_path, IDENTITY, 2, rank=1, world_size=2)
    other.reload()
    for w, lo, hi, stop in ((main, 0, 4, 4), (other, 4, 10, 7)):  # rank 1 is killed at row 7
        M = w.open_rows("train")
        M[lo:stop] = X[lo:stop]
        w.commit("train", M, lo, stop - lo)
    assert load_manifest(tmp_path)["splits"]["train"]["done"] == 0  # ranks keep their own files
    again = EmbeddingStoreWriter(tmp_path, IDENTITY, 2, rank=1, world_size=2)
    again.reload()
    assert again.rows_done("train", 4) == 3 and again.rows_done("train", 5) == 0
    M = again.open_rows("train")
    M[7:10] = X[7:10]
    again.commit("train", M, 4, 6)
    main.finish_split("train")
    np.testing.assert_array_equal(load_split(tmp_path, "train")[0], X)
    assert not [f for f in os.listdir(tmp_path / "train") if f.startswith("progress")]
    # one process later: the complete split stays; an incomplete one restarts
    main.begin_split("val", np.arange(4), np.zeros(4, int))
    single = EmbeddingStoreWriter(tmp_path, IDENTITY, 2)
    assert single.begin_split("train", np.arange(10), np.zeros(10, int))["complete"]
    assert single.begin_split("val", np.arange(4), np.zeros(4, int))["world_size"] == 1


class _ThreadGroup:
    """A process group of threads: what the writer needs of featurizers.runtime.Distributed."""

    def __init__(self, rank, world_size, barrier, sums):
        self.rank, self.world_size, self._barrier, self._sums = rank, world_size, barrier, sums
        self._calls = 0

    @property
    def is_main(self):
        return self.rank == 0

    def barrier(self):
        self._barrier.wait(timeout=30)

    def total(self, value):
        self._calls += 1
        self._sums.setdefault(self._calls, []).append(int(value))
        self.barrier()
        result = sum(self._sums[self._calls])
        self.barrier()
        return result

    def all_ok(self, ok):
        return self.total(0 if ok else 1) == 0

    def block(self, n, align=1):
        from featurizers.runtime import rank_block
        return rank_block(n, self.rank, self.world_size, align)


def _run_ranks(fn, world_size=2):
    """Run ``fn(group)`` in one thread per rank; return the results (or the errors) by rank."""
    import threading

    barrier, sums, out = threading.Barrier(world_size), {}, [None] * world_size

    def target(rank):
        try:
            out[rank] = fn(_ThreadGroup(rank, world_size, barrier, sums))
        except Exception as exc:  # returned to the test, which checks it
            out[rank] = exc

    threads = [threading.Thread(target=target, args=(r,)) for r in range(world_size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return out


def test_writer_divides_the_rows_between_processes_and_completes_the_split(tmp_path):
    X = np.arange(22, dtype=np.float32).reshape(11, 2)

    def job(group):
        w = EmbeddingStoreWriter(tmp_path, IDENTITY, 2, dist=group,
                                 head=(np.ones((2, 2)), np.zeros(2), [0, 1]), commit_every=0)
        block = w.start_split("train", np.arange(11), np.zeros(11, int), align=4)
        with block:
            for lo in range(block.pos, block.hi, 4):
                block.write(X[lo:min(lo + 4, block.hi)])
        embedded = w.end_split(block)
        w.close()
        return block.lo, block.hi, embedded

    assert _run_ranks(job) == [(0, 4, 11), (4, 11, 11)]  # cut at a multiple of align
    np.testing.assert_array_equal(load_split(tmp_path, "train")[0], X)
    m = load_manifest(tmp_path)
    assert m["splits"]["train"]["world_size"] == 2 and m["head"] == {"n_classes": 2}
    assert not [f for f in os.listdir(tmp_path / "train") if f.startswith("progress")]

    def again(group):  # the same launch again finds the split complete: nothing to write
        w = EmbeddingStoreWriter(tmp_path, IDENTITY, 2, dist=group)
        block = w.start_split("train", np.arange(11), np.zeros(11, int), align=4)
        return block.todo, w.end_split(block)

    assert _run_ranks(again) == [(0, 0), (0, 0)]


def test_writer_error_on_the_main_process_is_raised_on_every_process(tmp_path):
    (tmp_path / "data.csv").write_text("x")
    errors = _run_ranks(lambda g: EmbeddingStoreWriter(tmp_path, IDENTITY, 2, dist=g))
    assert isinstance(errors[0], StoreMismatchError)
    assert isinstance(errors[1], RuntimeError) and "rank 0 failed" in str(errors[1])


def test_row_block_refuses_missing_or_extra_rows(tmp_path):
    w = EmbeddingStoreWriter(tmp_path, IDENTITY, 2)
    block = w.start_split("train", np.arange(5), np.zeros(5, int))
    with pytest.raises(RuntimeError, match="gave 6 rows for a block of 5"):
        with block:
            block.write(np.ones((6, 2), np.float32))
    with pytest.raises(RuntimeError, match="gave 3 rows for a block of 5"):
        with block:
            block.write(np.ones((3, 2), np.float32))
    assert load_manifest(tmp_path)["splits"]["train"]["done"] == 0  # 1 s between commits
