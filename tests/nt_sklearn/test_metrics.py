"""Group metrics in the literature's conventions."""

import numpy as np
import pytest

from nt_sklearn.metrics import (
    accuracy_gap,
    group_accuracies,
    mean_accuracy,
    worst_class_accuracy,
    worst_group_accuracy,
)

# 4 groups of a Waterbirds-like test set: per-group accuracy 1.0, 0.5, 0.75, 0.0
Y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0])
PRED = np.array([0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
GROUPS = np.array([0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 0, 0])


def test_group_accuracies_and_worst_group():
    assert group_accuracies(Y, PRED, GROUPS) == {0: 1.0, 1: 0.5, 2: 0.75, 3: 0.0}
    assert worst_group_accuracy(Y, PRED, GROUPS) == 0.0


def test_three_mean_accuracy_conventions():
    assert mean_accuracy(Y, PRED) == pytest.approx(np.mean(Y == PRED))
    assert mean_accuracy(Y, PRED, GROUPS, convention="group_mean") == pytest.approx(2.25 / 4)
    train_groups = np.repeat([0, 1, 2, 3], [70, 10, 5, 15])
    expected = 0.7 * 1.0 + 0.1 * 0.5 + 0.05 * 0.75 + 0.15 * 0.0
    got = mean_accuracy(Y, PRED, GROUPS, convention="train_weighted", train_groups=train_groups)
    assert got == pytest.approx(expected)


def test_accuracy_gap_uses_the_named_convention():
    assert accuracy_gap(Y, PRED, GROUPS) == pytest.approx(np.mean(Y == PRED))
    gap = accuracy_gap(Y, PRED, GROUPS, convention="group_mean")
    assert gap == pytest.approx(2.25 / 4)


def test_worst_class_accuracy_needs_no_groups():
    # class 0: 5 of 6 right; class 1: 3 of 8 right
    assert worst_class_accuracy(Y, PRED) == pytest.approx(3 / 8)


def test_bad_input():
    with pytest.raises(ValueError, match="convention must be one of"):
        mean_accuracy(Y, PRED, GROUPS, convention="weighted")
    with pytest.raises(ValueError, match="needs train_groups"):
        mean_accuracy(Y, PRED, GROUPS, convention="train_weighted")
    with pytest.raises(ValueError, match="needs the groups"):
        mean_accuracy(Y, PRED, convention="group_mean")
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        worst_group_accuracy(Y, PRED[:-1], GROUPS)
    with pytest.raises(ValueError, match="at least one sample"):
        worst_group_accuracy([], [], [])
    with pytest.raises(ValueError, match=r"Training groups \[4\] have no test samples"):
        mean_accuracy(Y, PRED, GROUPS, convention="train_weighted", train_groups=[0, 4])


# ---- overlapping groups (WILDS' CivilComments) -------------------------------------------

MASK = np.array([GROUPS == 0, GROUPS == 1, GROUPS >= 2, (GROUPS == 1) | (GROUPS == 3)]).T


def test_a_mask_gives_every_column_its_accuracy():
    # columns 0 and 1 are the disjoint groups 0 and 1; column 2 pools 2 and 3 (4 of 8 right);
    # column 3 overlaps both 1 and 3 (1 of 6 right)
    assert group_accuracies(Y, PRED, MASK) == {0: 1.0, 1: 0.5, 2: 0.375, 3: 1 / 6}
    assert worst_group_accuracy(Y, PRED, MASK) == pytest.approx(1 / 6)
    assert mean_accuracy(Y, PRED, MASK, convention="group_mean") == pytest.approx(
        (1.0 + 0.5 + 0.375 + 1 / 6) / 4)
    assert accuracy_gap(Y, PRED, MASK) == pytest.approx(np.mean(Y == PRED) - 1 / 6)
    # the one-hot mask of disjoint groups is the same as their labels
    one_hot = GROUPS[:, None] == np.arange(4)
    assert group_accuracies(Y, PRED, one_hot) == group_accuracies(Y, PRED, GROUPS)
    assert group_accuracies(Y, PRED, one_hot.astype(int)) == group_accuracies(Y, PRED, GROUPS)


def test_a_dataframe_mask_names_its_groups_and_empty_columns_are_skipped():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"male": MASK[:, 0], "female": MASK[:, 1],
                          "muslim": np.zeros(len(Y), dtype=bool)})
    with pytest.warns(UserWarning, match=r"Groups \['muslim'\] have no sample"):
        accs = group_accuracies(Y, PRED, frame)
    assert accs == {"male": 1.0, "female": 0.5}


def test_bad_masks():
    with pytest.raises(ValueError, match="mask of overlapping groups"):
        group_accuracies(Y, PRED, np.column_stack([GROUPS, GROUPS]))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        worst_group_accuracy(Y, PRED, MASK[:-1])
    with pytest.raises(ValueError, match="needs disjoint groups"):
        mean_accuracy(Y, PRED, MASK, convention="train_weighted", train_groups=GROUPS)
