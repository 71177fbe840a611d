"""Exports of a tuned head: each loaded back gives the estimator's decision function."""

import json
import os

import numpy as np
import pytest

from featurizers._atomic import atomic_path
from featurizers.export import (ExportError, check_exportable, export_head_npz,
                                export_timm_checkpoint, export_transformers_folder, head_rows)
from nt_sklearn import ClassBalancedRetraining, NeuronTuneClassifier
from tests._featurizer_data import save_timm_checkpoint, save_tiny_bert, write_texts
from tests._spurious import make_spurious


def _two_row_logits(path, X):
    with np.load(path, allow_pickle=False) as z:
        return X @ z["coef"].T + z["intercept"], z["classes"], z


@pytest.mark.filterwarnings("ignore::UserWarning")  # tiny data: all but one masked
@pytest.mark.parametrize("n_classes", [2, 3])
def test_numpy_head_reproduces_predict_and_decision_function(tmp_path, n_classes):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = np.digitize(X[:, 0], [-0.5, 0.5][: n_classes - 1]) + 10  # labels 10, 11(, 12)
    clf = NeuronTuneClassifier(n_epochs=2, random_state=0).fit(X[:100], y[:100],
                                                             X_tune=X[100:], y_tune=y[100:])
    path = export_head_npz(clf, tmp_path / "head.npz", class_names=["a", "b", "c"][:n_classes])
    logits, classes, _ = _two_row_logits(path, X)
    assert logits.shape == (300, n_classes)
    np.testing.assert_array_equal(classes[logits.argmax(1)], clf.predict(X))
    decision = logits[:, 1] - logits[:, 0] if n_classes == 2 else logits
    np.testing.assert_allclose(decision, clf.decision_function(X), rtol=1e-12, atol=1e-12)
    with np.load(path) as z:
        assert z["class_names"].tolist() == ["a", "b", "c"][:n_classes]
        masked = clf.feature_scale_ == 0
        assert masked.any() and np.all(z["coef"][:, masked] == 0)  # the mask is in the weights


def test_two_class_rows_are_zero_then_the_decision_weights():
    coef, intercept, classes = head_rows((np.array([[1.0, -2.0]]), np.array([0.5]), [0, 1]))
    np.testing.assert_array_equal(coef, [[0, 0], [1, -2]])
    np.testing.assert_array_equal(intercept, [0, 0.5])
    with pytest.raises(ExportError, match="needs coef"):
        head_rows((np.ones((2, 3)), np.zeros(3), [0, 1]))


def test_existing_files_are_refused_and_failed_writes_leave_nothing(tmp_path):
    head = (np.eye(2), np.zeros(2), np.array([0, 1]))
    path = export_head_npz(head, tmp_path / "h.npz")
    with pytest.raises(FileExistsError, match="overwrite"):
        export_head_npz(head, path)
    export_head_npz((2 * np.eye(2), np.zeros(2), np.array([0, 1])), path, overwrite=True)
    assert np.load(path)["coef"][0, 0] == 2
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(tmp_path / "new.bin") as tmp:
            open(tmp, "w").write("half")
            raise RuntimeError("boom")
    assert sorted(os.listdir(tmp_path)) == ["h.npz"]
    assert oct(os.stat(path).st_mode & 0o777) != oct(0o600)  # not a private temp file


def test_non_linear_decision_functions_are_refused():
    from sklearn.ensemble import RandomForestClassifier

    from nt_sklearn import AFRClassifier, ERMHead

    rng = np.random.default_rng(0)
    X, y, _ = make_spurious(300, 0.9, rng)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    with pytest.raises(ExportError, match="no linear head"):
        head_rows(ERMHead(forest).fit(X, y))
    with pytest.raises(ExportError, match="non-linear reference"):
        head_rows(AFRClassifier(forest).fit(X[:100], y[:100], X_tune=X[100:], y_tune=y[100:]))


