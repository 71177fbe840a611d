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
NO_GROUPS_NOTE = (
    "This store has no group labels (class labels only). WGA needs group labels, so the "
    "tables give worst-class accuracy (the lowest per-class test accuracy) in its place and "
    "Gap = Avg - worst-class accuracy; DFR, which fits on group labels, and the group-label "
    "diagnostic are left out."
)


_VARIANT_NAMES = {m.name for m in VARIANTS + DIAGNOSTICS}


def _by(records, *keys):
    out = defaultdict(list)
    for r in records:
        out[tuple(r[k] for k in keys)].append(r)
    return out


# the runner's reports are plain ASCII ("+-"); the reproduction's print the paper's "\u00b1"
_ms = functools.partial(mean_std_cell, pm="+-")


def _headline(r):
    """The record's headline figure: WGA, or worst-class accuracy without group labels."""
    return r["wga"] if r.get("wga") is not None else r["wca"]


def _has_groups(records):
    return all(r.get("wga") is not None for r in records)


def _epoch_curves(e):
    """``(validation, test, name)`` of an epoch study: WGA, or worst-class accuracy."""
    if "val_wga" in e:
        return e["val_wga"], e["test_wga"], "WGA"
    return e["val_wca"], e["test_wca"], "worst-class accuracy"


def main_table(records, dataset, regime, methods):
    groups = _by(records, "dataset", "regime", "method")
    runs_here = [r for r in records if (r["dataset"], r["regime"]) == (dataset, regime)]
    metric = "WGA" if _has_groups(runs_here) else "worst-class acc."
    rows = []
    for m in methods:
        runs = groups.get((dataset, regime, m.name))
        if not runs:
            continue
        masked = [r["masked_fraction"] for r in runs if "masked_fraction" in r]
        rows.append([m.name, yes_no(m.train_groups), yes_no(m.val_groups),
                     _ms([_headline(r) for r in runs]), _ms([r["avg"] for r in runs]),
                     _ms([r["gap"] for r in runs]), _ms(masked) if masked else "-"])
    return markdown_table(
        ["method", "train groups", "val groups", metric, "Avg", "Gap", "masked %"], rows)


def class_table(records, dataset, regime, methods, class_names=None):
    """Test accuracy of every class, per method (mean +- std over seeds)."""
    groups = _by(records, "dataset", "regime", "method")
    names = class_names or {}
    present = [m for m in methods if (dataset, regime, m.name) in groups]
    if not present:
        return ""
    labels = sorted(groups[(dataset, regime, present[0].name)][0]["class_acc"], key=int)
    rows = [[m.name, *(_ms([r["class_acc"][c] for r in groups[(dataset, regime, m.name)]])
                       for c in labels)] for m in present]
    return markdown_table(["method", *(names.get(c, f"class {c}") for c in labels)], rows)


def selection_table(records, dataset, regime):
    """SFit-selected vs oracle (validation WGA, uses groups) vs last epoch."""
    rows, metric = [], "WGA"
    for (d, v, name), runs in sorted(_by(records, "dataset", "regime", "method").items()):
        if d != dataset or v != regime or "epochs" not in runs[0]:
            continue
        sel, orc, last, rho = [], [], [], []
        for r in runs:
            val, test, metric = _epoch_curves(r["epochs"])
            test, sfit = np.asarray(test), r["epochs"]["sfit"]
            sel.append(test[r["epochs"]["selected"]])
            orc.append(test[int(np.argmax(val))])
            last.append(test[-1])
            if np.ptp(sfit) > 0 and np.ptp(val) > 0:
                rho.append(spearmanr(sfit, val).statistic)
        rho_text = f"{np.mean(rho):+.2f}" if rho else "n/a (constant)"
        rows.append([name, _ms(sel), _ms(orc), _ms(last), rho_text])
    oracle = "oracle (val WGA)" if metric == "WGA" else "oracle (val worst-class acc.)"
    return markdown_table(["method", "SFit-selected", oracle, "last epoch",
                           f"rank corr. SFit vs val {metric}"], rows)


def _regime_kind(regime):
    """``"balanced"``, ``"skewed"`` or None, from a validation regime's name."""
    return next((k for k in ("balanced", "skewed") if k in regime), None)


