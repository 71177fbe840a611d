"""The nine-class ImageNet subsets: Backgrounds Challenge and ReBias folders.

Backgrounds Challenge (Xiao et al., 2021), ``--dataset imagenet9``: the test
release ``backgrounds_challenge_data.tar.gz`` and a training tarball
(``original.tar.gz``, ``in9l.tar.gz``, ``mixed_rand.tar.gz`` ...)::

    root/                       (test release)
      original/val/00_dog/*.JPEG ... 08_fish/
      mixed_same/val/...  mixed_rand/val/...  mixed_next/val/...
      only_fg/val/...  no_fg/val/...  only_bg_b/val/...  only_bg_t/val/...
      fg_mask/                  (ignored)
    train_root/                 (training tarball; default: root)
      original/train/00_dog/... original/val/...

ReBias' 9-Class ImageNet (Bahng et al., 2020), ``--dataset imagenet9-rebias``,
the ImageNet-9 of the NeuronTune paper: 42 classes of an ImageNet-1k copy
with wnid folders::

    root/train/n02085620/*.JPEG ...
    root/val/n02085620/*.JPEG ...      (validation images sorted into wnid folders)
"""

import logging
import os
from dataclasses import dataclass

import numpy as np

from ._files import list_class_folders, scan_folder
from ._imagenet_classes import (
    BG_CHALLENGE_CLASS_NAMES,
    BG_CHALLENGE_FOLDERS,
    BG_CHALLENGE_VARIANTS,
    REBIAS_CLASS_NAMES,
    REBIAS_WNIDS,
)
from .base import PublishedReader, make_split

__all__ = ["BackgroundsChallengeReader", "ReBiasImageNet9Reader"]

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class BackgroundsChallengeReader(PublishedReader):
    """ImageNet-9 of the Backgrounds Challenge (``--dataset imagenet9``).

    Parameters
    ----------
    root : str
        The extracted test release (holds ``original/val``, ``mixed_rand/val``
        ...).
    train_root : str or None, default=None
        The extracted training tarball; None means ``root``. Extract it
        elsewhere than the test release: both hold an ``original/val``.
    train_variant : str, default="original"
        The training set's folder: ``"original"`` (IN-9), ``"in9l"``
        (IN-9L) or another variant's training tarball.

    Notes
    -----
    Splits: ``train`` and ``val`` are ``train_root/<train_variant>/train``
    and ``.../val`` (the val images released with the training data, not
    cleaned by hand) and exist only when that folder does; ``test_<variant>``
    is ``root/<variant>/val`` for each test variant found (``test_original``
    is IN-9's clean test set, ``test_mixed_same``, ``test_mixed_rand`` ...).
    Labels are the class-folder prefixes: 0 dog, 1 bird, 2 wheeled vehicle,
    3 reptile, 4 carnivore, 5 insect, 6 musical instrument, 7 primate,
    8 fish. There are no group ids (each background variant is a split).
    Sample ids are ``<class folder>/<file name>``. The release's sizes are
    450 test images per class and variant; IN-9's training set has 5045
    per class.
    """

    train_root: str = None
    train_variant: str = "original"

    def __post_init__(self):
        super().__post_init__()
        self.name = "imagenet9"
        self.modality = "image"
        self.class_names = list(BG_CHALLENGE_CLASS_NAMES)
        self.group_names = []
        self.train_root = os.fspath(self.train_root or self.root)
        train_dir = os.path.join(self.train_root, self.train_variant)
        self._dirs = {}
        if os.path.isdir(os.path.join(train_dir, "train")):
            self._dirs["train"] = os.path.join(train_dir, "train")
            self._dirs["val"] = os.path.join(train_dir, "val")
        for variant in BG_CHALLENGE_VARIANTS:
            folder = os.path.join(self.root, variant, "val")
            if os.path.isdir(folder):
                self._dirs[f"test_{variant}"] = folder
        if not self._dirs:
            raise FileNotFoundError(
                f"no Backgrounds Challenge folders found: expected "
                f"{os.path.join(train_dir, 'train')} or <variant>/val under {self.root} "
                f"for a variant in {BG_CHALLENGE_VARIANTS}")
        if "val" in self._dirs and self._dirs["val"] == self._dirs.get("test_original"):
            logger.warning("train_root is the test release: splits 'val' and 'test_original' "
                           "both read %s; extract the training tarball elsewhere",
                           self._dirs["val"])

    def splits(self):
        """``train``, ``val`` (when found), then ``test_<variant>`` found."""
        return list(self._dirs)

    def _source(self):
        return ", ".join(sorted(set(self._dirs.values())))

    def _load(self, split):
        folder = self._dirs[split]
        present = {name for name, _, is_dir in scan_folder(folder) if is_dir} if os.path.isdir(
            folder) else set()
        unexpected = sorted(present - set(BG_CHALLENGE_FOLDERS) - {"fg_mask"})
        if unexpected:
            raise ValueError(f"unexpected class folder {unexpected[0]!r} in {folder}; "
                             f"expected {BG_CHALLENGE_FOLDERS}")
        ids, paths, y = list_class_folders(folder, BG_CHALLENGE_FOLDERS,
                                           range(len(BG_CHALLENGE_FOLDERS)), f"split {split!r}")
        return make_split(ids=ids, inputs=paths, y=y)

    def describe(self):
        out = super().describe()
        out.update(layout="Backgrounds Challenge folders", train_root=self.train_root,
                   train_variant=self.train_variant)
        return out


@dataclass(kw_only=True)
class ReBiasImageNet9Reader(PublishedReader):
    """ReBias' 9-Class ImageNet (``--dataset imagenet9-rebias``), the paper's.

    Parameters
    ----------
    root : str
        An ImageNet-1k copy with ``train/<wnid>/`` and ``val/<wnid>/``
        folders (only the 42 wnids of the subset are read).

    Notes
    -----
    Splits ``train`` and ``val`` are ImageNet-1k's, restricted to the 42
    wnids of ReBias' ``CLASS_TO_INDEX`` (see
    :mod:`featurizers.datasets._imagenet_classes`); the paper counts 54600
    and 2100 images. Labels: 0 dog, 1 cat, 2 frog, 3 turtle, 4 bird,
    5 monkey, 6 fish, 7 crab, 8 insect. No group ids. Sample ids are
    ``<wnid>/<file name>``. Evaluate on ImageNet-A with
    ``--dataset imagenet-a`` and its default ``classes="rebias"``.
    """

    def __post_init__(self):
        super().__post_init__()
        self.name = "imagenet9-rebias"
        self.modality = "image"
        self.class_names = list(REBIAS_CLASS_NAMES)
        self.group_names = []
        missing = [s for s in ("train", "val") if not os.path.isdir(os.path.join(self.root, s))]
        if len(missing) == 2:
            raise FileNotFoundError(f"ImageNet folders {os.path.join(self.root, 'train')} and "
                                    f"{os.path.join(self.root, 'val')} not found")

    def splits(self):
        """``["train", "val"]`` (those present)."""
        return [s for s in ("train", "val") if os.path.isdir(os.path.join(self.root, s))]

    def _source(self):
        return self.root

    def _load(self, split):
        wnids = sorted(REBIAS_WNIDS)
        ids, paths, y = list_class_folders(os.path.join(self.root, split), wnids,
                                           [REBIAS_WNIDS[w] for w in wnids], f"split {split!r}")
        return make_split(ids=ids, inputs=paths, y=np.asarray(y))

    def describe(self):
        out = super().describe()
        out["layout"] = "ImageNet-1k wnid folders, ReBias 9-class subset"
        return out
