"""Eq. 8 grouping, the TTM (section 4.3.1) and temporal configurations and their samplers."""

import itertools
import math

import pytest
import torch

from tfsnn.temporal import (
    FixedSampler,
    MonotoneSampler,
    SharedSampler,
    StageSampler,
    TemporalConfig,
    group_index,
    group_starts,
    transform,
)


def groups_1based(l, k):
    starts = group_starts(l, k) + [l]
    return [list(range(starts[i] + 1, starts[i + 1] + 1)) for i in range(k)]


def test_paper_examples():
    assert groups_1based(5, 3) == [[1, 2], [3], [4, 5]]
    assert groups_1based(6, 4) == [[1], [2, 3], [4], [5, 6]]


def test_ties_round_down_unlike_python_round():
    # l=7, k=2: boundary 3.5 rounds DOWN (Eq. 8), Python's round() would give 4
    assert groups_1based(7, 2) == [[1, 2, 3], [4, 5, 6, 7]]
    assert groups_1based(3, 2) == [[1], [2, 3]]
    assert groups_1based(4, 4) == [[1], [2], [3], [4]]
    assert groups_1based(10, 1) == [list(range(1, 11))]


@pytest.mark.parametrize("l, k", [(l, k) for l in range(1, 17) for k in range(1, l + 1)])
def test_grouping_properties(l, k):
    groups = groups_1based(l, k)
    sizes = [len(g) for g in groups]
    assert len(groups) == k and min(sizes) >= 1
    assert list(itertools.chain(*groups)) == list(range(1, l + 1))  # contiguous, covers every frame
    assert max(sizes) - min(sizes) <= 1
    # Eq. 8 literally, with a small epsilon: b_i = round((i-1) l / k - eps) + 1
    eps = 1e-9
    literal = [math.floor(i * l / k - eps + 0.5) for i in range(k)]
    assert group_starts(l, k) == literal
    assert group_index(l, k).tolist() == [g for g, size in enumerate(sizes) for _ in range(size)]


def test_bad_grouping():
    with pytest.raises(ValueError):
        group_starts(2, 3)
    with pytest.raises(ValueError):
        group_starts(3, 0)


def frames(*values):
    return torch.tensor(values, dtype=torch.float64).view(-1, 1, 1)


def test_downsampling_sums_each_group():
    # 5 -> 3 with groups [1,2],[3],[4,5]
    assert transform(frames(1, 2, 3, 4, 5), 3).flatten().tolist() == [3, 3, 9]
    # 6 -> 3 (equal groups): [1,2],[3,4],[5,6]
    assert transform(frames(1, 2, 3, 4, 5, 6), 3).flatten().tolist() == [3, 7, 11]
    assert transform(frames(1, 2, 3), 1).flatten().tolist() == [6]


def test_upsampling_copies_per_group():
    # 3 -> 5: output frames grouped [1,2],[3],[4,5]; input j fills group j
    assert transform(frames(7, 8, 9), 5).flatten().tolist() == [7, 7, 8, 9, 9]
    assert transform(frames(7, 8), 4).flatten().tolist() == [7, 7, 8, 8]
    assert transform(frames(7), 3).flatten().tolist() == [7, 7, 7]


def test_identity_returns_same_tensor():
    x = torch.randn(4, 2, 3)
    assert transform(x, 4) is x


@pytest.mark.parametrize("t_in, t_out", [(a, b) for a in range(1, 9) for b in range(1, 9)])
def test_transform_shapes_mass_and_round_trip(t_in, t_out):
    x = torch.randn(t_in, 3, 2, dtype=torch.float64)
    y = transform(x, t_out)
    assert y.shape == (t_out, 3, 2)
    if t_out <= t_in:
        assert torch.allclose(y.sum(0), x.sum(0))  # down: every frame counted once
    else:
        # up then down over the same grouping gives back input frame j times its group size
        sizes = torch.bincount(group_index(t_out, t_in)).to(x.dtype).view(-1, 1, 1)
        assert torch.allclose(transform(y, t_in), x * sizes)