def variants_summary(records):
    """Test WGA of every variant on every dataset x regime, its mean (over all settings,
    the balanced-validation and the skewed-validation ones), its mean and worst difference
    to ERM, and how often a guarded fit kept the reference (worst-class accuracy where a
    dataset has no group labels)."""
    columns = sorted({(r["dataset"], r["regime"]) for r in records})
    groups = _by(records, "dataset", "regime", "method")
    erm = {col: np.mean([_headline(r) for r in groups.get((*col, "ERM"), [])] or [np.nan])
           for col in columns}
    kinds = {kind: [i for i, col in enumerate(columns) if _regime_kind(col[1]) == kind]
             for kind in ("balanced", "skewed")}
    kinds = {k: v for k, v in kinds.items() if v}
    rows = []
    for name in VARIANT_TABLE:
        if not any((*col, name) in groups for col in columns):
            continue
        means = np.array([np.mean([_headline(r) for r in groups[(*col, name)]])
                          if (*col, name) in groups else np.nan for col in columns])
        diffs = np.array([m - erm[col] for m, col in zip(means, columns)])
        runs = [r for col in columns for r in groups.get((*col, name), [])]
        kept = [r["kept_reference"] for r in runs if "kept_reference" in r]
        kept_by = [f"{100 * np.mean(k):.0f}%" if k else "-" for k in (
            [r["kept_reference"] for i in idx for r in groups.get((*columns[i], name), [])
             if "kept_reference" in r] for idx in kinds.values())]
        rows.append([name, *(percent(m) for m in means), percent(np.nanmean(means)),
                     *(signed_percent(np.nanmean(diffs[idx])) for idx in kinds.values()),
                     signed_percent(np.nanmean(diffs)), signed_percent(np.nanmin(diffs)),
                     *(kept_by if kept else ["-"] * len(kinds))])
    return markdown_table(["variant", *(f"{d} / {v}" for d, v in columns), "mean",
                           *(f"{k} - ERM's" for k in kinds), "mean - ERM's",
                           "worst difference to ERM", *(f"kept reference ({k})" for k in kinds)],
                          rows)


def summary(results):
    """One line per method: test WGA per dataset x regime, and ERM's for reference."""
    records = results["records"]
    columns = sorted({(r["dataset"], r["regime"]) for r in records})
    groups = _by(records, "dataset", "regime", "method")
    no_groups = {col for col in columns
                 if not _has_groups([r for r in records if (r["dataset"], r["regime"]) == col])}
    rows = []
    for m in MAIN_METHODS:
        cells = []
        for d, v in columns:
            runs = groups.get((d, v, m.name))
            cells.append(_ms([_headline(r) for r in runs]) if runs else "-")
        if any(c != "-" for c in cells):  # DFR is left out where no store has groups
            rows.append([m.name, *cells])
    if len(no_groups) == len(columns):
        return ("Test worst-class accuracy (%), mean +- std over seeds (no group labels: WGA "
                "needs them; DFR left out)\n\n"
                + markdown_table(["method", *(f"{d} / {v}" for d, v in columns)], rows))
    table = markdown_table(["method", *(f"{d} / {v}" + (" *" if (d, v) in no_groups else "")
                                        for d, v in columns)], rows)
    note = ("\n\n* no group labels in this store: worst-class accuracy instead of WGA (WGA "
            "needs group labels); DFR left out" if no_groups else "")
    return "Test worst-group accuracy (%), mean +- std over seeds\n\n" + table + note


def _save(fig, path):
    # bbox_inches="tight" keeps the legends placed outside the axes inside the image
    fig.savefig(path, dpi=90, bbox_inches="tight")


