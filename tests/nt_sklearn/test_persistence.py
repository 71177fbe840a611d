"""save_model / load_model: arrays and JSON, no pickle; identical predictions after a round trip."""

import json
import warnings

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from nt_sklearn import (
    AFRClassifier,
    ClassBalancedRetraining,
    DFRClassifier,
    ERMHead,
    FixedMaskClassifier,
    JTTLastLayer,
    LinearHead,
    NeuronTuneClassifier,
    RandomMaskClassifier,
    load_model,
    save_model,
)

FAST = dict(n_epochs=3, batches_per_epoch=20)


@pytest.fixture
def d(spurious_data):
    (X_tr, y_tr, _), (X_val, y_val, g_val), (X_te, _, _) = spurious_data
    names = np.array(["land", "water"])
    erm = LogisticRegression().fit(X_tr, names[y_tr])
    head = LinearHead(coef=erm.coef_, intercept=erm.intercept_, classes=erm.classes_)
    return dict(X_tr=X_tr, y_tr=names[y_tr], X_val=X_val, y_val=names[y_val], g_val=g_val,
                X_te=X_te, erm=erm, head=head)


def _estimators(d):
    return [
        (NeuronTuneClassifier(d["head"], random_state=0, **FAST), "tune"),
        (NeuronTuneClassifier(threshold="fdr", mask_scope="per_class", standardize=True,
                              random_state=0, **FAST), "tune"),
        (NeuronTuneClassifier(FrozenEstimator(d["erm"]), guard_margin="auto", **FAST), "tune"),
        (ClassBalancedRetraining(random_state=0, **FAST), None),
        (RandomMaskClassifier(d["head"], random_state=0, **FAST), "tune"),
        (FixedMaskClassifier(mask=[False, True, False, False, False], **FAST), "tune"),
        (AFRClassifier(d["erm"]), None),
        (AFRClassifier(random_state=0), None),
        (JTTLastLayer(d["erm"]), "tune"),
        (ERMHead(), None),
        (ERMHead(d["head"]), None),
        (DFRClassifier(n_subsamples=2, random_state=0), "groups"),
    ]


@pytest.mark.parametrize("index", range(12))
def test_every_estimator_round_trips_with_identical_predictions(index, d, tmp_path):
    est, how = _estimators(d)[index]
    fit = {"tune": dict(X_tune=d["X_tr"], y_tune=d["y_tr"]),
           "groups": dict(group_labels=d["g_val"]), None: {}}[how]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        est.fit(d["X_val"], d["y_val"], **fit)
    again = load_model(save_model(est, tmp_path / "model.npz"))
    assert type(again) is type(est)
    assert repr(again.get_params()) == repr(est.get_params())
    X_te = d["X_te"]
    np.testing.assert_array_equal(again.predict(X_te), est.predict(X_te))
    for method in ("predict_proba", "predict_log_proba", "decision_function"):
        if hasattr(est, method):
            np.testing.assert_array_equal(getattr(again, method)(X_te), getattr(est, method)(X_te))
    fitted = {k for k in vars(est) if k.endswith("_") and not k.startswith("_")}
    assert {k for k in vars(again) if k.endswith("_")} == fitted - {"coef_path_",
                                                                      "intercept_path_"}


def test_diagnostics_only_when_asked(d, tmp_path):
    nt = NeuronTuneClassifier(d["head"], random_state=0, **FAST)
    nt.fit(d["X_val"], d["y_val"], X_tune=d["X_tr"], y_tune=d["y_tr"])
    small = save_model(nt, tmp_path / "small.npz")
    large = save_model(nt, tmp_path / "large.npz", diagnostics=True)
    assert not hasattr(load_model(small), "coef_path_")
    np.testing.assert_array_equal(load_model(large).coef_path_, nt.coef_path_)
    assert small.stat().st_size < large.stat().st_size


def test_store_path_false_keeps_the_model_and_drops_the_path(d):
    kw = dict(random_state=0, n_rounds=2, **FAST)
    fit = dict(X_tune=d["X_tr"], y_tune=d["y_tr"])
    full = NeuronTuneClassifier(d["head"], **kw).fit(d["X_val"], d["y_val"], **fit)
    lean = NeuronTuneClassifier(d["head"], store_path=False, **kw).fit(d["X_val"], d["y_val"],
                                                                       **fit)
    assert not hasattr(lean, "coef_path_") and not hasattr(lean, "intercept_path_")
    for name in ("coef_", "intercept_", "best_epoch_", "sfit_history_", "biased_features_"):
        np.testing.assert_array_equal(getattr(lean, name), getattr(full, name), err_msg=name)
    lean.set_params(store_path=True).fit(d["X_val"], d["y_val"], **fit)
    assert lean.coef_path_.shape == full.coef_path_.shape


def test_no_pickle_is_written_or_read(d, tmp_path):
    path = save_model(ERMHead().fit(d["X_val"], d["y_val"]), tmp_path / "erm.npz")
    with np.load(path, allow_pickle=False) as f:  # would raise on an object array
        assert all(f[k].dtype != object for k in f.files)


def test_a_reference_that_needs_pickle_is_refused(d, tmp_path):
    knn = KNeighborsClassifier().fit(d["X_tr"], d["y_tr"])
    est = ERMHead(knn).fit(d["X_val"], d["y_val"])
    with pytest.raises(TypeError, match="cannot store the reference model .KNeighborsClassifier"):
        save_model(est, tmp_path / "knn.npz")
    assert not list(tmp_path.iterdir())  # nothing half-written
    with pytest.raises(TypeError, match="nt_sklearn's estimators"):
        save_model(knn, tmp_path / "knn.npz")


def _tamper(path, change):
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["__meta__"]))
    change(meta, arrays)
    arrays["__meta__"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m, a: m.update({"class": "os.system"}), "unknown estimator class 'os.system'"),
        (lambda m, a: m.update({"format": "x"}), "no nt_sklearn model header"),
        (lambda m, a: m["params"].update({"n_epochs": {"kind": "scalar", "value": "x"}}),
         "n_epochs"),
        (lambda m, a: m["params"].update({"eval": {"kind": "scalar", "value": 1}}),
         r"unknown parameters \['eval'\]"),
        (lambda m, a: m["attributes"].update({"__class__": {"kind": "scalar", "value": 1}}),
         "not a fitted attribute"),
        (lambda m, a: m["attributes"].update({"coef_": {"kind": "pickle", "value": 1}}),
         "unknown kind 'pickle'"),
        (lambda m, a: a.update({"attr.coef_": a["attr.coef_"][:, :2]}), "do not agree"),
    ],
)
def test_a_tampered_file_is_refused(change, message, d, tmp_path):
    nt = NeuronTuneClassifier(d["head"], **FAST)
    nt.fit(d["X_val"], d["y_val"], X_tune=d["X_tr"], y_tune=d["y_tr"])
    path = save_model(nt, tmp_path / "nt.npz")
    _tamper(path, change)
    with pytest.raises(ValueError, match=message):
        load_model(path)


def test_not_a_model_file(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ValueError, match="junk.npz: not a model written by save_model"):
        load_model(path)
    np.savez(tmp_path / "arrays.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="arrays.npz: not a model"):
        load_model(tmp_path / "arrays.npz")
