"""Training-step time and memory of TFSNNs against their ANN floor.

The ANN floor is the same network with ReLU in place of every LIF, run on T*B images in one
batch (the ``relu`` neuron with a uniform T does exactly that: time is folded into the batch).
Implementations are measured alternately within one run and the median of per-round ratios is
reported, since a shared CPU drifts by 15-25% between runs.

    python benchmarks/step_time.py                      # both networks, T = 1..6
    python benchmarks/step_time.py --nets resnet18-narrow --T 6 --rounds 5
    python benchmarks/step_time.py --memory             # + activation memory at T=6, batch 64

Writes a CSV (``--out``) with one row per (net, T, measurement) and prints a summary.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import pandas as pd
import torch
import torch.nn.functional as F

from tfsnn.io import with_provenance, write_csv
from tfsnn.models import build
from tfsnn.training import MTT, train_step

NETS = {  # name: (architecture, width, default batch)
    "resnet19": ("resnet19", 1.0, 8),
    "resnet18-narrow": ("resnet18", 0.25, 64),
}


def make(net: str, neuron: str, seed: int = 0):
    arch, width, _ = NETS[net]
    torch.manual_seed(seed)
    return build(arch, 10, 3, width=width, neuron={"kind": neuron})


def step_seconds(model, optimizer, x, y, t) -> float:
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(model(x, t), y).backward()
    optimizer.step()
    return time.perf_counter() - start


def saved_bytes(model, x, y, t) -> int:
    """Bytes of the distinct storages autograd keeps for the backward of one forward pass: the
    activation memory, which dominates a training step's peak and grows with T * B."""
    storages = {}

    def pack(tensor):
        if tensor.layout == torch.strided:
            storage = tensor.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = F.cross_entropy(model(x, t), y)
    loss.backward()
    return sum(storages.values())


def time_net(net: str, Ts: list[int], batch: int, rounds: int, warmup: int) -> list[dict]:
    rows = []
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    models = {kind: make(net, kind) for kind in ("lif", "relu")}
    optims = {k: torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for k, m in models.items()}
    for T in Ts:
        for kind in models:
            for _ in range(warmup):
                step_seconds(models[kind], optims[kind], x, y, T)
        times = {kind: [] for kind in models}
        for _ in range(rounds):  # alternate the two implementations within each round
            for kind in models:
                times[kind].append(step_seconds(models[kind], optims[kind], x, y, T))
        ratios = [s / a for s, a in zip(times["lif"], times["relu"])]
        mem = {kind: saved_bytes(models[kind], x, y, T) for kind in models}
        row = {"net": net, "T": T, "batch": batch, "rounds": rounds}
        rows += [
            {**row, "metric": "snn_step_s", "value": statistics.median(times["lif"])},
            {**row, "metric": "ann_step_s", "value": statistics.median(times["relu"])},
            {**row, "metric": "snn_over_ann_time", "value": statistics.median(ratios)},
            {**row, "metric": "snn_saved_mb", "value": mem["lif"] / 2**20},
            {**row, "metric": "ann_saved_mb", "value": mem["relu"] / 2**20},
            {**row, "metric": "snn_over_ann_saved", "value": mem["lif"] / mem["relu"]},
        ]
        print(f"{net:16s} T={T} B={batch}: SNN {statistics.median(times['lif']):.3f}s  "
              f"ANN {statistics.median(times['relu']):.3f}s  ratio {statistics.median(ratios):.3f}  "
              f"saved {mem['lif'] / 2**20:.0f}/{mem['relu'] / 2**20:.0f} MB", flush=True)
    return rows


def time_mtt(net: str, batch: int, rounds: int, samples: int = 3) -> list[dict]:
    """An MTT iteration (s configurations, one optimizer step) against the sum of single passes."""
    model = make(net, "lif")
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    ratios = []
    for r in range(rounds + 1):
        method = MTT(1, 6, samples)
        configs = method.configurations(model.num_stages, torch.Generator().manual_seed(r))
        start = time.perf_counter()
        train_step(model, method, optimizer, scaler, x, y, torch.Generator().manual_seed(r))
        mtt = time.perf_counter() - start
        singles = sum(step_seconds(model, optimizer, x, y, c) for c in configs)
        if r:  # round 0 is warm-up
            ratios.append(mtt / singles)
    ratio = statistics.median(ratios)
    print(f"{net:16s} MTT iteration (s={samples}) / sum of its passes: {ratio:.3f}", flush=True)
    return [{"net": net, "T": None, "batch": batch, "rounds": rounds, "metric": "mtt_over_sum_of_passes",
             "value": ratio}]


def memory_at(net: str, T: int, batch: int) -> list[dict]:
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    mem = {kind: saved_bytes(make(net, kind), x, y, T) / 2**20 for kind in ("lif", "relu")}
    print(f"{net:16s} activation memory T={T} B={batch}: SNN {mem['lif']:.0f} MB, ANN {mem['relu']:.0f} MB "
          f"({mem['lif'] / mem['relu']:.2f}x)", flush=True)
    row = {"net": net, "T": T, "batch": batch, "rounds": 1}
    return [{**row, "metric": "snn_saved_mb", "value": mem["lif"]}, {**row, "metric": "ann_saved_mb", "value": mem["relu"]}]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    parser.add_argument("--T", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--batch", type=int, default=None, help="default: per net (resnet19 8, narrow resnet18 64)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--memory", action="store_true", help="also activation memory at T=6, batch 64")
    parser.add_argument("--out", default="benchmarks/results/step_time.csv")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    rows = []
    for net in args.nets:
        batch = args.batch or NETS[net][2]
        rows += time_net(net, args.T, batch, args.rounds, args.warmup)
        rows += time_mtt(net, batch, args.rounds)
        if args.memory:
            rows += memory_at(net, 6, 64)
    write_csv(with_provenance(pd.DataFrame(rows), device="cpu", threads=torch.get_num_threads()), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
