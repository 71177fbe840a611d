"""Tiny fake datasets in the paper's published layouts, for the reproduction tests.

``write_waterbirds``: group DRO's ``metadata.csv`` and small images in CUB-style
folders, whose colour says the class and whose border says the place (the
spurious attribute, aligned with the class in most training rows).
``write_civilcomments``: WILDS' ``all_data_with_identities.csv`` with short
sentences whose words say toxicity and identity mentions.
"""

import csv
import os

import numpy as np

IDENTITIES = ("male", "female", "LGBTQ", "christian", "muslim", "other_religions",
              "black", "white")
#: rows per split; every split holds all four groups.
SPLIT_SIZES = {"train": 32, "val": 16, "test": 16}


def _groups(n, rng, aligned):
    """(y, a) with a == y in about ``aligned`` of the rows and every (y, a) present."""
    y = np.arange(n) % 2
    a = np.where(rng.random(n) < aligned, y, 1 - y)
    a[:4] = [0, 1, 0, 1]
    y[:4] = [0, 0, 1, 1]
    return y, a


def write_waterbirds(root, *, sizes=None, image_size=(24, 20), seed=0):
    """A Waterbirds-like folder (``metadata.csv`` + images); returns ``root``."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    sizes = sizes or SPLIT_SIZES
    rows, img_id = [], 0
    for code, (split, n) in enumerate(sizes.items()):
        y, place = _groups(n, rng, 0.8 if split == "train" else 0.5)
        for yi, pi in zip(y, place):
            img_id += 1
            folder = "001.Black_footed_Albatross" if yi else "002.Laysan_Albatross"
            name = f"{folder}/img_{img_id:04d}.png"
            h, w = image_size
            arr = rng.integers(0, 60, (h, w, 3)).astype(np.uint8)
            arr[:, :, 0] += np.uint8(150 * yi)  # the core feature: red birds are waterbirds
            arr[:3, :, 2] = arr[-3:, :, 2] = 255 * pi  # the place: a blue border is water
            os.makedirs(os.path.join(root, folder), exist_ok=True)
            Image.fromarray(arr).save(os.path.join(root, name))
            rows.append([img_id, name, int(yi), code, int(pi), f"places/{img_id}.jpg"])
    with open(os.path.join(root, "metadata.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["img_id", "img_filename", "y", "split", "place", "place_filename"])
        w.writerows(rows)
    return root


def write_civilcomments(root, *, sizes=None, seed=0):
    """A WILDS ``all_data_with_identities.csv`` in ``root``; returns ``root``."""
    rng = np.random.default_rng(seed)
    sizes = sizes or SPLIT_SIZES
    plain = "the a cat dog sat on mat tree green is was and it this".split()
    rows, i = [], 0
    for split, n in sizes.items():
        y, ident = _groups(n, rng, 0.8 if split == "train" else 0.5)
        for yi, mi in zip(y, ident):
            words = list(rng.choice(plain, size=rng.integers(3, 9)))
            if yi:
                words.insert(rng.integers(0, len(words)), "big red river")
            if mi:
                words.append("forest")
            identity = [0.0] * len(IDENTITIES)
            if mi:
                identity[rng.integers(0, len(IDENTITIES))] = 1.0
            tox = 0.8 if yi else 0.1
            rows.append([i, i + 1000, " ".join(words), split, tox, *identity])
            i += 1
    with open(os.path.join(root, "all_data_with_identities.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["", "id", "comment_text", "split", "toxicity", *IDENTITIES])
        w.writerows(rows)
    return root
