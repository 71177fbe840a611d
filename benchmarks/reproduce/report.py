"""The reproduction's ``report.md``: the paper's Table 1, 2 or 3 with ours beside it."""

from pathlib import Path

import numpy as np

from .. import paper_results as paper
from ..methods import build_methods
from ..tables import cell, delta, markdown_table, percent_mean_std, yes_no

NAMES = {"waterbirds": "Waterbirds", "celeba": "CelebA", "multinli": "MultiNLI",
         "civilcomments": "CivilComments", "imagenet9": "ImageNet-9 -> ImageNet-A"}


def _groups_cell(train, val):
    return f"{yes_no(train)} / {yes_no(val)}"


def _paper_match(dataset, method, by_name, used):
    """The paper's figures for one of our methods: (wga, acc, gap) cells, label, its groups."""
    p = by_name.get(paper.OURS_TO_PAPER.get(method.name, ""))
    if p is not None:
        used.add(p.method)
        return ((p.wga, p.wga_std), (p.acc, p.acc_std), (p.gap, None),
                f"{method.name} (paper: {p.method})", _groups_cell(p.train_groups, p.val_groups))
    if method.name.startswith("NT=No") and dataset in paper.TABLE4["NT=No"]:
        return (paper.TABLE4["NT=No"][dataset], (None, None), (None, None),
                f"{method.name} (paper: Table 4, NT=No)", "No / No")
    return (None, None), (None, None), (None, None), f"{method.name} (not in the paper)", "-"


def group_table(dataset, records, methods):
    """The paper's Table 1 / 2 for one dataset, ours beside the paper's; Markdown."""
    convention = paper.ACC_CONVENTION.get(dataset, "sample")
    acc_key = "avg_train_weighted" if convention == "train_weighted" else "avg"
    paper_rows = paper.paper_table(dataset)
    by_name = {r.method: r for r in paper_rows}
    rows, used = [], set()
    for m in methods:
        rs = [r for r in records if r["method"] == m.name]
        if not rs:
            continue
        wga = percent_mean_std([r["wga"] for r in rs])
        acc = percent_mean_std([r[acc_key] for r in rs])
        gap = percent_mean_std([r[acc_key] - r["wga"] for r in rs])
        pw, pa, pg, label, pgroups = _paper_match(dataset, m, by_name, used)
        rows.append([label, f"{_groups_cell(m.train_groups, m.val_groups)}; {pgroups}",
                     cell(*wga), cell(*pw), delta(wga[0], pw[0]),
                     cell(*acc), cell(*pa), delta(acc[0], pa[0]),
                     cell(*gap), cell(pg[0]), delta(gap[0], pg[0])])
    for p in paper_rows:
        if p.method not in used:
            rows.append([f"{p.method} (paper only; not run here)",
                         f"-; {_groups_cell(p.train_groups, p.val_groups)}", "-",
                         cell(p.wga, p.wga_std), "-", "-", cell(p.acc, p.acc_std), "-", "-",
                         cell(p.gap), "-"])
    header = ["Algorithm", "group labels train / val (ours; paper)", "WGA ours", "WGA paper",
              "\u0394 WGA", "Acc. ours", "Acc. paper", "\u0394 Acc.", "Gap ours", "Gap paper",
              "\u0394 Gap"]
    what = ("the test per-group accuracies weighted by the training group proportions"
            if acc_key == "avg_train_weighted" else "the plain test mean")
    note = (f"Acc.: {what} (our reading of the paper's column; `results.json` holds both "
            "conventions). Gap = Acc. - WGA. \u0394 = ours - paper, percentage points.")
    return markdown_table(header, rows) + "\n\n" + note


def per_group_table(records, methods, group_names):
    """Our test accuracy per group, mean +- std over seeds; Markdown."""
    rows = []
    for m in methods:
        rs = [r for r in records if r["method"] == m.name]
        if rs:
            rows.append([m.name, *(
                cell(*percent_mean_std([r["group_acc"].get(str(g), np.nan) for r in rs]))
                for g in range(len(group_names)))])
    return markdown_table(["method", *group_names], rows)


