"""Readers of the paper's datasets, each on a tiny fake copy in the real layout."""

import csv
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

from featurizers.datasets import get_reader
from featurizers.datasets.celeba import CelebAReader
from featurizers.datasets.civilcomments import IDENTITIES, CivilCommentsReader
from featurizers.datasets.imagenet9 import BackgroundsChallengeReader, ReBiasImageNet9Reader
from featurizers.datasets.imagenet_a import ImageNetAReader
from featurizers.datasets.multinli import NEGATION_WORDS, MultiNLIReader, has_negation
from featurizers.datasets.waterbirds import WaterbirdsReader
from featurizers.datasets._imagenet_classes import (
    BG_CHALLENGE_FOLDERS,
    REBIAS_WNIDS,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb"):
        pass


def write_csv(path, header, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def check_split(data, root=None):
    assert data.y.dtype == np.int64
    assert data.groups is None or data.groups.dtype == np.int64
    assert len(data.ids) == len(data.inputs) == len(data.y)
    if root is not None:
        for p in data.inputs:
            assert os.path.isabs(p) and os.path.exists(p)


# ----------------------------------------------------------------------------- Waterbirds

WB_ROWS = [  # img_filename, y, split, place
    ("001.Albatross/a1.jpg", 1, 0, 1), ("001.Albatross/a2.jpg", 1, 0, 0),
    ("002.Sparrow/s1.jpg", 0, 0, 0), ("002.Sparrow/s2.jpg", 0, 0, 0),
    ("002.Sparrow/s3.jpg", 0, 0, 1), ("001.Albatross/a3.jpg", 1, 1, 1),
    ("002.Sparrow/s4.jpg", 0, 1, 0), ("001.Albatross/a4.jpg", 1, 2, 0),
    ("002.Sparrow/s5.jpg", 0, 2, 1),
]


def make_waterbirds(root, rows=WB_ROWS, header=("img_id", "img_filename", "y", "split", "place",
                                                 "place_filename")):
    for name, *_ in rows:
        touch(os.path.join(root, name))
    full = [(i + 1, n, y, s, p, f"/l/lake/{i}.jpg") for i, (n, y, s, p) in enumerate(rows)]
    keep = [("img_id", "img_filename", "y", "split", "place", "place_filename").index(h)
            for h in header]
    write_csv(os.path.join(root, "metadata.csv"), header, [[r[k] for k in keep] for r in full])
    return str(root)


def test_waterbirds_reads_group_dro_release(tmp_path, caplog):
    root = make_waterbirds(tmp_path / "wb")
    reader = WaterbirdsReader(root=root)
    assert reader.splits() == ["train", "val", "test"]
    with caplog.at_level(logging.INFO, logger="featurizers.datasets"):
        train = reader.load("train")
    check_split(train, root)
    assert train.ids.tolist() == [r[0] for r in WB_ROWS[:5]]
    assert train.y.tolist() == [1, 1, 0, 0, 0]
    assert train.groups.tolist() == [3, 2, 0, 0, 1]  # 2 * y + place
    assert train.inputs[0] == os.path.join(os.path.abspath(root), "001.Albatross/a1.jpg")
    assert "waterbirds train" in caplog.text and "group_counts" in caplog.text
    desc = reader.describe()
    json.dumps(desc)
    assert desc["group_names"][2] == "waterbird_land"
    assert desc["splits"]["train"] == {"n_rows": 5, "class_counts": [3, 2],
                                       "group_counts": [2, 1, 1, 1]}
    assert desc["splits"]["test"]["group_counts"] == [0, 1, 1, 0]


def test_waterbirds_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="metadata.csv"):
        WaterbirdsReader(root=str(tmp_path))
    root = make_waterbirds(tmp_path / "nocol", header=("img_id", "img_filename", "y", "split"))
    with pytest.raises(ValueError, match="'place'.*metadata.csv"):
        WaterbirdsReader(root=root).load("train")
    root = make_waterbirds(tmp_path / "absent")
    os.remove(os.path.join(root, "002.Sparrow/s4.jpg"))
    with pytest.raises(FileNotFoundError, match="s4.jpg.*metadata.csv"):
        WaterbirdsReader(root=root).load("train")
    rows = WB_ROWS[:-1] + [("002.Sparrow/s5.jpg", 2, 2, 1)]
    root = make_waterbirds(tmp_path / "label", rows=rows)
    with pytest.raises(ValueError, match=r"outside the expected set \[0, 1\].*'y'"):
        WaterbirdsReader(root=root).load("val")
    root = make_waterbirds(tmp_path / "empty", rows=WB_ROWS[:7])
    reader = WaterbirdsReader(root=root)
    reader.load("val")
    with pytest.raises(ValueError, match="split 'test' of waterbirds is empty"):
        reader.load("test")
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        reader.load("dev")


# ----------------------------------------------------------------------------- CelebA

CELEBA_ATTRS = [f"Attr{i}" for i in range(40)]
CELEBA_ATTRS[9], CELEBA_ATTRS[20], CELEBA_ATTRS[31] = "Blond_Hair", "Male", "Smiling"
# file, partition, Blond_Hair, Male, Smiling
CELEBA_ROWS = [
    ("000001.jpg", 0, -1, -1, 1), ("000002.jpg", 0, -1, 1, 1), ("000003.jpg", 0, 1, -1, -1),
    ("000004.jpg", 0, 1, 1, -1), ("000005.jpg", 1, 1, -1, 1), ("000006.jpg", 2, -1, 1, -1),
]


def celeba_values(row):
    values = [-1] * 40
    values[9], values[20], values[31] = row[2], row[3], row[4]
    return values


def make_celeba_official(root, rows=CELEBA_ROWS, images=True):
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "list_attr_celeba.txt"), "w") as f:
        f.write(f"{len(rows)}\n" + " ".join(CELEBA_ATTRS) + " \n")
        for r in rows:  # the official file pads with two spaces before positive values
            f.write(r[0] + "".join(f" {v}" if v < 0 else f"  {v}" for v in celeba_values(r)) + "\n")
    with open(os.path.join(root, "list_eval_partition.txt"), "w") as f:
        f.writelines(f"{r[0]} {r[1]}\n" for r in rows)
    if images:
        for r in rows:
            touch(os.path.join(root, "img_align_celeba", r[0]))
    return str(root)