def plot_group_bars(path, records, dataset, regime, names=None):
    """Test accuracy of every group (class x attribute) per method, mean with std over
    seeds as error bars; per class where the dataset has no group labels."""
    import matplotlib.pyplot as plt

    groups = _by(records, "dataset", "regime", "method")
    methods = [m.name for m in MAIN_METHODS if (dataset, regime, m.name) in groups]
    first = groups[(dataset, regime, methods[0])]
    key, kind = ("group_acc", "groups") if _has_groups(first) else ("class_acc", "classes")
    label_names = (names or {}).get(kind, {})
    ids = sorted(first[0][key], key=int)
    n_seeds = max(len(groups[(dataset, regime, n)]) for n in methods)
    fig, ax = plt.subplots(figsize=(1.3 * len(methods) + 2, 4.2))
    x = np.arange(len(methods))
    width = 0.8 / len(ids)
    top = 100.0
    cmap = plt.get_cmap("tab10" if len(ids) <= 10 else "tab20")
    for j, g in enumerate(ids):
        values = [100 * np.array([r[key][g] for r in groups[(dataset, regime, n)]])
                  for n in methods]
        top = max(top, *(v.mean() + v.std() for v in values))
        ax.bar(x + (j - (len(ids) - 1) / 2) * width, [v.mean() for v in values], width,
               yerr=[v.std() for v in values], capsize=2, color=cmap(j),
               error_kw={"elinewidth": 0.8, "ecolor": "black"},
               label=label_names.get(g, f"{'group' if kind == 'groups' else 'class'} {g}"))
    ax.set_xticks(x)
    ax.set_xticklabels(methods, rotation=30, ha="right")
    what = "group" if kind == "groups" else "class (no group labels)"
    ax.set(xlabel="method", ylabel="test accuracy (%)", ylim=(0, top + 5),
           title=f"{dataset} ({regime}): test accuracy per {what}, mean +- std over "
                 f"{n_seeds} seed(s)")
    ax.legend(title="group (class x attribute)" if kind == "groups" else "class",
              loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, title_fontsize=8)
    _save(fig, path)
    plt.close(fig)


