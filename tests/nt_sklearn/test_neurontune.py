"""NeuronTuneClassifier: the method, its options, its fitted state and bad input."""

import pickle
import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from nt_sklearn import LinearHead, NeuronTuneClassifier
from nt_sklearn._base import _split_halves
from nt_sklearn.metrics import worst_group_accuracy

FAST = dict(n_epochs=5, batches_per_epoch=50)


@pytest.fixture
def fitted(spurious_data):
    (X_tr, y_tr, _), (X_val, y_val, _), _ = spurious_data
    erm = LogisticRegression().fit(X_tr, y_tr)
    nt = NeuronTuneClassifier(erm, n_epochs=10, random_state=0)
    nt.fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr)
    return erm, nt


def test_flags_the_spurious_dimension_and_raises_test_wga(spurious_data, fitted):
    *_, (X_te, y_te, g_te) = spurious_data
    erm, nt = fitted
    assert nt.biased_features_[1]
    assert not nt.biased_features_[0]
    wga_erm = worst_group_accuracy(y_te, erm.predict(X_te), g_te)
    wga_nt = worst_group_accuracy(y_te, nt.predict(X_te), g_te)
    assert wga_nt > wga_erm + 0.10


def test_fitted_attributes(fitted):
    _, nt = fitted
    d = nt.n_features_in_
    assert nt.spuriousness_scores_.shape == (d, 2)
    assert nt.biased_features_.dtype == bool and nt.biased_features_.shape == (d,)
    np.testing.assert_array_equal(nt.biased_feature_indices_, np.flatnonzero(nt.biased_features_))
    np.testing.assert_array_equal(nt.feature_scale_, np.where(nt.biased_features_, 0.0, 1.0))
    # two classes: one row, LogisticRegression's layout, the mask folded in
    assert nt.coef_.shape == (1, d) and nt.intercept_.shape == (1,)
    assert nt.sfit_history_.shape == (10,) and nt.n_iter_ == 10
    assert nt.best_epoch_ == int(np.argmax(nt.sfit_history_))
    assert nt.head_init_ == "reference"
    assert nt.coef_path_.shape == (10, 2, d) and nt.intercept_path_.shape == (10, 2)
    best_coef, best_intercept = nt.coef_path_[nt.best_epoch_], nt.intercept_path_[nt.best_epoch_]
    np.testing.assert_array_equal(nt.coef_[0], best_coef[1] - best_coef[0])
    np.testing.assert_array_equal(nt.intercept_, [best_intercept[1] - best_intercept[0]])
    # masked features carry no weight in predictions
    np.testing.assert_array_equal(nt.coef_[:, nt.biased_features_], 0.0)
    np.testing.assert_array_equal(best_coef[:, nt.biased_features_], 0.0)


def test_predict_proba_and_decision_function_agree(spurious_data, fitted):
    *_, (X_te, _, _) = spurious_data
    _, nt = fitted
    proba = nt.predict_proba(X_te)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(nt.classes_[np.argmax(proba, axis=1)], nt.predict(X_te))
    np.testing.assert_array_equal(nt.decision_function(X_te) > 0, nt.predict(X_te) == 1)


def test_same_random_state_same_coef(spurious_data):
    (X_tr, y_tr, _), (X_val, y_val, _), _ = spurious_data
    fits = [
        NeuronTuneClassifier(random_state=3, **FAST).fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(fits[0].coef_, fits[1].coef_)
    other = NeuronTuneClassifier(random_state=4, **FAST).fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr)
    assert not np.array_equal(fits[0].coef_, other.coef_)


