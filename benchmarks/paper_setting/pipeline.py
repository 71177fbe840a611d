"""The steps of ``run``: build, ERM fine-tuning, the reproduction, the frozen stores, the analysis.

Each step records ``CACHE/steps/<name>.json``: the step's key (its settings and the
keys of the steps it reads) and its wall time. A step whose record has the same key
and whose outputs exist is skipped; ERM training and embedding also resume inside a
step after a kill.
"""

import logging
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import images, texts
from ._cache import digest, read_json, write_json

logger = logging.getLogger(__name__)

DEFAULT_CACHE = Path("benchmarks/results/cache/paper_setting")
#: ``--tiny``: a few rows per group, for the test that keeps the path alive.
TINY_COUNTS = {
    "image": {"train": (12, 4, 4, 8), "val": (4, 4, 4, 4), "test": (6, 6, 6, 6)},
    "text": {"train": (12, 4, 4, 8), "val": (4, 4, 4, 4), "test": (6, 6, 6, 6)},
}


@dataclass
class Analogue:
    """One analogue: its data, its ERM recipe and its models."""

    name: str  # "image" or "text"
    dataset: str  # the paper dataset whose layout and reader it uses
    preset: str
    model: str  # timm name, or the text model's folder
    init: str  # image: initial weights (also the frozen backbone's); text: unused
    counts: dict = None
    image_size: int = 64

    @property
    def folder(self):
        return f"{self.dataset}-analogue"


@dataclass
class Run:
    """Where and how: the cache, the seeds and the overrides of the command line."""

    cache: Path
    seeds: int = 5
    jobs: int = -1
    erm_epochs: int = None
    nt_epochs: int = None
    batches_per_epoch: int = None
    quiet: bool = True
    timings: list = field(default_factory=list)

    def step(self, name, key, fn, outputs=()):
        """Run ``fn()`` unless ``CACHE/steps/name.json`` has ``key`` and ``outputs`` exist."""
        path = self.cache / "steps" / f"{name}.json"
        key = digest(key)
        rec = read_json(path)
        if rec and rec["key"] == key and all(Path(o).exists() for o in outputs):
            self.timings.append({"step": name, "seconds": 0.0, "status": "cached",
                                 "ran_in": rec["seconds"]})
            logger.info("%s: cached (ran in %.0f s)", name, rec["seconds"])
            return rec["result"], key
        logger.info("%s: running", name)
        t = time.perf_counter()
        result = fn()
        seconds = round(time.perf_counter() - t, 1)
        write_json(path, {"key": key, "seconds": seconds, "result": result})
        self.timings.append({"step": name, "seconds": seconds, "status": "ran",
                             "ran_in": seconds})
        logger.info("%s: %.0f s", name, seconds)
        return result, key


def analogues(*, tiny=False, image_model=None, image_init=None, text_model=None,
              image_size=None):
    """The two analogues with the command line's model overrides."""
    if text_model is None:
        from featurizers.text import OFFLINE_MODELS

        text_model = OFFLINE_MODELS["all-MiniLM-L6-v2"]()
    return [
        Analogue("image", "waterbirds", "waterbirds-analogue-cpu",
                 image_model or "tf_efficientnet_lite0", image_init or "efficientnet-lite0",
                 TINY_COUNTS["image"] if tiny else None, image_size or (32 if tiny else 64)),
        Analogue("text", "civilcomments", "civilcomments-analogue-cpu", os.path.abspath(text_model),
                 "folder", TINY_COUNTS["text"] if tiny else None),
    ]


def data_root(run, a):
    return run.cache / a.folder


def build_step(run, a):
    """Write the analogue dataset; returns its build key."""
    root = data_root(run, a)

    def build():
        if a.name == "image":
            rec = images.build_images(root, counts=a.counts, size=a.image_size)
        else:
            rec = texts.build_texts(root, counts=a.counts)
        return {"counts": rec["counts"], "key": digest(rec["key"])}

    marker = root / ("metadata.csv" if a.name == "image" else "all_data_with_identities.csv")
    key = {"analogue": a.name, "counts": a.counts, "size": a.image_size,
           "versions": (images.VERSION, texts.VERSION)}
    result, key = run.step(f"build-{a.name}", key, build, [marker])
    return result, key


def erm_config(run, a):
    from .. import train_erm

    return train_erm.ERMConfig.from_preset(
        a.preset, dataset=a.dataset, root=data_root(run, a),
        out=run.cache / "runs" / a.name / "erm",
        model=a.model, init=a.init if a.name == "image" else None, epochs=run.erm_epochs,
        image_size=a.image_size if a.name == "image" else 224, seed=0, device="cpu",
        precision="fp32", workers=0, quiet=run.quiet)


def erm_step(run, a, build_key):
    """ERM fine-tuning (resumes after a kill); returns the summary."""
    from .. import train_erm

    cfg = erm_config(run, a)
    settings = {k: v for k, v in cfg.checkpoint_settings().items() if k not in ("root",)}

    def train():
        s = train_erm.train(cfg)
        log = [read_json_line(x) for x in open(os.path.join(cfg.out, "log.jsonl"))]
        return {k: s[k] for k in ("checkpoint", "best_epoch", "best_val_acc", "epochs")} | {
            "val_acc": [r["val_acc"] for r in log], "train_acc": [r["train_acc"] for r in log]}

    best = os.path.join(cfg.out, "best.pth" if a.name == "image" else "best")
    return run.step(f"erm-{a.name}", {"build": build_key, "erm": settings}, train, [best])