def plot_epochs(path, records, dataset, regime, method="NeuronTune"):
    """SFit and the validation and test WGA over the epochs (mean +- std over seeds), and
    the epoch SFit selected in each seed."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rows = [r for r in records
            if (r["dataset"], r["regime"], r["method"]) == (dataset, regime, method)]
    if not rows or "epochs" not in rows[0]:
        return False
    curves = [_epoch_curves(r["epochs"]) for r in rows]
    metric = curves[0][2]
    n = min(len(r["epochs"]["sfit"]) for r in rows)
    val = 100 * np.array([c[0][:n] for c in curves])
    test = 100 * np.array([c[1][:n] for c in curves])
    sfit = np.array([r["epochs"]["sfit"][:n] for r in rows])
    epochs = np.arange(1, n + 1)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax2 = ax.twinx()
    handles = []
    for values, label, color, axis in (
            (val, f"validation {metric}" + (" (uses groups)" if metric == "WGA" else ""),
             "tab:blue", ax),
            (test, f"test {metric}", "tab:orange", ax), (sfit, "SFit (right axis)", "gray", ax2)):
        mean, std = values.mean(0), values.std(0)
        handles += axis.plot(epochs, mean, color=color, label=label)
        axis.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
    sel = np.array([min(r["epochs"]["selected"], n - 1) for r in rows])
    handles.append(ax.scatter(sel + 1, test[np.arange(len(rows)), sel], marker="x",
                              color="black", zorder=3, label="SFit-selected epoch (one per seed)"))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="epoch", ylabel=f"{metric} (%)",
           title=f"{dataset} ({regime}), {method}: mean +- std over {len(rows)} seed(s)")
    ax2.set_ylabel("SFit")
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2,
              fontsize=8)
    _save(fig, path)
    plt.close(fig)
    return True


def plot_dimensions(path, model, X, y, y_pred, title, class_names=None):
    """Per class, activations of correct vs misclassified samples on the three most and
    the three least biased dimensions (the paper's Figs 3-6)."""
    import matplotlib.pyplot as plt

    scores = model.spuriousness_scores_
    A = np.abs(X)
    n_features, n_classes = scores.shape
    k = max(1, min(3, n_features // 2))  # the most and the least biased stay distinct
    n_cols = k + min(k, n_features - k)
    fig, axes = plt.subplots(n_classes, n_cols, figsize=(3 * n_cols, 2.9 * n_classes),
                             squeeze=False, layout="constrained")
    handles = None
    for c in range(n_classes):
        label = model.classes_[c]
        name = (class_names or {}).get(str(label), f"class {label}")
        in_c = y == label
        wrong = in_c & (y_pred != y)
        right = in_c & (y_pred == y)
        order = np.argsort(-scores[:, c])
        dims = np.concatenate([order[:k], order[k:][::-1][:n_cols - k][::-1]])
        for j, d in enumerate(dims):
            ax = axes[c, j]
            bins = np.histogram_bin_edges(A[in_c, d], bins=30)
            h = [ax.hist(A[right, d], bins=bins, alpha=0.6, density=True, color="tab:blue",
                         label="correctly classified")[2]]
            if wrong.any():
                h.append(ax.hist(A[wrong, d], bins=bins, alpha=0.6, density=True,
                                 color="tab:orange", label="misclassified")[2])
            if handles is None or len(h) > len(handles):
                handles = h
            kind = "most" if j < k else "least"
            ax.set_title(f"{name}: dim {d} ({kind} biased)\ns = {scores[d, c]:+.3f}"
                         + ("" if wrong.any() else ", none misclassified"), fontsize=9)
            ax.set_xlabel(f"|activation| of dim {d}", fontsize=8)
            ax.set_ylabel("density", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.legend(handles=[hs[0] for hs in handles], loc="outside lower center", ncol=2)
    fig.suptitle(title)
    _save(fig, path)
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
        names = results.get("names", {}).get(dataset, {})
        here = [r for r in records if r["dataset"] == dataset]
        grouped = _has_groups(here)
        counts = "group_counts" if grouped else "class_counts"
        parts += [f"## {dataset}", "", f"Split sizes and {counts.replace('_', ' ')}: "
                  + "; ".join(f"{s} {v['rows']} {v[counts]}"
                              for s, v in results["datasets"][dataset].items()), ""]
        if grouped and names.get("groups"):
            parts += ["Groups: " + "; ".join(f"{g} = {n}" for g, n in names["groups"].items()),
                      ""]
        if not grouped:
            parts += [NO_GROUPS_NOTE, ""]
        if (out / f"{dataset}_dimensions.png").exists():
            parts += ["Activations of the reference model's correct and misclassified validation "
                      "samples on the three most and three least biased dimensions of each class:",
                      "", f"![biased and unbiased dimensions]({dataset}_dimensions.png)", ""]
        for regime in sorted({r["regime"] for r in records if r["dataset"] == dataset}):
            parts += [f"### {REGIME_NAMES.get(regime, regime)}", "",
                      main_table(records, dataset, regime, MAIN_METHODS), ""]
            if not grouped:
                parts += ["Test accuracy per class (%):", "",
                          class_table(records, dataset, regime, MAIN_METHODS,
                                      names.get("classes")), ""]
            if any(r["method"] == ABLATIONS[0].name for r in records if r["dataset"] == dataset):
                by_name = {m.name: m for m in MAIN_METHODS + ABLATIONS}
                parts += ["Ablations (paper's Tables 4 and 5: identification data, masking on "
                          "or off, mask value):", "",
                          main_table(records, dataset, regime,
                                     [by_name[n] for n in ABLATION_TABLE]), ""]
            if any(r["method"] in _VARIANT_NAMES for r in records if r["dataset"] == dataset):
                by_name = {m.name: m for m in MAIN_METHODS + VARIANTS + DIAGNOSTICS}
                parts += ["Variants beyond the paper (each option alone on the paper's "
                          "configuration, the recommended configuration, and a diagnostic that "
                          "uses group labels to explain, never to select):", "",
                          main_table(records, dataset, regime,
                                     [by_name[n] for n in VARIANT_TABLE]), ""]
            metric = "WGA" if grouped else "worst-class accuracy"
            parts += [f"Model selection (test {metric} of the epoch each criterion picks):", "",
                      selection_table(records, dataset, regime), ""]
            bars = out / f"{dataset}_{regime}_{'groups' if grouped else 'classes'}.png"
            if any((dataset, regime, m.name) in _by(records, "dataset", "regime", "method")
                   for m in MAIN_METHODS):  # a study of variants alone has no main method
                plot_group_bars(bars, records, dataset, regime, names)
                parts += [f"![per-{'group' if grouped else 'class'} accuracy]({bars.name})", ""]
            curve = out / f"{dataset}_{regime}_epochs.png"
            if plot_epochs(curve, records, dataset, regime):
                parts += [f"![SFit and {metric} over epochs]({curve.name})", ""]
    if any(r["method"] in _VARIANT_NAMES for r in records):
        parts += ["## Variants across the suite", "",
                  "Test WGA (%), mean over seeds; the last columns compare with ERM.", "",
                  variants_summary(records), ""]
    text = "\n".join(parts)
    (out / "report.md").write_text(text)
    return text
