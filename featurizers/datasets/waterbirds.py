"""Waterbirds as released by the group DRO authors (Sagawa et al., 2020).

The release ``waterbird_complete95_forest2water2`` is one folder::

    root/
      metadata.csv          img_id,img_filename,y,split,place,place_filename
      001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg
      ...

``y`` is 0 (landbird) or 1 (waterbird), ``place`` 0 (land) or 1 (water),
``split`` 0 (train), 1 (val) or 2 (test); image paths are relative to root.
"""

import logging
import os
from dataclasses import dataclass

from ._files import find_file
from ._group_dro import SPLIT_CODES, read_group_dro_metadata
from .base import PublishedReader, make_split

__all__ = ["WaterbirdsReader", "read_group_dro_metadata"]

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class WaterbirdsReader(PublishedReader):
    """Waterbirds (``--dataset waterbirds``) from the group DRO release.

    Parameters
    ----------
    root : str
        The ``waterbird_complete95_forest2water2`` folder (it holds
        ``metadata.csv``).

    Notes
    -----
    Splits ``train``, ``val``, ``test`` are the release's ``split`` 0, 1, 2.
    Labels: 0 landbird, 1 waterbird. Group ids, ``group = 2 * y + place``:

    ===== ========= ==========
    group class     background
    ===== ========= ==========
    0     landbird  land
    1     landbird  water
    2     waterbird land
    3     waterbird water
    ===== ========= ==========

    Sample ids are the ``img_filename`` entries. The paper's sizes (Appendix
    A.7): train 3498/184/56/1057, val 467/466/133/133, test 2225/2225/642/642.
    """

    def __post_init__(self):
        super().__post_init__()
        self.name = "waterbirds"
        self.modality = "image"
        self.class_names = ["landbird", "waterbird"]
        self.group_names = ["landbird_land", "landbird_water", "waterbird_land", "waterbird_water"]
        self._metadata = find_file(self.root, ["metadata.csv"], "Waterbirds metadata")
        self._table = None

    def _source(self):
        return self._metadata

    def splits(self):
        """``["train", "val", "test"]``."""
        return list(SPLIT_CODES)

    def _load(self, split):
        if self._table is None:
            self._table = read_group_dro_metadata(self.root, self._metadata)
        t = self._table
        rows = t["split"] == SPLIT_CODES[split]
        root = os.path.abspath(self.root)
        ids = t["filename"][rows]
        return make_split(
            ids=ids,
            inputs=[os.path.join(root, f) for f in ids],
            y=t["y"][rows],
            groups=2 * t["y"][rows] + t["attr"][rows],
        )

    def describe(self):
        out = super().describe()
        out["layout"] = "group DRO waterbird_complete95_forest2water2 (metadata.csv)"
        return out
