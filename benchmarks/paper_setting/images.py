"""The image analogue: Fashion-MNIST garments on procedural land and water, in Waterbirds' layout.

The folder is what group DRO's ``waterbird_complete95_forest2water2`` looks like to
:class:`featurizers.datasets.waterbirds.WaterbirdsReader`: ``metadata.csv`` with
``img_id, img_filename, y, split, place, place_filename`` and the images in one
folder per class. The design is the package docstring's (:mod:`benchmarks.paper_setting`).
"""

import csv
import logging
import os
from pathlib import Path

import numpy as np

from ..offline_suite import FASHION_DIR, MissingSource, read_idx
from ._cache import file_identity, read_json, write_json

logger = logging.getLogger(__name__)

#: (split code, split name, counts of groups 0..3 = 2 * y + place).
WATERBIRDS_COUNTS = {"train": (3498, 184, 56, 1057), "val": (467, 466, 133, 133),
                     "test": (800, 800, 800, 800)}
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
#: Fashion-MNIST labels of class 0 and class 1, and the class folders.
GARMENTS = ((4, "000.Coat"), (6, "001.Shirt"))
PLACES = ("land", "water")
VERSION = 1

# Per-image colours are drawn around these (RGB in [0, 1]).
LAND_COLOURS = np.array([[0.22, 0.42, 0.16], [0.45, 0.33, 0.18], [0.40, 0.42, 0.20],
                         [0.30, 0.25, 0.15], [0.55, 0.50, 0.30]])
WATER_COLOURS = np.array([[0.05, 0.20, 0.45], [0.10, 0.42, 0.55], [0.40, 0.65, 0.82],
                          [0.08, 0.30, 0.38]])


def _upsample(grid, size):
    """Bilinear upsampling of ``(n, g, g)`` grids to ``(n, size, size)``."""
    g = grid.shape[1]
    t = np.linspace(0, g - 1, size)
    i0 = np.minimum(np.floor(t).astype(int), g - 2)
    f = t - i0
    rows = grid[:, i0] * (1 - f)[None, :, None] + grid[:, i0 + 1] * f[None, :, None]
    return rows[:, :, i0] * (1 - f) + rows[:, :, i0 + 1] * f


def fractal_noise(n, size, rng, octaves=(3, 6, 12, 24)):
    """``(n, size, size)`` value noise in [0, 1], octaves weighted 1/2^k."""
    total = np.zeros((n, size, size))
    for k, g in enumerate(octaves):
        total += _upsample(rng.random((n, g + 1, g + 1)), size) / 2 ** k
    lo, hi = total.min(axis=(1, 2), keepdims=True), total.max(axis=(1, 2), keepdims=True)
    return (total - lo) / np.maximum(hi - lo, 1e-9)


def _two_colours(palette, n, rng):
    pick = rng.integers(0, len(palette), (n, 2))
    c = palette[pick] + rng.uniform(-0.08, 0.08, (n, 2, 3))
    return np.clip(c, 0, 1)


def backgrounds(place, n, size, rng):
    """``(n, size, size, 3)`` float backgrounds of one family: 0 land, 1 water."""
    noise = fractal_noise(n, size, rng)
    if place == 0:
        t = noise
        c = _two_colours(LAND_COLOURS, n, rng)
    else:
        y = np.arange(size)[None, :, None] / size
        freq = rng.uniform(3, 7, (n, 1, 1))
        phase = rng.uniform(0, 1, (n, 1, 1))
        t = 0.5 + 0.5 * np.sin(2 * np.pi * (freq * y + phase) + 3.0 * noise)
        c = _two_colours(WATER_COLOURS, n, rng)
    return c[:, None, None, 0] * (1 - t[..., None]) + c[:, None, None, 1] * t[..., None]


def composite(background, garment, scale, offset):
    """Paste a 28 x 28 uint8 garment, resized to ``scale`` px, at ``offset`` (row, col)."""
    from PIL import Image

    g = np.asarray(Image.fromarray(garment).resize((scale, scale), Image.BILINEAR)) / 255.0
    alpha = np.clip(g / 0.1, 0, 1)[..., None]  # the silhouette: every inked pixel
    grey = (0.1 + 0.9 * g)[..., None]
    out = background.copy()
    r, c = offset
    patch = out[r:r + scale, c:c + scale]
    out[r:r + scale, c:c + scale] = alpha * grey + (1 - alpha) * patch
    return (255 * np.clip(out, 0, 1) + 0.5).astype(np.uint8)


def _fashion():
    """All 70,000 Fashion-MNIST images and labels (train then test file)."""
    files = [FASHION_DIR / f"{p}-{k}-idx{d}-ubyte.gz" for p in ("train", "t10k")
             for k, d in (("images", 3), ("labels", 1))]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise MissingSource(f"Fashion-MNIST not found ({missing[0]}): "
                            "apt-get install dataset-fashion-mnist")
    images = np.concatenate([read_idx(files[0]), read_idx(files[2])])
    labels = np.concatenate([read_idx(files[1]), read_idx(files[3])])
    return images, labels, files


