"""Speck's neuron (:class:`tfsnn.neuron.IAF`): no leak (Eq. 1-2 with tau = 1), several spikes per
step and a subtractive reset instead of Eq. 3-4, sinabs's exponential surrogate instead of Eq. 6;
equal to sinabs's own ``sinabs.layers.IAF`` in fp32, and SDT and MTT (Algorithm 1) train with it."""

import math
import sys

import pytest
import torch

from tfsnn.config import ConfigError, NeuronConfig, validate_config
from tfsnn.models import build
from tfsnn.neuron import IAF, FiringRateMonitor, exponential_grad, iaf
from tfsnn.training import MTT, build_method, train_step


def column(values):
    return torch.tensor(values, dtype=torch.float64).view(-1, 1)


def test_hand_computed_trace():
    # v = u + I; s = floor(v) where v > 0; u = max(v - s, -1)
    # v: 0.6, 1.2 (1 spike, u 0.2), 2.7 (2, u 0.7), 0.7 - 3 = -2.3 (none, u bounded to -1), -1 + 1.5 = 0.5
    spikes, u = iaf(column([0.6, 0.6, 2.5, -3.0, 1.5]), states=True)
    assert spikes.flatten().tolist() == [0, 1, 2, 0, 0]
    assert u.flatten().tolist() == pytest.approx([0.6, 0.2, 0.7, -1.0, 0.5])
    # unbounded below: the -2.3 stays, and 1.5 more gives -0.8
    spikes, u = iaf(column([0.6, 0.6, 2.5, -3.0, 1.5]), v_min=-math.inf, states=True)
    assert spikes.flatten().tolist() == [0, 1, 2, 0, 0] and u[-1].item() == pytest.approx(-0.8)
    # threshold 0.5: the count is floor(v / 0.5), the reset subtracts 0.5 per spike; v = theta gives one
    assert IAF(v_threshold=0.5)(column([1.3, 0.5, 0.2])).flatten().tolist() == [2, 1, 1]