@pytest.mark.parametrize("t_out", [1, 2, 3, 8, 12])  # from 6: sum all, equal and unequal groups, copies
def test_transform_keeps_channels_last_frames(t_out):
    """Channels-last frames [T, B, C, H, W] (as a channels-last conv returns them) come out
    channels-last with the values of the contiguous transform (spike counts: integers, summed
    exactly in any order); contiguous ones stay contiguous."""
    x = torch.randint(0, 3, (6 * 2, 4, 3, 5)).float().contiguous(memory_format=torch.channels_last).unflatten(0, (6, 2))
    y = transform(x, t_out)
    assert y.flatten(0, 1).is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    assert torch.equal(y, transform(x.contiguous(), t_out))
    assert transform(x.contiguous(), t_out).is_contiguous()


def test_transform_gradient_routes_through_groups():
    x = frames(1, 2, 3, 4, 5).requires_grad_()
    transform(x, 3).mul(torch.tensor([1.0, 10.0, 100.0], dtype=torch.float64).view(3, 1, 1)).sum().backward()
    assert x.grad.flatten().tolist() == [1, 1, 10, 100, 100]


def test_temporal_config():
    assert TemporalConfig.of(3, 4) == (3, 3, 3, 3)
    assert TemporalConfig.of([3, 2], 2) == (3, 2)
    assert TemporalConfig.of("3-2-2", 3) == (3, 2, 2)
    assert str(TemporalConfig((3, 2, 2, 3, 5, 3, 6, 2))) == "3-2-2-3-5-3-6-2"
    assert TemporalConfig.of(4, 3).is_uniform and not TemporalConfig((1, 2)).is_uniform
    with pytest.raises(ValueError, match="2 stages, the model has 3"):
        TemporalConfig.of([1, 2], 3)
    with pytest.raises(ValueError, match="stage 2 time step must be >= 1"):
        TemporalConfig((1, 0))
    with pytest.raises(ValueError, match="must be an integer"):
        TemporalConfig((1, 2.5))
    with pytest.raises(ValueError, match=r"stages \[2\] outside \[1, 6\]"):
        TemporalConfig.of([1, 7], 2, t_min=1, t_max=6)
    with pytest.raises(ValueError, match=r"t_min \(4\) must be <= t_max \(2\)"):
        TemporalConfig.of(3, 2, t_min=4, t_max=2)
    with pytest.raises(ValueError, match="cannot parse"):
        TemporalConfig.parse("3-x")


def draws(sampler, n, num_stages=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [sampler.sample(num_stages, gen) for _ in range(n)]


def test_samplers_are_seeded_and_in_range():
    assert draws(FixedSampler(4), 3) == [(4,) * 8] * 3
    shared = draws(SharedSampler(1, 6), 300)
    assert all(c.is_uniform for c in shared) and {c[0] for c in shared} == set(range(1, 7))
    stage = draws(StageSampler(2, 5), 300)
    values = {t for c in stage for t in c}
    assert values == {2, 3, 4, 5} and not all(c.is_uniform for c in stage)
    assert draws(StageSampler(1, 6), 5, seed=7) == draws(StageSampler(1, 6), 5, seed=7)
    assert draws(StageSampler(1, 6), 5, seed=7) != draws(StageSampler(1, 6), 5, seed=8)


def test_monotone_sampler():
    configs = draws(MonotoneSampler(6, 1, 6), 200, num_stages=3)
    assert all(c[0] == 6 and c[0] >= c[1] >= c[2] >= 1 for c in configs)
    assert len({c[2] for c in configs}) > 3
    with pytest.raises(ValueError, match="t_first"):
        MonotoneSampler(7, 1, 6)


@pytest.mark.parametrize("make", [lambda: FixedSampler(0), lambda: SharedSampler(0, 3), lambda: StageSampler(5, 2)])
def test_bad_bounds(make):
    with pytest.raises(ValueError, match="t_min"):
        make()
