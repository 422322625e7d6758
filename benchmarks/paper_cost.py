"""Estimated GPU-hours of every training run of the paper scale, from counted FLOPs.

Reads the training configs the DAG writes (``snakemake --cores 1 all --until train_config
--config scale=paper`` writes them in seconds, without data), counts the forward FLOPs of each
model per input and time step with ``torch.utils.flop_counter`` (convolutions and linear layers;
the LIF and BN elementwise work is not counted), and multiplies by

    epochs x training items x 3 (forward + backward) x expected time steps per item,

the expected time steps being ``T`` for SDT and ``samples x (t_min + t_max) / 2`` for NMT and
MTT (every stage's T uniform; stage 1 at the input's T for monotone MTT is counted as the
mean too). GPU-hours assume ``--tflops`` sustained (default 25 TFLOP/s, a few percent of an
H100's dense bf16 peak: SNN training is bound by the memory traffic of its LIF, BN and TTM
steps more than by its convolutions); no GPU measured them, so treat them as an order of
magnitude and rescale with your own measured throughput.

    python benchmarks/paper_cost.py --configs results/paper/configs --out benchmarks/results/paper_cost.csv
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from tfsnn.config import validate_config
from tfsnn.data import DATASETS
from tfsnn.io import with_provenance, write_csv
from tfsnn.models import build

# FLOPs are counted in eager mode (a torch.compile'd LIF cannot run under the FLOP counter)
os.environ["TFSNN_LIF_BACKEND"] = "fused"

# training items and one input's shape (as the model sees one time step) of each dataset
DATASET_SHAPES = {
    "cifar10": (50_000, (3, 32, 32)),
    "cifar100": (50_000, (3, 32, 32)),
    "imagenet": (1_281_167, (3, 224, 224)),
    "cifar10dvs": (9_000, (2, 48, 48)),
    "ncaltech101": (7_831, (2, 48, 48)),
    "nmnist": (60_000, (2, 34, 34)),
    "seqmnist": (60_000, (1,)),
    "shd": (8_156, (70,)),
    "ssc": (75_466, (70,)),
}


def forward_flops(config) -> float:
    """FLOPs of one forward pass of one input at T=1."""
    info = DATASETS[config.data.name]
    m = config.model
    model = build(m.name, info.num_classes, info.in_channels, m.granularity, m.width, m.neuron.factory_kwargs(),
                  m.hidden, m.compact_spikes).eval()
    shape = DATASET_SHAPES[config.data.name][1]
    if config.data.name == "seqmnist":
        shape = (config.data.pixels_per_step,)
    x = torch.zeros(1, *shape) if info.kind == "image" else torch.zeros(1, 1, *shape)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x, 1)
    return float(counter.get_total_flops())


def expected_steps(method: dict) -> float:
    if method["name"] in ("sdt", "tet"):
        return float(method["T"])
    return method.get("samples", 3) * (method.get("t_min", 1) + method["t_max"]) / 2


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="results/paper/configs", help="folder of the DAG's training configs")
    parser.add_argument("--tflops", type=float, default=25.0, help="sustained TFLOP/s assumed per GPU")
    parser.add_argument("--out", default="benchmarks/results/paper_cost.csv")
    args = parser.parse_args(argv)
    rows = []
    for path in sorted(Path(args.configs).glob("*.yaml")):
        config = validate_config(yaml.safe_load(path.read_text()))
        items = DATASET_SHAPES[config.data.name][0]
        flops = forward_flops(config)
        total = config.train.epochs * items * 3 * flops * expected_steps(config.model_dump()["method"])
        rows.append({"run": path.stem, "dataset": config.data.name, "model": config.model.name,
                     "method": config.method.name, "epochs": config.train.epochs, "train_items": items,
                     "forward_gflops_per_step": flops / 1e9, "total_pflops": total / 1e15,
                     "gpu_hours": total / (args.tflops * 1e12) / 3600, "assumed_tflops": args.tflops})
    frame = pd.DataFrame(rows).sort_values("gpu_hours", ascending=False)
    write_csv(with_provenance(frame, scale="paper"), args.out)
    print(frame[["run", "gpu_hours"]].to_string(index=False))
    print(f"{len(frame)} runs, {frame['gpu_hours'].sum():.0f} GPU-hours at {args.tflops:g} TFLOP/s sustained")
    return 0


if __name__ == "__main__":
    sys.exit(main())