def test_celeba_official_layout(tmp_path):
    root = make_celeba_official(tmp_path / "celeba")
    reader = CelebAReader(root=root)
    train = reader.load("train")
    check_split(train, root)
    assert train.ids.tolist() == ["000001.jpg", "000002.jpg", "000003.jpg", "000004.jpg"]
    assert train.y.tolist() == [0, 0, 1, 1]
    assert train.groups.tolist() == [0, 1, 2, 3]  # 2 * Blond_Hair + Male
    assert train.inputs[0].endswith(os.path.join("img_align_celeba", "000001.jpg"))
    assert reader.load("test").groups.tolist() == [1]
    desc = reader.describe()
    json.dumps(desc)
    assert desc["layout"] == "official"
    assert desc["group_names"] == ["not_Blond_Hair_not_Male", "not_Blond_Hair_Male",
                                   "Blond_Hair_not_Male", "Blond_Hair_Male"]
    assert desc["splits"]["val"]["group_counts"] == [0, 0, 1, 0]

    other = CelebAReader(root=root, target_attribute="Smiling", spurious_attribute="Blond_Hair")
    assert other.class_names == ["not_Smiling", "Smiling"]
    train = other.load("train")
    assert train.y.tolist() == [1, 1, 0, 0]
    assert train.groups.tolist() == [2, 2, 1, 1]


