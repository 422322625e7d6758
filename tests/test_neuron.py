"""LIF (Eq. 1-4), the triangle surrogate (Eq. 6) and BPTT through the reset path (Eq. 7 / A.5)."""

import sys
import typing

import numpy as np
import pytest
import torch

import tfsnn
from tfsnn import neuron
from tfsnn.config import NeuronConfig
from tfsnn.neuron import IF, LIF, FiringRateMonitor, lif, resolve_backend, surrogate_grad

BACKENDS = ["fused", "autograd"]


def column(values):
    return torch.tensor(values, dtype=torch.float64).view(-1, 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hand_computed_trace(backend):
    # tau=0.5, Vth=1: v = 0.5*u + I; spike if v >= 1; u = v*(1-s)
    # v: 0.6, 0.3+0.6=0.9, 0.45+0.9=1.35 (spike, u=0), 0+0.2=0.2, 0.1+1.5=1.6 (spike)
    spikes = lif(column([0.6, 0.6, 0.9, 0.2, 1.5]), backend=backend)
    assert spikes.flatten().tolist() == [0, 0, 1, 0, 1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_threshold_is_inclusive_and_leak_matters(backend):
    assert lif(column([1.0]), backend=backend).item() == 1.0
    # with tau=0.5 two inputs of 0.7 give 0.35+0.7=1.05 -> spike at step 2; with tau=0.2: 0.84 -> none
    assert lif(column([0.7, 0.7]), tau=0.5, backend=backend).flatten().tolist() == [0, 1]
    assert lif(column([0.7, 0.7]), tau=0.2, backend=backend).flatten().tolist() == [0, 0]


def test_if_neuron_has_no_leak():
    # IF integrates 0.4 three times: 0.4, 0.8, 1.2 -> spike at step 3, then 0.4 again
    assert IF()(column([0.4, 0.4, 0.4, 0.4])).flatten().tolist() == [0, 0, 1, 0]


def test_surrogate_values():
    v = torch.tensor([0.0, 0.5, 1.0, 1.35, 1.5, 2.0, 2.5])
    assert torch.allclose(surrogate_grad(v, 1.0, 1.0), torch.tensor([0.0, 0.5, 1.0, 0.65, 0.5, 0.0, 0.0]))
    # h = 0.5: peak 1/h = 2, support |v - Vth| < 0.5
    v = torch.tensor([0.4, 1.0, 1.25])
    assert torch.allclose(surrogate_grad(v, 1.0, 0.5), torch.tensor([0.0, 2.0, 1.0]))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("detach_reset, expected", [
    # I = (1.2, 0.3, 0.9): v0 = 1.2 (spike), v1 = 0.3, v2 = 0.15 + 0.9 = 1.05 (spike)
    # sg(v0) = 0.8, sg(v1) = 0.3, sg(v2) = 0.95; du/dv: f0 = (1-1) - 1.2*0.8 = -0.96, f1 = 1 - 0.3*0.3 = 0.91
    # Eq. 7: ds2/dI2 = 0.95, ds2/dI1 = 0.95*0.5*0.91, ds2/dI0 = 0.95*0.25*0.91*(-0.96)
    (False, [0.95 * 0.25 * 0.91 * -0.96, 0.95 * 0.5 * 0.91, 0.95]),
    # detached reset: f0 = 1 - s0 = 0, f1 = 1
    (True, [0.0, 0.95 * 0.5, 0.95]),
])
def test_gradient_through_three_steps_matches_eq7(backend, detach_reset, expected):
    current = column([1.2, 0.3, 0.9]).requires_grad_()
    spikes = lif(current, detach_reset=detach_reset, backend=backend)
    assert spikes.flatten().tolist() == [1, 0, 1]
    spikes[2].sum().backward()
    assert torch.allclose(current.grad.flatten(), torch.tensor(expected, dtype=torch.float64))


def eq15_jacobian(current, tau, vth, h, detach_reset):
    """d s(t) / d I(t-n) from Eq. 15, for one neuron, written independently of the library."""
    v, s, u = [], [], 0.0
    for i in current.tolist():
        v.append(tau * u + i)
        s.append(float(v[-1] >= vth))
        u = v[-1] * (1 - s[-1])
    sg = [max(0.0, h - abs(vth - x)) / h**2 for x in v]
    f = [(1 - s[i]) - (0.0 if detach_reset else v[i] * sg[i]) for i in range(len(v))]
    T = len(v)
    jac = torch.zeros(T, T, dtype=torch.float64)
    for t in range(T):
        for p in range(t + 1):
            prod = 1.0
            for i in range(p, t):
                prod *= f[i]
            jac[t, p] = sg[t] * tau ** (t - p) * prod
    return jac


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("detach_reset", [False, True])
def test_full_jacobian_matches_eq15(backend, detach_reset):
    gen = torch.Generator().manual_seed(3)
    current = torch.rand(7, generator=gen, dtype=torch.float64) * 1.4
    weights = torch.randn(7, generator=gen, dtype=torch.float64)
    x = current.view(7, 1).clone().requires_grad_()
    (lif(x, 0.5, 1.0, 1.0, detach_reset, backend).flatten() * weights).sum().backward()
    expected = weights @ eq15_jacobian(current, 0.5, 1.0, 1.0, detach_reset)
    assert torch.allclose(x.grad.flatten(), expected)


@pytest.mark.parametrize("shape", [(1, 3), (4, 2, 5), (6, 3, 2, 4, 4)])
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("params", [(0.5, 1.0, 1.0), (0.9, 0.7, 0.5)])
def test_fused_equals_autograd_reference(shape, detach_reset, params):
    tau, vth, h = params
    current = (torch.randn(shape, dtype=torch.float64) * 1.2).requires_grad_()
    grad_out = torch.randn(shape, dtype=torch.float64)
    outs, grads = [], []
    for backend in BACKENDS:
        out = lif(current, tau, vth, h, detach_reset, backend)
        (g,) = torch.autograd.grad(out, current, grad_out)
        outs.append(out)
        grads.append(g)
    # the promise of tfsnn.neuron: every backend rounds as the reference (the same elementwise ops in
    # the same order, no fused multiply-add), so the spikes are identical on any CPU
    assert torch.equal(outs[0], outs[1])
    assert torch.allclose(grads[0], grads[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("T, dtype, detach_reset", [
    (3, torch.float32, False), (3, torch.float32, True), (1, torch.float64, False), (5, torch.float64, False),
])
def test_compiled_equals_reference(T, dtype, detach_reset):
    # several shapes of one rank per compiled graph: batch and feature sizes are dynamic
    for shape, channels_last in [((T, 4, 3, 5, 5), False), ((T, 2, 7, 3, 3), False), ((T, 2, 7, 3, 3), True)]:
        current = torch.randn(shape, dtype=dtype) * 1.2
        if channels_last:  # [T, B, C, H, W] viewing a channels-last [T*B, C, H, W], as its conv returns it
            current = current.view(-1, *shape[2:]).contiguous(memory_format=torch.channels_last).view(shape)
        current.requires_grad_()
        grad_out = torch.randn(shape, dtype=dtype)
        results = {}
        for backend in ("autograd", "compiled"):
            out = lif(current, 0.5, 1.0, 1.0, detach_reset, backend)
            results[backend] = (out, *torch.autograd.grad(out, current, grad_out))
        assert torch.equal(results["compiled"][0], results["autograd"][0])  # the promise: identical spikes
        tol = 1e-5 if dtype == torch.float32 else 1e-12
        assert torch.allclose(results["compiled"][1], results["autograd"][1], rtol=tol, atol=tol)
        # spikes and gradient keep the current's memory layout (no copy back to contiguous)
        assert results["compiled"][0].stride() == current.stride() == results["compiled"][1].stride()


@pytest.mark.parametrize("backend", ["fused", "compiled"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_spikes_identical_to_reference_in_every_dtype(backend, dtype):
    # v = tau * u + I rounds twice in the currents' dtype and the threshold is compared in it
    # (0.7 is 0.69921875 in bfloat16); a backend that fuses the multiply-add, keeps v in float32
    # or compares with float32's 0.7 fires differently for some neurons out of 10^5
    gen = torch.Generator().manual_seed(1)
    current = (torch.randn(6, 20000, generator=gen) * 1.2).to(dtype)
    for tau, vth in [(0.9, 0.7), (0.99, 1.0)]:
        assert torch.equal(lif(current, tau, vth, backend=backend), lif(current, tau, vth, backend="autograd"))


@pytest.mark.parametrize("backend", ["fused", "compiled"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_inference_gives_the_training_spikes(backend, channels_last):
    # with no gradient to take, the kernels write the spikes alone (no v kept for a backward)
    shape = (6, 4, 3, 5, 5)
    current = torch.randn(shape, generator=torch.Generator().manual_seed(2)) * 1.2
    if channels_last:
        current = current.flatten(0, 1).contiguous(memory_format=torch.channels_last).view(shape)
    trained = lif(current.clone().requires_grad_(), backend=backend)
    assert trained.grad_fn is not None
    with torch.inference_mode():
        inferred = lif(current, backend=backend)
    assert torch.equal(inferred, trained.detach()) and torch.equal(inferred, lif(current, backend="autograd"))
    assert inferred.stride() == current.stride()


def test_compiled_builds_one_graph_per_T_and_direction():
    # views of differently shaped conv outputs (as in every network), channels-last ones, and the
    # expanded (stride-0) gradient of a sum must not each compile a graph of their own: the
    # graphs of a T would multiply with the layers until dynamo's recompile limit made them eager
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    for shape, channels_last in [((2, 4, 3, 5, 5), False), ((2, 2, 7, 3, 3), False), ((2, 2, 7, 3, 3), True),
                                 ((2, 8, 16), False)]:
        folded = torch.randn(shape[0] * shape[1], *shape[2:])
        if channels_last:
            folded = folded.contiguous(memory_format=torch.channels_last)
        current = folded.view(shape).requires_grad_()
        lif(current, backend="compiled").sum().backward()
        (lif(current, backend="compiled") * torch.randn(shape)).sum().backward()
    assert counters["stats"]["unique_graphs"] == 2  # the forward and the backward of T=2


def _forget_triton_kernels():
    """Drop ``tfsnn.lif_triton`` so the next use imports it afresh: ``TRITON_INTERPRET`` is read
    when its kernels are defined (``from tfsnn import lif_triton`` finds the package attribute
    before ``sys.modules``, so both go)."""
    sys.modules.pop("tfsnn.lif_triton", None)
    if hasattr(tfsnn, "lif_triton"):
        delattr(tfsnn, "lif_triton")


@pytest.fixture
def triton_interpreter(monkeypatch):
    """The ``triton`` backend's kernels run in Triton's interpreter on CPU tensors (numpy; no GPU).

    The interpreter converts float32 to bfloat16 by truncating the mantissa; a GPU, and PyTorch,
    round to nearest even. Its conversion is replaced by PyTorch's, so that bfloat16 results are
    those of a GPU (float16 conversions are numpy's, already rounded to nearest even)."""
    triton = pytest.importorskip("triton")
    from triton import language as tl
    from triton.runtime import interpreter

    if not hasattr(getattr(interpreter, "InterpreterBuilder", None), "cast_impl"):
        pytest.skip(f"Triton {triton.__version__}'s interpreter has no InterpreterBuilder.cast_impl to patch")
    truncating = interpreter.InterpreterBuilder.cast_impl

    def cast_impl(builder, src, dst_type):
        if src.dtype.scalar == tl.float32 and dst_type.scalar == tl.bfloat16:
            rounded = torch.from_numpy(np.ascontiguousarray(src.data)).to(torch.bfloat16).view(torch.int16)
            return interpreter.TensorHandle(rounded.numpy().view(np.uint16), dst_type.scalar)
        return truncating(builder, src, dst_type)

    monkeypatch.setattr(interpreter.InterpreterBuilder, "cast_impl", cast_impl)
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    _forget_triton_kernels()
    yield
    _forget_triton_kernels()


@pytest.fixture(params=["interpreter", "cuda"])
def triton_device(request):
    """Where the Triton kernels run: in the interpreter on CPU (always), and on a GPU if there is one."""
    if request.param == "cuda":
        if not torch.cuda.is_available():
            pytest.skip("no CUDA device")
        pytest.importorskip("triton")
        _forget_triton_kernels()  # the compiled kernels, not an interpreted import of an earlier test
        return torch.device("cuda")
    request.getfixturevalue("triton_interpreter")
    return torch.device("cpu")


def channels_last_current(shape, dtype, device):
    """``[T, B, C, H, W]`` viewing a channels-last ``[T*B, C, H, W]``, as its conv returns it."""
    current = torch.randn(shape).to(device, dtype)
    return current.view(-1, *shape[2:]).contiguous(memory_format=torch.channels_last).view(shape)


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float16, 1e-2), (torch.bfloat16, 5e-2)])
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("params", [(0.5, 1.0, 1.0), (0.9, 0.7, 0.5)])
def test_triton_kernels_equal_reference(triton_device, dtype, tol, detach_reset, params):
    tau, vth, h = params
    cases = [(torch.randn(1, 3) * 1.2).to(triton_device, dtype),
             (torch.randn(6, 2, 1500) * 1.2).to(triton_device, dtype),  # more than one block
             channels_last_current((4, 2, 5, 3, 3), dtype, triton_device) * 1.2]
    for current in cases:
        current.requires_grad_()
        grad_out = torch.randn(current.shape).to(triton_device, dtype)
        results = {}
        for backend in ("autograd", "triton"):
            out = lif(current, tau, vth, h, detach_reset, backend)
            results[backend] = (out, *torch.autograd.grad(out, current, grad_out))
        assert torch.equal(results["triton"][0], results["autograd"][0])
        assert torch.allclose(results["triton"][1].float(), results["autograd"][1].float(), rtol=tol, atol=tol)
        assert results["triton"][0].stride() == current.stride() == results["triton"][1].stride()


def test_triton_hand_computed_gradient(triton_interpreter):
    # the three-step case of test_gradient_through_three_steps_matches_eq7, in float32
    current = column([1.2, 0.3, 0.9]).float().requires_grad_()
    spikes = lif(current, backend="triton")
    assert spikes.flatten().tolist() == [1, 0, 1]
    spikes[2].sum().backward()
    expected = torch.tensor([0.95 * 0.25 * 0.91 * -0.96, 0.95 * 0.5 * 0.91, 0.95])
    assert torch.allclose(current.grad.flatten(), expected)


def test_triton_refuses_what_it_cannot_run(monkeypatch):
    pytest.importorskip("triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ValueError, match="runs on CUDA tensors"):
        lif(torch.zeros(2, 1), backend="triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    with pytest.raises(ValueError, match="float32, float16 or bfloat16"):
        lif(torch.zeros(2, 1, dtype=torch.float64), backend="triton")


def test_backend_selection(monkeypatch):
    assert typing.get_args(NeuronConfig.model_fields["backend"].annotation) == neuron.BACKENDS  # config in step
    cpu = torch.device("cpu")
    assert resolve_backend("fused", cpu) == "fused"
    monkeypatch.setenv("TFSNN_LIF_BACKEND", "autograd")
    assert resolve_backend("auto", cpu) == "autograd" and resolve_backend("compiled", cpu) == "compiled"
    monkeypatch.setenv("TFSNN_LIF_BACKEND", "auto")
    monkeypatch.setattr(neuron, "_has_cxx", lambda: True)
    monkeypatch.setattr(neuron, "_has_triton", lambda: True)
    assert resolve_backend("auto", cpu) == "compiled"
    assert resolve_backend("auto", torch.device("cuda")) == "triton"
    monkeypatch.setattr(neuron, "_has_cxx", lambda: False)
    monkeypatch.setattr(neuron, "_has_triton", lambda: False)
    assert resolve_backend("auto", cpu) == "fused" and resolve_backend("auto", torch.device("cuda")) == "fused"
    assert resolve_backend("auto", torch.device("meta")) == "fused"
    monkeypatch.setenv("TFSNN_LIF_BACKEND", "fast")
    with pytest.raises(ValueError, match="TFSNN_LIF_BACKEND='fast'"):
        resolve_backend("auto", cpu)


def test_bad_arguments():
    with pytest.raises(ValueError, match="backend"):
        lif(torch.zeros(2, 1), backend="nope")
    with pytest.raises(ValueError, match=r"\[T, B"):
        lif(torch.zeros(3))
    with pytest.raises(ValueError, match="h must be > 0"):
        lif(torch.zeros(2, 1), h=0.0)


def test_firing_rate_monitor_counts_spikes():
    net = torch.nn.Sequential(LIF(), LIF(tau=1.0))
    current = column([1.2, 0.3, 0.9, 0.0]).float()  # first layer spikes at steps 1 and 3
    with FiringRateMonitor(net) as monitor:
        net(current)
    rates = monitor.rates()
    assert rates["0"] == pytest.approx(2 / 4)
    # second layer integrates spikes 1,0,1,0 without leak: 1 (spike), 0, 1 (spike), 0
    assert rates["1"] == pytest.approx(2 / 4)
    assert monitor.rates({"both": ["0", "1"]})["both"] == pytest.approx(0.5)
    net(current)  # outside the context nothing is recorded
    assert monitor.neuron_steps["0"] == 4


def test_lif_step_is_eq_1_to_4_by_hand():
    # tau 0.5, threshold 1: I = 0.8 -> v 0.8 (no spike, u 0.8); I = 0.7 -> v 0.4 + 0.7 = 1.1 (spike,
    # u 0); I = 0.9 -> v 0.9 (no spike); the first step starts from u = 0 (None)
    params = neuron.LIFParameters(tau=0.5, v_threshold=1.0)
    u, trace = None, []
    for current in (0.8, 0.7, 0.9):
        s, v, u = neuron.lif_step(u, torch.tensor([current], dtype=torch.float64), params)
        trace.append((s.item(), v.item(), u.item()))
    assert trace == [(0.0, 0.8, 0.8), (1.0, pytest.approx(1.1), 0.0), (0.0, 0.9, 0.9)]
    # v = threshold fires (Theta(0) = 1); the reset is differentiable through s unless detached
    v = torch.tensor([1.0], requires_grad=True)
    s, _, u = neuron.lif_step(None, v, params, lambda x: neuron.TriangleSpike.apply(x, 1.0, 1.0))
    assert s.item() == 1.0
    (grad,) = torch.autograd.grad(u.sum(), v)
    assert grad.item() == pytest.approx(-1.0)  # du/dv = (1 - s) - v * ds/dv = 0 - 1 * 1 (Eq. 6 at the threshold)
    s, _, u = neuron.lif_step(None, v, params, lambda x: neuron.TriangleSpike.apply(x, 1.0, 1.0), detach_reset=True)
    assert torch.autograd.grad(u.sum(), v)[0].item() == 0.0  # du/dv = 1 - s


def test_the_compiled_lif_silences_torchs_no_cuda_runtime_notice(caplog):
    # torch.utils.cpp_extension, imported by torch.compile's CPU kernels, warns "No CUDA runtime is
    # found" on a machine with a CUDA build of torch and no GPU: a new user reads it as an error
    import logging

    from tfsnn import neuron

    neuron._compiled(neuron._forward_scan)  # torch.compile wraps lazily: nothing is built here
    logger = logging.getLogger("torch.utils.cpp_extension")
    with caplog.at_level(logging.WARNING):
        logger.warning("No CUDA runtime is found, using CUDA_HOME='%s'", "/usr/local")
        logger.warning("another warning")
    assert [record.getMessage() for record in caplog.records] == ["another warning"]
