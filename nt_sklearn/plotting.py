"""Figures of fitted models; matplotlib is optional.

matplotlib is imported when a function here is called, never when
:mod:`nt_sklearn` is imported, so the estimators work without it; a missing
matplotlib raises an ImportError that names it.
"""

from collections.abc import Mapping

import numpy as np

from .metrics import group_accuracies

__all__ = ["plot_group_accuracies"]


def _pyplot(what):
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"{what} needs matplotlib, which is not installed: pip install matplotlib"
        ) from exc
    return plt


def _name(group_names, g):
    """The name of group ``g``: ``group_names[g]`` (a mapping or a sequence), else ``group g``."""
    if group_names is None:
        return f"group {g}"
    if isinstance(group_names, Mapping):
        return str(group_names.get(g, f"group {g}"))
    try:
        return str(group_names[int(g)])
    except (IndexError, TypeError, ValueError):
        return f"group {g}"


def plot_group_accuracies(estimator, X, y, groups, *, group_names=None, ax=None):
    """Plot the accuracy of a fitted estimator within every group, as bars.

    One bar per group present in ``groups``, labelled with the group's name,
    its accuracy and its number of samples; a dashed line marks the
    worst-group accuracy, which the title also gives with the plain
    accuracy. Works with any fitted classifier that has ``predict``.
    matplotlib is imported here (an ImportError names it when it is missing).

    Parameters
    ----------
    estimator : fitted classifier
        Any object with ``predict(X)``, e.g. a fitted
        :class:`~nt_sklearn.NeuronTuneClassifier`.
    X : array-like of shape (n_samples, n_features)
        Embeddings to predict.
    y : array-like of shape (n_samples,)
        True class labels of ``X``.
    groups : array-like of shape (n_samples,)
        Group label of every sample (class x spurious attribute), for
        evaluation only.
    group_names : sequence of str or dict, default=None
        Names of the groups: ``group_names[g]`` names group ``g`` (a
        sequence indexed by integer group ids, or a mapping). None: "group
        g".
    ax : matplotlib.axes.Axes, default=None
        The axes to draw on. None: a new figure sized to the number of
        groups.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes holding the bars, with labelled axes and a title.

    See Also
    --------
    nt_sklearn.metrics.group_accuracies : The accuracies the bars show.
    nt_sklearn.metrics.worst_group_accuracy : The dashed line.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from nt_sklearn.plotting import plot_group_accuracies
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> groups = 2 * y + (X[:, 1] > 0)
    >>> clf = LogisticRegression().fit(X, y)
    >>> ax = plot_group_accuracies(clf, X, y, groups,
    ...                            group_names=["neg x a0", "neg x a1", "pos x a0", "pos x a1"])
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['neg x a0', 'neg x a1', 'pos x a0', 'pos x a1']
    >>> ax.get_ylabel()
    'accuracy (%)'
    """
    plt = _pyplot("plot_group_accuracies")
    y = np.asarray(y)
    groups = np.asarray(groups)
    pred = np.asarray(estimator.predict(X))
    accs = group_accuracies(y, pred, groups)
    labels = list(accs)
    counts = dict(zip(*np.unique(groups, return_counts=True)))
    values = 100 * np.array([accs[g] for g in labels])
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(labels) + 1.5), 4),
                             layout="constrained")
    x = np.arange(len(labels))
    bars = ax.bar(x, values, color="tab:blue")
    ax.bar_label(bars, labels=[f"{v:.1f}\nn={counts[g]}" for v, g in zip(values, labels)],
                 fontsize=8, padding=2)
    worst = values.min()
    ax.axhline(worst, color="tab:red", linestyle="--", linewidth=1)
    ax.set_xticks(x)
    ax.set_xticklabels([_name(group_names, g) for g in labels], rotation=20, ha="right")
    # headroom above 100 % for the bar labels, so that none is cut by the frame
    ax.set(xlabel="group", ylabel="accuracy (%)", ylim=(0, 118),
           title=f"worst-group accuracy {worst:.1f}% (dashed), "
                 f"accuracy {100 * np.mean(pred == y):.1f}%")
    ax.set_yticks(np.arange(0, 101, 20))
    return ax
