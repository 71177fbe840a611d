"""MultiNLI with the group DRO random split and negation attribute.

The group DRO release (Sagawa et al., 2020) ships ``metadata_random.csv``
next to BERT features cached from the text, not the text itself. Its rows
index the concatenation of the three MultiNLI 1.0 files, in this order,
after dropping the pairs whose ``gold_label`` is ``"-"``; so the text comes
from the MultiNLI 1.0 release placed beside the metadata::

    root/[data/]metadata_random.csv        ,gold_label,sentence2_has_negation,split
    root/[data/]multinli_1.0_train.jsonl         (from multinli_1.0.zip)
    root/[data/]multinli_1.0_dev_matched.jsonl
    root/[data/]multinli_1.0_dev_mismatched.jsonl

(the first, unnamed column is the row number in that concatenation). A
metadata file that carries ``sentence1`` and ``sentence2`` columns itself
needs no jsonl files. ``gold_label`` follows the group DRO code:
0 contradiction, 1 entailment, 2 neutral; ``split`` 0 train, 1 val, 2 test.
"""

import json
import logging
import os
import string
from dataclasses import dataclass

import numpy as np

from .._io import naming_file
from ._csv import as_index, as_labels, read_csv_columns
from ._files import find_file
from ._group_dro import SPLIT_CODES
from .base import PublishedReader, make_split

__all__ = ["MultiNLIReader", "has_negation", "NEGATION_WORDS"]

logger = logging.getLogger(__name__)

LABELS = {"contradiction": 0, "entailment": 1, "neutral": 2}
# group DRO's dataset_scripts/generate_multinli.py, after Gururangan et al. (2018).
NEGATION_WORDS = ("nobody", "no", "never", "nothing")
JSONL_FILES = (
    "multinli_1.0_train.jsonl",
    "multinli_1.0_dev_matched.jsonl",
    "multinli_1.0_dev_mismatched.jsonl",
)
_STRIP_PUNCTUATION = str.maketrans("", "", string.punctuation)


def has_negation(hypotheses, words=NEGATION_WORDS):
    """Whether each hypothesis contains a negation word, as group DRO derives it.

    The text loses all ASCII punctuation, is lower-cased and split on single
    spaces; a hypothesis is negated when a token equals one of ``words``.
    With the default words this reproduces ``sentence2_has_negation`` of
    ``metadata_random.csv``. Note that "not" and "n't" are not among the
    group DRO words ("don't" becomes the token "dont"); pass
    ``words=NEGATION_WORDS + ("not", "dont", ...)`` for a wider rule, which
    then no longer matches the published groups.

    Parameters
    ----------
    hypotheses : sequence of str
    words : sequence of str

    Returns
    -------
    ndarray of shape (n,), dtype int64
        1 where negated, 0 elsewhere.

    Examples
    --------
    >>> has_negation(["Nobody came.", "It is not here.", "No, thanks"]).tolist()
    [1, 0, 1]
    """
    words = frozenset(words)
    return np.fromiter(
        (not words.isdisjoint(h.translate(_STRIP_PUNCTUATION).lower().split(" "))
         for h in hypotheses),
        dtype=np.int64, count=len(hypotheses),
    )


def _read_jsonl_text(folder):
    """Premises, hypotheses and gold labels of the three files, concatenated."""
    premises, hypotheses, labels = [], [], []
    for name in JSONL_FILES:
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"MultiNLI text file {path} not found: the group DRO metadata holds no text; "
                f"place the MultiNLI 1.0 files {', '.join(JSONL_FILES)} beside it, or add "
                "'sentence1' and 'sentence2' columns to the metadata")
        with naming_file(path, "MultiNLI text file"), open(path, encoding="utf-8-sig") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    premises.append(rec["sentence1"])
                    hypotheses.append(rec["sentence2"])
                    labels.append(rec["gold_label"])
                except (ValueError, KeyError) as exc:
                    raise ValueError(f"{path}, line {line_no}: expected a JSON object with "
                                     f"sentence1, sentence2, gold_label ({exc})") from None
    return (np.asarray(premises, dtype=object), np.asarray(hypotheses, dtype=object),
            np.asarray(labels, dtype=str))