def test_celeba_kaggle_csv_and_dfr_metadata(tmp_path):
    root = tmp_path / "kaggle"
    write_csv(str(root / "list_attr_celeba.csv"), ["image_id"] + CELEBA_ATTRS,
              [[r[0]] + celeba_values(r) for r in CELEBA_ROWS])
    write_csv(str(root / "list_eval_partition.csv"), ["image_id", "partition"],
              [[r[0], r[1]] for r in CELEBA_ROWS])
    for r in CELEBA_ROWS:
        touch(str(root / "img_align_celeba" / "img_align_celeba" / r[0]))
    reader = CelebAReader(root=str(root))
    train = reader.load("train")
    check_split(train, str(root))
    assert train.groups.tolist() == [0, 1, 2, 3]
    assert reader.describe()["layout"] == "csv"

    root = tmp_path / "dfr"
    write_csv(str(root / "metadata.csv"), ["image_id", "img_filename", "y", "split", "place"],
              [[i, f"img_align_celeba/{r[0]}", (r[2] + 1) // 2, r[1], (r[3] + 1) // 2]
               for i, r in enumerate(CELEBA_ROWS)])
    for r in CELEBA_ROWS:
        touch(str(root / "img_align_celeba" / r[0]))
    reader = CelebAReader(root=str(root))
    assert reader.describe()["layout"] == "metadata"
    assert reader.load("train").groups.tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="fixes the attributes"):
        CelebAReader(root=str(root), target_attribute="Smiling")


def test_celeba_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="list_attr_celeba.txt"):
        CelebAReader(root=str(tmp_path))
    root = make_celeba_official(tmp_path / "attr")
    with pytest.raises(ValueError, match="'Wavy' is not a column of .*list_attr_celeba.txt"):
        CelebAReader(root=root, target_attribute="Wavy").load("train")
    root = make_celeba_official(tmp_path / "absent")
    os.remove(os.path.join(root, "img_align_celeba", "000005.jpg"))
    with pytest.raises(FileNotFoundError, match="000005.jpg.*list_attr_celeba.txt"):
        CelebAReader(root=root).load("train")
    rows = CELEBA_ROWS[:-1] + [("000006.jpg", 2, 0, 1, -1)]
    root = make_celeba_official(tmp_path / "zero", rows=rows)
    with pytest.raises(ValueError, match=r"outside the expected set \[-1, 1\].*'Blond_Hair'"):
        CelebAReader(root=root).load("train")
    root = make_celeba_official(tmp_path / "empty", rows=CELEBA_ROWS[:5])
    with pytest.raises(ValueError, match="split 'test' of celeba is empty"):
        CelebAReader(root=root).load("test")
    root = make_celeba_official(tmp_path / "part")
    with open(os.path.join(root, "list_eval_partition.txt"), "w") as f:
        f.write("000001.jpg 0\n")
    with pytest.raises(ValueError, match="000002.jpg .*no entry in .*list_eval_partition"):
        CelebAReader(root=root).load("train")


# ----------------------------------------------------------------------------- MultiNLI

MNLI_PAIRS = [  # jsonl order: (file, premise, hypothesis, gold label)
    ("train", "A man eats.", "Nobody eats.", "contradiction"),
    ("train", "A dog runs.", "An animal moves.", "entailment"),
    ("train", "Kids play.", "No, kids sleep!", "contradiction"),
    ("train", "It rains.", "-", "-"),
    ("dev_matched", "She reads.", "She reads a book.", "neutral"),
    ("dev_matched", "He left.", "He has never been here.", "neutral"),
    ("dev_mismatched", "Cats purr.", "Cats don't purr.", "contradiction"),
    ("dev_mismatched", "Birds fly.", "Birds do not fly at night.", "neutral"),
]
MNLI_LABELS = {"contradiction": 0, "entailment": 1, "neutral": 2}
MNLI_SPLITS = {0: 0, 1: 0, 2: 1, 4: 2, 5: 0, 6: 2, 7: 1}  # row -> split ('-' row dropped)


def make_multinli(root, negation_column=True, text_columns=False, jsonl=True, labels=None):
    data = os.path.join(root, "data")
    os.makedirs(data, exist_ok=True)
    if jsonl:
        for part in ("train", "dev_matched", "dev_mismatched"):
            with open(os.path.join(data, f"multinli_1.0_{part}.jsonl"), "w") as f:
                for p in MNLI_PAIRS:
                    if p[0] == part:
                        f.write(json.dumps({"sentence1": p[1], "sentence2": p[2],
                                            "gold_label": p[3], "pairID": "x"}) + "\n")
    header = ["", "gold_label"] + (["sentence2_has_negation"] if negation_column else []) + [
        "split"] + (["sentence1", "sentence2"] if text_columns else [])
    rows = []
    for i, s in MNLI_SPLITS.items():
        p = MNLI_PAIRS[i]
        y = MNLI_LABELS[p[3]] if labels is None else labels[i]
        row = [i, y] + ([int(has_negation([p[2]])[0])] if negation_column else []) + [s]
        rows.append(row + ([p[1], p[2]] if text_columns else []))
    write_csv(os.path.join(data, "metadata_random.csv"), header, rows)
    return str(root)


