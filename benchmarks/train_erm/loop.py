"""The training loop: set up, resume, train an epoch, evaluate, keep the best, checkpoint."""

import json
import logging
import math
import os
import time

from featurizers.runtime import require

from .state import (append_log, epoch_seed, load_checkpoint, save_checkpoint, seed_everything,
                    set_rng_state, worker_init, write_log)
from .tasks import make_task

logger = logging.getLogger(__name__)

#: Seconds to sleep after each checkpoint (the resume test kills the process meanwhile).
PAUSE_ENV = "NT_TRAIN_ERM_PAUSE_AFTER_EPOCH"


def lr_factor(step, steps_per_epoch, *, epochs, schedule, milestones=()):
    """The learning-rate multiplier after ``step`` iterations of ``epochs`` epochs."""
    total = max(1, epochs * steps_per_epoch)
    t = min(step, total) / total
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    if schedule == "linear":
        return 1.0 - t
    if schedule == "multistep":
        epoch = step // steps_per_epoch
        return 0.1 ** sum(epoch >= m for m in milestones)
    return 1.0


def make_optimizer(cfg, model):
    """SGD with momentum or AdamW over the trainable parameters, as ``cfg`` says."""
    torch = require("torch")
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


class _Sum:
    """Sums of loss, correct and seen rows, all-reduced over processes."""

    def __init__(self, torch, device):
        self.t = torch.zeros(3, dtype=torch.float64, device=device)

    def add(self, loss_sum, correct, n):
        self.t += self.t.new_tensor([loss_sum, correct, n])

    def reduce(self, dist):
        if dist._dist is not None:
            dist._dist.all_reduce(self.t)
        loss, correct, n = self.t.tolist()
        return loss / max(n, 1), correct / max(n, 1), int(n)


def evaluate(task, model, data, *, device, precision, batch_size, workers, dist):
    """Average accuracy on ``data`` (each process takes a contiguous block)."""
    torch = require("torch")
    from featurizers.runtime import autocast

    lo, hi = dist.block(len(data.y))
    subset = torch.utils.data.Subset(task.dataset(data, train=False), range(lo, hi))
    loader = torch.utils.data.DataLoader(subset, batch_size=batch_size, shuffle=False,
                                         num_workers=workers, collate_fn=task.collate,
                                         pin_memory=device.type == "cuda")
    acc = _Sum(torch, device)
    model.eval()
    with torch.inference_mode():
        for x, y in loader:
            x, y = task.to_device(x, device), y.to(device)
            with autocast(device, precision):
                logits = task.forward(model, x)
            acc.add(0.0, (logits.argmax(1) == y).sum().item(), len(y))
    return acc.reduce(dist)[1]


