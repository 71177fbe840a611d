"""The paper's own setting (benchmarks.paper_setting), end to end on tiny analogues and models.

The analogues are built from the real Debian data (Fashion-MNIST, WordNet) with a few
rows per group; the backbones are tiny random models (the real ones are run by the
full command, outside CI). Skips name the Debian package when its data is missing.
"""

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")
pytest.importorskip("transformers")

from tests._featurizer_data import save_timm_checkpoint, save_tiny_bert  # noqa: E402

from benchmarks import offline_suite, train_erm  # noqa: E402
from benchmarks.paper_setting import analysis, images, main, pipeline, texts  # noqa: E402
from featurizers.datasets import get_reader  # noqa: E402

METHODS = ["ERM (paper: ERM)", "JTT (last layer) (paper: JTT)", "AFR (paper: AFR)",
           "DFR (paper: DFR\u2020)", "NT=No (class-balanced) (paper: Table 4, NT=No)",
           "Random mask (not in the paper)", "NeuronTune (paper: NeuronTune)",
           "NeuronTune\u2020 (half val) (paper: NeuronTune\u2020)",
           "NeuronTune, recommended (half val) (not in the paper)"]


def _need_debian_data():
    if not (offline_suite.FASHION_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST missing: apt-get install dataset-fashion-mnist")
    if not offline_suite.WORDNET_NOUNS.exists():
        pytest.skip("WordNet missing: apt-get install wordnet-base")


def _section(report, title):
    """The table rows of the report's section whose heading starts with ``title``."""
    block = report.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    return [line for line in block.splitlines() if line.startswith("| ")]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    _need_debian_data()
    tmp = tmp_path_factory.mktemp("paper_setting")
    save_timm_checkpoint(str(tmp / "resnet.pth"), prefix="", wrapper=None)
    save_tiny_bert(str(tmp / "bert"))
    argv = ["run", "--tiny", "--cache-dir", str(tmp / "cache"), "--image-model", "test_resnet",
            "--image-init", str(tmp / "resnet.pth"), "--text-model", str(tmp / "bert"),
            "--erm-epochs", "2", "--nt-epochs", "1", "--batches-per-epoch", "5", "--seeds", "2",
            "--jobs", "1", "--threads", "1", "-q", "--report", str(tmp / "report.md")]
    assert main(argv) == 0
    return tmp, argv


def test_the_whole_command_writes_both_tables_and_the_analysis(tiny_run, capsys):
    tmp, _ = tiny_run
    report = (tmp / "report.md").read_text()
    assert report == (tmp / "cache" / "report.md").read_text()
    for title, paper_erm in (("Table 1 analogue", "72.6"), ("Table 2 analogue", "57.4")):
        rows = _section(report, title)
        labels = [r.split(" | ")[0][2:] for r in rows]
        for m in METHODS:
            assert m in labels, (title, m)
        erm = next(r for r in rows if r.startswith("| ERM (paper: ERM) |"))
        assert f"| {paper_erm} |" in erm  # the paper's figure beside ours
    analysis_rows = _section(report, "Does the mask carry the attribute?")
    assert [r.split(" | ")[0][2:] for r in analysis_rows[1:]] == [
        "image / fine-tuned", "image / frozen", "text / fine-tuned", "text / frozen"]
    steps = [r.split(" | ")[0][2:] for r in _section(report, "Wall time per step")[1:]]
    assert steps == [f"{s}-{a}" for a in ("image", "text")
                     for s in ("build", "erm", "reproduce", "frozen", "analysis")] + ["total"]
    # ERM logged validation accuracy per epoch and kept the best epoch's checkpoint
    log = [json.loads(x) for x in open(tmp / "cache" / "runs" / "image" / "erm" / "log.jsonl")]
    assert [r["epoch"] for r in log] == [1, 2]
    results = json.loads((tmp / "cache" / "runs" / "text" / "results.json").read_text())
    assert results["config"]["nt_params"]["optimizer"] == "adamw"  # CivilComments' Table 10
    assert {r["seed"] for r in results["records"]} == {0, 1}


def test_the_unchanged_readers_read_the_analogues(tiny_run):
    tmp, _ = tiny_run
    for name, dataset, folder in (("image", "waterbirds", "waterbirds-analogue"),
                                  ("text", "civilcomments", "civilcomments-analogue")):
        reader = get_reader(dataset, str(tmp / "cache" / folder))
        for split, counts in pipeline.TINY_COUNTS[name].items():
            assert np.bincount(reader.load(split).groups, minlength=4).tolist() == list(counts)
        assert "licence" in (tmp / "cache" / folder / "README.md").read_text()


def test_a_second_run_skips_every_step(tiny_run, capsys):
    tmp, argv = tiny_run
    assert main(argv) == 0
    rows = _section(capsys.readouterr().out, "Wall time per step")[1:-1]
    assert rows and all("cached" in r for r in rows)


def test_the_analogues_are_deterministic(tmp_path):
    _need_debian_data()
    counts = {"train": (3, 2, 2, 3), "val": (1, 1, 1, 1), "test": (2, 2, 2, 2)}
    for run in ("a", "b"):
        images.build_images(tmp_path / run / "img", counts=counts, size=24)
        texts.build_texts(tmp_path / run / "txt", counts=counts)
    for rel in ("img/metadata.csv", "txt/all_data_with_identities.csv"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    for f in sorted((tmp_path / "a" / "img" / "000.Coat").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / "img" / "000.Coat" / f.name).read_bytes()


def test_too_many_rows_for_the_source_is_a_clear_error(tmp_path):
    _need_debian_data()
    with pytest.raises(ValueError, match="WordNet group 1 has"):
        texts.build_texts(tmp_path, counts={"train": (1, 10_000, 1, 1)})


def test_cpu_presets_keep_table_9s_recipe_families():
    P = train_erm.PRESETS
    img, txt = P["waterbirds-analogue-cpu"], P["civilcomments-analogue-cpu"]
    assert (img["optimizer"], img["lr"], img["schedule"], img["batch_size"], img["momentum"]) == \
        (P["waterbirds"]["optimizer"], 3e-3, "cosine", 32, 0.9)
    assert (img["model"], img["init"]) == ("tf_efficientnet_lite0", "efficientnet-lite0")
    assert (txt["optimizer"], txt["schedule"], txt["batch_size"]) == ("adamw", "linear", 16)
    assert img["weight_decay"] == txt["weight_decay"] == 1e-4


def test_standardized_effect_and_the_probe_find_a_planted_attribute():
    rng = np.random.default_rng(0)
    n = 400
    y, a = np.arange(n) % 2, (np.arange(n) // 2) % 2
    X = rng.normal(size=(n, 6))
    X[:, 0] += 2.0 * a  # the attribute
    X[:, 1] += 2.0 * y  # the class
    effect = analysis.standardized_effect(X, a, y)
    assert np.flatnonzero(effect >= analysis.EFFECT_THRESHOLD).tolist() == [0]
    half = analysis.halves(y)
    assert half.sum() == n // 2 and np.bincount(y[half]).tolist() == [n // 4, n // 4]
    auc = analysis.probe_auc(X[half], a[half], X[~half], a[~half], [0])
    assert auc > 0.9
    assert analysis.probe_auc(X[half], a[half], X[~half], a[~half], [1, 2]) < 0.65
    assert np.isnan(analysis.probe_auc(X[half], a[half], X[~half], a[~half], []))
