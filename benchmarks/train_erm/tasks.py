"""What is trained: a timm image classifier or a transformers text classifier.

A task holds the model, turns a reader's split into a torch dataset (with the
training augmentations or the evaluation transform), moves a batch to the
device, runs the forward pass and exports the best model where the
featurizers load it: ``best.pth`` (a plain state dict in timm's layout) for
images, ``best/`` (``save_pretrained``) for text.
"""

import logging
import os
import shutil

import numpy as np

from featurizers.runtime import require

logger = logging.getLogger(__name__)

#: ImageNet's normalisation, as the featurizers' 'paper' preprocessing.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def build_image_model(name, n_classes, init="none", *, trust_checkpoint=False):
    """A timm model with ``n_classes`` outputs, from scratch or from local ImageNet weights.

    ``init`` is resolved by :func:`featurizers.weights.resolve_checkpoint`, the
    resolver ``nt-featurize --weights`` uses (a file, a named offline source or
    ``"timm"``'s cached weights); the checkpoint loads strictly (whatever its
    classifier's width), then timm's ``reset_classifier`` gives a fresh classifier
    for the dataset's classes.
    """
    timm = require("timm")
    from featurizers.weights import resolve_checkpoint

    if init in (None, "none"):
        return timm.create_model(name, pretrained=False, num_classes=n_classes)
    ckpt = resolve_checkpoint(name, init, trust_pickle=trust_checkpoint,
                              option="--init-weights", what="initial weights")
    ckpt.model.reset_classifier(n_classes)
    logger.info("initial weights: %s (classifier reset to %d classes)", ckpt.path, n_classes)
    return ckpt.model


def make_task(cfg, class_names):
    """The :class:`ImageTask` or :class:`TextTask` of an :class:`ERMConfig`."""
    if cfg.modality == "image":
        return ImageTask(cfg, len(class_names), class_names)
    return TextTask(cfg, len(class_names), class_names, cfg.dataset)


class _Labelled:
    """``(items[i], label)`` pairs: items is an ``ImageFiles`` (transformed images) or texts."""

    def __init__(self, items, y):
        self.items, self.y = items, np.asarray(y)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.items[i], int(self.y[i])


class _TextCollate:
    """Tokenize a batch of texts or (premise, hypothesis) pairs (picklable for workers)."""

    def __init__(self, tokenizer, max_length):
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, batch):
        torch = require("torch")
        items, y = zip(*batch)
        if isinstance(items[0], (tuple, list)):
            enc = self.tokenizer([str(t[0]) for t in items], [str(t[1]) for t in items],
                                 padding=True, truncation=True, max_length=self.max_length,
                                 return_tensors="pt")
        else:
            enc = self.tokenizer([str(t) for t in items], padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt")
        return dict(enc), torch.as_tensor(y)


class ImageTask:
    """A timm classifier, its augmentations and its export as ``best.pth``."""

    def __init__(self, cfg, n_classes, class_names):
        T = require("torchvision.transforms")
        from featurizers.image import build_transform

        self.model = build_image_model(cfg.model, n_classes, cfg.init,
                                       trust_checkpoint=cfg.trust_checkpoint)
        self.class_names = class_names
        s = cfg.image_size
        mean, std = IMAGENET_MEAN, IMAGENET_STD
        self.train_transform = T.Compose([T.RandomResizedCrop(s), T.RandomHorizontalFlip(),
                                          T.ToTensor(), T.Normalize(mean, std)])
        if s == 224:
            self.eval_transform = build_transform(self.model, "paper")[0]
        else:
            self.eval_transform = T.Compose([
                T.Resize(round(s * 256 / 224), interpolation=T.InterpolationMode.BILINEAR),
                T.CenterCrop(s), T.ToTensor(), T.Normalize(mean, std)])
        self.collate = None

    def dataset(self, data, train):
        from featurizers.image import ImageFiles

        transform = self.train_transform if train else self.eval_transform
        return _Labelled(ImageFiles(list(data.inputs), transform), data.y)

    @staticmethod
    def to_device(x, device):
        return x.to(device, non_blocking=True)

    @staticmethod
    def forward(model, x):
        return model(x)

    def export(self, model, out):
        """Atomically write ``out/best.pth`` (plain state dict); return its path."""
        torch = require("torch")
        path = os.path.join(out, "best.pth")
        tmp = path + ".tmp"
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
        os.replace(tmp, path)
        return path

    def recover_export(self, out, checkpoint):
        """Nothing to repair: ``best.pth`` is replaced by one rename."""


class TextTask:
    """A transformers sequence classifier from a local folder; exported by save_pretrained."""

    def __init__(self, cfg, n_classes, class_names, dataset):
        tf = require("transformers")
        path = cfg.model
        if not os.path.isdir(path):
            raise FileNotFoundError(f"text model {path!r} is not a local folder (e.g. "
                                    "bert-base-uncased saved with save_pretrained; nothing is "
                                    "downloaded)")
        id2label = {i: str(n) for i, n in enumerate(class_names)}
        if cfg.quiet:
            tf.utils.logging.set_verbosity_error()
            tf.utils.logging.disable_progress_bar()
        self.model = tf.AutoModelForSequenceClassification.from_pretrained(
            path, id2label=id2label,
            label2id={v: k for k, v in id2label.items()}, local_files_only=True,
            ignore_mismatched_sizes=True)
        if self.model.config.num_labels != n_classes:
            raise ValueError(f"{path}: the classifier has {self.model.config.num_labels} "
                             f"outputs, the dataset {n_classes} classes")
        self.tokenizer = tf.AutoTokenizer.from_pretrained(path, local_files_only=True)
        from featurizers.cli import DATASET_MAX_LENGTH

        limit = min(getattr(self.model.config, "max_position_embeddings", 512) or 512, 512,
                    self.tokenizer.model_max_length or 512)
        self.max_length = min(int(cfg.max_length or DATASET_MAX_LENGTH.get(dataset, limit)),
                              limit)
        self.collate = _TextCollate(self.tokenizer, self.max_length)

    def dataset(self, data, train):
        return _Labelled(list(data.inputs), data.y)

    @staticmethod
    def to_device(enc, device):
        return {k: v.to(device, non_blocking=True) for k, v in enc.items()}

    @staticmethod
    def forward(model, enc):
        return model(**enc).logits

    def export(self, model, out):
        """Atomically replace ``out/best/`` (model and tokenizer); return its path."""
        path, tmp, old = (os.path.join(out, n) for n in ("best", "best.tmp", "best.old"))
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        self.tokenizer.save_pretrained(tmp)
        if os.path.isdir(path):
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
        return path

    def recover_export(self, out, checkpoint):
        """After a kill between the two renames of :meth:`export`, put ``best/`` back."""
        if not os.path.isdir(checkpoint or ""):
            old = os.path.join(out, "best.old")
            if os.path.isdir(old):
                os.replace(old, os.path.join(out, "best"))
