"""The training loop: optimizer, cosine schedule, AMP, BN calibration, metrics, checkpoints.

Every epoch ends with (1) BN calibration at the method's ``t_max`` on ``calibrate_batches``
training batches (as the authors' code does; skipped for a method whose ``calibrate_bn`` is
False, i.e. SDT), (2) test accuracy at each ``eval_T``, (3) the metrics CSV and the checkpoint,
both written atomically.

``eval_uncalibrated`` (Fig. 7C: test accuracy along training with and without BN calibration)
also tests, before the calibration, with the running statistics that training alone gathered:
a copy of the BN buffers that only the training passes update, never a calibration. It is put
back into the model at the start of every epoch (so training's running statistics continue
from their own last values) and taken out again after the epoch's training passes; the
calibration then replaces the model's buffers, as in any run. In train mode BN normalizes with
each batch's own statistics, so the weights are those of a run without the option; the
uncalibrated curve is that of a run that never calibrated. The checkpoint's model holds the
calibrated statistics (what every evaluation uses), its ``training_bn`` the training's.

``save_epochs``: the model's state after those epochs (0: before the first) is kept in the
checkpoint (``snapshots``, by epoch) for analyses along training (section 4.2's gradient
cosine, :mod:`tfsnn.analysis.gradients`).

The data order, augmentation and sampled configurations of epoch ``e`` depend only on
``(seed, e)`` (and the rank), so a run resumed from its checkpoint after epoch ``k`` ends with
the same weights as one never interrupted (and the same kept states and training statistics).

Under ``torchrun`` the trainer runs data-parallel (DDP, :mod:`tfsnn.training.distributed`):
``batch_size`` stays the global batch, every rank trains on its slice of it with the same
configurations, and rank 0 alone writes the checkpoint and metrics.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from tfsnn.bn import batchnorms, calibrate
from tfsnn.data import make_loader
from tfsnn.evaluate import evaluate
from tfsnn.io import TRAINING_STATE, CheckpointError, load_checkpoint, save_checkpoint, with_provenance, write_csv
from tfsnn.precision import autocast, grad_scaler, memory_format, resolve
from tfsnn.training import distributed
from tfsnn.training.methods import Method

__all__ = ["Trainer", "train_step", "build_optimizer", "epoch_seed"]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.csv"


def epoch_seed(seed: int, epoch: int, stream: int, rank: int = 0) -> int:
    """An independent 63-bit seed for ``stream`` of ``epoch`` of run ``seed`` on process ``rank``
    (rank 0: the seed of a single process)."""
    entropy = [seed, epoch, stream] + ([rank] if rank else [])
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> 1)


def build_optimizer(model, name: str, lr: float, momentum: float, weight_decay: float):
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    raise ValueError(f"train.optimizer: unknown optimizer {name!r}; choose 'sgd' or 'adamw'")


def train_step(model, method: Method, optimizer, scaler, inputs, targets, generator,
               precision: str = "fp32") -> list[dict]:
    """One iteration of Algorithm 1: for each configuration the method draws, forward, loss and
    backward (gradients accumulate, Eq. 10); then ONE optimizer step. Returns a row per pass.

    For a DDP ``model`` all passes but the last run under ``no_sync()``: the last backward
    all-reduces the summed gradients once. ``precision``: see :mod:`tfsnn.precision` (``scaler``
    from :func:`tfsnn.precision.grad_scaler`)."""
    device = inputs.device
    optimizer.zero_grad(set_to_none=True)
    passes = []
    configs = method.configurations(model.num_stages, generator)
    for i, config in enumerate(configs):
        local = model.no_sync() if hasattr(model, "no_sync") and i < len(configs) - 1 else nullcontext()
        with local:
            with autocast(device, precision):
                loss, output = method.loss(model, inputs, targets, config)
            scaler.scale(loss).backward()
        passes.append(
            {"config": str(config), "loss": float(loss.detach()), "correct": int((output.argmax(1) == targets).sum())}
        )
    scaler.step(optimizer)
    scaler.update()
    return passes


class Trainer:
    """Trains ``model`` with ``method``; resumes from ``out_dir/checkpoint.pt`` when present.

    In a process group (torchrun; see :func:`tfsnn.training.distributed.session`) it trains
    data-parallel: ``batch_size`` is the global batch, ``sync_bn`` turns the BNs into
    SyncBatchNorm (CUDA only), ``device`` is this rank's. ``channels_last`` and
    ``eval_batch_size`` (the test's batch; None: ``batch_size``) are execution settings
    (:mod:`tfsnn.execution`)."""

    def __init__(
        self,
        model,
        method: Method,
        train_set,
        test_set,
        out_dir: str | Path,
        *,
        epochs: int,
        batch_size: int = 64,
        optimizer: str = "sgd",
        lr: float = 0.1,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        precision: str = "auto",
        channels_last: bool = False,
        eval_batch_size: int | None = None,
        calibrate_batches: int = 10,
        eval_uncalibrated: bool = False,
        save_epochs: Sequence[int] = (),
        eval_T: Sequence[int] = (1, 2, 3, 4, 5, 6),
        seed: int = 0,
        sync_bn: bool = False,
        num_workers: int = 0,
        device: str | torch.device | None = None,
        progress: bool = True,
        run_info: dict | None = None,
    ):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.rank, self.world_size = distributed.rank(), distributed.world_size()
        self.rank_batch = distributed.per_rank_batch(batch_size, self.world_size)
        if sync_bn and self.world_size > 1:
            if self.device.type != "cuda":
                raise ValueError("train.sync_bn: SyncBatchNorm needs CUDA devices")
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model.to(self.device, memory_format=memory_format(channels_last))
        # what the passes run: the model itself, or DDP around it (same parameters)
        self.trained = distributed.DataParallelTFSNN(self.model, self.device) if self.world_size > 1 else self.model
        self.method = method
        self.train_set, self.test_set = train_set, test_set
        self.out_dir = Path(out_dir)
        self.epochs, self.batch_size = epochs, batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.optimizer = build_optimizer(self.model, optimizer, lr, momentum, weight_decay)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=epochs, eta_min=0.0)
        self.precision = resolve(precision, self.device)
        self.scaler = grad_scaler(self.device, self.precision)
        self.calibrate_batches = calibrate_batches
        self.eval_uncalibrated = eval_uncalibrated
        self.save_epochs = sorted(set(save_epochs))
        # Fig. 7C: the BN buffers as training alone leaves them (None until the first epoch's training)
        self.training_bn: dict[str, torch.Tensor] | None = None
        self.snapshots: dict[int, dict[str, torch.Tensor]] = {}
        self.eval_T = list(eval_T)
        self.seed, self.num_workers = seed, num_workers
        self.progress = progress and self.rank == 0
        self.run_info = dict(run_info or {})
        self.epoch = 0
        self.history: list[dict] = []

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT

    def _loader(self, dataset, train: bool, epoch: int, stream: int, batch_size: int | None = None):
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch, stream))
        return make_loader(dataset, batch_size or self.batch_size, train, generator, self.num_workers)

    def _train_loader(self, epoch: int):
        """This rank's slice of every global batch of the epoch's seeded order."""
        order = torch.Generator().manual_seed(epoch_seed(self.seed, epoch, 2))
        shard = distributed.Shard(
            self.train_set, distributed.shard_order(len(self.train_set), self.batch_size, self.rank,
                                                    self.world_size, order))
        workers = torch.Generator().manual_seed(epoch_seed(self.seed, epoch, 2, self.rank))
        return make_loader(shard, self.rank_batch, False, workers, self.num_workers)

    def resume(self) -> bool:
        """Load ``out_dir/checkpoint.pt`` if it exists; True if it did."""
        if not self.checkpoint_path.exists():
            return False
        state = load_checkpoint(self.checkpoint_path, map_location=self.device)
        expected = self.run_info.get("config_hash")
        if expected is not None and state.get("config_hash") != expected:
            raise CheckpointError(
                f"{self.checkpoint_path} was written by config {state.get('config_hash')}, this run's config is "
                f"{expected}: use another output folder or remove the checkpoint"
            )
        if missing := [k for k in TRAINING_STATE if k not in state]:
            raise CheckpointError(
                f"{self.checkpoint_path} is a finished run's checkpoint without {', '.join(missing)}: "
                "it evaluates but cannot resume a training"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.history = state["epoch"], list(state["history"])
        self.training_bn = state.get("training_bn")
        self.snapshots = {int(e): {k: v.cpu() for k, v in weights.items()}
                          for e, weights in state.get("snapshots", {}).items()}
        return True

    def _save(self) -> None:
        save_checkpoint(
            {
                "config": self.run_info.get("config"),
                "config_hash": self.run_info.get("config_hash"),
                "epoch": self.epoch,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "history": self.history,
                **({"training_bn": self.training_bn} if self.training_bn is not None else {}),
                **({"snapshots": {str(e): w for e, w in self.snapshots.items()}} if self.snapshots else {}),
            },
            self.checkpoint_path,
        )

    def metrics(self) -> pd.DataFrame:
        fields = {k: v for k, v in self.run_info.items() if k != "config"}
        return with_provenance(self.history, **fields)

    def _bn_buffers(self) -> dict[str, torch.Tensor]:
        """A copy of every BN running-statistics buffer of the model, by name."""
        tracked = {id(bn) for bn in batchnorms(self.model)}
        return {f"{name}.{key}": buf.detach().clone() for name, bn in self.model.named_modules() if id(bn) in tracked
                for key, buf in bn.named_buffers(recurse=False)}

    def _load_bn_buffers(self, buffers: dict[str, torch.Tensor]) -> None:
        own = dict(self.model.named_buffers())
        with torch.no_grad():
            for name, value in buffers.items():
                own[name].copy_(value)

    def _snapshot(self) -> None:
        """Keep the model's state after epoch ``self.epoch`` if ``save_epochs`` names it."""
        if self.epoch in self.save_epochs:
            self.snapshots[self.epoch] = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def train_epoch(self, epoch: int) -> list[dict]:
        calibrating = self.calibrate_batches and self.method.calibrate_bn
        separate = calibrating and self.eval_uncalibrated  # Fig. 7C: training's own running statistics
        if separate and self.training_bn is not None:
            self._load_bn_buffers(self.training_bn)
        torch.manual_seed(epoch_seed(self.seed, epoch, 0, self.rank))  # augmentation draws
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch, 1))  # configurations: all ranks
        loader = self._train_loader(epoch)
        self.trained.train()
        loss_sum, correct, seen, passes = 0.0, 0, 0, 0
        bar = tqdm(loader, desc=f"epoch {epoch}/{self.epochs}", disable=not self.progress, leave=False)
        for inputs, targets in bar:
            inputs = inputs.to(self.device, non_blocking=True)
            targets = targets.to(self.device, non_blocking=True)
            rows = train_step(self.trained, self.method, self.optimizer, self.scaler, inputs, targets, generator,
                              self.precision)
            loss_sum += sum(r["loss"] for r in rows)
            correct += sum(r["correct"] for r in rows)
            passes += len(rows)
            seen += len(rows) * len(targets)
            bar.set_postfix(loss=f"{loss_sum / passes:.3f}", acc=f"{100 * correct / seen:.1f}")
        # over the ranks: the mean of the ranks' mean losses is the global batch's mean loss
        loss_sum, correct, seen, passes = distributed.all_reduce_sum([loss_sum, correct, seen, passes], self.device)
        if seen == 0:
            raise ValueError(f"the training set ({len(self.train_set)} items) holds no full batch of {self.batch_size}")
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        rows = [
            {"epoch": epoch, "metric": "train_loss", "T": None, "value": loss_sum / passes},
            {"epoch": epoch, "metric": "train_acc", "T": None, "value": 100.0 * correct / seen},
            {"epoch": epoch, "metric": "lr", "T": None, "value": lr},
        ]
        if separate:  # Fig. 7C: tested with the running statistics of training, which no calibration touched
            rows += self._test_rows(epoch, "_uncalibrated")
            self.training_bn = self._bn_buffers()  # after the test: rank 0's, on every rank
        if calibrating:  # every rank on the same batches (SyncBatchNorm needs them all); rank 0's are tested
            calibrate(self.model, self._loader(self.train_set, True, epoch, 3), self.method.t_max,
                      self.calibrate_batches, self.device, self.precision)
        return rows + self._test_rows(epoch)

    def _test_rows(self, epoch: int, suffix: str = "") -> list[dict]:
        """Test accuracy and loss at ``eval_T`` (metrics ``test_acc{suffix}``, ``test_loss{suffix}``),
        with rank 0's BN statistics, each rank testing every ``world_size``-th item, the counts summed
        over the ranks."""
        distributed.broadcast_bn_buffers(self.model)
        shard = distributed.Shard(self.test_set, list(range(self.rank, len(self.test_set), self.world_size)))
        rows = []
        loader = self._loader(shard, False, epoch, 4, self.eval_batch_size)
        for row in evaluate(self.model, loader, self.eval_T, self.device, precision=self.precision):
            correct, loss_sum, count = distributed.all_reduce_sum(
                [round(row["accuracy"] * row["samples"] / 100), row["loss"] * row["samples"], row["samples"]],
                self.device)
            rows.append({"epoch": epoch, "metric": f"test_acc{suffix}", "T": row["T"], "value": 100 * correct / count})
            rows.append({"epoch": epoch, "metric": f"test_loss{suffix}", "T": row["T"], "value": loss_sum / count})
        return rows

    def fit(self) -> pd.DataFrame:
        """Train the remaining epochs; returns the metrics table (also in ``out_dir/metrics.csv``)."""
        main = self.rank == 0  # writes files and prints; every rank keeps the same history
        resumed = self.resume()
        if resumed and main:
            write_csv(self.metrics(), self.out_dir / METRICS)  # in case a kill hit between the two writes
        if not resumed:
            self._snapshot()  # the initial weights, if save_epochs names epoch 0
        while self.epoch < self.epochs:
            start = time.perf_counter()
            rows = self.train_epoch(self.epoch + 1)
            self.epoch += 1
            self.history.extend(rows)
            self._snapshot()
            if main:
                self._save()
                write_csv(self.metrics(), self.out_dir / METRICS)
                accs = ", ".join(f"T={r['T']}: {r['value']:.2f}" for r in rows if r["metric"] == "test_acc")
                tqdm.write(f"epoch {self.epoch}/{self.epochs} ({time.perf_counter() - start:.0f}s) test acc {accs}")
        return self.metrics()
