"""The small scale's own networks, today's way against the new way, for training and evaluation.

One network per family the scale trains (``config/scales/small.yaml``, ``experiments``: its
architecture, width, batch and T; the neuron of its runs), each timed in both ways, alternating
within one run (a shared CPU drifts by 15-25 % between runs):

- ``before``: the scale as it ran until now: contiguous NCHW, the ``fused`` LIF
  (``TFSNN_LIF_BACKEND=fused``), and the plain evaluation (one pass per T, BN as it is, the
  training batch);
- ``after``: the scale's execution settings now (:mod:`tfsnn.execution`): channels-last, the LIF
  ``auto`` picks (``compiled`` up to 16 steps, else ``fused``), and the evaluation of
  :mod:`tfsnn.evaluate` (one pass for every uniform T, BN folded, inference mode) at the
  scale's ``TFSNN_EVAL_BATCH``.

Timed, per family: a training step (SDT at the family's T, forward, backward and SGD step:
``train``; for the ResNets also an MTT iteration of 3 sampled configurations, ``train-mtt``), the test
of each epoch (``eval-T``: the family's T only, as the scale's runs test while training), and a
test at each T the scale's tables read (``eval-sweep``: CIFAR T=1..6, N-MNIST T=2,4,..,10). The
compiled LIF's first step at each T compiles; it is timed apart (``first_step_s``; inductor
keeps the kernels on disk, so later processes load them). Inputs are random tensors of the
real shapes (images, event frames, spike trains): the dense kernels take the same time whatever
the values. Precision fp32 (``train.precision: auto`` on a CPU).

    OMP_NUM_THREADS=1 python benchmarks/scale_speed.py                 # every family, 5 rounds
    OMP_NUM_THREADS=1 python benchmarks/scale_speed.py --families cifar-resnet18 --rounds 3

Writes a CSV (``--out``): one row per (family, phase, way, metric); ``speed_up`` is the median of
per-round ratios of ``before``'s time to ``after``'s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import yaml
from torch.utils.data import DataLoader, TensorDataset

from tfsnn.evaluate import scores
from tfsnn.models import build
from tfsnn.neuron import resolve_backend
from tfsnn.training import MTT, SDT, train_step
from tfsnn.io import with_provenance, write_csv

SCALE = Path(__file__).resolve().parent.parent / "config" / "scales" / "small.yaml"


@dataclass(frozen=True)
class Family:
    """A family of the scale: its network (``neuron``: the kind its runs use) and inputs."""

    name: str
    input_shape: tuple[int, ...]  # per item (and per step, for frames)
    frames: bool  # inputs [T, B, ...] (events, sequences) or static images [B, ...]
    T: int
    eval_T: tuple[int, ...]
    neuron: str = "lif"
    mtt: bool = False


FAMILIES = {f.name: f for f in [
    Family("cifar-resnet18", (3, 32, 32), False, 6, (1, 2, 3, 4, 5, 6), mtt=True),
    Family("dvs-resnet18", (2, 34, 34), True, 10, (2, 4, 6, 8, 10), mtt=True),
    Family("nmnist-resnet18", (2, 34, 34), True, 10, (10,), neuron="iaf", mtt=True),
    Family("seqmnist-fc", (4,), True, 196, (196,)),
    Family("shd-fc", (70,), True, 100, (100,)),
]}
WAYS = ("before", "after")


def scale_settings() -> tuple[dict, dict]:
    """The small scale's experiments and its environment (its execution settings)."""
    scale = yaml.safe_load(SCALE.read_text())
    return scale["experiments"], {k: str(v) for k, v in scale["env"].items()}


def make(family: Family, experiment: dict, way: str, env: dict):
    model_config = experiment["model"]
    neuron = {"kind": family.neuron}
    if family.neuron == "lif":
        neuron["backend"] = "fused" if way == "before" else env.get("TFSNN_LIF_BACKEND", "auto")
    torch.manual_seed(0)
    model = build(model_config["name"], 10, family.input_shape[0], width=model_config.get("width", 1.0),
                  neuron=neuron)
    if way == "after" and env.get("TFSNN_CHANNELS_LAST") == "1":
        model = model.to(memory_format=torch.channels_last)
    return model


def inputs(family: Family, batch: int, generator: torch.Generator) -> torch.Tensor:
    if not family.frames:
        return torch.randn(batch, *family.input_shape, generator=generator)
    density = 0.1 if len(family.input_shape) > 1 else 0.2  # event frames; spike trains, pixels
    return (torch.rand(family.T, batch, *family.input_shape, generator=generator) < density).float()


