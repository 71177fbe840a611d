"""benchmarks.perf on tiny sizes: its data, its torch reference, its memory probe and its output."""

import numpy as np
import pytest

from benchmarks import perf
from nt_sklearn.metrics import worst_group_accuracy


@pytest.fixture(scope="module")
def tiny():
    return perf.make_planted(n_tune=3_000, n_id=1_000, d=256, n_classes=2, prior=(0.85, 0.15),
                             core_shift=0.2, n_core=80, n_spurious=16)


def test_planted_data_is_relu_like_with_a_biased_reference(tiny):
    assert tiny.X_tune.dtype == np.float32 and tiny.X_tune.min() >= 0
    assert 0.5 < np.mean(tiny.X_id == 0) < 0.9  # sparse, like pooled ReLU features
    pred = np.argmax(tiny.X_id @ tiny.coef.T + tiny.intercept, axis=1)
    error = np.mean(pred != tiny.y_id)
    assert 0.05 < error < 0.35
    # the errors sit in the groups where the attribute disagrees with the class
    assert worst_group_accuracy(tiny.y_id, pred, tiny.groups_id) < 1 - error


def test_torch_reference_selects_the_same_biased_dimensions(tiny):
    pytest.importorskip("torch")
    from benchmarks.torch_reference import TorchNeuronTune

    ours = perf.fit_ours(tiny, n_epochs=2, batches_per_epoch=20)
    ref = TorchNeuronTune(tiny.coef, tiny.intercept, n_epochs=2, batches_per_epoch=20).fit(
        tiny.X_id, tiny.y_id, tiny.X_tune, tiny.y_tune)
    np.testing.assert_array_equal(ref.biased_features_, ours.biased_features_)
    assert np.isin(tiny.spurious, ours.biased_feature_indices_).all()
    assert len(ref.sfit_history_) == 2 and ref.predict(tiny.X_id).shape == tiny.y_id.shape


def test_memory_probe_fits_on_a_memmap_without_copying_it(tiny, tmp_path):
    report = perf.Report()
    out = perf.bench_memory(tiny, report, threads=1, target_gb=0.005, n_steps=5, workdir=tmp_path)
    assert out is not None, report.rows
    assert out["still_memmap"] and out["n_masked"] > 0
    # the tuning file is ~5 MB: a copy would not show, but the probe must report sane numbers
    assert 10 < out["anon_peak_mb"] < 1024
    # the evicted steps say how much they really read from the device (None: no /proc/self/io)
    assert out["cold_read_mb"] is None or out["cold_read_mb"] >= 0
    cold = next(row for row in report.rows if "memmap evicted" in row[1])
    assert "read from the block device" in cold[3] or "not readable" in cold[3]
    assert not list(tmp_path.iterdir())  # the temporary file is gone


def test_quick_run_prints_and_writes_its_figures(tmp_path, capsys):
    out = tmp_path / "perf.md"
    perf.main(["--quick", "--sections", "identification", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "[identification] SPEED-UP vectorised over the loop" in printed
    assert ("[machine] SFit presort: the faster of its two sorts on this CPU: keys" in printed
            or "[machine] SFit presort: the faster of its two sorts on this CPU: radix" in printed)
    text = out.read_text()
    assert "python -m benchmarks.perf --quick" in text and "| identification |" in text
    assert "logical CPUs" in text


def test_before_after_table_pairs_the_figures_of_an_earlier_run(tmp_path):
    import datetime

    from benchmarks.perf.markdown import read_figures

    def write(path, value, **kwargs):
        report = perf.Report()
        report.add("celeba", "ours: default fit", value, "median of 3")
        report.add("celeba", "a | figure", "1 | 2")
        perf.write_markdown(report, path, command="python -m benchmarks.perf", threads=2,
                            started=datetime.datetime(2026, 1, 1), elapsed=60.0, quick=False,
                            **kwargs)
        return report

    write(tmp_path / "before.md", "7.5 s")
    before = read_figures(tmp_path / "before.md")
    assert before[("celeba", "ours: default fit")] == ("7.5 s", "median of 3")
    write(tmp_path / "after.md", "3.1 s", before=before, before_label="main")
    text = (tmp_path / "after.md").read_text()
    assert "## Before / after (main)" in text
    assert "| celeba | ours: default fit | 7.5 s | 3.1 s |" in text
    (tmp_path / "nothing.md").write_text("# no table\n")
    with pytest.raises(ValueError, match="no table of figures"):
        read_figures(tmp_path / "nothing.md")


def test_fit_fingerprint_is_that_of_the_selection():
    from benchmarks.perf.fit_speed import fit_fingerprint

    class Fit:
        sfit_history_, best_epoch_ = np.array([1.0, 2.0]), 1
        biased_features_ = np.array([True, False])

    other = Fit()
    assert fit_fingerprint(Fit()) == fit_fingerprint(other)
    other.sfit_history_ = np.array([1.0, np.nextafter(2.0, 3.0)])
    assert fit_fingerprint(Fit()) != fit_fingerprint(other)


def test_parser_defaults():
    args = perf.build_parser().parse_args([])
    assert not args.quick and args.threads == 2 and args.out == perf.RESULTS


def test_the_library_choices_are_timed_both_ways(tiny):
    from benchmarks.perf.choices import bench_batch_reads, bench_sorts

    report = perf.Report()
    bench_sorts(tiny, report, threads=1, repeats=1, n_features=8)
    bench_batch_reads("tiny", tiny, report, threads=2, repeats=1, n_epochs=1, n_steps=5)
    rows = {figure: (value, note) for _, figure, value, note in report.rows}
    keys_ms, radix_ms = rows["presort sorts: 64-bit keys / radix"][0].split(" / ")
    assert keys_ms.endswith(" ms") and float(radix_ms.removesuffix(" ms")) >= 0
    value, note = rows["trainer steps: batches read ahead / plain reads"]
    ahead, plain = (float(v.removesuffix(" us")) for v in value.split(" / "))
    assert ahead > 0 and plain > 0
    assert note.endswith("the default here: plain reads")  # 128 x 256 float32: below 320 KB
    from nt_sklearn._batch_reader import _BatchReader
    assert _BatchReader.READ_AHEAD_BYTES == 5 << 16  # restored after the read-ahead runs