# -- timm ---------------------------------------------------------------------------------

def _image_store(root, out, ckpt):
    from PIL import Image

    from featurizers import build_encoder
    from featurizers.datasets import get_reader
    from featurizers.pipeline import featurize

    rng = np.random.default_rng(0)
    os.makedirs(root / "img", exist_ok=True)
    lines = ["path,label,split"]
    for i in range(26):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(
            root / "img" / f"{i}.png")
        lines.append(f"img/{i}.png,{i % 2},{'train' if i < 12 else 'val' if i < 21 else 'test'}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    save_timm_checkpoint(ckpt, num_classes=2)
    enc = build_encoder("image", "test_resnet", weights=str(ckpt), preprocess="square",
                        image_size=24, workers=0, device="cpu")
    featurize(get_reader("csv", str(root)), enc, out, progress=False)
    return enc


@pytest.fixture(scope="module")
def image_store(tmp_path_factory):
    pytest.importorskip("timm")
    base = tmp_path_factory.mktemp("timm_export")
    enc = _image_store(base / "data", base / "store", base / "erm.pth")
    return base, enc


def test_timm_checkpoint_loads_with_create_model_and_gives_the_decision_function(image_store):
    import timm
    import torch

    from featurizers.store import load_split
    from featurizers.image import open_rgb

    base, enc = image_store
    X_v, y_v, _, _ = load_split(base / "store", "val")
    X_t, y_t, _, _ = load_split(base / "store", "train")
    clf = ClassBalancedRetraining(n_epochs=2, learning_rate=0.1, random_state=0).fit(
        X_v, y_v, X_tune=X_t, y_tune=y_t)
    path = export_timm_checkpoint(clf, base / "store", base / "out" / "nt.pth",
                                  weights=str(base / "erm.pth"))
    model = timm.create_model("test_resnet", pretrained=False, num_classes=2,
                              checkpoint_path=path).eval()
    paths = sorted(str(p) for p in (base / "data" / "img").glob("*.png"))[:6]
    x = torch.stack([enc.transform(open_rgb(p)) for p in paths])
    with torch.inference_mode():
        logits = model(x).numpy()
    expected = clf.decision_function(enc.encode(paths))
    np.testing.assert_allclose(logits[:, 1] - logits[:, 0], expected, rtol=1e-4, atol=1e-4)
    side = json.loads((base / "out" / "nt.pth.json").read_text())
    assert side["model"] == "test_resnet" and side["num_classes"] == 2
    assert side["preprocess"]["input_size"] == [3, 24, 24]


def test_timm_export_needs_the_stores_own_weights(image_store, tmp_path):
    base, _ = image_store
    head = (np.zeros((2, 96)), np.zeros(2), np.array([0, 1]))
    with pytest.raises(ExportError, match="came from the file 'erm.pth'.*--weights"):
        export_timm_checkpoint(head, base / "store", tmp_path / "a.pth")
    save_timm_checkpoint(tmp_path / "other.pth", num_classes=2)
    with pytest.raises(ExportError, match="not the store's backbone"):
        export_timm_checkpoint(head, base / "store", tmp_path / "a.pth",
                               weights=str(tmp_path / "other.pth"))
    with pytest.raises(ExportError, match="5 features wide, the store's embeddings 96"):
        export_timm_checkpoint((np.zeros((2, 5)), np.zeros(2), np.array([0, 1])),
                               base / "store", tmp_path / "a.pth", weights=str(base / "erm.pth"))
    with pytest.raises(ExportError, match="needs a store made by a text model"):
        export_transformers_folder(head, base / "store", tmp_path / "f")
    assert sorted(os.listdir(tmp_path)) == ["other.pth"]  # nothing written by the refusals


# -- transformers --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def text_stores(tmp_path_factory):
    pytest.importorskip("transformers")
    from featurizers import build_encoder
    from featurizers.datasets import get_reader
    from featurizers.pipeline import featurize

    base = tmp_path_factory.mktemp("hf_export")
    save_tiny_bert(base / "bert", classifier=True, num_labels=3)
    texts = write_texts(base / "data", 40)
    stores = {}
    for pooling in ("pooler", "cls", "mean"):
        enc = build_encoder("text", str(base / "bert"), pooling=pooling, head=pooling == "pooler",
                            max_length=16)
        featurize(get_reader("csv", str(base / "data")), enc, base / pooling, progress=False)
        stores[pooling] = enc
    return base, stores, texts


def test_transformers_folder_classifies_texts_with_the_tuned_head(text_stores):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from featurizers.store import load_split

    base, stores, texts = text_stores
    X_v, y_v, _, _ = load_split(base / "pooler", "val")
    X_t, y_t, _, _ = load_split(base / "pooler", "train")
    clf = NeuronTuneClassifier(n_epochs=2, learning_rate=0.05, random_state=0).fit(
        X_v, y_v, X_tune=X_t, y_tune=y_t)
    out = export_transformers_folder(clf, base / "pooler", base / "exported",
                                     backbone=str(base / "bert"))
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.model_max_length == 16 and model.config.id2label == {0: "0", 1: "1", 2: "2"}
    enc = tok(texts[:5], padding=True, truncation=True, return_tensors="pt")
    with torch.inference_mode():
        logits = model(**enc).logits.numpy()
    expected = clf.decision_function(stores["pooler"].encode(texts[:5]))
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)
    assert json.loads((base / "exported" / "nt_export.json").read_text())["pooling"] == "pooler"


