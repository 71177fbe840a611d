"""The paper's synthetic experiment: the qualitative result of its Fig. 2."""

from benchmarks.synthetic import SyntheticConfig, format_report, run


def test_spurious_dimension_flagged_and_test_wga_improves():
    config = SyntheticConfig(n_train=8000, n_val=1500, n_test=8000)
    results, *_ = run(config, n_epochs=15)
    assert "spurious" in results["biased_dimensions"]
    assert "core" not in results["biased_dimensions"]
    erm = results["models"]["ERM (logistic regression)"]
    nt = results["models"]["NeuronTune"]
    # the biased reference: high training average, low worst group (paper: 95.4 / 66.2)
    assert erm["train_avg"] > 0.93 and erm["train_wga"] < 0.75
    assert nt["test_wga"] > erm["test_wga"] + 0.15
    assert "| NeuronTune |" in format_report(results)
