"""The report's figures: named groups, error bars over seeds, legends that cover nothing."""

import numpy as np
import pytest

from benchmarks import report

plt = pytest.importorskip("matplotlib.pyplot")

NAMES = {"groups": {"0": "animal x land", "1": "animal x water", "2": "plant x land",
                    "3": "plant x water"}, "classes": {"0": "animal", "1": "plant"}}


def _records(methods=("ERM", "NeuronTune"), seeds=3, n_epochs=4, groups=True):
    rng = np.random.default_rng(0)
    out = []
    for m in methods:
        for s in range(seeds):
            acc = rng.uniform(0.5, 1.0, 4)
            r = {"dataset": "toy", "regime": "val", "method": m, "seed": s,
                 "avg": float(acc.mean()), "class_acc": {"0": acc[0], "1": acc[2]},
                 "wca": float(min(acc[0], acc[2]))}
            if groups:
                r.update(group_acc={str(g): acc[g] for g in range(4)}, wga=float(acc.min()))
            if m == "NeuronTune":
                key = "wga" if groups else "wca"
                r["epochs"] = {"sfit": rng.uniform(1, 2, n_epochs).tolist(),
                               f"val_{key}": rng.uniform(0.5, 1, n_epochs).tolist(),
                               f"test_{key}": rng.uniform(0.5, 1, n_epochs).tolist(),
                               "selected": int(rng.integers(n_epochs))}
            out.append(r)
    return out


@pytest.fixture
def figures(monkeypatch):
    """The figures the report saves, kept open for inspection."""
    kept, close = [], plt.close
    monkeypatch.setattr(report, "_save", lambda fig, path: (fig.canvas.draw(), kept.append(fig)))
    monkeypatch.setattr(plt, "close", lambda fig=None: None)
    yield kept
    for fig in kept:
        close(fig)


def _overlaps(a, b):
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_group_bars_name_class_x_attribute_with_std_error_bars_and_a_legend_outside(
        figures, tmp_path):
    records = _records()
    report.plot_group_bars(tmp_path / "g.png", records, "toy", "val", NAMES)
    (fig,) = figures
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == list(NAMES["groups"].values())
    assert not _overlaps(legend.get_window_extent(), ax.get_window_extent())
    assert ax.get_xlabel() == "method" and ax.get_ylabel() == "test accuracy (%)"
    assert "mean +- std over 3 seed(s)" in ax.get_title()
    # one error bar per bar, as long as the std over the seeds
    erm_land = [r["group_acc"]["0"] for r in records if r["method"] == "ERM"]
    from matplotlib.container import BarContainer

    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == 4
    segments = bars[0].errorbar.lines[2][0].get_segments()
    assert len(segments) == 2
    np.testing.assert_allclose(segments[0][1, 1] - segments[0][0, 1], 2 * 100 * np.std(erm_land))


def test_group_bars_without_groups_show_classes_by_name(figures, tmp_path):
    report.plot_group_bars(tmp_path / "c.png", _records(groups=False), "toy", "val", NAMES)
    ax = figures[0].axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["animal", "plant"]
    assert "per class (no group labels)" in ax.get_title()


@pytest.mark.parametrize("groups", [True, False])
def test_epoch_curves_legend_names_every_curve_sfit_included_and_covers_nothing(
        figures, tmp_path, groups):
    assert report.plot_epochs(tmp_path / "e.png", _records(groups=groups), "toy", "val")
    (fig,) = figures
    ax, ax2 = fig.axes
    metric = "WGA" if groups else "worst-class accuracy"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [f"validation {metric}" + (" (uses groups)" if groups else ""),
                      f"test {metric}", "SFit (right axis)", "SFit-selected epoch (one per seed)"]
    assert len(ax.lines) + len(ax2.lines) == 3  # every curve drawn is in the legend
    for a in (ax, ax2):
        assert not _overlaps(ax.get_legend().get_window_extent(), a.get_window_extent())
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == f"{metric} (%)"
    assert ax2.get_ylabel() == "SFit" and "over 3 seed(s)" in ax.get_title()
    assert len(ax.collections[-1].get_offsets()) == 3  # the selected epoch of each seed


def test_histograms_have_labelled_axes_distinct_dimensions_and_one_legend_outside(
        figures, tmp_path):
    from nt_sklearn import NeuronTuneClassifier
    from tests._spurious import make_spurious

    rng = np.random.default_rng(0)
    X, y, _ = make_spurious(400, 0.9, rng)
    clf = NeuronTuneClassifier(n_epochs=1, random_state=0).fit(X, y)
    pred = np.where(rng.random(len(y)) < 0.2, 1 - y, y)
    report.plot_dimensions(tmp_path / "d.png", clf, X, y, pred, "toy", NAMES["classes"])
    (fig,) = figures
    assert len(fig.axes) == 2 * 4  # 5 dimensions: the 2 most and the 2 least biased
    for row in range(2):
        titles = [a.get_title() for a in fig.axes[4 * row: 4 * row + 4]]
        assert all(t.startswith(("animal:", "plant:")) for t in titles)
        assert len({t.split("dim ")[1].split()[0] for t in titles}) == 4
    for a in fig.axes:
        assert a.get_xlabel().startswith("|activation| of dim") and a.get_ylabel() == "density"
        assert a.get_legend() is None
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["correctly classified",
                                                          "misclassified"]
    assert not any(_overlaps(legend.get_window_extent(), a.get_window_extent())
                   for a in fig.axes)