def test_transformers_export_refuses_embeddings_the_head_does_not_read(text_stores, tmp_path):
    base, _, _ = text_stores
    head = (np.zeros((3, 32)), np.zeros(3), np.arange(3))
    with pytest.raises(ExportError, match="pooling 'mean'"):
        export_transformers_folder(head, base / "mean", tmp_path / "m",
                                   backbone=str(base / "bert"))
    # BERT's classifier reads the pooler output, not the [CLS] hidden state
    with pytest.raises(ExportError, match="does not read the store's pooling 'cls'"):
        export_transformers_folder(head, base / "cls", tmp_path / "c",
                                   backbone=str(base / "bert"))
    with pytest.raises(ExportError, match="--backbone"):
        check_exportable(base / "pooler", "transformers")
    save_tiny_bert(tmp_path / "other", classifier=True, num_labels=3)
    with pytest.raises(ExportError, match="not the store's backbone"):
        export_transformers_folder(head, base / "pooler", tmp_path / "x",
                                   backbone=str(tmp_path / "other"))
    with pytest.raises(ExportError, match="needs a store made by an image model"):
        check_exportable(base / "pooler", "timm")
    assert sorted(os.listdir(tmp_path)) == ["other"]


def test_nt_tune_exports_a_timm_checkpoint_from_the_command_line(image_store, tmp_path, capsys):
    import timm

    from featurizers.tune import main

    base, _ = image_store
    argv = [str(base / "store"), "--method", "class-balanced", "--param", "n_epochs=2",
            "--name", "cli", "--export", "timm", "--export-to", str(tmp_path / "m.pth")]
    assert main(argv) == 2  # the store was made from a file: its path is needed
    assert "--weights PATH" in capsys.readouterr().err
    assert main([*argv, "--weights", str(base / "erm.pth")]) == 0
    out = capsys.readouterr().out
    assert "reference: the store's head.npz" in out and "exported (timm)" in out
    model = timm.create_model("test_resnet", pretrained=False, num_classes=2,
                              checkpoint_path=str(tmp_path / "m.pth"))
    with np.load(base / "store" / "heads" / "cli.npz") as z:
        np.testing.assert_allclose(model.get_classifier().weight.detach().numpy(), z["coef"],
                                   rtol=1e-6, atol=1e-7)