def test_multinli_group_dro_release_with_jsonl_text(tmp_path):
    root = make_multinli(tmp_path / "mnli")
    reader = MultiNLIReader(root=root)
    train = reader.load("train")
    check_split(train)
    assert train.ids.tolist() == [0, 1, 5]
    assert train.inputs == [("A man eats.", "Nobody eats."), ("A dog runs.", "An animal moves."),
                            ("He left.", "He has never been here.")]
    assert train.y.tolist() == [0, 1, 2]
    assert train.groups.tolist() == [1, 2, 5]  # 2 * label + negation
    test = reader.load("test")
    assert test.ids.tolist() == [4, 6]
    assert test.groups.tolist() == [4, 0]  # "don't" is not a group DRO negation word
    desc = reader.describe()
    json.dumps(desc)
    assert desc["group_names"][1] == "contradiction_negation"
    assert desc["splits"]["val"]["n_rows"] == 2


def test_multinli_derives_negation_and_reads_text_columns(tmp_path):
    root = make_multinli(tmp_path / "derive", negation_column=False)
    derived = MultiNLIReader(root=root)
    given = MultiNLIReader(root=make_multinli(tmp_path / "given"))
    for split in ("train", "val", "test"):
        assert derived.load(split).groups.tolist() == given.load(split).groups.tolist()
    wider = MultiNLIReader(root=root, negation_words=NEGATION_WORDS + ("not", "dont"))
    assert wider.load("test").groups.tolist() == [4, 1]
    cols = MultiNLIReader(root=make_multinli(tmp_path / "cols", text_columns=True, jsonl=False))
    assert cols.load("val").inputs == [("Kids play.", "No, kids sleep!"),
                                       ("Birds fly.", "Birds do not fly at night.")]
    assert has_negation(["Nothing, really.", "I know.", "no"]).tolist() == [1, 0, 1]


def test_multinli_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="metadata_random.csv"):
        MultiNLIReader(root=str(tmp_path))
    root = make_multinli(tmp_path / "nojsonl", jsonl=False)
    with pytest.raises(FileNotFoundError, match="multinli_1.0_train.jsonl"):
        MultiNLIReader(root=root).load("train")
    root = make_multinli(tmp_path / "label", labels={i: 3 if i == 7 else MNLI_LABELS[
        MNLI_PAIRS[i][3]] for i in MNLI_SPLITS})
    with pytest.raises(ValueError, match=r"outside the expected set \[0, 1, 2\].*'gold_label'"):
        MultiNLIReader(root=root).load("train")
    root = make_multinli(tmp_path / "misaligned", labels={i: 1 if i == 4 else MNLI_LABELS[
        MNLI_PAIRS[i][3]] for i in MNLI_SPLITS})
    with pytest.raises(ValueError, match="row 4 .*not aligned"):
        MultiNLIReader(root=root).load("train")
    root = make_multinli(tmp_path / "nocol")
    path = os.path.join(root, "data", "metadata_random.csv")
    with open(path) as f:
        text = f.read().replace("split", "part", 1)
    with open(path, "w") as f:
        f.write(text)
    with pytest.raises(ValueError, match="'split' missing from .*metadata_random.csv"):
        MultiNLIReader(root=root).load("train")
    root = make_multinli(tmp_path / "empty")
    path = os.path.join(root, "data", "metadata_random.csv")
    with open(path) as f:
        lines = f.read().splitlines()
    with open(path, "w") as f:
        f.write("\n".join(ln for ln in lines if not ln.endswith(",1")) + "\n")
    with pytest.raises(ValueError, match="split 'val' of multinli is empty"):
        MultiNLIReader(root=root).load("val")


