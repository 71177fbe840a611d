"""ERM training of the model NeuronTune repairs, with the paper's settings as presets.

    python -m benchmarks.train_erm --dataset waterbirds --root DATA/waterbirds \\
        --preset waterbirds --init-weights resnet50-0676ba61.pth --out runs/waterbirds-erm
    torchrun --nproc-per-node 4 -m benchmarks.train_erm ...        # several GPUs (DDP)

Any dataset a featurizer reader reads (``featurizers.datasets.get_reader``) can be
trained on: a timm image model, or a transformers sequence classifier built from a
local folder (``--model DIR``, e.g. bert-base-uncased). Training uses the reader's
``train`` split; the checkpoint kept is the epoch with the best average accuracy on
``val`` (class labels only, no groups), saved where the featurizers load it:

- image models: ``OUT/best.pth``, a plain state dict in timm's layout whose
  classifier maps the pooled pre-logits to the dataset's classes, so
  ``nt-featurize image --weights OUT/best.pth`` exports it as the store's head;
- text models: ``OUT/best/``, a ``save_pretrained`` folder of the
  ``...ForSequenceClassification`` model and its tokenizer; ``nt-featurize text
  --model OUT/best --pooling pooler`` exports BERT's classifier as the head.

Every epoch ``OUT/last.pt`` (model, optimizer, scheduler, gradient scaler, epoch,
best so far, RNG states and the log) is replaced atomically and one line is appended
to ``OUT/log.jsonl``; re-running the same command resumes after the last finished
epoch. Each epoch's shuffling, augmentation and dropout draw from a seed derived from
``(--seed, epoch, rank)``, so a resumed run gives the same weights as an uninterrupted
one (exactly on CPU with ``--workers 0``; GPU kernels may differ in the last bits).

The presets are the paper's Table 9 (Appendix A.8). Where the paper is silent or
contradicts itself, the choices are this package's and listed in ``PRESET_NOTES``.

Modules: :mod:`.config` (the presets and :class:`ERMConfig`, the resolved settings),
:mod:`.tasks` (the models, their data and their export), :mod:`.state` (seeds, RNG
states, ``last.pt`` and ``log.jsonl``), :mod:`.loop` (:func:`train`), :mod:`.cli`.
Callers build an :class:`ERMConfig` (``ERMConfig.from_preset(...)``, or
:func:`resolve_config` from parsed arguments) and call :func:`train`.
"""

from .cli import build_parser, main, resolve_config
from .config import PRESET_NOTES, PRESETS, RUNTIME_KEYS, ERMConfig
from .loop import evaluate, lr_factor, make_optimizer, train
from .state import epoch_seed, seed_everything
from .tasks import ImageTask, TextTask, build_image_model

__all__ = [
    "PRESETS", "PRESET_NOTES", "RUNTIME_KEYS", "ERMConfig", "resolve_config", "build_parser",
    "main", "train", "evaluate", "lr_factor", "make_optimizer", "epoch_seed", "seed_everything",
    "ImageTask", "TextTask", "build_image_model",
]
