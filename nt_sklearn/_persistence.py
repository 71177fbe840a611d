"""Saving and loading fitted estimators without pickle: numpy arrays plus JSON.

One ``.npz`` file holds every array (parameters such as a ``LinearHead``'s
weights, fitted attributes such as ``coef_``) and, under the key
``__meta__``, a JSON document: the class name, the parameters, and a tagged
description of every fitted attribute. Loading uses
``np.load(allow_pickle=False)`` and ``json.loads`` only, and builds nothing
but the public estimators of nt_sklearn and a few trusted reference types,
so a file can never run code; a file with an unknown class, parameter or
attribute kind is refused.
"""

import inspect
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

__all__ = ["load_model", "save_model"]

FORMAT, VERSION = "nt_sklearn.model", 1
DIAGNOSTICS = ("coef_path_", "intercept_path_")  # left out unless asked: they can be large
_ATTRIBUTE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*_$")  # fitted attribute names
_LR_ATTRIBUTES = ("classes_", "coef_", "intercept_", "n_features_in_", "n_iter_",
                  "feature_names_in_")


def _estimator_classes():
    """The classes a file may name: nt_sklearn's public estimators."""
    import nt_sklearn
    import nt_sklearn.baselines

    found = {}
    for module in (nt_sklearn, nt_sklearn.baselines):
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and issubclass(obj, BaseEstimator):
                found[name] = obj
    return found


class _Writer:
    """Turns values into tagged JSON, moving arrays into ``self.arrays``."""

    def __init__(self):
        self.arrays = {}

    def value(self, v, key):
        if v is None or isinstance(v, (bool, str)):
            return {"kind": "scalar", "value": v}
        if isinstance(v, (np.bool_, np.integer, np.floating)):
            return {"kind": "scalar", "value": v.item()}
        if isinstance(v, (int, float)):
            return {"kind": "scalar", "value": v}
        if isinstance(v, np.ndarray):
            entry = {"kind": "array", "key": key}
            if v.dtype == object:
                if not all(isinstance(item, str) for item in v.ravel()):
                    raise TypeError(f"cannot store {key}: an object array that is not all text")
                v, entry["object"] = v.astype(str), True
            self.arrays[key] = v
            return entry
        if isinstance(v, (list, tuple)):
            items = [self.value(item, f"{key}.{i}") for i, item in enumerate(v)]
            return {"kind": "list", "items": items, "tuple": isinstance(v, tuple)}
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return {"kind": "dict", "items": {k: self.value(x, f"{key}.{k}") for k, x in v.items()}}
        if isinstance(v, BaseEstimator):
            return self.model(v, key)
        raise TypeError(f"cannot store {key} of type {type(v).__name__} without pickle")

    def model(self, m, key):
        from ._linear_head import LinearHead

        if isinstance(m, LinearHead):
            params = {k: self.value(np.asarray(v), f"{key}.{k}")
                      for k, v in m.get_params(deep=False).items()}
            return {"kind": "model", "type": "LinearHead", "params": params}
        if type(m) is LogisticRegression:
            params = {k: self.value(v, f"{key}.{k}") for k, v in m.get_params().items()}
            attributes = {k: self.value(getattr(m, k), f"{key}.{k}")
                          for k in _LR_ATTRIBUTES if hasattr(m, k)}
            return {"kind": "model", "type": "LogisticRegression", "params": params,
                    "attributes": attributes}
        if type(m).__name__ == "FrozenEstimator" and hasattr(m, "estimator"):
            return {"kind": "model", "type": "FrozenEstimator",
                    "inner": self.model(m.estimator, f"{key}.inner")}
        raise TypeError(
            f"cannot store the reference model ({type(m).__name__}) without pickle: only a "
            "LinearHead or a LogisticRegression (possibly in a FrozenEstimator) can be saved. "
            "Pass the reference as a LinearHead, or pickle the estimator if you trust "
            "every file you will load."
        )


class _Reader:
    """The inverse of :class:`_Writer`, accepting nothing else."""

    def __init__(self, arrays, path):
        self.arrays, self.path = arrays, path

    def fail(self, problem):
        raise ValueError(f"{self.path}: {problem}; not a model written by save_model.")

    def value(self, entry):
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if kind == "scalar" and (entry["value"] is None
                                 or isinstance(entry["value"], (bool, int, float, str))):
            return entry["value"]
        if kind == "array" and entry.get("key") in self.arrays:
            v = self.arrays[entry["key"]]
            return v.astype(object) if entry.get("object") else v
        if kind == "list" and isinstance(entry.get("items"), list):
            items = [self.value(item) for item in entry["items"]]
            return tuple(items) if entry.get("tuple") else items
        if kind == "dict" and isinstance(entry.get("items"), dict):
            return {k: self.value(x) for k, x in entry["items"].items()}
        if kind == "model":
            return self.model(entry)
        self.fail(f"an entry of unknown kind {kind!r}")

    def model(self, entry):
        from ._linear_head import LinearHead

        kind = entry.get("type")
        if kind == "LinearHead":
            return LinearHead(**{k: self.value(v) for k, v in entry["params"].items()})
        if kind == "LogisticRegression":
            m = LogisticRegression(**{k: self.value(v) for k, v in entry["params"].items()})
            for name, v in entry.get("attributes", {}).items():
                if name not in _LR_ATTRIBUTES:
                    self.fail(f"an unexpected LogisticRegression attribute {name!r}")
                setattr(m, name, self.value(v))
            return m
        if kind == "FrozenEstimator":
            from sklearn.frozen import FrozenEstimator

            return FrozenEstimator(self.model(entry["inner"]))
        self.fail(f"a reference model of unknown type {kind!r}")


