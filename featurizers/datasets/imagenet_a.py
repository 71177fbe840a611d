"""ImageNet-A (Hendrycks et al., 2021) restricted to nine super-classes.

The release ``imagenet-a.tar`` extracts to one folder per ImageNet wnid::

    root/[imagenet-a/]n01498041/*.jpg ... (200 wnid folders, README.txt)

Only the wnid folders of the chosen nine-class table are kept, each mapped
to its super-class by WordNet id.
"""

import logging
import os
from dataclasses import dataclass

from .._io import read_json
from ._files import list_class_folders, scan_folder
from ._imagenet_classes import (
    BG_CHALLENGE_CLASS_NAMES,
    IMAGENET_A_BG_CHALLENGE_WNIDS,
    REBIAS_CLASS_NAMES,
    REBIAS_WNIDS,
)
from .base import PublishedReader, make_split

__all__ = ["ImageNetAReader"]

logger = logging.getLogger(__name__)

CLASS_TABLES = {
    "rebias": (REBIAS_CLASS_NAMES, REBIAS_WNIDS),
    "bg_challenge": (BG_CHALLENGE_CLASS_NAMES, IMAGENET_A_BG_CHALLENGE_WNIDS),
}


@dataclass(kw_only=True)
class ImageNetAReader(PublishedReader):
    """ImageNet-A on nine super-classes (``--dataset imagenet-a``), split ``test``.

    Parameters
    ----------
    root : str
        The extracted ``imagenet-a`` folder, or its parent.
    classes : {"rebias", "bg_challenge"} or str, default="rebias"
        The nine-class table: ``"rebias"`` matches ``imagenet9-rebias`` (the
        paper's setting, 1087 images), ``"bg_challenge"`` matches
        ``imagenet9`` (reconstructed table, see
        :mod:`featurizers.datasets._imagenet_classes`). Any other value is
        the path of a JSON file ``{"class_names": [...], "wnids": {wnid:
        label}}``.

    Notes
    -----
    Labels are the table's (``rebias``: 0 dog, 1 cat, 2 frog, 3 turtle,
    4 bird, 5 monkey, 6 fish, 7 crab, 8 insect; ImageNet-A has no crab
    class, so label 7 never occurs). No group ids. Sample ids are
    ``<wnid>/<file name>``. Wnids of the table absent from ``root`` are
    logged; none present is an error.
    """

    classes: str = "rebias"

    def __post_init__(self):
        super().__post_init__()
        self.name = "imagenet-a"
        self.modality = "image"
        self.group_names = []
        if self.classes in CLASS_TABLES:
            names, table = CLASS_TABLES[self.classes]
        else:
            names, table = self._read_table(self.classes)
        self.class_names = list(names)
        self._table = dict(table)
        nested = os.path.join(self.root, "imagenet-a")
        self._dir = nested if os.path.isdir(nested) else self.root
        present = {name for name, _, is_dir in scan_folder(self._dir) if is_dir}
        self._wnids = sorted(set(self._table) & present)
        if not self._wnids:
            raise FileNotFoundError(
                f"no wnid folder of the {self.classes!r} table in {self._dir} "
                f"(expected e.g. {sorted(self._table)[:3]})")
        absent = sorted(set(self._table) - present)
        if absent:
            logger.info("imagenet-a: %d wnids of the %r table are not in %s: %s", len(absent),
                        self.classes, self._dir, absent)

    @staticmethod
    def _read_table(path):
        if not os.path.exists(path):
            raise FileNotFoundError(f"classes must be one of {list(CLASS_TABLES)} or a JSON "
                                    f"file; {path} not found")
        spec = read_json(path, "class table")
        for key, kind in (("class_names", list), ("wnids", dict)):
            if key not in spec:
                raise ValueError(f"key {key!r} missing from {path}")
            if not isinstance(spec[key], kind):
                raise ValueError(f"{key!r} in {path} is a {type(spec[key]).__name__}, expected "
                                 f"a JSON {'list' if kind is list else 'object'}")
        n = len(spec["class_names"])
        bad = {w: c for w, c in spec["wnids"].items() if not (isinstance(c, int) and 0 <= c < n)}
        if bad:
            raise ValueError(f"labels outside 0..{n - 1} in {path}: {bad}")
        return spec["class_names"], spec["wnids"]

    def splits(self):
        """``["test"]``."""
        return ["test"]

    def _source(self):
        return self._dir

    def _load(self, split):
        ids, paths, y = list_class_folders(self._dir, self._wnids,
                                           [self._table[w] for w in self._wnids], "imagenet-a")
        return make_split(ids=ids, inputs=paths, y=y)

    def describe(self):
        out = super().describe()
        out.update(layout="ImageNet-A wnid folders", classes=self.classes,
                   wnids=list(self._wnids))
        return out