def test_warm_start_from_a_binary_logistic_reference(spurious_data):
    (X_tr, y_tr, _), (X_val, y_val, _), (X_te, _, _) = spurious_data
    erm = LogisticRegression().fit(X_tr, y_tr)
    # no masking and a vanishing learning rate: the head stays the reference
    nt = NeuronTuneClassifier(erm, mask_value=1.0, learning_rate=1e-12, **FAST)
    nt.fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr)
    assert nt.head_init_ == "reference"
    np.testing.assert_array_equal(nt.predict(X_te), erm.predict(X_te))
    np.testing.assert_allclose(nt.predict_proba(X_te), erm.predict_proba(X_te), atol=1e-6)


def test_linear_head_reference_with_permuted_string_classes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(601, 4))
    y = np.array(["a", "b", "c"])[np.argmax(X[:, :3], axis=1)]
    head = LinearHead(coef=np.eye(4)[[2, 0, 1], :], intercept=np.zeros(3), classes=["c", "a", "b"])
    nt = NeuronTuneClassifier(head, mask_value=1.0, learning_rate=1e-12, **FAST)
    nt.fit(X[:300], y[:300], X_tune=X[300:], y_tune=y[300:])
    np.testing.assert_array_equal(nt.classes_, ["a", "b", "c"])
    np.testing.assert_array_equal(nt.predict(X), head.predict(X))


def test_non_linear_reference_starts_from_zeros(spurious_data):
    from sklearn.neighbors import KNeighborsClassifier

    (X_tr, y_tr, _), (X_val, y_val, _), _ = spurious_data
    knn = KNeighborsClassifier().fit(X_tr, y_tr)
    nt = NeuronTuneClassifier(knn, **FAST).fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr)
    assert nt.head_init_ == "zeros"
    nt = NeuronTuneClassifier(head_init="zeros", **FAST).fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr)
    assert nt.head_init_ == "zeros"


def test_dagger_variant_splits_x_in_stratified_halves():
    y = np.repeat([0, 1, 2], [10, 7, 1])
    id_rows, tune_rows = _split_halves(y, 3, np.random.RandomState(0))
    assert np.bincount(y[id_rows]).tolist() == [5, 3, 1]
    assert np.bincount(y[tune_rows]).tolist() == [5, 4, 1]
    # disjoint except for the singleton class, which is in both halves
    assert set(id_rows) & set(tune_rows) == {17}


def test_dagger_variant_fits(spurious_data):
    _, (X_val, y_val, _), _ = spurious_data
    nt = NeuronTuneClassifier(random_state=0, **FAST).fit(X_val, y_val)
    assert nt.reference_estimator_.n_features_in_ == X_val.shape[1]
    assert nt.predict(X_val).shape == y_val.shape


def test_selection_last_and_rounds(spurious_data):
    (X_tr, y_tr, _), (X_val, y_val, _), _ = spurious_data
    last = NeuronTuneClassifier(selection="last", **FAST)
    last.fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr)
    assert last.best_epoch_ == last.n_iter_ - 1
    one = NeuronTuneClassifier(random_state=0, **FAST).fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr)
    two = NeuronTuneClassifier(n_rounds=2, random_state=0, **FAST)
    two.fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr)
    assert two.sfit_history_.shape == (10,)
    # re-identification only adds features to the mask
    assert np.all(two.biased_features_[one.biased_features_])


def test_partial_mask_value(spurious_data):
    (X_tr, y_tr, _), (X_val, y_val, _), _ = spurious_data
    nt = NeuronTuneClassifier(mask_value=0.4, **FAST).fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr)
    assert set(np.unique(nt.feature_scale_)) == {0.4, 1.0}
    np.testing.assert_array_equal(nt.feature_scale_ == 0.4, nt.biased_features_)


def test_adamw(spurious_data):
    (X_tr, y_tr, _), (X_val, y_val, _), _ = spurious_data
    nt = NeuronTuneClassifier(optimizer="adamw", **FAST).fit(X_val, y_val, X_tune=X_tr, y_tune=y_tr)
    assert nt.score(X_val, y_val) > 0.5


