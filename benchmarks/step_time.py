"""Training-step time and memory of TFSNNs against their ANN floor, on CPU or CUDA.

Implementations of the same network, measured alternately within one run:

- ``ann``: the ANN floor, ReLU in place of every LIF on T*B images in one batch (the ``relu``
  neuron with a uniform T does exactly that: time is folded into the batch);
- ``fused``, ``compiled``, ``triton``: tfsnn's LIF backends (``compiled`` = torch.compile'd
  kernels, ``triton`` = hand-written Triton kernels, CUDA only; the first step of each T, which
  compiles, is timed and reported apart);
- ``spikingjelly``: SpikingJelly's multi-step ``LIFNode`` with the same math (decay_input=False,
  tau=2 i.e. our 0.5 leak, hard reset to 0, reset not detached, ``PiecewiseQuadratic(alpha=1)``
  = the triangle surrogate of Eq. 6 with h=1), when SpikingJelly is installed (optional:
  ``pip install -e ".[bench]"``) and imports; one that does not is skipped, its reason printed.

Times are medians over rounds, ratios are medians of per-round ratios to the ANN (a shared CPU
drifts by 15-25% between runs); throughput is images (each seen T times) per second. An MTT
iteration is timed against the sum of its passes. On CUDA every timing is synchronized, and
``--memory`` adds the allocator's peak of a training step to the activation memory.

    python benchmarks/step_time.py                         # both networks, T = 1..6
    python benchmarks/step_time.py --nets resnet18-narrow --T 6 --rounds 5
    python benchmarks/step_time.py --memory                # + memory at T=6, batch 64
    python benchmarks/step_time.py --channels-last         # every network in NHWC memory format
    python benchmarks/step_time.py --device cuda --precision bf16 --channels-last --memory --batch 64

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
from tfsnn.neuron import LIF, resolve_backend
from tfsnn.precision import PRECISIONS, autocast, grad_scaler, memory_format, resolve
from tfsnn.training import MTT, train_step

NETS = {  # name: (architecture, width, default batch)
    "resnet19": ("resnet19", 1.0, 8),
    "resnet18-narrow": ("resnet18", 0.25, 64),
}
IMPLEMENTATIONS = ["ann", "fused", "compiled", "triton", "spikingjelly"]
COMPILING = ("compiled", "triton")  # their first step at a new T compiles kernels


PEERS = {"spikingjelly": ("spikingjelly.activation_based.neuron", "spikingjelly.activation_based.surrogate")}


def _importable(peer: str) -> bool:
    """Whether the peer library's modules import. Installed but broken (a dependency of its own
    missing, a build for another torch, ...), it is skipped with the reason in one line."""
    try:
        if importlib.util.find_spec(peer) is None:  # not installed: nothing to say
            return False
        for module in PEERS[peer]:
            importlib.import_module(module)
    except Exception as error:  # whatever its import raises, it must not end the benchmark
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        print(f"skipping {peer}: cannot import it ({reason})", file=sys.stderr, flush=True)
        return False
    return True


def available(device: torch.device) -> list[str]:
    """The implementations that run on ``device`` here."""
    impls = ["ann", "fused", "compiled"]
    if device.type == "cuda" and importlib.util.find_spec("triton"):
        impls.append("triton")
    impls += [peer for peer in PEERS if _importable(peer)]
    return impls


def _spikingjelly_lif():
    from spikingjelly.activation_based import neuron, surrogate

    return neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=1.0, v_reset=0.0, detach_reset=False,
                          surrogate_function=surrogate.PiecewiseQuadratic(alpha=1.0), step_mode="m")


def make(net: str, impl: str, device: torch.device, channels_last: bool = False, seed: int = 0):
    arch, width, _ = NETS[net]
    torch.manual_seed(seed)
    backend = "fused" if impl == "spikingjelly" else impl
    neuron = {"kind": "relu"} if impl == "ann" else {"kind": "lif", "backend": backend}
    model = build(arch, 10, 3, width=width, neuron=neuron)
    if impl == "spikingjelly":
        for module in list(model.modules()):
            for name, child in module.named_children():
                if isinstance(child, LIF):
                    setattr(module, name, _spikingjelly_lif())
    return model.to(device, memory_format=memory_format(channels_last))


def _reset_state(model) -> None:
    for module in model.modules():
        if hasattr(module, "reset") and type(module).__module__.startswith("spikingjelly"):
            module.reset()


class Stepper:
    """Training steps on ``device`` under ``precision``'s autocast (and gradient scaler), timed
    with the device synchronized."""

    def __init__(self, device: torch.device, precision: str):
        self.device, self.precision = device, precision
        self.scaler = grad_scaler(device, precision)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def step(self, model, optimizer, x, y, t) -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, self.precision):
            loss = F.cross_entropy(model(x, t), y)
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()
        _reset_state(model)

    def timed(self, fn, *args) -> float:
        """Seconds ``fn(*args)`` takes, the device synchronized before and after."""
        self.sync()
        start = time.perf_counter()
        fn(*args)
        self.sync()
        return time.perf_counter() - start

    def seconds(self, model, optimizer, x, y, t) -> float:
        return self.timed(self.step, model, optimizer, x, y, t)

    def peak_mb(self, model, optimizer, x, y, t) -> float:
        """The CUDA allocator's peak during one training step, in MiB."""
        self.sync()
        torch.cuda.reset_peak_memory_stats(self.device)
        self.step(model, optimizer, x, y, t)
        self.sync()
        return torch.cuda.max_memory_allocated(self.device) / 2**20

    def saved_mb(self, model, x, y, t) -> float:
        """MiB of the distinct storages autograd keeps for the backward of one forward pass: the
        activation memory, which dominates a training step's peak and grows with T * B."""
        storages = {}

        def pack(tensor):
            if tensor.layout == torch.strided:
                storage = tensor.untyped_storage()
                storages[storage.data_ptr()] = storage.nbytes()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast(self.device, self.precision):
            loss = F.cross_entropy(model(x, t), y)
        loss.backward()
        _reset_state(model)
        return sum(storages.values()) / 2**20


