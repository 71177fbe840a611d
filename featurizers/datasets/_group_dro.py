"""The ``metadata.csv`` of the group DRO releases, shared by Waterbirds and CelebA.

The group DRO code (Sagawa et al., 2020) describes Waterbirds, and DFR's copy
of CelebA, with one CSV: a file name, the class ``y``, the ``split`` code and
the spurious attribute ``place``.
"""

import os

import numpy as np

from ._csv import as_labels, check_unique, read_csv_columns
from ._files import check_files_exist

__all__ = ["SPLIT_CODES", "read_group_dro_metadata"]

#: The ``split`` codes of the group DRO metadata (also CelebA's official partition).
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}


def read_group_dro_metadata(root, path, image_dirs=("",)):
    """Read a group-DRO style ``metadata.csv``: file name, y, split, place.

    The file-name column is ``img_filename`` (aliases ``image_id``,
    ``filename``); the attribute column ``place`` (alias ``a``). Labels and
    attributes must be 0/1 and splits 0/1/2.

    Parameters
    ----------
    root : str
        The folder image paths are relative to.
    path : str
        The metadata file.
    image_dirs : sequence of str
        Sub-folders of ``root`` tried, in order, for the image files; the
        first one that holds the first listed file is used.

    Returns
    -------
    dict
        ``filename`` (ndarray of str, relative to root), ``y``, ``attr``,
        ``split`` (int64 arrays).
    """
    cols = read_csv_columns(
        path, [("img_filename", "image_id", "filename"), "y", "split", ("place", "a")]
    )
    names = cols["img_filename"]
    check_unique(names, "image file", path)
    prefix = image_dirs[0]
    if names.size and len(image_dirs) > 1:
        for candidate in image_dirs:
            if os.path.exists(os.path.join(root, candidate, names[0])):
                prefix = candidate
                break
    if prefix:
        names = np.char.add(prefix.rstrip("/") + "/", names)
    check_files_exist(root, names, path)
    return {
        "filename": names,
        "y": as_labels(cols["y"], {0, 1}, path, "y"),
        "attr": as_labels(cols["place"], {0, 1}, path, "place"),
        "split": as_labels(cols["split"], set(SPLIT_CODES.values()), path, "split"),
    }