def build_images(out_dir, *, counts=None, size=64, seed=0, scale=None):
    """Write the image analogue into ``out_dir`` (skipped when already built alike).

    ``scale``: the garments' size range in px (default 36-48 at 64 px, in proportion
    otherwise). Returns the build record (counts per split and group, the key, the
    sources).
    """
    out = Path(out_dir)
    scale = scale or (round(size * 36 / 64), round(size * 48 / 64))
    counts = {s: tuple(int(v) for v in c) for s, c in (counts or WATERBIRDS_COUNTS).items()}
    images, labels, files = _fashion()
    key = {"kind": "waterbirds-analogue", "version": VERSION, "counts": counts, "size": size,
           "seed": seed, "scale": list(scale), "sources": [file_identity(f) for f in files]}
    record_path = out / "build.json"
    if (out / "metadata.csv").exists() and (read_json(record_path) or {}).get("key") == key:
        return read_json(record_path)
    rng = np.random.default_rng(seed)
    pools = [rng.permutation(np.flatnonzero(labels == lab)) for lab, _ in GARMENTS]
    need = [sum(c[2 * y] + c[2 * y + 1] for c in counts.values()) for y in (0, 1)]
    for y, (pool, n) in enumerate(zip(pools, need)):
        if n > len(pool):
            raise ValueError(f"class {y} needs {n} garments, Fashion-MNIST has {len(pool)}")
    used = [0, 0]
    rows, img_id = [], 0
    for split, group_counts in counts.items():
        for group, n in enumerate(group_counts):
            y, place = divmod(group, 2)
            idx = pools[y][used[y]:used[y] + n]
            used[y] += n
            bgs = backgrounds(place, n, size, rng)
            scales = rng.integers(scale[0], scale[1] + 1, n)
            offsets = rng.random((n, 2))
            folder = GARMENTS[y][1]
            (out / folder).mkdir(parents=True, exist_ok=True)
            for k in range(n):  # writing files, one image each
                s = int(scales[k])
                off = tuple((offsets[k] * (size - s + 1)).astype(int))
                img = composite(bgs[k], images[idx[k]], s, off)
                img_id += 1
                name = f"{folder}/{split}_g{group}_{k:05d}.png"
                _save_png(img, out / name)
                rows.append([img_id, name, y, SPLIT_CODES[split], place,
                             f"procedural/{PLACES[place]}/{split}_g{group}_{k:05d}"])
    tmp = out / "metadata.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["img_id", "img_filename", "y", "split", "place", "place_filename"])
        w.writerows(rows)
    os.replace(tmp, out / "metadata.csv")  # last: its presence means the images are complete
    record = {"key": key, "counts": counts, "rows": len(rows)}
    (out / "README.md").write_text(readme(counts, size, scale))
    write_json(record_path, record)
    logger.info("image analogue: %d images in %s", len(rows), out)
    return record


def _save_png(img, path):
    from PIL import Image

    Image.fromarray(img).save(path, optimize=False)


def readme(counts, size, scale):
    """The README written beside the images: source, licence, design, group counts."""
    from .report import counts_table

    return f"""# Waterbirds analogue (generated by `python -m benchmarks.paper_setting build`)

Laid out as group DRO's `waterbird_complete95_forest2water2`: read it with
`--dataset waterbirds --root THIS_FOLDER` (the unchanged Waterbirds reader).

- Foregrounds: **Fashion-MNIST** (Zalando SE, 2017; Debian package
  `dataset-fashion-mnist`, files under {FASHION_DIR}), licence **MIT** (Expat; see
  /usr/share/doc/dataset-fashion-mnist/copyright). Class `y = 0` ("landbird") is Coat
  (label 4), `y = 1` ("waterbird") is Shirt (label 6); each garment is used once.
- Places (`place`): procedural textures drawn per image, 0 = "land" (fractal noise
  between two earth or vegetation colours), 1 = "water" (horizontal waves bent by
  noise, in blues). `place_filename` names the texture (there is no file).
- Each garment is resized to {scale[0]}-{scale[1]} px and pasted at a random offset on a
  {size} x {size} background; its silhouette comes from its own intensities.
- Splits (`split` 0 train, 1 val, 2 test): train has Waterbirds' group counts (the place
  agrees with the class in 95% of each class), val Waterbirds' (balanced within class),
  test is group-balanced.
- Deterministic: the same command writes the same files (numpy Generator, seed in
  `build.json`).

Group counts (group = 2 * y + place):

{counts_table(counts, ["landbird_land (Coat, land)", "landbird_water (Coat, water)",
                       "waterbird_land (Shirt, land)", "waterbird_water (Shirt, water)"])}
"""
