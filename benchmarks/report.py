"""Tables (Markdown) and figures (PNG) of a benchmark run, in the paper's formats."""

import functools
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from .methods import ABLATION_TABLE, ABLATIONS, DIAGNOSTICS, MAIN_METHODS, VARIANT_TABLE, VARIANTS
from .tables import markdown_table, mean_std_cell, percent, signed_percent, yes_no

REGIME_NAMES = {
    "val_balanced": "validation balanced within class (as Waterbirds)",
    "val_skewed": "validation drawn like training (as CelebA)",
    "val": "validation",
}
AVG_NOTE = (
    "Accuracies in %, mean +- std over seeds. WGA: worst-group accuracy on the test split. "
    "Avg: plain sample mean over the test split (the offline suite's test splits are "
    "group-balanced, so this is also the unweighted group mean there). Gap: Avg - WGA."
)


def _by(records, *keys):
    out = defaultdict(list)
    for r in records:
        out[tuple(r[k] for k in keys)].append(r)
    return out


# the runner's reports are plain ASCII ("+-"); the reproduction's print the paper's "\u00b1"
_ms = functools.partial(mean_std_cell, pm="+-")


def main_table(records, dataset, regime, methods):
    groups = _by(records, "dataset", "regime", "method")
    rows = []
    for m in methods:
        runs = groups.get((dataset, regime, m.name))
        if not runs:
            continue
        masked = [r["masked_fraction"] for r in runs if "masked_fraction" in r]
        rows.append([m.name, yes_no(m.train_groups), yes_no(m.val_groups),
                     _ms([r["wga"] for r in runs]), _ms([r["avg"] for r in runs]),
                     _ms([r["gap"] for r in runs]), _ms(masked) if masked else "-"])
    return markdown_table(
        ["method", "train groups", "val groups", "WGA", "Avg", "Gap", "masked %"], rows)


def selection_table(records, dataset, regime):
    """SFit-selected vs oracle (validation WGA, uses groups) vs last epoch."""
    rows = []
    for (d, v, name), runs in sorted(_by(records, "dataset", "regime", "method").items()):
        if d != dataset or v != regime or "epochs" not in runs[0]:
            continue
        sel, orc, last, rho = [], [], [], []
        for r in runs:
            e = r["epochs"]
            test = np.asarray(e["test_wga"])
            sel.append(test[e["selected"]])
            orc.append(test[int(np.argmax(e["val_wga"]))])
            last.append(test[-1])
            if np.ptp(e["sfit"]) > 0 and np.ptp(e["val_wga"]) > 0:
                rho.append(spearmanr(e["sfit"], e["val_wga"]).statistic)
        rho_text = f"{np.mean(rho):+.2f}" if rho else "n/a (constant)"
        rows.append([name, _ms(sel), _ms(orc), _ms(last), rho_text])
    return markdown_table(["method", "SFit-selected", "oracle (val WGA)", "last epoch",
                           "rank corr. SFit vs val WGA"], rows)


def variants_summary(records):
    """Test WGA of every variant on every dataset x regime, its mean, and its worst
    difference to ERM: the two figures the recommended configuration is judged by."""
    columns = sorted({(r["dataset"], r["regime"]) for r in records})
    groups = _by(records, "dataset", "regime", "method")
    erm = {col: np.mean([r["wga"] for r in groups.get((*col, "ERM"), [])] or [np.nan])
           for col in columns}
    rows = []
    for name in VARIANT_TABLE:
        if not any((*col, name) in groups for col in columns):
            continue
        means = [np.mean([r["wga"] for r in groups[(*col, name)]]) if (*col, name) in groups
                 else np.nan for col in columns]
        diffs = [m - erm[col] for m, col in zip(means, columns)]
        rows.append([name, *(percent(m) for m in means), percent(np.nanmean(means)),
                     signed_percent(np.nanmean(diffs)), signed_percent(np.nanmin(diffs))])
    return markdown_table(["variant", *(f"{d} / {v}" for d, v in columns), "mean",
                           "mean - ERM's", "worst difference to ERM"], rows)


def summary(results):
    """One line per method: test WGA per dataset x regime, and ERM's for reference."""
    records = results["records"]
    columns = sorted({(r["dataset"], r["regime"]) for r in records})
    groups = _by(records, "dataset", "regime", "method")
    rows = []
    for m in MAIN_METHODS:
        cells = []
        for d, v in columns:
            runs = groups.get((d, v, m.name))
            cells.append(_ms([r["wga"] for r in runs]) if runs else "-")
        rows.append([m.name, *cells])
    table = markdown_table(["method", *(f"{d} / {v}" for d, v in columns)], rows)
    return "Test worst-group accuracy (%), mean +- std over seeds\n\n" + table