def test_loader(family: Family, items: int, batch: int) -> DataLoader:
    """``items`` test inputs in batches of ``batch`` (frames batched along dim 1)."""
    generator = torch.Generator().manual_seed(1)
    x, y = inputs(family, items, generator), torch.randint(0, 10, (items,), generator=generator)
    if not family.frames:
        return DataLoader(TensorDataset(x, y), batch_size=batch)
    return DataLoader(TensorDataset(x.transpose(0, 1), y), batch_size=batch,
                      collate_fn=lambda b: (torch.stack([f for f, _ in b], 1), torch.stack([t for _, t in b])))


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def time_family(family: Family, experiment: dict, env: dict, rounds: int, items: int) -> list[dict]:
    batch = experiment["train"]["batch_size"]
    eval_batch = {"before": batch, "after": int(env.get("TFSNN_EVAL_BATCH", batch))}
    generator = torch.Generator().manual_seed(0)
    x, y = inputs(family, batch, generator), torch.randint(0, 10, (batch,), generator=generator)
    models = {way: make(family, experiment, way, env) for way in WAYS}
    optimizers = {way: torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for way, m in models.items()}
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    methods = {"train": SDT(family.T)}
    if family.mtt:
        methods["train-mtt"] = MTT(1, family.T, 3)
    loaders = {way: test_loader(family, items, eval_batch[way]) for way in WAYS}

    def step(way, method, seed):
        models[way].train()
        train_step(models[way], method, optimizers[way], scaler, x, y, torch.Generator().manual_seed(seed))

    def test(way, Ts):
        scores(models[way], loaders[way], Ts, plain=way == "before")

    phases = {phase: (lambda way, r, m=method: step(way, m, r), batch) for phase, method in methods.items()}
    phases["eval-T"] = (lambda way, r: test(way, [family.T]), items)
    if len(family.eval_T) > 1:
        phases["eval-sweep"] = (lambda way, r: test(way, list(family.eval_T)), items)
    rows = []
    base = {"family": family.name, "model": experiment["model"]["name"], "neuron": family.neuron, "T": family.T,
            "batch": batch, "rounds": rounds}
    for way in WAYS:  # warm-up, compiling every T a step takes (MTT: any T a stage can take, 1..T)
        for t in range(1, family.T + 1) if family.mtt else [family.T]:
            first = timed(step, way, SDT(t), 0)
            if t == family.T:
                rows.append({**base, "phase": "train", "way": way, "metric": "first_step_s", "value": first})
        for t in family.eval_T:
            test(way, [t])
    for phase, (run, per) in phases.items():
        times = {way: [] for way in WAYS}
        for r in range(rounds):
            for way in WAYS:
                times[way].append(timed(run, way, r) / per)
        speed_up = statistics.median(b / a for b, a in zip(times["before"], times["after"]))
        for way in WAYS:
            seconds = statistics.median(times[way])
            rows += [{**base, "phase": phase, "way": way, "metric": "ms_per_item", "value": 1000 * seconds},
                     {**base, "phase": phase, "way": way, "metric": "items_per_s", "value": 1 / seconds}]
        rows.append({**base, "phase": phase, "way": "after", "metric": "speed_up", "value": speed_up})
        print(f"{family.name:16s} {phase:10s} before {1000 * statistics.median(times['before']):7.1f} ms/item  "
              f"after {1000 * statistics.median(times['after']):7.1f} ms/item  speed-up {speed_up:.2f}x", flush=True)
    return rows


def table(frame: pd.DataFrame) -> str:
    """The speed-ups as a Markdown table (the README's)."""
    ups = frame[frame["metric"] == "speed_up"].pivot_table(index="family", columns="phase", values="value",
                                                           sort=False)
    lines = ["| family | " + " | ".join(ups.columns) + " |", "|---" * (len(ups.columns) + 1) + "|"]
    lines += [f"| {family} | " + " | ".join("" if pd.isna(v) else f"{v:.2f}x" for v in row) + " |"
              for family, row in ups.iterrows()]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--items", type=int, default=256, help="test items per evaluation timing")
    parser.add_argument("--out", default="benchmarks/results/scale_speed.csv")
    args = parser.parse_args(argv)
    experiments, env = scale_settings()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; the small scale's env now: {env}; "
          f"LIF auto here: {resolve_backend('auto', torch.device('cpu'))}", flush=True)
    rows = []
    for name in args.families:
        rows += time_family(FAMILIES[name], experiments[name], env, args.rounds, args.items)
    frame = with_provenance(pd.DataFrame(rows), scale="small", data="random inputs of the real shapes",
                            threads=torch.get_num_threads())
    write_csv(frame, args.out)
    print(table(frame))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
