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


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
