"""Files and folders of the published layouts: finding, checking and listing them.

Each check fails with a message that names the path missing and, for listed
files, the file that listed them; an entry that cannot be examined (a symbolic
link loop, no permission) is named with the reason.
"""

import os

import numpy as np

__all__ = [
    "IMAGE_EXTENSIONS",
    "find_file",
    "check_files_exist",
    "list_images",
    "list_class_folders",
    "scan_folder",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")


def find_file(root, candidates, what):
    """Return the first of ``root/candidate`` that exists.

    Raises
    ------
    FileNotFoundError
        Naming every path tried and ``what`` was looked for.
    """
    tried = [os.path.join(root, c) for c in candidates]
    for path in tried:
        if os.path.isdir(path):
            raise IsADirectoryError(21, f"is a folder, not the {what} file", path)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(
        f"{what} not found; expected one of: {', '.join(tried)}"
    )


def check_files_exist(root, relpaths, listed_in):
    """Check that every ``root/relpath`` exists, one directory listing each.

    Raises
    ------
    FileNotFoundError
        Naming the first missing file, how many are missing, and the file
        that listed them.
    """
    relpaths = np.asarray(relpaths, dtype=str)
    if relpaths.size == 0:
        return
    parts = np.char.rpartition(np.char.replace(relpaths, "\\", "/"), "/")
    heads, tails = parts[:, 0], parts[:, 2]
    present = np.zeros(relpaths.shape, dtype=bool)
    uniq, inverse = np.unique(heads, return_inverse=True)
    for k, head in enumerate(uniq):
        folder = os.path.join(root, head)
        try:
            with os.scandir(folder) as it:
                names = np.asarray([e.name for e in it], dtype=str)
        except (FileNotFoundError, NotADirectoryError):
            continue
        rows = inverse == k
        present[rows] = np.isin(tails[rows], names)
    if not present.all():
        first = os.path.join(root, relpaths[~present][0])
        raise FileNotFoundError(
            f"image file {first} listed in {listed_in} does not exist "
            f"({int((~present).sum())} of {relpaths.size} listed files are missing)"
        )


def scan_folder(folder):
    """``(name, is_file, is_dir)`` of each entry of ``folder`` (symbolic links followed).

    Raises
    ------
    OSError
        Naming the entry that cannot be examined (a symbolic link loop, no
        permission) and why; a broken link is neither a file nor a folder.
    """
    out = []
    with os.scandir(folder) as it:
        for e in it:
            try:
                out.append((e.name, e.is_file(), e.is_dir()))
            except OSError as exc:
                raise OSError(exc.errno, f"cannot examine it ({exc.strerror}); fix or remove it",
                              e.path) from None
    return out


def list_images(folder):
    """Sorted names of the image files directly inside ``folder``."""
    return sorted(name for name, is_file, _ in scan_folder(folder)
                  if is_file and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS)


def list_class_folders(root, folders, labels, where):
    """Rows of the images in ``root/<folder>`` for each class folder.

    Parameters
    ----------
    root : str
    folders : sequence of str
        The class folders, each one must exist.
    labels : sequence of int
        The label of each folder.
    where : str
        Names the split in error messages.

    Returns
    -------
    ids : ndarray of str
        ``folder/file`` relative to ``root``.
    paths : list of str
        Absolute paths.
    y : ndarray of int64
    """
    ids, y = [], []
    for folder, label in zip(folders, labels):
        path = os.path.join(root, folder)
        if not os.path.isdir(path):
            if os.path.islink(path):
                raise FileNotFoundError(f"class folder {path} of {where} is a symbolic link "
                                        "that does not lead to a folder (broken, or a loop)")
            raise FileNotFoundError(f"class folder {path} of {where} does not exist")
        names = list_images(path)
        ids.extend(f"{folder}/{n}" for n in names)
        y.append(np.full(len(names), label, dtype=np.int64))
    ids = np.asarray(ids, dtype=str)
    abs_root = os.path.abspath(root)
    paths = [os.path.join(abs_root, i) for i in ids]
    y = np.concatenate(y) if y else np.zeros(0, dtype=np.int64)
    return ids, paths, y
