"""What ``nt-tune`` reports: readable class and group names, the metrics of the
reference and the tuned model on a split, their table, the package versions."""

import platform

import numpy as np


def display_names(manifest, y=None, groups=None):
    """Readable names of a store's classes and groups: ``({label: name}, {group: name})``.

    Class names come from the manifest's ``dataset.class_names`` (else ``class c``).
    Group ``g`` is "CLASS x ATTRIBUTE" from the manifest's ``group_names`` when a name
    starts with its class's name; without names it follows the readers' convention
    ``g = n_attributes * class + attribute`` ("CLASS, attribute a"), when ``y`` and
    ``groups`` (where given) agree with it; else "group g".
    """
    ds = manifest.get("dataset") or {}
    cnames = [str(n) for n in ds.get("class_names") or []]
    gnames = [str(n) for n in ds.get("group_names") or []]
    labels = np.unique(y) if y is not None else np.arange(len(cnames))
    # a name that is only the label's number (a CSV's integer labels) names nothing
    classes = {int(c): cnames[int(c)] if 0 <= int(c) < len(cnames) and cnames[int(c)] != str(c)
               else f"class {int(c)}" for c in labels}
    ids = np.unique(groups) if groups is not None else np.arange(len(gnames))
    n_groups = len(gnames) or (int(ids.max()) + 1 if len(ids) else 0)
    n_classes = len(cnames) or (int(np.max(labels)) + 1 if len(labels) else 0)
    per = n_groups // n_classes if n_classes and n_groups % n_classes == 0 else 0
    if per and y is not None and groups is not None and np.any(
            np.asarray(groups) // per != np.asarray(y)):
        per = 0  # the ids do not follow the convention: no class can be read from them

    def cname(c):
        return classes.get(c) or (cnames[c] if c < len(cnames) and cnames[c] != str(c)
                                  else f"class {c}")

    out = {}
    for g in (int(i) for i in ids):
        raw = gnames[g] if g < len(gnames) else None
        c = g // per if per else None
        if raw is not None and raw != str(g):
            prefix = f"{cname(c)}_" if c is not None else None
            out[g] = (f"{cname(c)} x {raw[len(prefix):]}"
                      if prefix and raw.startswith(prefix) and len(raw) > len(prefix) else raw)
        elif c is not None:
            out[g] = f"{cname(c)}, attribute {g % per}"
        else:
            out[g] = f"group {g}"
    return classes, out


def _metrics(model, X, y, groups):
    from nt_sklearn.metrics import group_accuracies, worst_group_accuracy

    pred = model.predict(X)
    out = {"accuracy": float(np.mean(pred == y)),
           "class_accuracy": {int(k): v for k, v in group_accuracies(y, pred, y).items()}}
    out["worst_class_accuracy"] = min(out["class_accuracy"].values())
    if groups is not None:
        out["group_accuracy"] = {int(k): v for k, v in group_accuracies(y, pred, groups).items()}
        out["worst_group_accuracy"] = worst_group_accuracy(y, pred, groups)
    return out


def _table(split, n, ref, tuned, names):
    cnames, gnames = names
    rows = [("accuracy", "accuracy", None), ("worst-class accuracy", "worst_class_accuracy",
                                             None)]
    rows += [(f"  {cnames.get(c, c)}", "class_accuracy", c) for c in ref["class_accuracy"]]
    if "group_accuracy" in ref:
        rows += [("worst-group accuracy", "worst_group_accuracy", None)]
        rows += [(f"  {gnames.get(g, g)}", "group_accuracy", g) for g in ref["group_accuracy"]]
    width = max(28, *(len(r[0]) + 2 for r in rows))
    lines = [f"split {split!r} ({n} rows), accuracy in %:",
             f"  {'':<{width}}{'reference':>10}{'tuned':>10}"]
    for label, key, sub in rows:
        a, b = (m[key] if sub is None else m[key].get(sub, float("nan")) for m in (ref, tuned))
        lines.append(f"  {label:<{width}}{100 * a:>10.1f}{100 * b:>10.1f}")
    return "\n".join(lines)


def _versions():
    import importlib.metadata as md

    out = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("scikit-learn", "scipy", "neurontune", "torch", "timm", "transformers"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    import nt_sklearn

    out["nt_sklearn"] = nt_sklearn.__version__
    return out