@dataclass(kw_only=True)
class MultiNLIReader(PublishedReader):
    """MultiNLI (``--dataset multinli``): NLI label x negation in the hypothesis.

    Parameters
    ----------
    root : str
        The folder holding ``metadata_random.csv``, or its parent (the group
        DRO ``multinli`` folder, whose ``data/`` holds it).
    negation_words : sequence of str, str or None, default=None
        When given, the negation attribute is derived from the hypotheses
        with these words even if the metadata has ``sentence2_has_negation``
        (a str is split on commas, as ``--dataset-option
        negation_words=no,never,not`` passes it). By default the metadata
        column is used, or, when absent, it is derived with group DRO's
        words (:data:`NEGATION_WORDS`). No words at all (``""``) is refused:
        it would leave the negation groups empty.

    Notes
    -----
    Inputs are (premise, hypothesis) pairs. Sample ids are the metadata's
    row numbers (the index column, or the line order when it has none).
    Labels: 0 contradiction, 1 entailment, 2 neutral. Group ids,
    ``group = 2 * y + negation``:

    ===== ============= ===========
    group class         negation
    ===== ============= ===========
    0     contradiction no
    1     contradiction yes
    2     entailment    no
    3     entailment    yes
    4     neutral       no
    5     neutral       yes
    ===== ============= ===========

    When the text comes from the jsonl files, each row's jsonl
    ``gold_label`` must agree with the metadata's, which checks the row
    alignment.
    """

    negation_words: tuple = None

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.negation_words, str):
            words = self.negation_words.split(",")
            self.negation_words = tuple(w.strip() for w in words if w.strip())
        elif self.negation_words is not None:
            self.negation_words = tuple(self.negation_words)
        if self.negation_words is not None and not self.negation_words:
            raise ValueError(
                "negation_words is empty: no hypothesis would count as negated, so the "
                "negation groups would be empty. Give words separated by commas "
                "(--dataset-option negation_words=no,never,nobody,nothing), or leave the "
                "option out for the metadata's column or group DRO's words")
        self.name = "multinli"
        self.modality = "text"
        self.class_names = list(LABELS)
        self.group_names = [f"{c}_{n}" for c in LABELS for n in ("no_negation", "negation")]
        self._metadata = find_file(self.root, ["metadata_random.csv",
                                               os.path.join("data", "metadata_random.csv")],
                                   "MultiNLI metadata (group DRO random split)")
        self._table = None

    def _source(self):
        return self._metadata

    def splits(self):
        """``["train", "val", "test"]``."""
        return list(SPLIT_CODES)

    def _read(self):
        path = self._metadata
        cols = read_csv_columns(path, ["gold_label", "split"],
                                optional=("sentence2_has_negation", "sentence1", "sentence2"),
                                text=("sentence1", "sentence2"))
        y = as_labels(cols["gold_label"], set(LABELS.values()), path, "gold_label")
        split = as_labels(cols["split"], set(SPLIT_CODES.values()), path, "split")
        if "__index__" in cols:
            ids = as_index(cols["__index__"], path, "index")
        else:
            ids = np.arange(len(y), dtype=np.int64)
        if "sentence1" in cols and "sentence2" in cols:
            premises, hypotheses = cols["sentence1"], cols["sentence2"]
        else:
            premises, hypotheses, gold = _read_jsonl_text(os.path.dirname(path))
            if ids.size and ids.max() >= len(gold):
                raise ValueError(f"row {ids.max()} of {path} is beyond the {len(gold)} pairs of "
                                 f"{', '.join(JSONL_FILES)}")
            codes = np.array([LABELS.get(g, -1) for g in gold[ids]], dtype=np.int64)
            wrong = codes != y
            if wrong.any():
                raise ValueError(
                    f"row {ids[wrong][0]} of {path} has gold_label {y[wrong][0]} but the jsonl "
                    f"text has {gold[ids[wrong][0]]!r}: metadata and MultiNLI files are not "
                    f"aligned ({int(wrong.sum())} rows disagree)")
            premises, hypotheses = premises[ids], hypotheses[ids]
        if self.negation_words is not None:
            negation = has_negation(hypotheses, self.negation_words)
        elif "sentence2_has_negation" in cols:
            negation = as_labels(cols["sentence2_has_negation"], {0, 1}, path,
                                 "sentence2_has_negation")
        else:
            logger.info("%s has no sentence2_has_negation column: deriving it from the "
                        "hypotheses with the words %s", path, NEGATION_WORDS)
            negation = has_negation(hypotheses)
        return ids, premises, hypotheses, y, negation, split

    def _load(self, split):
        if self._table is None:
            self._table = self._read()
        ids, premises, hypotheses, y, negation, split_arr = self._table
        rows = split_arr == SPLIT_CODES[split]
        return make_split(
            ids=ids[rows],
            inputs=list(zip(premises[rows], hypotheses[rows])),
            y=y[rows],
            groups=2 * y[rows] + negation[rows],
        )

    def describe(self):
        out = super().describe()
        out["layout"] = "group DRO metadata_random.csv + MultiNLI 1.0 text"
        out["negation_words"] = list(self.negation_words or NEGATION_WORDS)
        return out
