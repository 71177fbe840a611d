"""The reproduction's four steps: ERM model, embeddings, methods over seeds, report."""

import functools
import json
import logging
import os
import time
import warnings
from pathlib import Path

import numpy as np

from featurizers.datasets import parse_dataset_options
from nt_sklearn.metrics import mean_accuracy

from .. import train_erm
from ..methods import build_methods, reference_model
from ..run import run_methods, run_parallel
from .report import write_report

logger = logging.getLogger(__name__)

#: Per dataset: the reader, the ERM preset, and NeuronTune's settings (Table 10;
#: batch size 128 and 200 batches per epoch everywhere, the estimator's defaults).
SPECS = {
    "waterbirds": dict(reader="waterbirds", modality="image",
                       nt=dict(optimizer="sgd", learning_rate=1e-3, n_epochs=40)),
    "celeba": dict(reader="celeba", modality="image",
                   nt=dict(optimizer="sgd", learning_rate=1e-3, n_epochs=40)),
    "multinli": dict(reader="multinli", modality="text",
                     nt=dict(optimizer="adamw", learning_rate=1e-5, n_epochs=60)),
    "civilcomments": dict(reader="civilcomments", modality="text",
                          nt=dict(optimizer="adamw", learning_rate=1e-3, n_epochs=60)),
    "imagenet9": dict(reader="imagenet9-rebias", modality="image",
                      nt=dict(optimizer="sgd", learning_rate=1e-3, n_epochs=1)),
}


def _progress(quiet):
    from tqdm.auto import tqdm

    return functools.partial(tqdm, disable=quiet)


def run_group_methods(data, head, methods, *, seeds, n_epochs, jobs=1, quiet=True):
    """Every method x seed on a dataset with groups, evaluated as ``benchmarks.run`` does.

    Each record also holds ``avg_train_weighted``: the test per-group accuracies
    weighted by the training group proportions (Waterbirds' usual "mean accuracy").
    """
    return run_methods(methods, reference_model(data, head), data, regimes=["val"],
                       seeds=seeds, n_epochs=n_epochs, jobs=jobs, progress=_progress(quiet),
                       desc="methods", train_groups=data["train"][2])


def _run_ood_one(method, reference, data, seed, n_epochs):
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = method.fit(reference, data, "val", seed, n_epochs)
    X_v, y_v, _ = data["val"]
    X_o, y_o, _ = data["ood"]
    in_acc = mean_accuracy(y_v, model.predict(X_v))
    ood_acc = mean_accuracy(y_o, model.predict(X_o))
    return {"method": method.name, "seed": seed, "in_acc": in_acc, "ood_acc": ood_acc,
            "gap": in_acc - ood_acc, "seconds": time.perf_counter() - t}


def run_ood_methods(data, head, methods, *, seeds, n_epochs, jobs=1, quiet=True):
    """Every method x seed without groups: accuracy on ``val`` (in distribution) and
    on ``ood`` (ImageNet-A), and their gap. ``data``: ``{split: (X, y, None)}`` with
    ``train``, ``val`` and ``ood``."""
    reference = reference_model(data, head)
    tasks = [(m, reference, data, s, n_epochs) for m in methods for s in seeds]
    return run_parallel(_run_ood_one, tasks, jobs=jobs, progress=_progress(quiet),
                        desc="methods")


def erm_config(args, spec, out):
    """The :class:`~benchmarks.train_erm.ERMConfig` of step 1: the dataset's preset and
    the command line's ERM options."""
    return train_erm.ERMConfig.from_preset(
        args.dataset, dataset=args.reader or spec["reader"], root=args.root, out=out,
        dataset_options=parse_dataset_options(args.dataset_option), model=args.model,
        init=args.init_weights, epochs=args.erm_epochs, batch_size=args.erm_batch_size,
        lr=args.erm_lr, image_size=args.image_size, seed=args.seed, device=args.device,
        precision=args.precision, workers=args.workers, quiet=args.quiet)