def _inputs(batch: int, device: torch.device):
    return torch.randn(batch, 3, 32, 32, device=device), torch.randint(0, 10, (batch,), device=device)


def _sgd(model):
    return torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)


def time_net(net: str, Ts: list[int], batch: int, rounds: int, impls: list[str], stepper: Stepper,
             channels_last: bool) -> list[dict]:
    rows = []
    x, y = _inputs(batch, stepper.device)
    models = {impl: make(net, impl, stepper.device, channels_last) for impl in impls}
    optims = {impl: _sgd(model) for impl, model in models.items()}
    for T in Ts:
        base = {"net": net, "T": T, "batch": batch, "rounds": rounds}
        for impl in impls:  # warm-up, which for the compiling implementations compiles this T
            first = stepper.seconds(models[impl], optims[impl], x, y, T)
            if impl in COMPILING:
                rows.append({**base, "impl": impl, "metric": "first_step_s", "value": first})
        times = {impl: [] for impl in impls}
        for _ in range(rounds):
            for impl in impls:
                times[impl].append(stepper.seconds(models[impl], optims[impl], x, y, T))
        summary = []
        for impl in impls:
            seconds = statistics.median(times[impl])
            ratio = statistics.median(s / a for s, a in zip(times[impl], times["ann"]))
            rows += [
                {**base, "impl": impl, "metric": "step_s", "value": seconds},
                {**base, "impl": impl, "metric": "images_per_s", "value": batch / seconds},
                {**base, "impl": impl, "metric": "over_ann_time", "value": ratio},
            ]
            summary.append(f"{impl} {seconds:.3f}s ({ratio:.2f}x)")
        print(f"{net:16s} T={T} B={batch}: " + "  ".join(summary), flush=True)
    return rows


