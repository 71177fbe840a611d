"""benchmarks.labelfree_study: the design study, the marks diagnostic and the guard's ceiling."""

import json

import numpy as np
import pytest

from benchmarks import labelfree_study as study
from tests.benchmarks.test_run import small_store  # noqa: F401 (a fixture)


def test_validation_study_scores_each_configuration_on_the_half_it_did_not_fit(small_store):  # noqa: F811
    configs = {"one fit": dict(cross_fit=False, n_epochs=2),
               "cross-fitted": dict(cross_fit=True, n_epochs=2)}
    gains = study.validation_study([small_store], seeds=1, configs=configs, say=lambda _: None)
    assert set(gains) == {"balanced"} and set(gains["balanced"]) == set(configs)
    assert all(-100 <= v <= 100 for v in gains["balanced"].values())


def test_marks_study_reports_minority_shares(small_store, capsys):  # noqa: F811
    shares = study.marks_study([small_store], seeds=1)
    (share,) = shares.values()
    assert set(share) == {"errors", "disagreement"}
    assert all(np.isnan(v) or 0 <= v <= 100 for v in share.values())
    assert "minority share among the marked rows" in capsys.readouterr().out


def test_perfect_guard_keeps_the_better_of_erm_and_the_head_fit_by_fit(tmp_path, capsys):
    records = [dict(dataset="d", regime=regime, seed=seed, method=method, wga=wga)
               for regime, seed, method, wga in [
                   ("val_skewed", 0, "ERM", 0.5), ("val_skewed", 0, "head", 0.4),
                   ("val_skewed", 1, "ERM", 0.5), ("val_skewed", 1, "head", 0.7),
                   ("val_balanced", 0, "ERM", 0.5), ("val_balanced", 0, "head", 0.9)]]
    assert study.perfect_guard_ceiling(records, "head") == pytest.approx(
        {"skewed": 10.0, "balanced": 40.0})  # (0 + 20) / 2 and 40 points
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"records": records}))
    assert study.main(["ceiling", str(path), "head"]) == 0
    assert "skewed: a perfect guard over 'head' gains +10.0" in capsys.readouterr().out
    assert study.main(["ceiling", str(path), "nope"]) == 2
    assert "no records of 'nope'" in capsys.readouterr().err
