"""nt_sklearn.plotting: per-group accuracy bars of any fitted estimator; matplotlib optional."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from nt_sklearn import NeuronTuneClassifier
from nt_sklearn.plotting import plot_group_accuracies
from tests._spurious import make_spurious

plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture
def fitted(spurious_data):
    (X, y, _), (X_v, y_v, _), (X_te, y_te, g_te) = spurious_data
    with warnings.catch_warnings():  # a two-epoch fit may warn that it is degenerate
        warnings.simplefilter("ignore", UserWarning)
        clf = NeuronTuneClassifier(n_epochs=2, random_state=0).fit(X_v, y_v, X_tune=X,
                                                                 y_tune=y)
    return clf, X_te, y_te, g_te


def test_bars_are_named_labelled_and_show_the_worst_group(fitted):
    from nt_sklearn.metrics import group_accuracies, worst_group_accuracy

    clf, X, y, g = fitted
    names = {0: "class 0, attribute 1", 1: "class 0, attribute 0", 2: "class 1, attribute 0",
             3: "class 1, attribute 1"}
    ax = plot_group_accuracies(clf, X, y, g, group_names=names)
    assert [t.get_text() for t in ax.get_xticklabels()] == [names[k] for k in range(4)]
    assert ax.get_xlabel() == "group" and ax.get_ylabel() == "accuracy (%)"
    heights = [p.get_height() for p in ax.patches]
    accs = group_accuracies(y, clf.predict(X), g)
    np.testing.assert_allclose(heights, [100 * accs[k] for k in range(4)])
    wga = 100 * worst_group_accuracy(y, clf.predict(X), g)
    assert f"worst-group accuracy {wga:.1f}%" in ax.get_title()
    assert ax.lines[0].get_ydata()[0] == pytest.approx(wga)  # the dashed line
    # every bar label (accuracy and n) lies inside the axes: nothing cut by the frame
    ax.figure.canvas.draw()
    frame = ax.get_window_extent()
    assert len(ax.texts) == 4
    assert all(t.get_window_extent().y1 <= frame.y1 for t in ax.texts)
    plt.close(ax.figure)


def test_draws_on_the_given_axes_with_sequence_or_default_names():
    rng = np.random.default_rng(0)
    X, y, g = make_spurious(300, 0.9, rng)
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression().fit(X, y)
    fig, (a, b) = plt.subplots(1, 2)
    assert plot_group_accuracies(clf, X, y, g, ax=a, group_names=list("wxyz")) is a
    assert [t.get_text() for t in a.get_xticklabels()] == list("wxyz")
    plot_group_accuracies(clf, X, y, g, ax=b)
    assert [t.get_text() for t in b.get_xticklabels()] == [f"group {k}" for k in range(4)]
    plt.close(fig)


def test_nt_sklearn_imports_without_matplotlib_and_the_function_names_it():
    code = (
        "import sys\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'matplotlib':\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Refuse())\n"
        "import numpy as np, nt_sklearn\n"
        "from nt_sklearn.plotting import plot_group_accuracies\n"
        "try:\n"
        "    plot_group_accuracies(None, np.zeros((2, 1)), [0, 1], [0, 1])\n"
        "except ImportError as e:\n"
        "    print('ERR', e)\n"
        "print('MPL', 'matplotlib' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "ERR plot_group_accuracies needs matplotlib" in out.stdout
    assert "pip install matplotlib" in out.stdout and "MPL False" in out.stdout


def test_docstring_passes_the_numpydoc_checks_of_the_package():
    from tests.nt_sklearn.test_docstrings import ENFORCED, FUNCTION_EXEMPT

    validate = pytest.importorskip("numpydoc.validate").validate
    result = validate("nt_sklearn.plotting.plot_group_accuracies")
    errors = [(c, m) for c, m in result["errors"] if c in ENFORCED and c not in FUNCTION_EXEMPT]
    assert not errors, errors