def plot_group_bars(path, records, dataset, regime):
    import matplotlib.pyplot as plt

    groups = _by(records, "dataset", "regime", "method")
    names = [m.name for m in MAIN_METHODS if (dataset, regime, m.name) in groups]
    group_ids = sorted(groups[(dataset, regime, names[0])][0]["group_acc"], key=int)
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 3, 4))
    width = 0.8 / len(group_ids)
    for j, g in enumerate(group_ids):
        means = [100 * np.mean([r["group_acc"][g] for r in groups[(dataset, regime, n)]])
                 for n in names]
        ax.bar(np.arange(len(names)) + j * width, means, width, label=f"group {g}")
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2)
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set(ylabel="test accuracy (%)", title=f"{dataset}: per-group accuracy ({regime})",
           ylim=(0, 100))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_epochs(path, records, dataset, regime, method="NeuronTune"):
    import matplotlib.pyplot as plt

    rows = [r for r in records
            if (r["dataset"], r["regime"], r["method"]) == (dataset, regime, method)]
    if not rows or "epochs" not in rows[0]:
        return False
    e = rows[0]["epochs"]
    epochs = np.arange(1, len(e["sfit"]) + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, 100 * np.asarray(e["val_wga"]), label="val WGA (uses groups)")
    ax.plot(epochs, 100 * np.asarray(e["test_wga"]), label="test WGA")
    ax.axvline(e["selected"] + 1, color="black", linestyle=":", label="SFit-selected")
    ax.set(xlabel="epoch", ylabel="WGA (%)",
           title=f"{dataset} ({regime}), {method}, seed {rows[0]['seed']}")
    ax2 = ax.twinx()
    ax2.plot(epochs, e["sfit"], color="gray", label="SFit")
    ax2.set_ylabel("SFit")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def plot_dimensions(path, model, X, y, y_pred, title):
    """Per class, activations of correct vs misclassified samples on the three most and
    the three least biased dimensions (the paper's Figs 3-6)."""
    import matplotlib.pyplot as plt

    scores = model.spuriousness_scores_
    A = np.abs(X)
    n_classes = scores.shape[1]
    fig, axes = plt.subplots(n_classes, 6, figsize=(18, 3 * n_classes), squeeze=False)
    for c in range(n_classes):
        in_c = y == model.classes_[c]
        wrong = in_c & (y_pred != y)
        right = in_c & (y_pred == y)
        order = np.argsort(-scores[:, c])
        for j, k in enumerate(np.concatenate([order[:3], order[-3:]])):
            ax = axes[c, j]
            ax.hist(A[right, k], bins=30, alpha=0.6, density=True, label="correct")
            if wrong.any():
                ax.hist(A[wrong, k], bins=30, alpha=0.6, density=True, label="misclassified")
            kind = "most" if j < 3 else "least"
            ax.set_title(f"class {model.classes_[c]}: dim {k} ({kind} biased)\n"
                         f"s = {scores[k, c]:+.3f}", fontsize=9)
            ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write(results, out, stores):
    """Write report.md and the figures; return the Markdown."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out)
    records = results["records"]
    parts = ["# Benchmark report", "", AVG_NOTE, "",
             f"Seeds: {results['config']['seeds']}; tuning epochs: {results['config']['epochs']}; "
             f"total time {results['seconds']} s.", ""]
    for dataset in sorted({r["dataset"] for r in records}):
        parts += [f"## {dataset}", "", "Split sizes and group counts: "
                  + "; ".join(f"{s} {v['rows']} {v['group_counts']}"
                              for s, v in results["datasets"][dataset].items()), ""]
        if (out / f"{dataset}_dimensions.png").exists():
            parts += ["Activations of the reference model's correct and misclassified validation "
                      "samples on the three most and three least biased dimensions of each class:",
                      "", f"![biased and unbiased dimensions]({dataset}_dimensions.png)", ""]
        for regime in sorted({r["regime"] for r in records if r["dataset"] == dataset}):
            parts += [f"### {REGIME_NAMES.get(regime, regime)}", "",
                      main_table(records, dataset, regime, MAIN_METHODS), ""]
            if any(r["method"] == ABLATIONS[0].name for r in records if r["dataset"] == dataset):
                by_name = {m.name: m for m in MAIN_METHODS + ABLATIONS}
                parts += ["Ablations (paper's Tables 4 and 5: identification data, masking on "
                          "or off, mask value):", "",
                          main_table(records, dataset, regime,
                                     [by_name[n] for n in ABLATION_TABLE]), ""]
            if any(r["method"] == VARIANTS[0].name for r in records if r["dataset"] == dataset):
                by_name = {m.name: m for m in MAIN_METHODS + VARIANTS + DIAGNOSTICS}
                parts += ["Variants beyond the paper (each option alone on the paper's "
                          "configuration, the recommended configuration, and a diagnostic that "
                          "uses group labels to explain, never to select):", "",
                          main_table(records, dataset, regime,
                                     [by_name[n] for n in VARIANT_TABLE]), ""]
            parts += ["Model selection (test WGA of the epoch each criterion picks):", "",
                      selection_table(records, dataset, regime), ""]
            bars = out / f"{dataset}_{regime}_groups.png"
            plot_group_bars(bars, records, dataset, regime)
            parts += [f"![per-group accuracy]({bars.name})", ""]
            curve = out / f"{dataset}_{regime}_epochs.png"
            if plot_epochs(curve, records, dataset, regime):
                parts += [f"![SFit and WGA over epochs]({curve.name})", ""]
    if any(r["method"] == VARIANTS[0].name for r in records):
        parts += ["## Variants across the suite", "",
                  "Test WGA (%), mean over seeds; the last columns compare with ERM.", "",
                  variants_summary(records), ""]
    text = "\n".join(parts)
    (out / "report.md").write_text(text)
    return text
