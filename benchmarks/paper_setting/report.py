"""The report of ``python -m benchmarks.paper_setting run``: the paper's tables and the analysis."""

import json
from pathlib import Path

import numpy as np

from ..methods import build_methods
from ..reproduce import SPECS, group_table, per_group_table
from ..tables import cell, markdown_table, percent_mean_std

TITLES = {
    "image": ("Table 1 analogue: Waterbirds' layout (Fashion-MNIST Coat vs Shirt on procedural "
              "land and water), EfficientNet-Lite0 fine-tuned by ERM at 64 px"),
    "text": ("Table 2 analogue: CivilComments' layout (WordNet plant vs animal glosses x "
             "\"mentions water\"), all-MiniLM-L6-v2 fine-tuned by ERM"),
}
COMPARED = ("ERM", "NT=No (class-balanced)", "Random mask")


def counts_table(counts, group_names):
    """Group counts per split as a Markdown table."""
    rows = [[split, *c, sum(c)] for split, c in counts.items()]
    return markdown_table(["split", *group_names, "total"], rows)


def _wga(records, name):
    return [r["wga"] for r in records if r["method"] == name]


def _nt_params(dataset):
    nt = dict(SPECS[dataset]["nt"])
    nt.pop("n_epochs")
    return nt


def paper_tables(state):
    """``{analogue: (title, the paper-format table, the per-group table, results)}``."""
    out = {}
    for name, info in state["analogues"].items():
        if "results" not in info:
            continue
        results = json.loads(Path(info["results"]).read_text())
        methods = build_methods(results["config"]["nt_params"])
        out[name] = (TITLES[name],
                     group_table(info["dataset"], results["records"], methods),
                     per_group_table(results["records"], methods, results["group_names"]),
                     results)
    return out


def _f(x, digits=2):
    return "-" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def analysis_table(state):
    """Item 4: per analogue x backbone, what the mask holds and the main methods' WGA."""
    header = ["analogue / backbone", "dims", "masked", "attribute-predictive dims",
              "precision (base rate)", "recall", "core dims masked",
              "attribute AUC: masked / unmasked / random same size / all",
              "class AUC: masked / unmasked", "WGA: ERM / NT=No / random mask / NeuronTune"]
    rows = []
    for name, info in state["analogues"].items():
        ana = info.get("analysis")
        if not ana:
            continue
        results = json.loads(Path(info["results"]).read_text())
        records = {"fine-tuned": results["records"], "frozen": ana["frozen_records"]}
        for backbone in ("fine-tuned", "frozen"):
            r = ana[backbone]
            wga = " / ".join(cell(*percent_mean_std(_wga(records[backbone], m)))
                             for m in (*COMPARED, "NeuronTune"))
            aa, ca = r["attr_auc"], r["class_auc"]
            rows.append([
                f"{name} / {backbone}", r["dim"],
                f"{r['n_masked']} ({100 * r['masked_fraction']:.0f}%)",
                r["n_attribute_predictive"],
                f"{_f(r['precision'])} ({_f(r['base_rate'])})", _f(r["recall"]),
                "-" if not np.isfinite(r["core_masked"]) else f"{100 * r['core_masked']:.0f}%",
                " / ".join(_f(aa[k]) for k in ("masked", "unmasked", "random", "all")),
                " / ".join(_f(ca[k]) for k in ("masked", "unmasked")), wga])
    note = ("Probes: standardisation + logistic regression (C = 1) fitted on a random half of "
            "each class's test rows, ROC AUC on the other half (0.5 = chance). "
            "Attribute-predictive: within-class |standardised mean difference| >= 0.5 between "
            "the attribute values on the fitting half (class-predictive, 'core': the same with "
            "class and attribute swapped). Precision = masked dims that are "
            "attribute-predictive / masked dims; the base rate is what a random mask of any "
            "size gets. The mask is NeuronTune's (paper configuration, identification on val). "
            "Group labels are used here only to explain. WGA: test worst-group accuracy, mean "
            "\u00b1 std over the seeds; the frozen backbone's reference is a logistic "
            "regression on its training embeddings.")
    return markdown_table(header, rows) + "\n\n" + note


def reading(state, tables):
    """Plain sentences computed from the figures: does NeuronTune beat ERM, NT=No, random?"""
    lines = []
    for name, (_, _, _, results) in tables.items():
        nt = np.mean(_wga(results["records"], "NeuronTune"))
        parts = []
        for other in COMPARED:
            o = np.mean(_wga(results["records"], other))
            verb = "beats" if nt > o else ("ties" if nt == o else "does not beat")
            parts.append(f"{verb} {other} ({100 * nt:.1f} vs {100 * o:.1f})")
        lines.append(f"- {name} analogue, test WGA: NeuronTune " + "; ".join(parts) + ".")
    return "\n".join(lines)


def timings_table(state):
    rows = [[t["step"], f"{t['seconds']:.0f}", t["status"] if t["status"] == "ran"
             else f"cached (ran in {t['ran_in']:.0f} s)"] for t in state["timings"]]
    rows.append(["total", f"{state['seconds']:.0f}", ""])
    return markdown_table(["step", "wall s (this run)", "status"], rows)


def write(state, path):
    """Write the report to ``path`` and return its text."""
    tables = paper_tables(state)
    parts = ["# NeuronTune in the paper's own setting, offline", "",
             "`python -m benchmarks.paper_setting run`: two offline analogues in the published "
             "layouts, ERM fine-tuning, embeddings of the fine-tuned backbones, every method of "
             f"the paper's Tables 1 and 2 and the recommended configuration, {state['seeds']} "
             "seed(s); the paper's figures beside ours (\u0394 = ours - paper).", "",
             f"- machine at the start: {state['machine_start']}",
             f"- machine at the end: {state['machine_end']}", "",
             "## Wall time per step", "", timings_table(state), ""]
    for name, (title, table, per_group, results) in tables.items():
        erm = state["analogues"][name]["erm"]
        val = ", ".join(f"{100 * v:.1f}" for v in erm["val_acc"])
        parts += [f"## {title}", "",
                  f"ERM: best epoch {erm['best_epoch']} of {erm['epochs']} by validation "
                  f"accuracy (class labels only); validation accuracy per epoch (%): {val}. "
                  f"Split sizes: {results['sizes']}.", "", table, "",
                  "Our test accuracy per group (%):", "", per_group, ""]
    if any("analysis" in i for i in state["analogues"].values()):
        parts += ["## Does the mask carry the attribute? Fine-tuned vs frozen backbone", "",
                  analysis_table(state), ""]
    parts += ["## What the figures say (generated)", "", reading(state, tables), ""]
    text = "\n".join(parts)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    return text
