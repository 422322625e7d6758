"""Training-step time and activation memory of TFSNNs against their ANN floor.

Implementations of the same network, measured alternately within one run:

- ``ann``: the ANN floor, ReLU in place of every LIF on T*B images in one batch (the ``relu``
  neuron with a uniform T does exactly that: time is folded into the batch);
- ``fused``, ``compiled``: tfsnn's LIF backends (``compiled`` = torch.compile'd kernels; its
  compile time is measured on the first step of each T and reported apart);
- ``spikingjelly``: SpikingJelly's multi-step ``LIFNode`` with the same math (decay_input=False,
  tau=2 i.e. our 0.5 leak, hard reset to 0, reset not detached, ``PiecewiseQuadratic(alpha=1)``
  = the triangle surrogate of Eq. 6 with h=1), when SpikingJelly is installed (optional).

Times are medians over rounds, ratios are medians of per-round ratios to the ANN (a shared CPU
drifts by 15-25% between runs). An MTT iteration is timed against the sum of its passes.

    python benchmarks/step_time.py                         # both networks, T = 1..6
    python benchmarks/step_time.py --nets resnet18-narrow --T 6 --rounds 5
    python benchmarks/step_time.py --memory                # + activation memory at T=6, batch 64
    python benchmarks/step_time.py --channels-last         # every network in NHWC memory format

Writes a CSV (``--out``) with one row per (net, implementation, T, metric).
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import sys
import time

import pandas as pd
import torch
import torch.nn.functional as F

from tfsnn.io import with_provenance, write_csv
from tfsnn.models import build
from tfsnn.neuron import LIF
from tfsnn.precision import memory_format
from tfsnn.training import MTT, train_step

NETS = {  # name: (architecture, width, default batch)
    "resnet19": ("resnet19", 1.0, 8),
    "resnet18-narrow": ("resnet18", 0.25, 64),
}
IMPLEMENTATIONS = ["ann", "fused", "compiled"] + (
    ["spikingjelly"] if importlib.util.find_spec("spikingjelly") else []
)


def _spikingjelly_lif():
    from spikingjelly.activation_based import neuron, surrogate

    return neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=1.0, v_reset=0.0, detach_reset=False,
                          surrogate_function=surrogate.PiecewiseQuadratic(alpha=1.0), step_mode="m")


def make(net: str, impl: str, channels_last: bool = False, seed: int = 0):
    arch, width, _ = NETS[net]
    torch.manual_seed(seed)
    neuron = {"kind": "relu"} if impl == "ann" else {"kind": "lif", "backend": "fused" if impl == "spikingjelly" else impl}
    model = build(arch, 10, 3, width=width, neuron=neuron)
    if impl == "spikingjelly":
        for module in list(model.modules()):
            for name, child in module.named_children():
                if isinstance(child, LIF):
                    setattr(module, name, _spikingjelly_lif())
    return model.to(memory_format=memory_format(channels_last))


def _reset_state(model) -> None:
    for module in model.modules():
        if hasattr(module, "reset") and type(module).__module__.startswith("spikingjelly"):
            module.reset()


def step_seconds(model, optimizer, x, y, t) -> float:
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(model(x, t), y).backward()
    optimizer.step()
    _reset_state(model)
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
    _reset_state(model)
    return sum(storages.values())


def time_net(net: str, Ts: list[int], batch: int, rounds: int, impls: list[str], channels_last: bool) -> list[dict]:
    rows = []
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    models = {impl: make(net, impl, channels_last) for impl in impls}
    optims = {k: torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for k, m in models.items()}
    for T in Ts:
        base = {"net": net, "T": T, "batch": batch, "rounds": rounds, "channels_last": channels_last}
        for impl in impls:  # warm-up; for `compiled` the first step of a T includes compiling it
            first = step_seconds(models[impl], optims[impl], x, y, T)
            if impl == "compiled":
                rows.append({**base, "impl": impl, "metric": "first_step_s", "value": first})
        times = {impl: [] for impl in impls}
        for _ in range(rounds):
            for impl in impls:
                times[impl].append(step_seconds(models[impl], optims[impl], x, y, T))
        summary = []
        for impl in impls:
            ratio = statistics.median(s / a for s, a in zip(times[impl], times["ann"]))
            rows += [
                {**base, "impl": impl, "metric": "step_s", "value": statistics.median(times[impl])},
                {**base, "impl": impl, "metric": "over_ann_time", "value": ratio},
            ]
            summary.append(f"{impl} {statistics.median(times[impl]):.3f}s ({ratio:.2f}x)")
        print(f"{net:16s} T={T} B={batch}: " + "  ".join(summary), flush=True)
    return rows


def time_mtt(net: str, batch: int, rounds: int, impl: str, channels_last: bool, samples: int = 3) -> list[dict]:
    """An MTT iteration (s configurations, one optimizer step) against the sum of single passes."""
    model = make(net, impl, channels_last)
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
        if r:  # round 0 is warm-up (and compiles what it needs)
            ratios.append(mtt / singles)
    ratio = statistics.median(ratios)
    print(f"{net:16s} MTT iteration ({impl}, s={samples}) / sum of its passes: {ratio:.3f}", flush=True)
    return [{"net": net, "impl": impl, "T": None, "batch": batch, "rounds": rounds, "channels_last": channels_last,
             "metric": "mtt_over_sum_of_passes", "value": ratio}]


def memory_at(net: str, T: int, batch: int, impls: list[str], channels_last: bool) -> list[dict]:
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    mem = {impl: saved_bytes(make(net, impl, channels_last), x, y, T) / 2**20 for impl in impls}
    print(f"{net:16s} activation memory T={T} B={batch}: "
          + "  ".join(f"{k} {v:.0f} MB ({v / mem['ann']:.2f}x)" for k, v in mem.items()), flush=True)
    return [{"net": net, "impl": k, "T": T, "batch": batch, "rounds": 1, "channels_last": channels_last,
             "metric": "saved_mb", "value": v}
            for k, v in mem.items()]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    parser.add_argument("--impls", nargs="+", default=IMPLEMENTATIONS, choices=IMPLEMENTATIONS)
    parser.add_argument("--T", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--batch", type=int, default=None, help="default: per net (resnet19 8, narrow resnet18 64)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mtt", default="compiled", help="implementation of the MTT timing ('' to skip)")
    parser.add_argument("--memory", action="store_true", help="also activation memory at T=6, batch 64")
    parser.add_argument("--channels-last", action="store_true", help="every network (the ANN too) in NHWC memory format")
    parser.add_argument("--out", default="benchmarks/results/step_time.csv")
    parser.add_argument("--plot", default=None, help="also a figure (PDF or PNG) of the time ratios to the ANN")
    args = parser.parse_args(argv)
    impls = ["ann"] + [i for i in args.impls if i != "ann"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}, implementations {impls}")
    rows = []
    for net in args.nets:
        batch = args.batch or NETS[net][2]
        rows += time_net(net, args.T, batch, args.rounds, impls, args.channels_last)
        if args.mtt:
            rows += time_mtt(net, batch, args.rounds, args.mtt, args.channels_last)
        if args.memory:
            rows += memory_at(net, 6, 64, impls, args.channels_last)
    frame = with_provenance(pd.DataFrame(rows), device="cpu", threads=torch.get_num_threads())
    write_csv(frame, args.out)
    print(f"wrote {args.out}")
    if args.plot:
        plot(frame, args.plot)
        print(f"wrote {args.plot}")


def plot(frame: pd.DataFrame, path: str) -> None:
    """Step time over the ANN floor's against T, one panel per network."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from tfsnn.io import atomic_path

    ratios = frame[frame["metric"] == "over_ann_time"]
    nets = list(dict.fromkeys(ratios["net"]))
    fig, axes = plt.subplots(1, len(nets), figsize=(4.5 * len(nets), 3.5), squeeze=False)
    for ax, net in zip(axes[0], nets):
        sns.lineplot(data=ratios[ratios["net"] == net], x="T", y="value", hue="impl", marker="o", ax=ax)
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set(title=f"{net}: training step over the ANN floor", ylabel="time ratio (median)")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, bbox_inches="tight", format=path.rsplit(".", 1)[-1])
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