def ood_table(records, methods):
    """The paper's Table 3, ours beside the paper's; Markdown."""
    paper_rows = {r["method"]: r for r in paper.TABLE3["imagenet9"]}
    rows, used = [], set()
    for m in methods:
        rs = [r for r in records if r["method"] == m.name]
        if not rs:
            continue
        ins, ood, gap = (percent_mean_std([r[k] for r in rs]) for k in ("in_acc", "ood_acc", "gap"))
        p = paper_rows.get(m.name) or {"in9": None, "ina": None, "gap": None}
        used.add(m.name)
        label = m.name if m.name in paper_rows else f"{m.name} (not in the paper)"
        rows.append([label, cell(*ins), cell(p["in9"]), delta(ins[0], p["in9"]),
                     cell(*ood), cell(p["ina"]), delta(ood[0], p["ina"]),
                     cell(*gap), cell(p["gap"]), delta(gap[0], p["gap"])])
    for name, p in paper_rows.items():
        if name not in used:
            rows.append([f"{name} (paper only; not run here)", "-", cell(p["in9"]), "-", "-",
                         cell(p["ina"]), "-", "-", cell(p["gap"]), "-"])
    header = ["Method", "ImageNet-9 ours", "paper", "\u0394", "ImageNet-A ours", "paper",
              "\u0394", "Gap ours", "paper", "\u0394"]
    return markdown_table(header, rows) + (
        "\n\nAccuracies: plain means, in %. ImageNet-9 accuracy is on its validation split "
        "(the paper's only held-out split, also used to select the ERM epoch and to identify "
        "the biased dimensions). Gap = ImageNet-9 - ImageNet-A. The paper's accuracy cells "
        "marked '-' were lost in the text extraction (see benchmarks/paper_results.py).")


def write_report(results, out):
    """Write ``out/report.md`` from ``results``; return its text."""
    dataset = results["config"]["dataset"]
    methods = build_methods(results["config"]["nt_params"],
                            groups=dataset != "imagenet9")
    erm = results.get("erm") or {}
    parts = [f"# NeuronTune reproduction: {NAMES[dataset]} (the paper's Table "
             f"{paper.TABLE_OF[dataset]})", "",
             f"Ours: mean \u00b1 std over {results['config']['seeds']} seed(s); the paper: as "
             "printed (mean \u00b1 std over its 5 seeds where it gives one).", "",
             f"- ERM model: `{results['erm_checkpoint']}`"
             + (f" (best epoch {erm['best_epoch']} of {erm['epochs']}, validation accuracy "
                f"{100 * erm['best_val_acc']:.1f}%)" if erm.get("best_epoch") else ""),
             f"- embeddings: `{results['store']}` ({results['features']})",
             f"- NeuronTune: {results['config']['nt_params']}, {results['config']['n_epochs']} "
             "epoch(s); identification on `val`, tuning on `train`",
             "- split sizes: " + "; ".join(f"{s} {n}" for s, n in results["sizes"].items()),
             f"- total time {results['seconds']:.0f} s", ""]
    if dataset == "imagenet9":
        parts += ["## Table 3: ImageNet-9 -> ImageNet-A", "",
                  ood_table(results["records"], methods)]
    else:
        parts += [f"## Table {paper.TABLE_OF[dataset]}: {NAMES[dataset]}", "",
                  group_table(dataset, results["records"], methods), "",
                  "Our test accuracy per group (%):", "",
                  per_group_table(results["records"], methods, results["group_names"])]
    parts += ["", "JTT here is its last-layer form (the paper's retrains the whole model). "
              + ("Without groups DFR is not run; the paper's other Table 3 methods are not "
                 "implemented here." if dataset == "imagenet9" else
                 "DFR uses the validation split's group labels. The paper's SELF, CNC, BAM, "
                 "BPA and GEORGE are not implemented here.")]
    text = "\n".join(parts) + "\n"
    Path(out, "report.md").write_text(text)
    return text
