"""nt-tune: the family fitted on a store with class labels only, its report and its head file."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from featurizers.store import EmbeddingStoreWriter, load_split
from featurizers.tune import display_names, main, parse_params
from nt_sklearn import LinearHead, NeuronTuneClassifier
from tests._featurizer_data import REPO
from tests._spurious import make_spurious

DATASET = {"name": "toy", "class_names": ["landbird", "waterbird"],
           "group_names": ["landbird_land", "landbird_water", "waterbird_land",
                           "waterbird_water"]}


def write_store(out, *, groups=True, head=False, sizes=(600, 201, 300), dataset=DATASET):
    """A store of make_spurious splits train / val / test; optionally with a head.npz."""
    rng = np.random.default_rng(0)
    splits = {name: make_spurious(n, p, rng)
              for name, n, p in zip(("train", "val", "test"), sizes, (0.95, 0.5, 0.5))}
    writer = EmbeddingStoreWriter(out, {"model": "toy"}, 5,
                                  extra={"dataset": dataset} if dataset else None)
    if head:
        X, y, _ = splits["train"]
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression().fit(X, y)
        writer.write_head(np.vstack([-lr.coef_ / 2, lr.coef_ / 2]),
                          np.array([-lr.intercept_[0] / 2, lr.intercept_[0] / 2]), [0, 1])
    for name, (X, y, g) in splits.items():
        writer.begin_split(name, np.arange(len(y)).astype(str), y, g if groups else None)
        rows = writer.open_rows(name)
        rows[:] = X
        writer.commit(name, rows, 0, len(y))
        writer.finish_split(name)
    return out


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_paper_setting_writes_a_new_head_beside_the_original_and_a_report(tmp_path, capsys):
    store = write_store(tmp_path / "s", head=True)
    original = _sha(store / "head.npz")
    assert main([str(store), "--param", "n_epochs=2", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "X = 'val' (201 rows), X_tune = 'train' (600 rows)" in out
    assert "reference: the store's head.npz" in out
    assert "split 'test' (300 rows)" in out and "landbird x water" in out
    assert "group labels: reporting only" in out
    assert _sha(store / "head.npz") == original  # never overwritten
    report = json.loads((store / "heads" / "neurontune.json").read_text())
    assert report["splits"] == {"identify": "val", "tune": "train", "eval": ["test"]}
    assert report["params"]["n_epochs"] == 2 and report["params"]["random_state"] == 3
    assert report["reference"] == {"kind": "head", "file": "head.npz"}
    assert report["store"]["identity"]["model"] == "toy"
    assert {"nt_sklearn", "numpy", "scikit-learn"} <= set(report["versions"])
    test = report["metrics"]["test"]
    assert set(test["tuned"]) == {"accuracy", "class_accuracy", "worst_class_accuracy",
                                  "group_accuracy", "worst_group_accuracy"}
    # the head file is the estimator one would fit by hand, mask folded in
    X_v, y_v, _, _ = load_split(store, "val")
    X_t, y_t, _, _ = load_split(store, "train")
    with np.load(store / "head.npz") as z:
        ref = LinearHead(z["coef"], z["intercept"], z["classes"])
    clf = NeuronTuneClassifier(ref, n_epochs=2, random_state=3).fit(
        X_v, y_v, X_tune=X_t, y_tune=y_t)
    with np.load(store / "heads" / "neurontune.npz") as z:
        logits = X_v @ z["coef"].T + z["intercept"]
        assert z["class_names"].tolist() == ["landbird", "waterbird"]
    # float32 embeddings: the estimator computes in float32, the file is float64
    np.testing.assert_allclose(logits[:, 1] - logits[:, 0], clf.decision_function(X_v),
                               rtol=1e-5, atol=1e-5)
    assert report["masked_features"] == clf.biased_feature_indices_.tolist()
    assert test["tuned"]["worst_group_accuracy"] == pytest.approx(
        min(test["tuned"]["group_accuracy"].values()))


def test_an_existing_head_name_is_refused_unless_overwrite(tmp_path, capsys):
    store = write_store(tmp_path / "s")
    argv = [str(store), "--method", "class-balanced", "--param", "n_epochs=1"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("nt-tune: error: ") and "class-balanced.npz" in err
    assert "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert main([*argv, "--overwrite"]) == 0
    assert main([*argv, "--name", "cb-2"]) == 0
    assert sorted(os.listdir(store / "heads")) == [
        "cb-2.json", "cb-2.npz", "class-balanced.json", "class-balanced.npz"]


def test_store_without_groups_reports_per_class_metrics_and_refuses_dfr(tmp_path, capsys):
    store = write_store(tmp_path / "s", groups=False, dataset=None)
    assert main([str(store), "--param", "n_epochs=2", "--tune-split", "none"]) == 0
    out = capsys.readouterr().out
    assert "X_tune = none" in out and "worst-group" not in out
    assert "class 0" in out and "class 1" in out and "group labels: none in the store" in out
    assert "logistic regression fitted on 'train'" in out  # no head.npz: the stand-in
    report = json.loads((store / "heads" / "neurontune.json").read_text())
    assert report["splits"] == {"identify": "val", "tune": None, "eval": ["train", "test"]}
    assert "group_accuracy" not in report["metrics"]["test"]["tuned"]
    assert main([str(store), "--method", "dfr"]) == 2
    err = capsys.readouterr().err
    assert "needs group labels" in err and "neurontune" in err and "erm" in err


def test_neurontune_auto_tunes_on_the_validation_split_alone_by_default(tmp_path, capsys):
    store = write_store(tmp_path / "s")
    assert main([str(store), "--method", "neurontune-auto", "--param", "n_epochs=2"]) == 0
    out = capsys.readouterr().out
    assert "NeuronTuneAutoClassifier" in out and "X_tune = none" in out
    report = json.loads((store / "heads" / "neurontune-auto.json").read_text())
    assert report["splits"]["tune"] is None and report["estimator"] == "NeuronTuneAutoClassifier"
    # the paper's method keeps the paper's default, the training split
    assert main([str(store), "--param", "n_epochs=2"]) == 0
    assert "X_tune = 'train'" in capsys.readouterr().out
    # and the auto method can still be tuned on a split when asked
    assert main([str(store), "--method", "neurontune-auto", "--param", "n_epochs=2",
                 "--tune-split", "train", "--name", "auto-train"]) == 0
    assert "X_tune = 'train'" in capsys.readouterr().out


def test_dfr_says_it_uses_the_group_labels(tmp_path, capsys):
    store = write_store(tmp_path / "s")
    assert main([str(store), "--method", "dfr", "--param", "Cs=[1.0, 0.1]",
                 "--param", "n_subsamples=2"]) == 0
    out = capsys.readouterr().out
    assert "fits on the group labels of split 'val'" in out
    report = json.loads((store / "heads" / "dfr.json").read_text())
    assert report["group_labels"] == "fitting (split 'val') and reporting"
    assert report["params"]["Cs"] == [1.0, 0.1]


@pytest.mark.parametrize("method", ["erm", "jtt", "afr", "random-mask"])
def test_every_group_free_method_runs(tmp_path, method, capsys):
    store = write_store(tmp_path / "s")
    argv = [str(store), "--method", method, "--eval-splits", "test", "val"]
    if method == "random-mask":
        argv += ["--param", "n_epochs=1"]
    assert main(argv) == 0
    report = json.loads((store / "heads" / f"{method}.json").read_text())
    assert list(report["metrics"]) == ["test", "val"]
    with np.load(store / "heads" / f"{method}.npz") as z:
        assert z["coef"].shape == (2, 5)


def test_bad_input_gets_one_line_errors(tmp_path, capsys):
    store = write_store(tmp_path / "s")
    cases = [
        (["--param", "n_epoch=2"], "has no parameter(s) n_epoch; its parameters: activation"),
        (["--param", "random_state=1"], "with --seed"),
        (["--param", "n_epochs"], "expects KEY=VALUE"),
        (["--param", "n_epochs=-1"], "n_epochs"),
        (["--tune-split", "val"], "--tune-split none"),
        (["--id-split", "nope"], "no such split"),
        (["--reference", "head"], "has no head.npz"),
        (["--export", "timm", "--export-to", str(tmp_path / "m.pth")], "image model"),
        (["--export", "numpy"], "--export-to"),
    ]
    for extra, message in cases:
        assert main([str(store), *extra]) == 2, extra
        err = capsys.readouterr().err
        assert err.startswith("nt-tune: error: ") and message in err, (extra, err)
        assert len(err.strip().splitlines()) == 1
    assert not (store / "heads").exists()  # nothing written by a refused run
    with pytest.raises(ValueError, match="n_epoch"):
        main([str(store), "--param", "n_epoch=2", "--debug"])
    for bad in (["--seed", "-1"], ["--seed", "x"], ["--name", "a/b"]):
        with pytest.raises(SystemExit) as exc:
            main([str(store), *bad])
        assert exc.value.code == 2
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "no embedding store" in capsys.readouterr().err


def test_module_entry_point_tunes_and_exports_numpy_without_torch(tmp_path):
    store = write_store(tmp_path / "s")
    code = (
        "import runpy, sys\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'timm', 'transformers', 'torchvision'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Refuse())\n"
        f"sys.argv = ['nt-tune', {str(store)!r}, '--param', 'n_epochs=2', '--export', 'numpy',"
        f" '--export-to', {str(tmp_path / 'model.npz')!r}]\n"
        "runpy.run_module('featurizers.tune', run_name='__main__')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO,
                         env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "exported (numpy)" in out.stdout
    with np.load(tmp_path / "model.npz") as a, np.load(store / "heads" / "neurontune.npz") as b:
        np.testing.assert_array_equal(a["coef"], b["coef"])


def test_a_failed_head_write_leaves_no_report_nor_temporary_file(tmp_path, monkeypatch, capsys):
    from featurizers import export
    from featurizers._atomic import atomic_path

    store = write_store(tmp_path / "s")

    def broken(*args, **kwargs):
        with atomic_path(args[1]) as tmp:
            open(tmp, "wb").write(b"half")
            raise OSError("disk full")

    monkeypatch.setattr(export, "export_head_npz", broken)
    assert main([str(store), "--param", "n_epochs=1"]) == 2
    assert capsys.readouterr().err.strip() == "nt-tune: error: disk full"
    assert os.listdir(store / "heads") == []
    with pytest.raises(OSError, match="disk full"):  # --debug: the exception itself
        main([str(store), "--param", "n_epochs=1", "--debug"])
    assert os.listdir(store / "heads") == []


def test_parse_params_reads_json_else_strings():
    assert parse_params(["n_epochs=2", "threshold=fdr", "guard_margin=null", "Cs=[1, 0.5]",
                         "mask_value=0.5", "standardize=true"]) == {
        "n_epochs": 2, "threshold": "fdr", "guard_margin": None, "Cs": [1, 0.5],
        "mask_value": 0.5, "standardize": True}


def test_display_names_follow_the_manifest_then_the_group_id_convention():
    y, g = np.array([0, 0, 1, 1]), np.array([0, 1, 2, 3])
    classes, groups = display_names({"dataset": DATASET}, y, g)
    assert classes == {0: "landbird", 1: "waterbird"}
    assert groups == {0: "landbird x land", 1: "landbird x water", 2: "waterbird x land",
                      3: "waterbird x water"}
    # a CSV with integer labels and groups: the names are only numbers
    csv = {"dataset": {"class_names": ["0", "1"], "group_names": ["0", "1", "2", "3"]}}
    assert display_names(csv, y, g) == ({0: "class 0", 1: "class 1"}, {
        0: "class 0, attribute 0", 1: "class 0, attribute 1", 2: "class 1, attribute 0",
        3: "class 1, attribute 1"})
    # the convention is checked on the rows: ids that keep each row's class follow it...
    assert display_names(csv, y, np.array([1, 0, 3, 2]))[1] == {
        0: "class 0, attribute 0", 1: "class 0, attribute 1", 2: "class 1, attribute 0",
        3: "class 1, attribute 1"}
    # ...ids that put a row in another class's group do not, and name no class
    assert display_names(csv, y, np.array([2, 0, 1, 3]))[1] == {
        0: "group 0", 1: "group 1", 2: "group 2", 3: "group 3"}
    assert display_names({}, np.repeat([0, 1, 2], 2), np.arange(6))[1][5] == "class 2, attribute 1"