# ----------------------------------------------------------------------------- CivilComments

CC_HEADER = ["id", "comment_text", "split", "toxicity", "severe_toxicity", *IDENTITIES,
             "identity_any"]


def cc_row(i, text, split, tox, mentions=()):
    ident = [1.0 if k in mentions else (0.2 if k == "white" else 0.0) for k in IDENTITIES]
    return [1000 + i, text, split, tox, 0.0, *ident, int(bool(mentions))]


CC_ROWS = [
    cc_row(0, "fine, thanks", "train", 0.0),
    cc_row(1, 'a "quoted"\ncomment, on two lines', "train", 0.1, ("female",)),
    cc_row(2, "you idiot", "train", 0.5),
    cc_row(3, "bad words", "train", 0.9, ("muslim", "black")),
    cc_row(4, "ok", "val", 0.3, ("male",)),
    cc_row(5, "nasty", "test", 0.7),
]


def make_civilcomments(root, rows=CC_ROWS, header=CC_HEADER):
    write_csv(os.path.join(root, "civilcomments_v1.0", "all_data_with_identities.csv"),
              [""] + header, [[i] + [r[CC_HEADER.index(h)] for h in header]
                              for i, r in enumerate(rows)])
    return str(root)


def test_civilcomments_wilds_layout(tmp_path):
    root = make_civilcomments(tmp_path / "wilds")
    reader = CivilCommentsReader(root=root)
    train = reader.load("train")
    check_split(train)
    assert train.inputs[1] == 'a "quoted"\ncomment, on two lines'
    assert train.ids.tolist() == ["1000", "1001", "1002", "1003"]
    assert train.y.tolist() == [0, 0, 1, 1]
    assert train.groups.tolist() == [0, 1, 2, 3]  # 2 * toxic + any identity
    ident = reader.identities("train")
    assert ident.shape == (4, 8) and ident.dtype == bool
    assert ident[3].tolist() == [k in ("muslim", "black") for k in IDENTITIES]
    masks = reader.wilds_group_masks("train")
    names = reader.wilds_group_names
    assert masks.shape == (4, 16)
    assert masks[:, names.index("female_non_toxic")].tolist() == [False, True, False, False]
    assert masks[:, names.index("black_toxic")].tolist() == [False, False, False, True]
    assert masks.sum() == 3
    desc = reader.describe()
    json.dumps(desc)
    assert desc["splits"]["val"]["group_counts"] == [0, 1, 0, 0]
    assert desc["wilds_group_counts"]["val"][names.index("male_non_toxic")] == 1


def test_civilcomments_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="all_data_with_identities.csv"):
        CivilCommentsReader(root=str(tmp_path))
    header = [h for h in CC_HEADER if h != "LGBTQ"]
    root = make_civilcomments(tmp_path / "nocol", header=header)
    with pytest.raises(ValueError, match="'LGBTQ' missing from .*all_data_with_identities"):
        CivilCommentsReader(root=root).load("train")
    root = make_civilcomments(tmp_path / "tox", rows=CC_ROWS + [cc_row(6, "x", "test", 1.5)])
    with pytest.raises(ValueError, match=r"expected range \[0, 1\] in column 'toxicity'"):
        CivilCommentsReader(root=root).load("train")
    root = make_civilcomments(tmp_path / "split", rows=CC_ROWS + [cc_row(6, "x", "dev", 0.1)])
    with pytest.raises(ValueError, match=r"split values .* found \['dev'\]"):
        CivilCommentsReader(root=root).load("train")
    root = make_civilcomments(tmp_path / "empty", rows=CC_ROWS[:4] + CC_ROWS[5:])
    with pytest.raises(ValueError, match="split 'val' of civilcomments is empty"):
        CivilCommentsReader(root=root).load("val")


