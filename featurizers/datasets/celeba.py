"""CelebA (Liu et al., 2015) in its official layout, Kaggle's, or DFR's.

Three layouts are read (``layout="auto"`` takes the first found, in order):

``official``: the files of the CelebA website (Google Drive)::

    root/list_attr_celeba.txt      202599 / 40 names / "000001.jpg -1  1 ..."
    root/list_eval_partition.txt   "000001.jpg 0"  (0 train, 1 val, 2 test)
    root/img_align_celeba/000001.jpg

``csv``: the Kaggle copy, also what the group DRO code reads from ``root/data``::

    root/list_attr_celeba.csv      image_id,5_o_Clock_Shadow,...   (-1/1)
    root/list_eval_partition.csv   image_id,partition
    root/img_align_celeba/[img_align_celeba/]000001.jpg

``metadata``: DFR's ``celeba_metadata.csv`` copied to ``root/metadata.csv``
(columns ``img_filename``, ``y``, ``split``, ``place``; read like Waterbirds'
metadata, with y = Blond_Hair and place = Male fixed by that file).
"""

import csv
import logging
import os
from dataclasses import dataclass

import numpy as np

from .._io import naming_file
from ._csv import as_labels, check_header, check_unique, open_csv, read_csv_columns
from ._files import check_files_exist
from ._group_dro import SPLIT_CODES, read_group_dro_metadata
from .base import PublishedReader, make_split

__all__ = ["CelebAReader"]

logger = logging.getLogger(__name__)

N_ATTRIBUTES = 40
LAYOUT_FILES = {
    "official": ("list_attr_celeba.txt", "list_eval_partition.txt"),
    "csv": ("list_attr_celeba.csv", "list_eval_partition.csv"),
    "metadata": ("metadata.csv",),
}


def _check_attributes(attr_names, attrs, attr_path):
    check_header(attr_names, attr_path)
    if len(attr_names) != N_ATTRIBUTES:
        raise ValueError(f"{attr_path}: expected {N_ATTRIBUTES} attribute names, "
                         f"found {len(attr_names)}")
    for attr in attrs:
        if attr not in attr_names:
            raise ValueError(f"attribute {attr!r} is not a column of {attr_path}; "
                             f"attributes: {attr_names}")


def _read_official(attr_path, part_path, attrs):
    """Parse the whitespace-separated official files.

    Returns file names, the values of ``attrs`` (one array each), and the
    partition file's names and values.
    """
    with naming_file(attr_path), open(attr_path, encoding="utf-8-sig") as f:
        lines = f.read().splitlines()
    if len(lines) < 2:
        raise ValueError(f"{attr_path}: expected a count line and an attribute-name line")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise ValueError(f"{attr_path}: first line should be the image count, "
                         f"found {lines[0]!r}") from None
    attr_names = lines[1].split()
    _check_attributes(attr_names, attrs, attr_path)
    body = [ln for ln in lines[2:] if ln.strip()]
    if len(body) != count:
        raise ValueError(f"{attr_path}: header announces {count} images, found {len(body)} rows")
    try:
        values = np.loadtxt(body, dtype=np.int64, usecols=range(1, N_ATTRIBUTES + 1),
                            ndmin=2, comments=None)
    except ValueError as exc:
        raise ValueError(f"{attr_path}: expected a file name and {N_ATTRIBUTES} integer "
                         f"values per line ({exc})") from None
    filenames = np.asarray([ln.split(None, 1)[0] for ln in body], dtype=str)
    columns = [values[:, attr_names.index(a)] for a in attrs]

    with naming_file(part_path), open(part_path, encoding="utf-8-sig") as f:
        parts = [ln.split() for ln in f if ln.strip()]
    bad = next((i for i, p in enumerate(parts) if len(p) != 2), None)
    if bad is not None:
        raise ValueError(f"{part_path}, line {bad + 1}: expected 'filename partition'")
    parts = np.asarray(parts, dtype=str).reshape(len(parts), 2)
    return filenames, columns, parts[:, 0], parts[:, 1]


def _read_csv(attr_path, part_path, attrs):
    """Parse the Kaggle / group DRO comma-separated copies (same returns)."""
    with open_csv(attr_path) as f:
        header = next(csv.reader(f), [])
    _check_attributes([h for h in header if h != "image_id"], attrs, attr_path)
    cols = read_csv_columns(attr_path, ["image_id", *attrs])
    part = read_csv_columns(part_path, ["image_id", "partition"])
    return cols["image_id"], [cols[a] for a in attrs], part["image_id"], part["partition"]