def save_model(estimator: BaseEstimator, path: "str | os.PathLike[str]", *,
               diagnostics: bool = False) -> Path:
    """Save a fitted estimator of nt_sklearn as numpy arrays and JSON, without pickle.

    The file (``.npz``) holds the class name, the parameters, and every
    fitted attribute. The reference model is stored when it is a
    :class:`~nt_sklearn.LinearHead` or a ``LogisticRegression`` (the stand-in
    fitted when ``estimator`` is None), possibly wrapped in
    ``sklearn.frozen.FrozenEstimator``; any other reference is refused, as it
    could not be stored without pickle. The file is written to a temporary
    name and renamed, so it is never left half-written.

    Parameters
    ----------
    estimator : estimator
        A fitted estimator of nt_sklearn.
    path : str or path-like
        Where to write; the name is used as given (``.npz`` is customary).
    diagnostics : bool, default=False
        Also store ``coef_path_`` and ``intercept_path_``, every epoch's
        head, which can be far larger than the model (655 MB for 1000
        classes x 2048 features x 40 epochs).

    Returns
    -------
    path : pathlib.Path
        The file written.

    See Also
    --------
    load_model : Read the file back.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from nt_sklearn import ClassBalancedRetraining, load_model, save_model
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3)); y = (X[:, 0] > 0).astype(int)
    >>> clf = ClassBalancedRetraining(n_epochs=2, random_state=0).fit(X, y)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     again = load_model(save_model(clf, tmp + "/model.npz"))
    >>> bool(np.array_equal(again.predict(X), clf.predict(X)))
    True
    """
    classes = _estimator_classes()
    name = type(estimator).__name__
    if classes.get(name) is not type(estimator):
        raise TypeError(f"save_model saves nt_sklearn's estimators; got {name}.")
    check_is_fitted(estimator)
    writer = _Writer()
    params = estimator.get_params(deep=False)
    if isinstance(params.get("random_state"), np.random.RandomState):
        raise TypeError("cannot store random_state as a RandomState instance; set an int or None.")
    meta = {
        "format": FORMAT, "version": VERSION, "class": name,
        "params": {k: writer.value(v, f"param.{k}") for k, v in params.items()},
        "attributes": {},
    }
    for key, value in vars(estimator).items():
        if key.startswith("_") or not key.endswith("_"):
            continue
        if key in DIAGNOSTICS and not diagnostics:
            continue
        if key == "reference_estimator_" and value is params.get("estimator"):
            meta["attributes"][key] = {"kind": "same_as_estimator"}
        else:
            meta["attributes"][key] = writer.value(value, f"attr.{key}")
    writer.arrays["__meta__"] = np.array(json.dumps(meta))
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **writer.arrays)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def load_model(path: "str | os.PathLike[str]") -> BaseEstimator:
    """Load an estimator written by :func:`save_model`, without pickle.

    Only nt_sklearn's public estimators and the trusted reference types of
    :func:`save_model` are built; the arrays are read with
    ``np.load(allow_pickle=False)``. A file naming another class, holding an
    unknown parameter, attribute or entry, or invalid parameter values is
    refused with an error that names the file.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model`.

    Returns
    -------
    estimator : estimator
        The fitted estimator; it predicts exactly as the one saved.
        Diagnostics left out when saving (``coef_path_``) are absent.

    See Also
    --------
    save_model : Write the file.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from nt_sklearn import LinearHead, load_model, save_model
    >>> head = LinearHead(coef=np.eye(2), intercept=np.zeros(2), classes=["a", "b"])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     load_model(save_model(head, tmp + "/head.npz")).predict([[0.0, 1.0]]).tolist()
    ['b']
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        meta = json.loads(str(arrays.pop("__meta__")))
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path}: not a model written by save_model ({exc}).") from exc
    reader = _Reader(arrays, path)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        reader.fail("no nt_sklearn model header")
    if meta.get("version") != VERSION:
        reader.fail(f"format version {meta.get('version')!r}, this release reads {VERSION}")
    cls = _estimator_classes().get(meta.get("class"))
    if cls is None:
        reader.fail(f"an unknown estimator class {meta.get('class')!r}")
    try:
        params = {k: reader.value(v) for k, v in meta["params"].items()}
        unknown = set(params) - set(inspect.signature(cls).parameters)
        if unknown:
            reader.fail(f"unknown parameters {sorted(unknown)} of {cls.__name__}")
        estimator = cls(**params)
        if hasattr(cls, "_parameter_constraints"):
            estimator._validate_params()  # a tampered value is refused as fit would refuse it
        else:  # LinearHead validates its arrays
            estimator.fit()
        for name, entry in meta["attributes"].items():
            if not _ATTRIBUTE.match(name) or hasattr(cls, name):
                reader.fail(f"an attribute name {name!r} that is not a fitted attribute")
            same = isinstance(entry, dict) and entry.get("kind") == "same_as_estimator"
            setattr(estimator, name, estimator.estimator if same else reader.value(entry))
    except (KeyError, TypeError, AttributeError) as exc:
        reader.fail(f"a malformed entry ({exc!r})")
    _check_consistent(estimator, reader)
    return estimator


def _check_consistent(estimator, reader):
    """The shapes that predictions rely on agree with each other."""
    coef = getattr(estimator, "coef_", None)
    if coef is None or type(estimator).__name__ == "LinearHead":
        return
    classes = np.asarray(getattr(estimator, "classes_", ()))
    intercept = getattr(estimator, "intercept_", None)
    rows = 1 if len(classes) == 2 else len(classes)
    if (not isinstance(coef, np.ndarray) or coef.ndim != 2
            or coef.shape != (rows, getattr(estimator, "n_features_in_", -1))
            or np.shape(intercept) != (rows,)):
        reader.fail("coef_, intercept_, classes_ and n_features_in_ that do not agree")
