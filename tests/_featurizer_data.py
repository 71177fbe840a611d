"""Small generated datasets and tiny random models for the featurizer tests.

Nothing here downloads: timm models are created with ``pretrained=False`` and
the BERT models from a ``BertConfig`` with a vocabulary written on the spot.
"""

import os
import subprocess
import sys

import numpy as np

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = ("the a cat dog sat on mat bird water land sea tree green blue red is was not "
         "and or it this that big small river forest eats runs flies over under").split()


def write_images(root, n, *, size=(40, 52), seed=0, n_train=None, fmt="png"):
    """``n`` random RGB images and a metadata.csv (path,label,group,split) in ``root``."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "img"), exist_ok=True)
    n_train = n * 2 // 3 if n_train is None else n_train
    lines = ["path,label,group,split"]
    for i in range(n):
        arr = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        name = f"img/{i:03d}.{fmt}"
        Image.fromarray(arr).save(os.path.join(root, name))
        lines.append(f"{name},{'cat' if i % 2 else 'dog'},{i % 3},"
                     f"{'train' if i < n_train else 'test'}")
    with open(os.path.join(root, "metadata.csv"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return root


def write_texts(root, n, *, seed=0, pairs=False):
    """``n`` random sentences (or pairs) of varied length and a metadata.csv."""
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    lines = ["text,text_pair,label,split" if pairs else "text,label,split"]
    texts = []
    for i in range(n):
        t = " ".join(rng.choice(WORDS, size=rng.integers(1, 14)))
        texts.append(t)
        p = " ".join(rng.choice(WORDS, size=rng.integers(1, 6)))
        split = "train" if i < n * 2 // 3 else "val"
        lines.append(f"{t},{p},{i % 3},{split}" if pairs else f"{t},{i % 3},{split}")
    with open(os.path.join(root, "metadata.csv"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return texts


def save_timm_checkpoint(path, name="test_resnet", num_classes=2, prefix="module.",
                         wrapper="state_dict"):
    """A random timm model saved as a training-code checkpoint; returns the model."""
    import timm
    import torch

    model = timm.create_model(name, pretrained=False, num_classes=num_classes).eval()
    sd = {prefix + k: v for k, v in model.state_dict().items()}
    torch.save({wrapper: sd, "epoch": 3} if wrapper else sd, path)
    return model


def save_tiny_bert(folder, *, classifier=False, num_labels=3):
    """A 2-layer, 32-wide BERT with its own word-piece vocabulary, saved to ``folder``."""
    from transformers import BertConfig, BertForSequenceClassification, BertModel, \
        BertTokenizerFast

    os.makedirs(folder, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS,
             *"abcdefghijklmnopqrstuvwxyz", *[f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]]
    with open(os.path.join(folder, "vocab.txt"), "w") as fh:
        fh.write("\n".join(vocab) + "\n")
    tok = BertTokenizerFast(vocab_file=os.path.join(folder, "vocab.txt"), do_lower_case=True)
    tok.save_pretrained(folder)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                     num_labels=num_labels)
    model = (BertForSequenceClassification if classifier else BertModel)(cfg).eval()
    model.save_pretrained(folder)
    return model, tok


def run_cli(args, env=None, **kw):
    """Run ``python -m featurizers ARGS`` in a subprocess from the repository root."""
    full_env = dict(os.environ, PYTHONPATH=REPO, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "featurizers", *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, **kw)