def test_training_reaches_blob_accuracy_without_masking():
    # Explains the poor_score tag: the trainer learns; masking is what costs accuracy.
    X, y = make_blobs(n_samples=300, random_state=0)
    X = StandardScaler().fit_transform(X)
    nt = NeuronTuneClassifier(mask_value=1.0, random_state=0).fit(X, y)
    assert nt.score(X, y) > 0.9


def test_float32_memmap_tuning_data_is_not_copied(tmp_path, spurious_data):
    rng = np.random.default_rng(0)
    n, d = 40000, 100  # 16 MB of float32
    path = tmp_path / "X_tune.npy"
    X_tune = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    X_tune[:] = rng.normal(size=(n, d)).astype(np.float32)
    X_tune.flush()
    y_tune = rng.integers(0, 2, n)
    X_tune = np.load(path, mmap_mode="r")
    X_id = rng.normal(size=(500, d)).astype(np.float32)
    y_id = rng.integers(0, 2, 500)
    head = LinearHead(coef=rng.normal(size=(2, d)), intercept=np.zeros(2), classes=[0, 1])
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        NeuronTuneClassifier(head, **FAST).fit(X_id, y_id, X_tune=X_tune, y_tune=y_tune)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < X_tune.nbytes / 4, f"peak {peak} bytes vs X_tune {X_tune.nbytes} bytes"


def test_pickle_and_clone_roundtrip(spurious_data, fitted):
    *_, (X_te, _, _) = spurious_data
    _, nt = fitted
    again = pickle.loads(pickle.dumps(nt))
    np.testing.assert_array_equal(again.predict(X_te), nt.predict(X_te))
    fresh = clone(nt)
    assert fresh.get_params()["n_epochs"] == 10 and not hasattr(fresh, "coef_")


def test_dataframe_feature_names(spurious_data):
    pd = pytest.importorskip("pandas")
    (X_tr, y_tr, _), (X_val, y_val, _), _ = spurious_data
    cols = [f"dim{i}" for i in range(X_tr.shape[1])]
    nt = NeuronTuneClassifier(**FAST).fit(
        pd.DataFrame(X_val, columns=cols),
        y_val,
        X_tune=pd.DataFrame(X_tr, columns=cols),
        y_tune=y_tr,
    )
    assert list(nt.feature_names_in_) == cols


def test_every_dimension_biased_is_never_a_silent_constant_classifier():
    # One feature on which the reference's errors have larger magnitudes
    rng = np.random.default_rng(0)
    X = rng.normal(size=(401, 1))
    y = (X[:, 0] > 0).astype(int)
    head = LinearHead(coef=[[1.0], [-1.0]], intercept=[0.0, 0.0], classes=[0, 1])  # always wrong
    with pytest.warns(UserWarning, match="least biased feature is kept unmasked"):
        nt = NeuronTuneClassifier(head, threshold=-1.0, **FAST)
        nt.fit(X[:200], y[:200], X[200:], y[200:])
    assert not nt.biased_features_.all()
    assert len(np.unique(nt.predict(X))) == 2


# ---- bad input ---------------------------------------------------------------


@pytest.fixture
def small():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.arange(60) % 2
    return X, y, rng.normal(size=(81, 3)), np.arange(81) % 2


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf(small, bad):
    X, y, X_tune, y_tune = small
    X_bad = X.copy()
    X_bad[3, 1] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        NeuronTuneClassifier(**FAST).fit(X_bad, y, X_tune=X_tune, y_tune=y_tune)
    X_tune_bad = X_tune.copy()
    X_tune_bad[0, 0] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        NeuronTuneClassifier(**FAST).fit(X, y, X_tune=X_tune_bad, y_tune=y_tune)


def test_width_mismatch(small):
    X, y, X_tune, y_tune = small
    message = "X has 2 features, but NeuronTuneClassifier is expecting 3"
    with pytest.raises(ValueError, match=message):
        NeuronTuneClassifier(**FAST).fit(X, y, X_tune=X_tune[:, :2], y_tune=y_tune)