def test_charge_is_kept_where_the_lif_loses_it():
    """A subtractive reset keeps the charge above the threshold: with positive currents the count
    after t steps is floor(sum of the currents / theta); the hard reset of Eq. 4 drops it."""
    current = torch.rand(20, 4, 50, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 1.5
    counts = iaf(current, v_threshold=0.7).cumsum(0)
    assert torch.equal(counts, torch.floor(current.cumsum(0) / 0.7))


def test_surrogate_is_sinabs_single_exponential_through_the_reset():
    v = torch.tensor([0.0, 0.5, 1.0, 2.0])
    # exp(-|v - 1| / 0.5) / 0.5
    assert torch.allclose(exponential_grad(v, 1.0), 2 * torch.exp(-2 * (v - 1).abs()))
    # two steps, I = (1.2, 0.3): v0 = 1.2 (one spike, u0 = 0.2), v1 = 0.5 (none). ds1/dI1 = sg(0.5);
    # ds1/dI0 = sg(0.5) * du0/dv0 with du0/dv0 = 1 - theta * sg(1.2) (the reset path), 1 if detached
    sg = lambda x: 2 * math.exp(-2 * abs(x - 1))  # noqa: E731
    for detach, du0 in ((False, 1 - sg(1.2)), (True, 1.0)):
        current = column([1.2, 0.3]).requires_grad_()
        iaf(current, detach_reset=detach)[1].sum().backward()
        assert current.grad.flatten().tolist() == pytest.approx([sg(0.5) * du0, sg(0.5)])
    # the bound v_min cuts the path: below it the state no longer depends on earlier currents
    current = column([-3.0, 0.3]).requires_grad_()
    iaf(current)[1].sum().backward()
    assert current.grad[0].item() == 0.0


def test_bad_arguments_and_config():
    with pytest.raises(ValueError, match=r"\[T, B"):
        iaf(torch.zeros(3))
    with pytest.raises(ValueError, match="v_min must be < 0"):
        IAF(v_min=0.5)
    with pytest.raises(ValueError, match="surrogate width"):
        IAF(width=0.0)
    assert NeuronConfig(kind="iaf", v_threshold=0.5).factory_kwargs() == {
        "kind": "iaf", "v_threshold": 0.5, "detach_reset": False}
    for field, value in (("tau", 0.5), ("h", 0.5), ("backend", "fused")):
        with pytest.raises(ValueError, match=f"{field}: not an option of neuron kind 'iaf'"):
            NeuronConfig(kind="iaf", **{field: value})
    # a checkpoint keeps its config as a full dump (every field, at its default): it loads back
    dumped = NeuronConfig(kind="iaf").model_dump(mode="json")
    assert {"tau", "h", "backend"} <= set(dumped)
    assert NeuronConfig(**dumped) == NeuronConfig(kind="iaf")


def test_models_with_iaf_neurons(pack_dir):
    """``model.neuron.kind: iaf`` builds IAF layers in every block; they keep float inputs for the
    convs' backward (counts are unbounded, int8 would wrap), and the rate monitor counts them."""
    from conftest import tiny_config

    config = validate_config(tiny_config(pack_dir, model={"neuron": {"kind": "iaf"}}))
    with pytest.raises(ConfigError, match="tau: not an option of neuron kind 'iaf'"):
        validate_config(tiny_config(pack_dir, model={"neuron": {"kind": "iaf", "tau": 0.5}}))
    model = build("resnet18", 10, 2, width=1 / 16, neuron=config.model.neuron.factory_kwargs())
    neurons = [m for m in model.modules() if isinstance(m, IAF)]
    assert len(neurons) == 17 and not model.saves_spike_counts
    assert all(len(names) > 0 for names in model.block_neurons().values())
    with FiringRateMonitor(model) as monitor:
        model(torch.rand(3, 2, 16, 16) * 4, 3)
    assert len(monitor.rates()) == 17


def _tiny_batch():
    generator = torch.Generator().manual_seed(0)
    return torch.rand(16, 2, 8, 8, generator=generator) * 2, torch.randint(0, 4, (16,), generator=generator)


@pytest.mark.parametrize("method", [build_method("sdt", T=3), MTT(t_min=1, t_max=4, samples=2)])
def test_sdt_and_mtt_train_with_iaf(method):
    """Algorithm 1 with IAF neurons on tiny random data: every parameter gets a finite gradient
    and the loss on the batch falls."""
    torch.manual_seed(0)
    model = build("resnet18", 4, 2, width=1 / 16, neuron={"kind": "iaf"})
    x, y = _tiny_batch()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    generator = torch.Generator().manual_seed(1)
    losses = []
    for step in range(8):
        passes = train_step(model, method, optimizer, scaler, x, y, generator)
        losses.append(sum(p["loss"] for p in passes) / len(passes))
        if step == 0:
            grads = [p.grad for p in model.parameters()]
            assert all(g is not None and torch.isfinite(g).all() for g in grads)
            assert sum(float(g.abs().sum()) for g in grads) > 0
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("v_threshold, bounded, detach_reset",
                         [(1.0, True, False), (0.7, True, True), (1.3, False, False), (0.7, False, True)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_compiled_equals_the_step_loop(monkeypatch, v_threshold, bounded, detach_reset, channels_last):
    """Where the LIF's auto compiles (CPU, T <= 16), the IAF runs as one compiled node: the step
    loop's spike counts to the bit in fp32 (a threshold like 0.7 included: the kernel divides by
    it, not by a reciprocal), its gradients within fp32 rounding, and a channels-last current
    gives channels-last spikes."""
    generator = torch.Generator().manual_seed(int(v_threshold * 10))
    current = torch.randn(10, 4, 3, 5, 5, generator=generator) * 1.5 + 0.3
    if channels_last:  # [T, B, C, H, W] viewing a channels-last [T*B, C, H, W], as a conv returns it
        current = current.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (10, 4))
    weight = torch.randn(current.shape, generator=generator)
    results = {}
    for backend in ("fused", "auto"):
        monkeypatch.setenv("TFSNN_LIF_BACKEND", backend)
        inputs = current.clone().requires_grad_()
        spikes = iaf(inputs, v_threshold, None if bounded else -math.inf, detach_reset=detach_reset)
        (spikes * weight).sum().backward()
        results[backend] = spikes, inputs.grad
    assert results["fused"][0].max() >= 3 and torch.equal(results["auto"][0], results["fused"][0])
    with torch.inference_mode():  # no gradient to take: the kernel keeps no potentials, same counts
        assert torch.equal(iaf(current, v_threshold, None if bounded else -math.inf), results["fused"][0])
    torch.testing.assert_close(results["auto"][1], results["fused"][1], rtol=1e-6, atol=2e-6)
    assert results["auto"][0].flatten(0, 1).is_contiguous(memory_format=torch.channels_last) == channels_last


class TestAgainstSinabs:
    """tfsnn's IAF against ``sinabs.layers.IAF`` (sinabs's defaults: MultiSpike, MembraneSubtract,
    SingleExponential) on random currents: the same spikes and membrane states, bit for bit in fp32,
    and the same gradients."""

    @pytest.fixture(scope="class")
    @classmethod
    def sl(cls):
        pytest.importorskip("sinabs", reason="sinabs is not installed (pip install -e '.[deploy]'; the test "
                                              "extra has it)")
        import sinabs.layers

        assert "samna" not in sys.modules  # sinabs's chip backend, never imported here
        return sinabs.layers

    @pytest.mark.parametrize("v_threshold", [1.0, 0.7, 1.3])
    @pytest.mark.parametrize("bounded", [True, False])
    def test_spikes_states_and_gradients(self, sl, v_threshold, bounded):
        generator = torch.Generator().manual_seed(int(v_threshold * 10) + bounded)
        current = torch.randn(12, 8, 3, 5, 5, generator=generator) * 1.5 + 0.3  # [T, B, C, H, W]
        weight = torch.randn(current.shape, generator=generator)
        layer = sl.IAF(spike_threshold=torch.tensor(v_threshold), min_v_mem=-v_threshold if bounded else None,
                       record_states=True)
        theirs_in = current.transpose(0, 1).clone().requires_grad_()  # sinabs: [B, T, ...]
        theirs = layer(theirs_in)
        (theirs.transpose(0, 1) * weight).sum().backward()
        ours_in = current.clone().requires_grad_()
        ours, u = iaf(ours_in, v_threshold, None if bounded else -math.inf, states=True)
        (ours * weight).sum().backward()
        assert ours.max() >= 3 and (ours == 0).any()  # several spikes per step, and silent steps
        assert torch.equal(ours, theirs.transpose(0, 1))
        assert torch.equal(u, layer.recordings["v_mem"].transpose(0, 1))
        torch.testing.assert_close(ours_in.grad, theirs_in.grad.transpose(0, 1), rtol=1e-6, atol=1e-7)
