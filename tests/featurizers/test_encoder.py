"""build_encoder and the Encoder contract: both encoders, option checks, no torch on import."""

import os
import subprocess
import sys

import numpy as np
import pytest

from tests._featurizer_data import REPO, save_timm_checkpoint, save_tiny_bert


def test_import_featurizers_loads_no_heavy_module_and_names_the_extra():
    code = (
        "import sys\n"
        "for m in ('torch', 'timm', 'transformers', 'torchvision'): sys.modules[m] = None\n"
        "import featurizers, featurizers.pipeline, featurizers.cli\n"
        "from featurizers import Encoder, build_encoder\n"
        "print('CONTRACT', sorted(m for m in ('modality', 'identity', 'dim', 'head', 'align', "
        "'prepare', 'embed', 'encode') if hasattr(Encoder, m) or m in Encoder.__annotations__))\n"
        "try:\n    build_encoder('image', 'test_resnet')\n"
        "except ImportError as e:\n    print('ERR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=REPO))
    assert out.returncode == 0, out.stderr
    assert ("CONTRACT ['align', 'dim', 'embed', 'encode', 'head', 'identity', 'modality', "
            "'prepare']") in out.stdout
    assert "ERR" in out.stdout and "pip install neurontune[featurizers]" in out.stdout


def test_build_encoder_refuses_what_a_modality_does_not_take():
    from featurizers import build_encoder

    with pytest.raises(ValueError, match="modality must be one of"):
        build_encoder("audio", "m")
    with pytest.raises(ValueError, match="image encoders take no option pooling"):
        build_encoder("image", "test_resnet", pooling="mean")
    with pytest.raises(ValueError, match="text encoders take no option image_size"):
        build_encoder("text", "folder", image_size=32)
    with pytest.raises(ValueError, match="carry their weights in their folder"):
        build_encoder("text", "folder", weights="w.pth")


def test_build_encoder_builds_what_the_classes_build(tmp_path):
    pytest.importorskip("timm")
    pytest.importorskip("transformers")
    from featurizers import Encoder, build_encoder
    from featurizers.image import ImageEncoder
    from featurizers.text import TextEncoder

    save_timm_checkpoint(tmp_path / "ck.pth", num_classes=2)
    img = build_encoder("image", "test_resnet", weights=str(tmp_path / "ck.pth"), head=False,
                        preprocess="square", image_size=40, workers=0, device="cpu")
    ref = ImageEncoder("test_resnet", str(tmp_path / "ck.pth"), preprocess="square",
                       image_size=40, workers=0, device="cpu")
    assert isinstance(img, ImageEncoder) and isinstance(img, Encoder)
    assert img.head is None and ref.head is not None and img.identity == ref.identity
    assert (img.modality, img.dim, img.workers) == ("image", 96, 0)

    save_tiny_bert(tmp_path / "bert", classifier=True)
    txt = build_encoder("text", str(tmp_path / "bert"), head=False, pooling="mean",
                        normalize=True, max_length=8, chunk_batches=2)
    assert isinstance(txt, TextEncoder) and isinstance(txt, Encoder)
    assert (txt.modality, txt.pooling, txt.normalize, txt.max_length, txt.head) == (
        "text", "mean", True, 8, None)
    ref = TextEncoder(str(tmp_path / "bert"), head=False, pooling="mean", normalize=True,
                      max_length=8)
    np.testing.assert_array_equal(txt.encode(["the cat sat", "a dog"]),
                                  ref.encode(["the cat sat", "a dog"]))