@dataclass(kw_only=True)
class CelebAReader(PublishedReader):
    """CelebA (``--dataset celeba``): target attribute x spurious attribute.

    Parameters
    ----------
    root : str
        The folder holding the files of one of the layouts in the module
        docstring (the group DRO layout's ``root/data`` also works as root).
    target_attribute : str, default="Blond_Hair"
        The attribute that is the class (one of the 40 of CelebA).
    spurious_attribute : str, default="Male"
        The attribute that defines the groups.
    layout : {"auto", "official", "csv", "metadata"}, default="auto"

    Notes
    -----
    Splits ``train``, ``val``, ``test`` are the official partition 0, 1, 2.
    Labels: 0 = target attribute absent (-1 in the files), 1 = present.
    Group ids, ``group = 2 * y + spurious`` (defaults shown):

    ===== ================== ================
    group class              spurious
    ===== ================== ================
    0     not_Blond_Hair     not_Male
    1     not_Blond_Hair     Male
    2     Blond_Hair         not_Male
    3     Blond_Hair         Male
    ===== ================== ================

    The ``metadata`` layout fixes the attributes to what its file holds
    (DFR's: Blond_Hair and Male), so it accepts only the defaults. Sample
    ids are the image file names. The paper's sizes (Appendix A.7): train
    71629/66874/22880/1387, val 8535/8276/2874/182, test 9767/7535/2480/180.
    """

    target_attribute: str = "Blond_Hair"
    spurious_attribute: str = "Male"
    layout: str = "auto"

    def __post_init__(self):
        super().__post_init__()
        t, s = self.target_attribute, self.spurious_attribute
        if t == s:
            raise ValueError("target_attribute and spurious_attribute must differ")
        self.name = "celeba"
        self.modality = "image"
        self.class_names = [f"not_{t}", t]
        self.group_names = [f"{c}_{a}" for c in self.class_names for a in (f"not_{s}", s)]
        self._layout, self._files = self._find_layout()
        self._table = None

    def _find_layout(self):
        if self.layout != "auto" and self.layout not in LAYOUT_FILES:
            raise ValueError(f"layout must be 'auto' or one of {list(LAYOUT_FILES)}, "
                             f"got {self.layout!r}")
        names = list(LAYOUT_FILES) if self.layout == "auto" else [self.layout]
        for layout in names:
            files = [os.path.join(self.root, f) for f in LAYOUT_FILES[layout]]
            if all(os.path.exists(f) for f in files):
                if layout == "metadata" and (self.target_attribute, self.spurious_attribute) != (
                        "Blond_Hair", "Male"):
                    raise ValueError(
                        f"{files[0]} fixes the attributes (Blond_Hair, Male); other target or "
                        "spurious attributes need list_attr_celeba.txt or .csv")
                return layout, files
            missing = [f for f in files if not os.path.exists(f)]
            if self.layout != "auto":
                raise FileNotFoundError(f"CelebA {layout} layout: {missing[0]} not found")
        expected = "; or ".join(" + ".join(v) for v in LAYOUT_FILES.values())
        raise FileNotFoundError(f"no CelebA metadata found in {self.root}: expected {expected}")

    def _source(self):
        return self._files[0]

    def splits(self):
        """``["train", "val", "test"]``."""
        return list(SPLIT_CODES)

    def _image_dir(self):
        """``img_align_celeba``, or Kaggle's doubly nested copy."""
        nested = os.path.join("img_align_celeba", "img_align_celeba")
        if os.path.isdir(os.path.join(self.root, nested)):
            return nested
        return "img_align_celeba"

    def _read(self):
        if self._layout == "metadata":
            meta = read_group_dro_metadata(
                self.root, self._files[0], image_dirs=("", "img_align_celeba"))
            return meta["filename"], meta["y"], meta["attr"], meta["split"], meta["filename"]
        attr_path, part_path = self._files
        reader = _read_official if self._layout == "official" else _read_csv
        attrs = (self.target_attribute, self.spurious_attribute)
        filenames, (y, a), part_names, part_values = reader(attr_path, part_path, attrs)
        check_unique(filenames, "image file", attr_path)
        check_unique(part_names, "image file", part_path)
        y = as_labels(y, {-1, 1}, attr_path, self.target_attribute)
        a = as_labels(a, {-1, 1}, attr_path, self.spurious_attribute)
        y, a = (y + 1) // 2, (a + 1) // 2
        # join the partition file on file names (both files list all images)
        order = np.argsort(part_names)
        pos = np.searchsorted(part_names, filenames, sorter=order)
        pos = np.minimum(pos, len(order) - 1) if len(order) else pos
        found = (part_names[order[pos]] == filenames) if len(order) else np.zeros(
            len(filenames), dtype=bool)
        if not found.all():
            raise ValueError(f"image {filenames[~found][0]} of {attr_path} has no entry in "
                             f"{part_path} ({int((~found).sum())} missing)")
        split = as_labels(part_values[order[pos]], set(SPLIT_CODES.values()), part_path,
                          "partition")
        relpaths = np.char.add(self._image_dir() + "/", filenames)
        check_files_exist(self.root, relpaths, attr_path)
        return filenames, y, a, split, relpaths

    def _load(self, split):
        if self._table is None:
            self._table = self._read()
        filenames, y, a, split_arr, relpaths = self._table
        rows = split_arr == SPLIT_CODES[split]
        root = os.path.abspath(self.root)
        return make_split(
            ids=filenames[rows],
            inputs=[os.path.join(root, p) for p in relpaths[rows]],
            y=y[rows],
            groups=2 * y[rows] + a[rows],
        )

    def describe(self):
        out = super().describe()
        out.update(layout=self._layout, target_attribute=self.target_attribute,
                   spurious_attribute=self.spurious_attribute)
        return out
