"""The benchmark runner end to end on a small store, and the offline suite's building blocks."""

import json

import numpy as np
import pytest

from benchmarks import offline_suite
from benchmarks.run import main as run_main
from tests._spurious import make_spurious


@pytest.fixture
def small_store(tmp_path):
    from featurizers.store import EmbeddingStoreWriter

    rng = np.random.default_rng(0)
    splits = {
        "train": make_spurious(1500, 0.95, rng),
        "val_balanced": make_spurious(301, 0.5, rng),
        "test": make_spurious(800, 0.5, rng),
    }
    out = tmp_path / "toy_store"
    writer = EmbeddingStoreWriter(out, {"model": "toy"}, splits["train"][0].shape[1])
    for name, (X, y, g) in splits.items():
        writer.begin_split(name, np.arange(len(y)).astype(str), y, g)
        rows = writer.open_rows(name)
        rows[:] = X
        writer.commit(name, rows, 0, len(y))
        writer.finish_split(name)
    return out


def test_runner_writes_results_report_and_figures(small_store, tmp_path, capsys):
    out = tmp_path / "report"
    run_main(["--store", str(small_store), "--out", str(out), "--seeds", "2", "--epochs", "3",
              "--no-ablations", "--no-variants", "--jobs", "1"])
    results = json.loads((out / "results.json").read_text())
    methods = {r["method"] for r in results["records"]}
    assert {"ERM", "DFR", "NeuronTune", "Random mask", "AFR", "JTT (last layer)"} <= methods
    assert len(results["records"]) == 9 * 2  # methods x seeds, one validation regime
    nt = [r for r in results["records"] if r["method"] == "NeuronTune"]
    assert all(len(r["epochs"]["sfit"]) == 3 for r in nt)
    report = (out / "report.md").read_text()
    assert "| NeuronTune |" in report and "| DFR | No | Yes |" in report
    assert (out / "toy_store_val_balanced_groups.png").exists()
    assert (out / "toy_store_dimensions.png").exists()
    assert "Test worst-group accuracy" in capsys.readouterr().out


def test_variants_table_and_group_label_diagnostic(small_store, tmp_path):
    out = tmp_path / "report"
    run_main(["--store", str(small_store), "--out", str(out), "--seeds", "1", "--epochs", "2",
              "--no-ablations", "--jobs", "1"])
    records = json.loads((out / "results.json").read_text())["records"]
    diag = [r for r in records if r["method"] == "diagnostic: mask from group labels"]
    assert len(diag) == 1
    # on this data the minority groups differ from the majority in feature 1 only
    report = (out / "report.md").read_text()
    assert "## Variants across the suite" in report
    assert "| NeuronTune, recommended (half val) |" in report
    assert "| recommended without the mask (half val) |" in report
    assert "worst difference to ERM" in report


def _toy_store(out, groups):
    from featurizers.store import EmbeddingStoreWriter

    rng = np.random.default_rng(0)
    writer = EmbeddingStoreWriter(out, {"model": "toy"}, 5,
                                  extra={"dataset": {"class_names": ["animal", "plant"]}})
    for name, n, p in (("train", 600, 0.95), ("val", 201, 0.5), ("test", 300, 0.5)):
        X, y, g = make_spurious(n, p, rng)
        writer.begin_split(name, np.arange(n).astype(str), y, g if groups(name) else None)
        rows = writer.open_rows(name)
        rows[:] = X
        writer.commit(name, rows, 0, n)
        writer.finish_split(name)
    return out


