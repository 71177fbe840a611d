"""One command per paper dataset: ERM model -> embeddings -> every method -> the paper's table.

    python -m benchmarks.reproduce --dataset waterbirds --root DATA/waterbirds \\
        --init-weights resnet50-0676ba61.pth
    python -m benchmarks.reproduce --dataset multinli --root DATA/multinli \\
        --model DIR/bert-base-uncased
    python -m benchmarks.reproduce --dataset imagenet9 --root DATA/imagenet \\
        --imagenet-a-root DATA/imagenet-a
    python -m benchmarks.reproduce --dataset celeba --root DATA/celeba --erm-checkpoint erm/best.pth

Steps, each resumable (re-running the command continues where it stopped):

1. ERM training with the paper's preset (:mod:`benchmarks.train_erm`) into ``OUT/erm``,
   unless ``--erm-checkpoint`` names a model already trained (a timm state dict for
   images, a ``save_pretrained`` folder for text). Several GPUs: run ``train_erm``
   under ``torchrun`` first and pass its ``best.pth`` / ``best/`` here.
2. Embedding every split of the reader with the featurizers into ``OUT/store``
   (ResNets: pooled pre-logits, the featurizers' ``paper`` preprocessing; BERT: the
   pooler output), with the ERM model's own classifier as the store's head. For
   ImageNet-9 also ImageNet-A into ``OUT/store-imagenet-a``.
3. NeuronTune and its peers over ``--seeds`` seeds on the readers' own splits:
   identification on ``val``, tuning on ``train``, evaluation on ``test``, with the
   paper's NeuronTune settings for the dataset (Table 10). The reference (ERM) model
   is the backbone's own last layer.
4. ``OUT/report.md`` and ``OUT/results.json``: the paper's Table 1, 2 or 3 with its
   figures beside ours and the differences (ours - paper, percentage points).

Decisions (the paper is silent or the tools force a choice):

- BERT embeddings are the pooler output as BERT's classifier reads it (``pooling
  'pooler'``), so the store's head *is* the ERM model and NeuronTune repairs it. The
  authors pass the pooler output through a ReLU; ``--pooling pooler_relu`` does that,
  but no linear head reads those features, so the reference model becomes the plain
  logistic regression fitted on the training embeddings (``benchmarks.methods.
  reference_model``).
- ``--dataset imagenet9`` reads the paper's ImageNet-9, ReBias' 9-class subset of
  ImageNet (reader ``imagenet9-rebias``; ``--reader imagenet9`` takes the Backgrounds
  Challenge release instead). It has only ``train`` and ``val``; as in the paper,
  ``val`` selects the ERM epoch, identifies NeuronTune's biased dimensions and gives
  the in-distribution accuracy. There are no groups, so DFR (which needs them) is not
  run and the report gives accuracy on ImageNet-9 and ImageNet-A and their gap.
- The peers are those of :mod:`benchmarks.methods` (JTT is its last-layer form; the
  paper's JTT retrains the whole model); "NT=No" is compared with the paper's Table 4.

Modules: :mod:`.pipeline` (the steps; the methods run through :mod:`benchmarks.run`),
:mod:`.report` (the tables beside the paper's), :mod:`.cli`.
"""

from ..methods import build_methods
from .cli import build_parser, main
from .pipeline import SPECS, erm_config, reproduce, run_group_methods, run_ood_methods
from .report import NAMES, group_table, ood_table, per_group_table, write_report

__all__ = [
    "SPECS", "NAMES", "build_parser", "main", "reproduce", "erm_config", "run_group_methods",
    "run_ood_methods", "group_table", "per_group_table", "ood_table", "write_report",
    "build_methods",
]
