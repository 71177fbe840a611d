"""The reproduction pipeline (benchmarks.reproduce) end to end on tiny fake datasets."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")
pytest.importorskip("transformers")

from tests._featurizer_data import save_tiny_bert  # noqa: E402
from tests._reproduce_data import write_civilcomments, write_waterbirds  # noqa: E402

from benchmarks import paper_results, reproduce  # noqa: E402

FAST = ["--seeds", "1", "--epochs", "1", "--batches-per-epoch", "10", "--jobs", "1",
        "--erm-batch-size", "8", "--workers", "0", "-q"]
METHODS = ["ERM", "JTT (last layer)", "AFR", "DFR", "NT=No (class-balanced)", "Random mask",
           "NeuronTune", "NeuronTune\u2020 (half val)", "NeuronTune, recommended (half val)"]


def _rows(report):
    return [line for line in report.splitlines() if line.startswith("| ")]


def test_waterbirds_end_to_end(tmp_path, capsys):
    root = write_waterbirds(str(tmp_path / "waterbirds"))
    out = tmp_path / "out"
    argv = ["--dataset", "waterbirds", "--root", root, "--out", str(out), "--model",
            "test_resnet", "--init-weights", "none", "--erm-epochs", "1", "--image-size", "32",
            *FAST]
    assert reproduce.main(argv) == 0
    assert "Table 1" in capsys.readouterr().out
    assert (out / "erm" / "best.pth").is_file() and (out / "store" / "head.npz").is_file()
    results = json.loads((out / "results.json").read_text())
    assert sorted({r["method"] for r in results["records"]}) == sorted(METHODS)
    assert results["sizes"] == {"train": 32, "val": 16, "test": 16}
    report = (out / "report.md").read_text()
    rows = _rows(report)
    assert any(r.startswith("| NeuronTune (paper: NeuronTune) |") and "92.2 \u00b1 0.3" in r
               for r in rows)
    assert any(r.startswith("| DFR (paper: DFR\u2020) |") and "92.4 \u00b1 0.9" in r for r in rows)
    assert any(r.startswith("| NT=No (class-balanced) (paper: Table 4, NT=No) |")
               and "82.7 \u00b1 0.4" in r for r in rows)
    assert any(r.startswith("| GEORGE (paper only") for r in rows)
    assert ("| method | landbird_land | landbird_water | waterbird_land | waterbird_water |"
            in report)
    # the ERM row is the trained model's own head: its test accuracy, on the store's test rows
    from featurizers.store import EmbeddingStore

    store = EmbeddingStore(out / "store")
    X, y, _, _ = store.load("test")
    coef, b, classes = store.head()
    erm = next(r for r in results["records"] if r["method"] == "ERM")
    assert erm["avg"] == pytest.approx(np.mean(classes[np.argmax(X @ coef.T + b, 1)] == y))

    # an ERM checkpoint given: no training, the same embeddings
    out2 = tmp_path / "out2"
    argv2 = ["--dataset", "waterbirds", "--root", root, "--out", str(out2), "--model",
             "test_resnet", "--image-size", "32", "--erm-checkpoint",
             str(out / "erm" / "best.pth"), *FAST]
    assert reproduce.main(argv2) == 0
    assert not (out2 / "erm").exists()
    X2 = EmbeddingStore(out2 / "store").load("test")[0]
    np.testing.assert_array_equal(np.asarray(X), np.asarray(X2))


def test_civilcomments_end_to_end(tmp_path):
    root = tmp_path / "civilcomments"
    root.mkdir()
    write_civilcomments(str(root))
    bert = str(tmp_path / "bert")
    save_tiny_bert(bert)  # a plain BertModel, as bert-base-uncased is
    out = tmp_path / "out"
    argv = ["--dataset", "civilcomments", "--root", str(root), "--out", str(out),
            "--model", bert, "--erm-epochs", "2", *FAST]
    assert reproduce.main(argv) == 0
    assert (out / "erm" / "best" / "config.json").is_file()
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["nt_params"]["optimizer"] == "adamw"
    assert results["config"]["nt_params"]["learning_rate"] == 1e-3
    report = (out / "report.md").read_text()
    assert "Table 2: CivilComments" in report
    rows = _rows(report)
    assert any(r.startswith("| NeuronTune (paper: NeuronTune) |") and "82.4 \u00b1 0.2" in r
               for r in rows)
    assert any(r.startswith("| ERM (paper: ERM) |") and "57.4" in r for r in rows)
    assert any(r.startswith("| CNC (paper only") for r in rows)
    log = [json.loads(x) for x in open(out / "erm" / "log.jsonl")]
    assert [r["epoch"] for r in log] == [1, 2]


def test_imagenet9_evaluation_and_table_3():
    rng = np.random.default_rng(0)
    d, C = 12, 3

    def split(n, shift):
        y = np.arange(n) % C
        X = rng.normal(size=(n, d)).astype(np.float32)
        X[np.arange(n), y] += 3.0 - shift
        return X, y, None

    data = {"train": split(60, 0), "val": split(30, 0), "ood": split(30, 2.5)}
    head = (np.eye(C, d), np.zeros(C), np.arange(C))
    methods = reproduce.build_methods({"optimizer": "sgd", "learning_rate": 1e-3,
                                       "batches_per_epoch": 5}, groups=False)
    assert "DFR" not in [m.name for m in methods]
    records = reproduce.run_ood_methods(data, head, methods, seeds=[0, 1], n_epochs=1)
    assert len(records) == 2 * len(methods)
    erm = [r for r in records if r["method"] == "ERM"][0]
    assert erm["in_acc"] > erm["ood_acc"] and erm["gap"] == pytest.approx(
        erm["in_acc"] - erm["ood_acc"])
    table = reproduce.ood_table(records, methods)
    assert any(r.startswith("| NeuronTune |") and "| 56.4 |" in r for r in _rows(table))
    assert any(r.startswith("| CaaM (paper only") and "95.7" in r for r in _rows(table))


def test_paper_figures_match_the_summary():
    t = paper_results
    nt = {d: next(r for r in t.paper_table(d) if r.method == "NeuronTune")
          for d in ("waterbirds", "celeba", "multinli", "civilcomments")}
    assert {d: (r.wga, r.wga_std, r.acc) for d, r in nt.items()} == {
        "waterbirds": (92.2, 0.3, 94.4), "celeba": (83.1, 1.1, 92.0),
        "multinli": (72.1, 0.1, 81.1), "civilcomments": (82.4, 0.2, 89.2)}
    for d, rows in {**t.TABLE1, **t.TABLE2}.items():
        for r in rows:  # Acc. - WGA = Gap, as printed (to rounding)
            if None not in (r.wga, r.acc, r.gap):
                assert r.acc - r.wga == pytest.approx(r.gap, abs=0.11), (d, r.method)
    assert set(t.OURS_TO_PAPER) <= set(METHODS)