def time_mtt(net: str, batch: int, rounds: int, impl: str, stepper: Stepper, channels_last: bool,
             samples: int = 3) -> list[dict]:
    """An MTT iteration (s configurations, one optimizer step) against the sum of single passes."""
    model = make(net, impl, stepper.device, channels_last)
    optimizer = _sgd(model)
    x, y = _inputs(batch, stepper.device)
    t_min, t_max = 1, 6
    method = MTT(t_min, t_max, samples)
    for t in range(t_min, t_max + 1):  # warm-up: compile every T a stage can take
        stepper.step(model, optimizer, x, y, t)
    ratios = []
    for r in range(rounds):
        configs = method.configurations(model.num_stages, torch.Generator().manual_seed(r))
        mtt = stepper.timed(train_step, model, method, optimizer, stepper.scaler, x, y,
                            torch.Generator().manual_seed(r), stepper.precision)
        ratios.append(mtt / sum(stepper.seconds(model, optimizer, x, y, c) for c in configs))
    ratio = statistics.median(ratios)
    print(f"{net:16s} MTT iteration ({impl}, s={samples}) / sum of its passes: {ratio:.3f}", flush=True)
    return [{"net": net, "impl": impl, "T": None, "batch": batch, "rounds": rounds,
             "metric": "mtt_over_sum_of_passes", "value": ratio}]


def memory_at(net: str, T: int, batch: int, impls: list[str], stepper: Stepper, channels_last: bool) -> list[dict]:
    """Activation memory (any device) and, on CUDA, the allocator's peak of a training step."""
    x, y = _inputs(batch, stepper.device)
    metrics = {"saved_mb": {}, "peak_mb": {}}
    for impl in impls:
        model = make(net, impl, stepper.device, channels_last)
        metrics["saved_mb"][impl] = stepper.saved_mb(model, x, y, T)
        if stepper.device.type == "cuda":
            optimizer = _sgd(model)
            stepper.step(model, optimizer, x, y, T)  # warm-up: compile, allocate the optimizer state
            metrics["peak_mb"][impl] = stepper.peak_mb(model, optimizer, x, y, T)
        del model
    rows = []
    for metric, values in metrics.items():
        if values:
            print(f"{net:16s} {metric} T={T} B={batch}: "
                  + "  ".join(f"{k} {v:.0f} MB ({v / values['ann']:.2f}x)" for k, v in values.items()), flush=True)
        rows += [{"net": net, "impl": k, "T": T, "batch": batch, "rounds": 1, "metric": metric, "value": v}
                 for k, v in values.items()]
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    parser.add_argument("--impls", nargs="+", choices=IMPLEMENTATIONS,
                        help="default: every implementation that runs on the device")
    parser.add_argument("--T", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--batch", type=int, default=None, help="default: per net (resnet19 8, narrow resnet18 64)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mtt", default="auto",
                        help="implementation of the MTT timing: auto (the LIF backend 'auto' picks), one of "
                             "the implementations, or '' to skip")
    parser.add_argument("--memory", action="store_true", help="also memory at T=6, batch 64")
    parser.add_argument("--channels-last", action="store_true",
                        help="every network (the ANN too) in NHWC memory format")
    parser.add_argument("--device", default="auto", help="auto (cuda if available, else cpu), cpu, cuda, cuda:1, ...")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS,
                        help="autocast of every step (tfsnn.precision)")
    parser.add_argument("--out", default="benchmarks/results/step_time.csv")
    parser.add_argument("--plot", default=None, help="also a figure (PDF or PNG) of the time ratios to the ANN")
    args = parser.parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: CUDA is not available here")
    runnable = available(device)
    impls = ["ann"] + [i for i in (args.impls or runnable) if i != "ann"]
    if missing := [i for i in impls if i not in runnable]:
        parser.error(f"--impls {' '.join(missing)}: not runnable on {device} here (runnable: {' '.join(runnable)})")
    mtt_impl = resolve_backend("auto", device) if args.mtt == "auto" else args.mtt
    stepper = Stepper(device, resolve(args.precision, device))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, {device} ({name}), {torch.get_num_threads()} CPU threads, "
          f"precision {stepper.precision}, implementations {impls}")
    rows = []
    for net in args.nets:
        batch = args.batch or NETS[net][2]
        rows += time_net(net, args.T, batch, args.rounds, impls, stepper, args.channels_last)
        if mtt_impl:
            rows += time_mtt(net, batch, args.rounds, mtt_impl, stepper, args.channels_last)
        if args.memory:
            rows += memory_at(net, 6, 64, impls, stepper, args.channels_last)
    frame = pd.DataFrame(rows).assign(channels_last=args.channels_last, precision=stepper.precision)
    frame = with_provenance(frame, device=str(device), device_name=name, threads=torch.get_num_threads())
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