def test_unseen_labels_either_way(small):
    X, y, X_tune, y_tune = small
    with pytest.raises(ValueError, match=r"y_tune has labels not present in y: \[7\]"):
        NeuronTuneClassifier(**FAST).fit(X, y, X_tune=X_tune, y_tune=np.where(y_tune == 1, 7, 0))
    with pytest.raises(ValueError, match=r"no sample of class\(es\) \[1\]"):
        NeuronTuneClassifier(**FAST).fit(X, y, X_tune=X_tune, y_tune=np.zeros_like(y_tune))


def test_tuning_labels_must_come_with_tuning_data(small):
    X, y, X_tune, y_tune = small
    with pytest.raises(ValueError, match="X_tune was given without y_tune"):
        NeuronTuneClassifier(**FAST).fit(X, y, X_tune=X_tune)
    with pytest.raises(ValueError, match="y_tune was given without X_tune"):
        NeuronTuneClassifier(**FAST).fit(X, y, y_tune=y_tune)
    with pytest.raises(ValueError, match="one label per row of X_tune"):
        NeuronTuneClassifier(**FAST).fit(X, y, X_tune=X_tune, y_tune=y_tune[:-1])


def test_single_class(small):
    X, y, X_tune, y_tune = small
    with pytest.raises(ValueError, match="at least 2 classes"):
        NeuronTuneClassifier(**FAST).fit(X, np.zeros_like(y))


def test_empty_and_one_dimensional(small):
    X, y, X_tune, y_tune = small
    with pytest.raises(ValueError, match="0 sample"):
        NeuronTuneClassifier(**FAST).fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="0 sample"):
        NeuronTuneClassifier(**FAST).fit(X, y, X_tune=X_tune[:0], y_tune=y_tune[:0])
    with pytest.raises(ValueError, match="Expected 2D array"):
        NeuronTuneClassifier(**FAST).fit(X[:, 0], y)


def test_tuning_set_as_long_as_x_is_refused_unless_it_is_x(small):
    X, y, X_tune, y_tune = small
    with pytest.raises(ValueError, match="cut along with the folds of X.*TuningData"):
        NeuronTuneClassifier(**FAST).fit(X, y, X_tune=X_tune[:60], y_tune=y_tune[:60])
    # identifying on the tuning data itself (the paper's Table 4 ablation) is fine
    NeuronTuneClassifier(**FAST).fit(X, y, X_tune=X.copy(), y_tune=y)


def test_reference_not_fitted_or_with_other_classes(small):
    X, y, X_tune, y_tune = small
    with pytest.raises(NotFittedError, match="FrozenEstimator"):
        NeuronTuneClassifier(LogisticRegression(), **FAST).fit(X, y, X_tune=X_tune, y_tune=y_tune)
    other = LogisticRegression().fit(X, np.arange(60) % 3)
    message = r"predicts classes \[0, 1, 2\] but y has classes \[0, 1\]"
    with pytest.raises(ValueError, match=message):
        NeuronTuneClassifier(other, **FAST).fit(X, y, X_tune=X_tune, y_tune=y_tune)
    wide = LinearHead(coef=np.ones((2, 5)), intercept=np.zeros(2), classes=[0, 1])
    with pytest.raises(ValueError, match="coef_ of width 5 but X has 3 features"):
        NeuronTuneClassifier(wide, **FAST).fit(X, y, X_tune=X_tune, y_tune=y_tune)


def test_linear_head_shape_errors():
    with pytest.raises(ValueError, match="coef of shape \\(3, n_features\\)"):
        LinearHead(coef=np.ones((2, 4)), intercept=np.zeros(2), classes=[0, 1, 2]).fit()
    with pytest.raises(ValueError, match="distinct"):
        LinearHead(coef=np.ones((2, 4)), intercept=np.zeros(2), classes=[1, 1]).fit()