def test_long_text_cells_are_read_and_the_csv_limit_is_left_as_it_was(tmp_path):
    long_text = "word " * 60_000  # 300 kB: over csv's default field limit of 128 KiB
    before = csv.field_size_limit()
    root = make_civilcomments(tmp_path / "cc", rows=[*CC_ROWS, cc_row(6, long_text, "test", 0.2)])
    assert CivilCommentsReader(root=root).load("test").inputs[-1] == long_text
    (tmp_path / "generic").mkdir()
    write_csv(str(tmp_path / "generic" / "metadata.csv"), ["text", "label"],
              [["short", 0], [long_text, 1]])
    assert get_reader("csv", tmp_path / "generic").load("all").inputs[1] == long_text
    assert csv.field_size_limit() == before
    code = ("import csv; import featurizers.datasets as d; from featurizers.datasets import "
            "celeba, civilcomments, csv_reader, imagenet9, imagenet_a, multinli, waterbirds; "
            "print(csv.field_size_limit())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), check=True)
    assert int(out.stdout) == 131072  # importing the readers changes no process-wide setting


# ----------------------------------------------------------------------------- ImageNet-9

def make_bg_challenge(root, variants=("original", "mixed_rand", "only_fg"), per_class=2):
    for v in variants:
        for folder in BG_CHALLENGE_FOLDERS:
            os.makedirs(os.path.join(root, v, "val", folder), exist_ok=True)
            for k in range(per_class):
                touch(os.path.join(root, v, "val", folder, f"n000_{v}_{k}.JPEG"))
    touch(os.path.join(root, "fg_mask", "val", "00_dog", "m.npy"))
    return str(root)


def test_imagenet9_backgrounds_challenge(tmp_path):
    root = make_bg_challenge(tmp_path / "bg")
    train_root = tmp_path / "train"
    for split, n in (("train", 3), ("val", 1)):
        for folder in BG_CHALLENGE_FOLDERS:
            for k in range(n):
                touch(str(train_root / "original" / split / folder / f"img{k}.JPEG"))
    touch(str(train_root / "original" / "train" / "00_dog" / "notes.txt"))
    reader = BackgroundsChallengeReader(root=root, train_root=str(train_root))
    assert reader.splits() == ["train", "val", "test_original", "test_only_fg", "test_mixed_rand"]
    train = reader.load("train")
    check_split(train, str(train_root))
    assert train.groups is None
    assert train.y.tolist() == np.repeat(np.arange(9), 3).tolist()
    assert train.ids[3] == "01_bird/img0.JPEG"
    test = reader.load("test_mixed_rand")
    assert test.inputs[-1].endswith(os.path.join("mixed_rand", "val", "08_fish",
                                                 "n000_mixed_rand_1.JPEG"))
    desc = reader.describe()
    json.dumps(desc)
    assert desc["splits"]["test_only_fg"] == {"n_rows": 18, "class_counts": [2] * 9}

    only_test = BackgroundsChallengeReader(root=root)
    assert only_test.splits() == ["test_original", "test_only_fg", "test_mixed_rand"]


def test_imagenet9_backgrounds_challenge_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Backgrounds Challenge folders"):
        BackgroundsChallengeReader(root=str(tmp_path))
    root = make_bg_challenge(tmp_path / "missing", variants=("original",))
    os.rename(os.path.join(root, "original", "val", "08_fish"),
              os.path.join(root, "original", "val", "08_fishes"))
    with pytest.raises(ValueError, match="unexpected class folder '08_fishes'"):
        BackgroundsChallengeReader(root=root).load("test_original")
    os.rename(os.path.join(root, "original", "val", "08_fishes"), os.path.join(tmp_path, "x"))
    with pytest.raises(FileNotFoundError, match="class folder .*08_fish of split 'test_original'"):
        BackgroundsChallengeReader(root=root).load("test_original")
    root = make_bg_challenge(tmp_path / "empty", variants=("mixed_same",), per_class=0)
    with pytest.raises(ValueError, match="split 'test_mixed_same' of imagenet9 is empty"):
        BackgroundsChallengeReader(root=root).load("test_mixed_same")


def test_imagenet9_rebias(tmp_path):
    root = tmp_path / "imagenet"
    for split in ("train", "val"):
        for wnid in REBIAS_WNIDS:
            touch(str(root / split / wnid / f"{wnid}_1.JPEG"))
        touch(str(root / split / "n01440764" / "tench.JPEG"))  # not in the subset
    reader = ReBiasImageNet9Reader(root=str(root))
    train = reader.load("train")
    check_split(train, str(root))
    assert len(train) == 42
    assert train.ids[0] == "n01641577/n01641577_1.JPEG" and train.y[0] == 2  # frog
    assert np.bincount(train.y).tolist() == [5, 5, 3, 5, 5, 5, 5, 4, 5]
    assert reader.describe()["splits"]["val"]["n_rows"] == 42
    os.rename(str(root / "val" / "n02085620"), str(tmp_path / "moved"))
    with pytest.raises(FileNotFoundError, match="n02085620 of split 'val'"):
        ReBiasImageNet9Reader(root=str(root)).load("val")
    with pytest.raises(FileNotFoundError, match="ImageNet folders"):
        ReBiasImageNet9Reader(root=str(tmp_path / "moved"))


# ----------------------------------------------------------------------------- ImageNet-A

def test_imagenet_a_restricted_by_wnid(tmp_path):
    root = tmp_path / "a"
    for wnid in ("n02085620", "n01641577", "n02672831", "n01498041"):
        touch(str(root / "imagenet-a" / wnid / "0.000116_x_0.865.jpg"))
        touch(str(root / "imagenet-a" / wnid / "0.001_y.jpg"))
    touch(str(root / "imagenet-a" / "README.txt"))
    reader = ImageNetAReader(root=str(root))
    assert reader.splits() == ["test"]
    test = reader.load("test")
    check_split(test, str(root))
    assert test.ids.tolist()[:2] == ["n01641577/0.000116_x_0.865.jpg", "n01641577/0.001_y.jpg"]
    assert test.y.tolist() == [2, 2, 0, 0]  # frog, dog (ReBias classes)
    desc = reader.describe()
    json.dumps(desc)
    assert desc["wnids"] == ["n01641577", "n02085620"]

    bg = ImageNetAReader(root=str(root / "imagenet-a"), classes="bg_challenge")
    assert bg.class_names[6] == "musical instrument"
    assert bg.load("test").y.tolist() == [0, 0, 6, 6]  # dog, accordion; bullfrog is no reptile

    table = tmp_path / "mine.json"
    table.write_text(json.dumps({"class_names": ["fish", "dog"],
                                 "wnids": {"n01498041": 0, "n02085620": 1}}))
    mine = ImageNetAReader(root=str(root), classes=str(table))
    assert mine.load("test").y.tolist() == [0, 0, 1, 1]


def test_imagenet_a_bad_input(tmp_path):
    touch(str(tmp_path / "imagenet-a" / "n01498041" / "x.jpg"))
    with pytest.raises(FileNotFoundError, match="no wnid folder of the 'rebias' table"):
        ImageNetAReader(root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="nine.json not found"):
        ImageNetAReader(root=str(tmp_path), classes="nine.json")
    table = tmp_path / "bad.json"
    table.write_text(json.dumps({"class_names": ["a"], "wnids": {"n01498041": 3}}))
    with pytest.raises(ValueError, match="labels outside 0..0"):
        ImageNetAReader(root=str(tmp_path), classes=str(table))
    touch(str(tmp_path / "empty" / "n02085620" / "notes.txt"))
    with pytest.raises(ValueError, match="split 'test' of imagenet-a is empty"):
        ImageNetAReader(root=str(tmp_path / "empty")).load("test")


def test_registry_builds_every_reader(tmp_path):
    from featurizers.datasets import available_readers, get_reader

    for name in ("waterbirds", "celeba", "multinli", "civilcomments", "imagenet9",
                 "imagenet9-rebias", "imagenet-a"):
        assert name in available_readers()
    reader = get_reader("multinli", make_multinli(tmp_path / "m", negation_column=False),
                        negation_words="no, never,not")
    assert reader.negation_words == ("no", "never", "not")
    assert reader.load("test").groups.tolist() == [4, 0]
    assert get_reader("waterbirds", make_waterbirds(tmp_path / "w")).name == "waterbirds"