def match_erm_evaluation(encoder, size):
    """Make an image encoder embed as ``train_erm`` evaluates at ``size`` (not 224).

    ``train_erm`` selects its epoch on images resized to ``size * 256 / 224``,
    centre-cropped to ``size`` and normalised with ImageNet's mean and std; the
    featurizers' ``square`` preprocessing resizes to ``size`` with the model's own
    mean and std (0.5 for EfficientNet-Lite0), which would embed other inputs than
    the ones the model was trained and selected on. Returns the preprocessing's name.
    """
    from torchvision import transforms as T

    from ..train_erm.tasks import IMAGENET_MEAN, IMAGENET_STD

    resize = round(size * 256 / 224)
    encoder.transform = T.Compose([
        T.Resize(resize, interpolation=T.InterpolationMode.BILINEAR), T.CenterCrop(size),
        T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    encoder.preprocess = {"name": "erm_eval", "resize_short": resize, "center_crop": size,
                          "input_size": [3, size, size], "interpolation": "bilinear",
                          "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    encoder.identity["preprocess"] = encoder.preprocess
    return "erm_eval"


def _encoder(args, spec, checkpoint, dataset_name):
    """The featurizer of step 2 (built as ``nt-featurize`` builds it) and its description."""
    from featurizers import build_encoder

    if spec["modality"] == "image":
        model = args.model or train_erm.PRESETS[args.dataset]["model"]
        paper_size = args.image_size == 224
        how = "paper" if paper_size else "square"
        enc = build_encoder("image", model, weights=checkpoint, device=args.device,
                            precision=args.precision, preprocess=how,
                            image_size=None if paper_size else args.image_size,
                            workers=args.workers)
        if not paper_size:
            how = match_erm_evaluation(enc, args.image_size)
        return enc, f"{model}, pooled pre-logits, {how} preprocessing"
    import transformers
    from transformers import AutoConfig

    from featurizers.cli import DATASET_MAX_LENGTH

    if args.quiet:
        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    cfg = AutoConfig.from_pretrained(checkpoint, local_files_only=True)
    limit = min(getattr(cfg, "max_position_embeddings", 512) or 512, 512)
    max_length = min(DATASET_MAX_LENGTH.get(dataset_name, limit), limit)
    enc = build_encoder("text", checkpoint, head=args.pooling == "pooler", device=args.device,
                        precision=args.precision, pooling=args.pooling, max_length=max_length)
    return enc, f"{os.path.basename(os.path.normpath(checkpoint))}, {args.pooling} output"


def _erm_model(args, spec, out):
    """Step 1: ``(checkpoint, train_erm's summary or None)``."""
    if args.erm_checkpoint:
        checkpoint = os.path.abspath(args.erm_checkpoint)
        if not os.path.exists(checkpoint):
            raise FileNotFoundError(f"--erm-checkpoint {checkpoint} does not exist")
        return checkpoint, None
    cfg = erm_config(args, spec, out / "erm")
    logger.info("step 1/4: ERM training into %s", out / "erm")
    erm = train_erm.train(cfg)
    return erm["checkpoint"], erm


def _embed(args, spec, checkpoint, reader, reader_name, out):
    """Step 2: the stores of every split (and ImageNet-A's); returns the features' description."""
    from featurizers.datasets import get_reader
    from featurizers.pipeline import featurize

    encoder, features = _encoder(args, spec, checkpoint, reader_name)
    logger.info("step 2/4: embeddings into %s", out / "store")
    featurize(reader, encoder, out / "store", batch_size=args.feature_batch_size,
              overwrite=args.overwrite_store, progress=not args.quiet)
    if args.dataset == "imagenet9":
        ood_reader = get_reader("imagenet-a", args.imagenet_a_root,
                                classes="rebias" if reader_name == "imagenet9-rebias"
                                else "bg_challenge")
        featurize(ood_reader, encoder, out / "store-imagenet-a",
                  batch_size=args.feature_batch_size, overwrite=args.overwrite_store,
                  progress=not args.quiet)
    return features


def _load_ood_data(out):
    """ImageNet-9's train and val and ImageNet-A's test as ``{split: (X, y, None)}``."""
    from featurizers.store import EmbeddingStore

    store = EmbeddingStore(out / "store")
    data = {}
    for split in ("train", "val"):
        X, y, _, _ = store.load(split)
        data[split] = (np.asarray(X, dtype=np.float32), np.asarray(y), None)
    X, y, _, _ = EmbeddingStore(out / "store-imagenet-a").load("test")
    data["ood"] = (np.asarray(X, dtype=np.float32), np.asarray(y), None)
    return data, store.head()


def _methods(args, spec, out, nt_params, n_epochs):
    """Step 3: ``(data, records)`` of every method x seed on the stores."""
    seeds = list(range(args.seeds))
    logger.info("step 3/4: methods x %d seeds", len(seeds))
    if args.dataset == "imagenet9":
        data, head = _load_ood_data(out)
        records = run_ood_methods(data, head, build_methods(nt_params, groups=False),
                                  seeds=seeds, n_epochs=n_epochs, jobs=args.jobs,
                                  quiet=args.quiet)
    else:
        from ..run import load_dataset

        data, head = load_dataset(out / "store")
        records = run_group_methods(data, head, build_methods(nt_params), seeds=seeds,
                                    n_epochs=n_epochs, jobs=args.jobs, quiet=args.quiet)
    return data, records


def default_out(args):
    """Where results go without ``--out``."""
    return Path(args.out or Path("benchmarks/results/reproduce") / args.dataset)


def reproduce(args):
    """Run the whole pipeline for ``args`` (see :func:`build_parser`); return results."""
    from featurizers.datasets import get_reader

    t0 = time.perf_counter()
    spec = SPECS[args.dataset]
    out = default_out(args)
    out.mkdir(parents=True, exist_ok=True)
    if args.dataset == "imagenet9" and not args.imagenet_a_root:
        raise ValueError("--dataset imagenet9 needs --imagenet-a-root (the ImageNet-A folder)")

    checkpoint, erm = _erm_model(args, spec, out)
    reader_name = args.reader or spec["reader"]
    reader = get_reader(reader_name, args.root, **parse_dataset_options(args.dataset_option))
    features = _embed(args, spec, checkpoint, reader, reader_name, out)

    nt_params = dict(spec["nt"])
    default_epochs = nt_params.pop("n_epochs")
    n_epochs = args.epochs or default_epochs
    if args.batches_per_epoch:
        nt_params["batches_per_epoch"] = args.batches_per_epoch
    data, records = _methods(args, spec, out, nt_params, n_epochs)
    results = {
        "config": {"dataset": args.dataset, "reader": reader_name,
                   "root": os.path.abspath(args.root),
                   "seeds": args.seeds, "n_epochs": n_epochs, "nt_params": nt_params,
                   "pooling": args.pooling if spec["modality"] == "text" else None},
        "erm_checkpoint": checkpoint, "erm": erm, "store": str(out / "store"),
        "features": features, "group_names": list(reader.group_names),
        "sizes": {s: int(len(v[1])) for s, v in data.items()},
        "records": records, "seconds": time.perf_counter() - t0,
    }
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    logger.info("step 4/4: report")
    results["report"] = write_report(results, out)
    return results
