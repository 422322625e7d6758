"""Data-parallel training (tfsnn.training.distributed): 2 CPU processes with gloo against one.

The equality tests train a BN-free TFSNN (``fc``): without SyncBatchNorm (CUDA only) each rank's
BN normalizes its half batch with that half's statistics, so a ResNet's gradients would differ
from one process's by design; with no BN, 2 ranks x 16 items must give one process's 32-item
step up to float summation order. In float64: in float32 the two summation orders (and a
matmul of 16 rows against one of 32) round differently by ~1e-7, enough to flip a spike that
sits that close to the threshold, after which the runs part (see conftest.float64_copy).
"""

import os
import socket

import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp
from torch.utils.data import TensorDataset

from tfsnn.models import build
from tfsnn.training import MTT, Trainer
from tfsnn.training.distributed import per_rank_batch, session, shard_order

EPOCHS = 2


def _data():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(136, 20, generator=g, dtype=torch.float64), torch.randint(0, 4, (136,), generator=g)
    return TensorDataset(x[:96], y[:96]), TensorDataset(x[96:], y[96:])


def _trainer(out, device="cpu", init_seed=0):
    torch.manual_seed(init_seed)
    train, test = _data()
    return Trainer(build("fc", 4, 20, hidden=(16, 16)).double(), MTT(t_min=1, t_max=3, samples=2), train, test, out,
                   epochs=EPOCHS, batch_size=32, lr=0.05, calibrate_batches=2, eval_T=[1, 3], device=device,
                   progress=False, run_info={"config_hash": "test"})


def _worker(rank, size, port, out):
    """On each rank: a full run in out/full; a run in out/resumed killed at the start of epoch 2
    (on every rank), then resumed by a new trainer of another initialization."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(size), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    with session("cpu") as device:
        full = _trainer(f"{out}/full", device)
        full.fit()
        torch.save(full.model.state_dict(), f"{out}/full/rank{rank}.pt")

        killed = _trainer(f"{out}/resumed", device)
        original = killed.train_epoch
        killed.train_epoch = lambda e: original(e) if e == 1 else (_ for _ in ()).throw(KeyboardInterrupt)
        try:
            killed.fit()
        except KeyboardInterrupt:
            pass
        if rank == 0:
            epochs = pd.read_csv(f"{out}/resumed/metrics.csv").epoch.max()
            torch.save(torch.tensor(epochs), f"{out}/resumed/epochs_at_kill.pt")
        resumed = _trainer(f"{out}/resumed", device, init_seed=123)
        resumed.fit()
        torch.save(resumed.model.state_dict(), f"{out}/resumed/rank{rank}.pt")


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    """The folder of the 2-process runs (one spawn, gloo on the CPU)."""
    out = tmp_path_factory.mktemp("ddp")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(2, port, str(out)), nprocs=2)
    return out


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """One process, the same global batch of 32."""
    trainer = _trainer(tmp_path_factory.mktemp("single"))
    metrics = trainer.fit()
    return trainer.model.state_dict(), metrics


def test_shard_order_splits_each_global_batch_into_disjoint_rank_slices():
    order = torch.randperm(10, generator=torch.Generator().manual_seed(3)).tolist()
    shards = [shard_order(10, 4, r, 2, torch.Generator().manual_seed(3)) for r in range(2)]
    # global batches order[0:4], order[4:8]; the last 2 items are dropped; rank r: slice r of 2
    assert shards == [order[0:2] + order[4:6], order[2:4] + order[6:8]]
    assert shard_order(10, 4, 0, 1, torch.Generator().manual_seed(3)) == order[:8]
    with pytest.raises(ValueError, match="batch_size: 6 does not split into 4"):
        per_rank_batch(6, 4)


def test_two_processes_match_one_with_the_same_global_batch(single, ddp):
    weights, metrics = single
    for rank in range(2):  # every rank ends with one process's weights
        got = torch.load(ddp / "full" / f"rank{rank}.pt")
        assert got.keys() == weights.keys()
        for key, value in weights.items():
            assert torch.allclose(got[key], value, atol=1e-5), key
    # rank 0 alone wrote the metrics: the global batch's loss and accuracy, the whole test set
    on_disk = pd.read_csv(ddp / "full" / "metrics.csv")
    assert on_disk[["epoch", "metric"]].values.tolist() == metrics[["epoch", "metric"]].values.tolist()
    assert on_disk.value.tolist() == pytest.approx(metrics.value.tolist(), rel=1e-4)


def test_killed_run_resumes_to_the_same_weights(single, ddp):
    assert int(torch.load(ddp / "resumed" / "epochs_at_kill.pt")) == 1
    got = torch.load(ddp / "resumed" / "rank0.pt")
    assert all(torch.allclose(got[k], v, atol=1e-5) for k, v in single[0].items())
    assert pd.read_csv(ddp / "resumed" / "metrics.csv").value.tolist() == pytest.approx(
        single[1].value.tolist(), rel=1e-4)