class _Trainer:
    """One run of :func:`train`; each step of the recipe is one method."""

    def __init__(self, cfg, dist):
        self.cfg, self.dist = cfg, dist
        self._setup_runtime()
        self._load_data()
        self._build_model()
        self._build_optimization()
        self._resume_or_start()

    def _setup_runtime(self):
        from featurizers.runtime import resolve_device, resolve_precision

        cfg = self.cfg
        self.device = resolve_device(cfg.device, self.dist.local_rank)
        self.precision = resolve_precision(cfg.precision, self.device)
        self.cuda = self.device.type == "cuda"
        self.workers = cfg.workers
        if self.workers is None:
            self.workers = min(8, os.cpu_count() or 1) if self.cuda else 0
        os.makedirs(cfg.out, exist_ok=True)
        self.last_path = os.path.join(cfg.out, "last.pt")
        self.log_path = os.path.join(cfg.out, "log.jsonl")

    def _load_data(self):
        from featurizers.datasets import get_reader

        cfg = self.cfg
        reader = get_reader(cfg.dataset, cfg.root, **cfg.dataset_options)
        if reader.modality != cfg.modality:
            raise ValueError(f"dataset {cfg.dataset!r} holds {reader.modality}s but preset "
                             f"{cfg.preset!r} trains a {cfg.modality} model")
        self.train_data, self.val_data = reader.load(cfg.train_split), reader.load(cfg.val_split)
        self.class_names = list(reader.class_names)

    def _build_model(self):
        """The task's model on the device; wrapped for DDP under torchrun."""
        torch = require("torch")
        cfg, dist = self.cfg, self.dist
        seed_everything(cfg.seed)  # the fresh classifier's initialisation
        self.task = make_task(cfg, self.class_names)
        model = self.task.model.to(self.device)
        if self.cuda and cfg.modality == "image":
            model = model.to(memory_format=torch.channels_last)
        net = model
        if dist.world_size > 1:
            if self.cuda and any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                                 for m in model.modules()):
                net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
            net = torch.nn.parallel.DistributedDataParallel(
                net, device_ids=[self.device.index] if self.cuda else None)
        self.model, self.net = model, net

    def _build_optimization(self):
        """Batch sizes per process, steps per epoch, optimizer, schedule, gradient scaler."""
        torch = require("torch")
        cfg, dist = self.cfg, self.dist
        self.per_rank = max(1, cfg.batch_size // dist.world_size)
        if self.per_rank * dist.world_size != cfg.batch_size:
            logger.warning("batch size %d does not divide over %d processes; %d each",
                           cfg.batch_size, dist.world_size, self.per_rank)
        self.eval_batch_size = cfg.eval_batch_size or 2 * self.per_rank
        self.train_set = self.task.dataset(self.train_data, train=True)
        steps = math.ceil(math.ceil(len(self.train_set) / dist.world_size) / self.per_rank)
        self.optimizer = make_optimizer(cfg, self.model)
        schedule = dict(epochs=cfg.epochs, schedule=cfg.schedule, milestones=cfg.milestones)
        # a lambda, not a callable object: LambdaLR's state dict then holds no lambda state
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, steps, **schedule))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    def _resume_or_start(self):
        """Restore ``last.pt`` when there is one (same settings only), else start afresh."""
        cfg, dist = self.cfg, self.dist
        self.start, self.history = 0, []
        self.best = {"epoch": 0, "val_acc": -1.0, "checkpoint": None}
        if os.path.isfile(self.last_path):
            state = load_checkpoint(self.last_path, cfg.checkpoint_settings())
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.scaler.load_state_dict(state["scaler"])
            self.start, self.history, self.best = state["epoch"], state["history"], state["best"]
            set_rng_state(state["rng"])
            if dist.is_main:
                write_log(self.log_path, self.history)  # drop lines of an epoch not checkpointed
                self.task.recover_export(cfg.out, self.best["checkpoint"])
            logger.info("resuming %s after epoch %d of %d", cfg.out, self.start, cfg.epochs)
        elif dist.is_main and os.path.exists(self.log_path):
            os.remove(self.log_path)
        dist.barrier()

    def run(self):
        """Train the remaining epochs; return the summary."""
        cfg, dist = self.cfg, self.dist
        pause = float(os.environ.get(PAUSE_ENV, 0))
        for epoch in range(self.start, cfg.epochs):
            t0 = time.perf_counter()
            lr = self.optimizer.param_groups[0]["lr"]
            train_loss, train_acc = self._train_epoch(epoch)
            if not math.isfinite(train_loss):
                logger.warning("epoch %d: the training loss is %s", epoch + 1, train_loss)
            val_acc = evaluate(self.task, self.model, self.val_data, device=self.device,
                               precision=self.precision, batch_size=self.eval_batch_size,
                               workers=self.workers, dist=dist)
            if dist.is_main:
                self._end_epoch(epoch, dict(train_loss=train_loss, train_acc=train_acc,
                                            val_acc=val_acc, lr=lr), t0)
                if pause:
                    time.sleep(pause)
            dist.barrier()
        return self._summary()

    def _loader(self, epoch, generator):
        """This process's shuffled mini-batches of the training set for ``epoch``."""
        torch = require("torch")
        dist = self.dist
        sampler, shuffle = None, True
        if dist.world_size > 1:
            sampler = torch.utils.data.distributed.DistributedSampler(
                self.train_set, num_replicas=dist.world_size, rank=dist.rank, shuffle=True,
                seed=self.cfg.seed)
            sampler.set_epoch(epoch)
            shuffle = None
        return torch.utils.data.DataLoader(
            self.train_set, batch_size=self.per_rank, shuffle=shuffle, sampler=sampler,
            num_workers=self.workers, collate_fn=self.task.collate, generator=generator,
            worker_init_fn=worker_init, pin_memory=self.cuda, drop_last=False,
            persistent_workers=False)

    def _train_epoch(self, epoch):
        """One pass over the training set; ``(loss, accuracy)`` over all processes."""
        torch = require("torch")
        from tqdm.auto import tqdm

        cfg, dist = self.cfg, self.dist
        s = epoch_seed(cfg.seed, epoch, dist.rank)
        seed_everything(s)  # augmentation and dropout of this epoch
        loader = self._loader(epoch, torch.Generator().manual_seed(s))
        stats = _Sum(torch, self.device)
        self.net.train()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not self._show,
                   dynamic_ncols=True, leave=False)
        run = [0.0, 0, 0]  # this process's running loss, correct, rows (the bar)
        for x, y in bar:
            loss, correct, n = self._step(x, y)
            stats.add(loss * n, correct, n)
            run = [run[0] + loss * n, run[1] + correct, run[2] + n]
            bar.set_postfix(loss=f"{run[0] / run[2]:.4f}", acc=f"{run[1] / run[2]:.3f}")
        bar.close()
        train_loss, train_acc, _ = stats.reduce(dist)
        return train_loss, train_acc

    def _step(self, x, y):
        """One optimisation step on a batch; ``(loss, correct, rows)``."""
        torch = require("torch")
        from featurizers.runtime import autocast

        x, y = self.task.to_device(x, self.device), y.to(self.device, non_blocking=True)
        if self.cuda and self.cfg.modality == "image":
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.precision):
            logits = self.task.forward(self.net, x)
            loss = torch.nn.functional.cross_entropy(logits.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return loss.item(), (logits.argmax(1) == y).sum().item(), len(y)

    @property
    def _show(self):
        return self.dist.is_main and not self.cfg.quiet

    def _end_epoch(self, epoch, figures, t0):
        """Main process: keep the best model, log the epoch, replace ``last.pt``."""
        from tqdm.auto import tqdm

        cfg, best = self.cfg, self.best
        if figures["val_acc"] > best["val_acc"]:
            best = self.best = {"epoch": epoch + 1, "val_acc": figures["val_acc"],
                                "checkpoint": self.task.export(self.model, cfg.out)}
        record = {"epoch": epoch + 1, **figures, "seconds": round(time.perf_counter() - t0, 3),
                  "best_epoch": best["epoch"], "best_val_acc": best["val_acc"]}
        self.history.append(record)
        save_checkpoint(self.last_path, settings=cfg.checkpoint_settings(), epoch=epoch + 1,
                        model=self.model, optimizer=self.optimizer, scheduler=self.scheduler,
                        scaler=self.scaler, best=best, history=self.history)
        append_log(self.log_path, record)
        logger.info("epoch %d/%d: train loss %.4f acc %.4f, val acc %.4f (best %.4f at "
                    "epoch %d), %.1f s", epoch + 1, cfg.epochs, figures["train_loss"],
                    figures["train_acc"], figures["val_acc"], best["val_acc"], best["epoch"],
                    record["seconds"])
        if self._show:
            tqdm.write(f"epoch {epoch + 1}/{cfg.epochs}: loss {figures['train_loss']:.4f} "
                       f"acc {figures['train_acc']:.3f} val acc {figures['val_acc']:.3f} "
                       f"lr {figures['lr']:.2e}")

    def _summary(self):
        """The run's summary; the main process also writes it to ``summary.json``."""
        cfg, best = self.cfg, self.best
        summary = {"out": cfg.out, "checkpoint": best["checkpoint"], "best_epoch": best["epoch"],
                   "best_val_acc": best["val_acc"], "epochs": cfg.epochs,
                   "modality": cfg.modality, "model": cfg.model, "preset": cfg.preset,
                   "class_names": self.class_names}
        if self.dist.is_main:
            with open(os.path.join(cfg.out, "summary.json"), "w") as fh:
                json.dump(summary, fh, indent=1)
        return summary


def train(cfg):
    """Train (or resume) as ``cfg`` (an :class:`ERMConfig`) says; return a summary dict.

    Rank 0's summary is complete. It holds ``checkpoint`` (``best.pth`` or ``best/``),
    ``best_epoch`` (1-based), ``best_val_acc``, ``epochs``, ``out``, ``modality``,
    ``model``, ``preset`` and ``class_names``.
    """
    from featurizers.runtime import Distributed

    dist = Distributed()
    try:
        return _Trainer(cfg, dist).run()
    finally:
        dist.close()
