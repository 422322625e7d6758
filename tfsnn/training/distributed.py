"""Data-parallel training on several processes (PyTorch DDP), e.g. ``torchrun --nproc_per_node 4
tfsnn train ...``: one process per GPU (NCCL), or per CPU share (gloo).

What stays exactly as in one process (the :class:`~tfsnn.training.Trainer` uses these helpers
with ``world_size == 1`` too, so one code path serves both):

- **The global batch.** Each epoch's seeded order is drawn identically on every rank; global
  batch ``b`` is ``order[b*B:(b+1)*B]`` (``B = train.batch_size``) and rank ``r`` takes the
  ``r``-th of its ``world_size`` equal slices (:func:`shard_order`). Per-rank batch =
  ``B / world_size``, which must be a whole number. DDP averages the ranks' gradients, i.e. the
  gradient of the mean loss over the global batch, as one process computes it.
- **The temporal configurations** (Algorithm 1): the configuration generator is seeded
  identically on every rank, so all ranks run the same ``s`` configurations each iteration.
  Gradients of the ``s`` passes accumulate locally under ``no_sync()``; the last backward
  all-reduces the sum (one all-reduce per iteration, Eq. 10).
- **BN calibration and evaluation.** Every rank calibrates on the same seeded batches (what
  one process would use), then rank 0's BN buffers are broadcast; the test set is split across
  ranks and the correct counts and loss sums all-reduced.

What differs: BN normalizes each rank's shard with that shard's statistics unless
``train.sync_bn`` (SyncBatchNorm, CUDA only) pools them over the global batch; augmentation
draws are seeded per rank (rank 0 as one process), so with augmentation a run equals a
one-process run in distribution, not bit for bit.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, Subset

from tfsnn.bn import batchnorms

__all__ = ["session", "rank", "world_size", "is_main", "shard_order", "Shard", "per_rank_batch",
           "DataParallelTFSNN", "broadcast_bn_buffers", "all_reduce_sum"]


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """True on rank 0 (and in a single process): the rank that writes files and prints."""
    return rank() == 0


@contextmanager
def session(device: str | torch.device | None = None, timeout_minutes: float = 60.0):
    """Join the process group torchrun describes (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
    ``MASTER_ADDR``/``PORT``) and yield this rank's device: ``cuda:LOCAL_RANK`` with NCCL when
    CUDA is present (unless ``device`` says cpu), else the CPU with gloo. Without torchrun
    (``WORLD_SIZE`` unset or 1) it yields ``device`` and starts nothing. ``timeout_minutes``
    bounds a collective's wait (rank 0's epoch-end work)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1 or dist.is_initialized():
        yield device
        return
    cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
    if cuda:
        local = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(local)
    else:
        local = torch.device("cpu")
    dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(minutes=timeout_minutes))
    try:
        yield local
    finally:
        dist.destroy_process_group()


def per_rank_batch(batch_size: int, size: int) -> int:
    if batch_size % size:
        raise ValueError(f"train.batch_size: {batch_size} does not split into {size} equal per-rank batches")
    return batch_size // size


def shard_order(n: int, batch_size: int, rank: int, size: int, generator: torch.Generator) -> list[int]:
    """This rank's items of one epoch, in order: the seeded permutation of ``range(n)`` cut into
    full global batches of ``batch_size`` (the last partial one dropped), and of each the
    ``rank``-th of ``size`` equal slices."""
    order = torch.randperm(n, generator=generator)
    full = n // batch_size * batch_size
    per_rank = per_rank_batch(batch_size, size)
    return order[:full].view(-1, size, per_rank)[:, rank].flatten().tolist()


class Shard(Subset):
    """``dataset`` restricted to ``indices`` (in that order), keeping its ``time_major`` flag
    for the loader."""

    def __init__(self, dataset: Dataset, indices: list[int]):
        super().__init__(dataset, indices)
        self.time_major = getattr(dataset, "time_major", False)


class _Passes(nn.Module):
    """Routes both ``model(x, t)`` and ``model.forward_steps(x, t)`` through one ``forward``, so
    DDP sees (and synchronizes the gradients of) either kind of pass."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs, t, steps: bool = False):
        return self.model.forward_steps(inputs, t) if steps else self.model(inputs, t)


class DataParallelTFSNN(DistributedDataParallel):
    """DDP around a TFSNN that still looks like one to a :class:`~tfsnn.training.Method`:
    ``model(x, t)``, ``model.forward_steps(x, t)`` and ``model.num_stages``."""

    def __init__(self, model: nn.Module, device: torch.device):
        super().__init__(_Passes(model), device_ids=[device] if device.type == "cuda" else None)
        self.num_stages = model.num_stages

    def forward_steps(self, inputs, t):
        return self(inputs, t, steps=True)


def broadcast_bn_buffers(model: nn.Module) -> None:
    """Give every rank rank 0's BN running statistics."""
    if world_size() > 1:
        for bn in batchnorms(model):
            for buffer in bn.buffers():
                dist.broadcast(buffer, 0)


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """``values`` summed over the ranks (float64)."""
    if world_size() == 1:
        return list(values)
    total = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.tolist()