def read_json_line(line):
    import json

    return json.loads(line)


def reproduce_step(run, a, erm, erm_key):
    """Embeddings with the fine-tuned backbone and every method (``benchmarks.reproduce``)."""
    from .. import reproduce

    out = run.cache / "runs" / a.name
    argv = ["--dataset", a.dataset, "--root", str(data_root(run, a)), "--out", str(out),
            "--erm-checkpoint", erm["checkpoint"], "--seeds", str(run.seeds),
            "--jobs", str(run.jobs), "--device", "cpu", "--precision", "fp32",
            "--workers", "0", "--feature-batch-size", "64"]
    if a.name == "image":
        argv += ["--model", a.model, "--image-size", str(a.image_size)]
    if run.nt_epochs:
        argv += ["--epochs", str(run.nt_epochs)]
    if run.batches_per_epoch:
        argv += ["--batches-per-epoch", str(run.batches_per_epoch)]
    if run.quiet:
        argv.append("-q")

    def go():
        args = reproduce.build_parser().parse_args(argv)
        reproduce.reproduce(args)
        return {"results": str(out / "results.json"), "store": str(out / "store")}

    return run.step(f"reproduce-{a.name}", {"erm": erm_key, "argv": argv[4:]}, go,
                    [out / "results.json"])


def frozen_step(run, a, build_key):
    """The same splits embedded by the backbone before fine-tuning."""
    from featurizers import build_encoder
    from featurizers.datasets import get_reader
    from featurizers.pipeline import featurize

    from ..reproduce.pipeline import match_erm_evaluation

    out = run.cache / "runs" / a.name / "store-frozen"

    def go():
        if a.name == "image":
            enc = build_encoder("image", a.model, weights=a.init, head=False, device="cpu",
                                precision="fp32", preprocess="square",
                                image_size=a.image_size, workers=0)
            match_erm_evaluation(enc, a.image_size)
        else:
            enc = build_encoder("text", a.model, head=False, device="cpu", precision="fp32",
                                pooling="mean", max_length=220)
        featurize(get_reader(a.dataset, str(data_root(run, a))), enc, out, batch_size=64,
                  progress=not run.quiet)
        return {"store": str(out)}

    key = {"build": build_key, "model": a.model, "init": a.init, "size": a.image_size}
    return run.step(f"frozen-{a.name}", key, go, [out / "manifest.json"])


FROZEN_METHODS = ("ERM", "NT=No (class-balanced)", "Random mask", "NeuronTune")


def analysis_step(run, a, stores, keys):
    """Item 4 on the fine-tuned and the frozen store; methods of the frozen store too."""
    from ..methods import build_methods, reference_model
    from ..reproduce import SPECS, run_group_methods
    from ..run import load_dataset
    from .analysis import analyse

    nt = dict(SPECS[a.dataset]["nt"])
    n_epochs = run.nt_epochs or nt.pop("n_epochs")
    nt.pop("n_epochs", None)
    if run.batches_per_epoch:
        nt["batches_per_epoch"] = run.batches_per_epoch

    def go():
        out = {}
        for backbone, store in stores.items():
            data, head = load_dataset(store)
            head = head if backbone == "fine-tuned" else None
            out[backbone] = analyse(data, reference_model(data, head), nt)
        data, _ = load_dataset(stores["frozen"])
        methods = [m for m in build_methods(nt) if m.name in FROZEN_METHODS]
        out["frozen_records"] = run_group_methods(
            data, None, methods, seeds=list(range(run.seeds)), n_epochs=n_epochs,
            jobs=run.jobs, quiet=True)
        return out

    return run.step(f"analysis-{a.name}", {"stores": keys, "nt": nt, "epochs": n_epochs,
                                           "seeds": run.seeds}, go)


def machine():
    """A line about this machine and its load now."""
    load = "/".join(f"{v:.1f}" for v in os.getloadavg())
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
            f"load average (1/5/15 min) {load}")


ALL_STEPS = ("build", "erm", "reproduce", "frozen", "analysis")


def run_all(run, analogue_list, *, steps=ALL_STEPS):
    """Every step for every analogue, in order; returns what the report needs."""
    t0 = time.perf_counter()
    state = {"machine_start": machine(), "analogues": {}}
    for a in analogue_list:
        info = state["analogues"][a.name] = {"dataset": a.dataset, "preset": a.preset,
                                            "model": a.model, "root": str(data_root(run, a))}
        build, build_key = build_step(run, a)
        info["counts"] = build["counts"]
        if "erm" not in steps:
            continue
        erm, erm_key = erm_step(run, a, build_key)
        info["erm"] = erm
        rep, rep_key = reproduce_step(run, a, erm, erm_key)
        info["results"] = rep["results"]
        frozen, frozen_key = frozen_step(run, a, build_key)
        ana, _ = analysis_step(run, a, {"fine-tuned": rep["store"], "frozen": frozen["store"]},
                               [rep_key, frozen_key])
        info["analysis"] = ana
    state["timings"] = run.timings
    state["seconds"] = round(time.perf_counter() - t0, 1)
    state["machine_end"] = machine()
    state["seeds"] = run.seeds
    return state


__all__ = ["Analogue", "Run", "analogues", "run_all", "DEFAULT_CACHE", "TINY_COUNTS"]
