"""CivilComments as packaged by WILDS (Koh et al., 2021), ``civilcomments_v1.0``.

::

    root/[civilcomments_v1.0/]all_data_with_identities.csv
        columns used: comment_text, split ("train", "val", "test"),
        toxicity (float in [0, 1]), male, female, LGBTQ, christian, muslim,
        other_religions, black, white (floats in [0, 1]); id when present.

As in WILDS, a comment is toxic when ``toxicity >= 0.5`` and mentions an
identity when that identity's column is ``>= 0.5`` (an empty cell counts as
no mention).
"""

import logging
import os
from dataclasses import dataclass

import numpy as np

from ._csv import as_numbers, read_csv_columns, split_codes
from ._files import find_file
from .base import PublishedReader, make_split

__all__ = ["CivilCommentsReader", "IDENTITIES"]

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
# WILDS' CivilCommentsDataset._identity_vars, in its order.
IDENTITIES = ("male", "female", "LGBTQ", "christian", "muslim", "other_religions",
              "black", "white")
CLASS_NAMES = ("non_toxic", "toxic")


@dataclass(kw_only=True)
class CivilCommentsReader(PublishedReader):
    """CivilComments (``--dataset civilcomments``): toxicity x identity mention.

    Parameters
    ----------
    root : str
        The folder holding ``all_data_with_identities.csv``, or its parent
        (the WILDS data folder holding ``civilcomments_v1.0/``).

    Notes
    -----
    Splits are WILDS' ``train``, ``val``, ``test``. Labels: 0 non-toxic,
    1 toxic. Group ids follow the paper's four-group loader,
    ``group = 2 * y + any_identity``, where ``any_identity`` is 1 when any
    of the eight :data:`IDENTITIES` columns is ``>= 0.5``:

    ===== ========= =================
    group class     identity mention
    ===== ========= =================
    0     non_toxic none
    1     non_toxic at least one
    2     toxic     none
    3     toxic     at least one
    ===== ========= =================

    WILDS reports worst-group accuracy over 16 overlapping groups instead
    (identity x label, a comment can be in several). They are not group
    ids: :meth:`identities` gives the ``(n, 8)`` boolean mention matrix of a
    split and :meth:`wilds_group_masks` the ``(n, 16)`` masks named by
    :attr:`wilds_group_names` (column ``2 * k + y`` is identity ``k`` with
    label ``y``). Sample ids are the ``id`` column when present, else the
    row number. The paper's train sizes (Appendix A.7): 148186/90337/12731/17784.
    """

    def __post_init__(self):
        super().__post_init__()
        self.name = "civilcomments"
        self.modality = "text"
        self.class_names = list(CLASS_NAMES)
        self.group_names = [f"{c}_{m}" for c in CLASS_NAMES for m in ("no_identity", "identity")]
        self._csv = find_file(
            self.root,
            ["all_data_with_identities.csv",
             os.path.join("civilcomments_v1.0", "all_data_with_identities.csv")],
            "CivilComments (WILDS) table")
        self._table = None

    @property
    def wilds_group_names(self):
        """Names of the 16 WILDS groups, ``"<identity>_<class>"``."""
        return [f"{i}_{c}" for i in IDENTITIES for c in CLASS_NAMES]

    def _source(self):
        return self._csv

    def splits(self):
        """``["train", "val", "test"]``."""
        return list(SPLITS)

    def _read(self):
        path = self._csv
        cols = read_csv_columns(path, ["comment_text", "split", "toxicity", *IDENTITIES],
                                optional=("id",), text=("comment_text",))
        split = split_codes(cols["split"], {s: s for s in SPLITS}, path, "split")
        toxicity = as_numbers(cols["toxicity"], path, "toxicity")
        ok = (toxicity >= 0) & (toxicity <= 1)
        if not ok.all():
            raise ValueError(f"labels outside the expected range [0, 1] in column 'toxicity' "
                             f"of {path}: found {cols['toxicity'][~ok][:5].tolist()}")
        y = (toxicity >= 0.5).astype(np.int64)
        mentions = np.stack([as_numbers(cols[k], path, k) >= 0.5 for k in IDENTITIES], axis=1)
        ids = cols["id"] if "id" in cols else np.arange(len(y), dtype=np.int64)
        return ids, cols["comment_text"], y, mentions, split

    def _rows(self, split):
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} of {self.name}; splits: {list(SPLITS)}")
        if self._table is None:
            self._table = self._read()
        return self._table[-1] == split

    def _load(self, split):
        rows = self._rows(split)
        ids, texts, y, mentions, _ = self._table
        return make_split(
            ids=ids[rows],
            inputs=texts[rows].tolist(),
            y=y[rows],
            groups=2 * y[rows] + mentions[rows].any(axis=1),
        )

    def identities(self, split):
        """Identity mentions of ``split``: ndarray of shape (n, 8), bool.

        Column ``k`` is :data:`IDENTITIES` ``[k]`` ``>= 0.5``; rows in the
        order of :meth:`load`.
        """
        rows = self._rows(split)
        return self._table[3][rows]

    def wilds_group_masks(self, split):
        """WILDS' 16 evaluation groups of ``split``: ndarray (n, 16), bool.

        Column ``2 * k + c`` is true for comments that mention identity
        ``k`` and have label ``c``; see :attr:`wilds_group_names`.
        """
        mentions = self.identities(split)
        y = self._table[2][self._rows(split)]
        labels = np.stack([y == 0, y == 1], axis=1)
        return (mentions[:, :, None] & labels[:, None, :]).reshape(len(y), 2 * len(IDENTITIES))

    def describe(self):
        out = super().describe()
        out["layout"] = "WILDS civilcomments_v1.0 (all_data_with_identities.csv)"
        out["identities"] = list(IDENTITIES)
        out["wilds_group_names"] = self.wilds_group_names
        out["wilds_group_counts"] = {
            s: self.wilds_group_masks(s).sum(axis=0).tolist() for s in self.splits()}
        return out