def test_store_without_groups_runs_the_group_free_methods(tmp_path, capsys):
    store = _toy_store(tmp_path / "s", groups=lambda split: False)
    out = tmp_path / "o"
    assert run_main(["--store", str(store), "--out", str(out), "--seeds", "1", "--epochs", "2",
                     "--no-ablations", "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "WGA needs group labels" in printed and "Test worst-class accuracy" in printed
    results = json.loads((out / "results.json").read_text())
    methods = {r["method"] for r in results["records"]}
    assert {"ERM", "NeuronTune", "AFR", "recommended without the mask (half val)"} <= methods
    assert not methods & {"DFR", "diagnostic: mask from group labels"}
    for r in results["records"]:
        assert "wga" not in r and set(r["class_acc"]) == {"0", "1"}
        assert r["wca"] == min(r["class_acc"].values())
    nt = next(r for r in results["records"] if r["method"] == "NeuronTune")
    assert len(nt["epochs"]["val_wca"]) == 2
    report = (out / "report.md").read_text()
    assert "no group labels (class labels only)" in report and "| DFR |" not in report
    assert "| method | animal | plant |" in report  # the per-class table, classes by name
    assert "worst-class acc." in report and "oracle (val worst-class acc.)" in report
    assert (out / "s_val_classes.png").exists() and (out / "s_val_epochs.png").exists()


def test_store_with_groups_in_some_splits_only_is_refused(tmp_path, capsys):
    store = _toy_store(tmp_path / "s", groups=lambda split: split != "val")
    argv = ["--store", str(store), "--out", str(tmp_path / "o"), "--jobs", "1"]
    assert run_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("run: error: ") and "['val'] have none" in err
    with pytest.raises(ValueError, match="give every split groups, or none"):
        run_main([*argv, "--debug"])


def test_split_recipes():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], [1000, 600])
    parts = offline_suite.stratified_partition(y, (0.6, 0.2, 0.2), rng)
    assert [len(p) for p in parts] == [960, 320, 320]
    assert len(np.unique(np.concatenate(parts))) == len(y)
    a = offline_suite.balanced_attribute(y, rng)
    assert [a[y == c].sum() for c in (0, 1)] == [500, 300]
    a = offline_suite.attribute_for(np.repeat([0, 1], 5000), 0.95, rng)
    assert 0.94 < np.mean(a == np.repeat([0, 1], 5000)) < 0.96
    splits = offline_suite.image_splits(y, np.random.default_rng(1))
    test_rows, test_attr = splits["test"]
    for c in (0, 1):  # each test image in both tints: groups balanced within class
        in_c = y[test_rows] == c
        assert test_attr[in_c].sum() * 2 == in_c.sum()


def test_wordnet_split_sizes():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 0, 1, 1], [1000, 1000, 1000, 400])
    water = np.repeat([0, 1, 0, 1], [1000, 1000, 1000, 400])
    rows = offline_suite.wordnet_splits(y, water, rng)
    g = {s: np.bincount(2 * y[r] + water[r], minlength=4).tolist() for s, r in rows.items()}
    assert g["train"] == [25, 500, 500, 25]  # animals with water, plants on land
    assert g["val_balanced"] == [100, 100, 100, 100]
    assert g["val_skewed"] == [10, 100, 100, 10]
    assert g["test"] == [150, 150, 150, 150]


def test_tint_colours_the_background_only():
    gray = np.zeros((2, 4, 4))
    gray[:, 1:3, 1:3] = 1.0  # a white stroke
    rgb = offline_suite.tint(gray, np.array([0, 1]), np.random.default_rng(0))
    assert np.all(rgb[:, 1:3, 1:3] == 255)
    assert rgb[0, 0, 0, 2] > rgb[0, 0, 0, 0]  # attribute 0: blue background
    assert rgb[1, 0, 0, 0] > rgb[1, 0, 0, 2]  # attribute 1: orange background


def test_missing_sources_name_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(offline_suite, "FASHION_DIR", tmp_path / "nope")
    with pytest.raises(offline_suite.MissingSource, match="apt-get install dataset-fashion-mnist"):
        offline_suite.build_fashion(tmp_path, tmp_path / "out")
    monkeypatch.setattr(offline_suite, "WORDNET_NOUNS", tmp_path / "nope")
    with pytest.raises(offline_suite.MissingSource, match="wordnet-base"):
        offline_suite.wordnet_pools()


def test_methods_selects_rows_and_the_variants_table_reports_kept_reference(small_store,
                                                                             tmp_path, capsys):
    out = tmp_path / "report"
    assert run_main(["--store", str(small_store), "--out", str(out), "--seeds", "1",
                     "--epochs", "2", "--no-ablations", "--jobs", "1",
                     "--methods", "ERM", "NeuronTuneAuto (half val)"]) in (0, None)
    records = json.loads((out / "results.json").read_text())["records"]
    assert sorted(r["method"] for r in records) == ["ERM", "NeuronTuneAuto (half val)"]
    auto = next(r for r in records if r["method"] != "ERM")
    assert isinstance(auto["kept_reference"], bool)
    report = (out / "report.md").read_text()
    assert "kept reference (balanced)" in report and "balanced - ERM's" in report
    assert not (out / "toy_store_dimensions.png").exists()  # a study of methods: no figure
    # variants alone (no main method, no ERM): the report is still written
    assert run_main(["--store", str(small_store), "--out", str(out), "--seeds", "1",
                     "--epochs", "1", "--jobs", "1", "--methods",
                     "NeuronTuneAuto (half val) without guard"]) in (0, None)
    assert "NeuronTuneAuto (half val) without guard" in (out / "report.md").read_text()
    assert run_main(["--store", str(small_store), "--out", str(out), "--methods", "nope"]) == 2
    assert "unknown method(s) ['nope']" in capsys.readouterr().err
