import copy
import os
from pathlib import Path

import pytest
import torch

# Tests of models and training use the eager fused LIF: compiling a kernel per T would cost
# more than it saves in runs this short. tests/test_neuron.py tests the compiled path itself.
os.environ.setdefault("TFSNN_LIF_BACKEND", "fused")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pack_dir() -> Path:
    """The real data packs (shared/data beside the checkout, or TFSNN_PACKS)."""
    folder = Path(os.environ.get("TFSNN_PACKS", REPO.parent / "shared" / "data"))
    if not (folder / "mnist.npz").is_file():
        pytest.fail(f"data packs not found in {folder}: put shared/data beside the checkout or set TFSNN_PACKS")
    return folder


def float64_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A float64 copy of ``model``, for tests that compare two routes to one result (other batch
    sizes, a run cut short, chunks against the whole). In float32 such routes round differently:
    the conv or matmul kernel the CPU library picks depends on the batch size and the CPU (here a
    batch of 1 rounds otherwise than one of 64), and a rounding difference flips any spike whose
    membrane potential lies within it of the threshold, which moves the outputs by far more than
    rounding. In float64 the roundings are ~1e-16, and no spike of these tests lies that close."""
    return copy.deepcopy(model).double()


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def tiny_config(pack_dir: Path, method: dict | None = None, **sections) -> dict:
    """A config of a very narrow ResNet-19 on 128 training and 64 test images of the real
    MNIST pack, one epoch: what the analysis tests train in seconds."""
    config = {
        "seed": 0,
        "scale": "test",
        "data": {"name": "mnist", "source": "pack", "pack_dir": str(pack_dir), "train_size": 128,
                 "test_size": 64, "num_workers": 0, "cache": False},
        "model": {"name": "resnet19", "width": 0.0625},
        "method": method or {"name": "mtt", "t_min": 1, "t_max": 4, "samples": 2},
        "train": {"epochs": 1, "batch_size": 32, "lr": 0.05, "calibrate_batches": 2, "precision": "fp32"},
        "eval": {"T": [4]},
    }
    for section, values in sections.items():
        config[section] = {**config.get(section, {}), **values}
    return config


@pytest.fixture(scope="session")
def tiny_trained(pack_dir, tmp_path_factory):
    """A :class:`tfsnn.experiment.Trained` of :func:`tiny_config` (MTT, T_max=4), trained once
    per test session; analyses must not change it (restore what they touch)."""
    from tfsnn.config import validate_config
    from tfsnn.experiment import load_trained, train

    out = tmp_path_factory.mktemp("tiny_trained")
    train(validate_config(tiny_config(pack_dir)), out, progress=False, device="cpu")
    return load_trained(out / "checkpoint.pt", device="cpu")


def randomize_bn(model: torch.nn.Module, gamma: float = 0.5, span: float = 1.0, shift: float = 0.3) -> None:
    """Random BN statistics (mean in [-0.5, 0.5), variance in [0.5, 1.5)) and affine parameters
    (scale in [gamma, gamma + span), shift in [0, shift)), seeded, so every layer of a fresh
    network fires; without biases the deepest layers need scales over 1."""
    generator = torch.Generator().manual_seed(1)
    for bn in model.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            n = bn.num_features
            bn.running_mean.copy_(torch.rand(n, generator=generator) - 0.5)
            bn.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            bn.weight.data.copy_(torch.rand(n, generator=generator) * span + gamma)
            bn.bias.data.copy_(torch.rand(n, generator=generator) * shift)


def record_outputs(model: torch.nn.Module, kinds, run) -> dict[str, list[torch.Tensor]]:
    """The outputs of ``model``'s modules of ``kinds`` during ``run()``, one per call, by name (dots
    as underscores, as NIR readers name a graph's nodes)."""
    outputs, handles = {}, []
    for name, module in model.named_modules():
        if isinstance(module, kinds):
            key = name.replace(".", "_")
            handles.append(module.register_forward_hook(
                lambda m, i, o, key=key: outputs.setdefault(key, []).append(o)))
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return outputs
