"""Temporal configurations, the grouping of Eq. 8 and the temporal transformation module (TTM).

A temporal configuration ``t = (t_1, ..., t_n)`` gives each of the ``n`` stages of a TFSNN its
own number of time steps (section 4.3). Between two stages whose steps differ, the TTM regroups
the ``[T, B, ...]`` spike frames along dim 0 (section 4.3.1, Fig. 4):

- downsampling (``t_in > t_out``): the ``t_in`` frames are split into ``t_out`` groups (Eq. 8)
  and each group is SUMMED into one frame;
- upsampling (``t_in < t_out``): the ``t_out`` output frames are split into ``t_in`` groups
  (Eq. 8) and input frame ``j`` is copied to every output frame of group ``j``.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Sequence

import torch

__all__ = [
    "group_starts",
    "group_index",
    "transform",
    "TemporalConfig",
    "ConfigSampler",
    "FixedSampler",
    "SharedSampler",
    "StageSampler",
    "MonotoneSampler",
]


def group_starts(l: int, k: int) -> list[int]:
    """0-based first frame of each of ``k`` groups of ``l`` frames (Eq. 8).

    ``b_i = round((i - 1) * l / k - eps) + 1`` (1-based), i.e. exact halves round DOWN; this
    is computed exactly in integers as ``ceil((2 (i-1) l - k) / (2k))`` for 0-based ``i - 1``.
    The authors' code uses Python's ``round`` (halves to even), which differs on ties such as
    ``l=7, k=2``; we follow Eq. 8.
    """
    if not (isinstance(l, int) and isinstance(k, int)) or k < 1 or l < k:
        raise ValueError(f"grouping needs integers l >= k >= 1, got l={l!r}, k={k!r}")
    return [-((k - 2 * i * l) // (2 * k)) for i in range(k)]


@functools.lru_cache(maxsize=None)
def _group_index_tuple(l: int, k: int) -> tuple[int, ...]:
    starts = group_starts(l, k) + [l]
    return tuple(g for g in range(k) for _ in range(starts[g + 1] - starts[g]))


def group_index(l: int, k: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Group (0-based) of each of ``l`` frames split into ``k`` groups by Eq. 8."""
    return torch.tensor(_group_index_tuple(l, k), dtype=torch.long, device=device)


def transform(x: torch.Tensor, t_out: int) -> torch.Tensor:
    """TTM on dim 0 of ``x`` (``[t_in, B, ...]`` -> ``[t_out, B, ...]``); identity when equal.
    Channels-last frames ``[t_in, B, C, H, W]`` give channels-last frames."""
    t_in = x.shape[0]
    if t_out < 1:
        raise ValueError(f"TTM output time steps must be >= 1, got {t_out}")
    if t_out == t_in:
        return x
    if t_out == 1:
        out = x.sum(0, keepdim=True)
    elif t_in > t_out:
        if t_in % t_out == 0:  # equal groups: a view and a sum, no index
            out = x.unflatten(0, (t_out, t_in // t_out)).sum(1)
        else:
            out = x.new_zeros((t_out, *x.shape[1:])).index_add_(0, group_index(t_in, t_out, x.device), x)
    elif t_out % t_in == 0:
        out = x.unsqueeze(1).expand(t_in, t_out // t_in, *x.shape[1:]).flatten(0, 1)
    else:
        out = x.index_select(0, group_index(t_out, t_in, x.device))
    return _layout_of(x, out)


def _layout_of(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``out`` in the memory layout of ``x``'s frames where those are channels-last (the next
    conv would convert it, and ops mixing the two layouts in a block run PyTorch's slow strided
    loops)."""
    if x.dim() != 5 or x[0].is_contiguous() or not x[0].is_contiguous(memory_format=torch.channels_last):
        return out
    return out.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, out.shape[:2])


class TemporalConfig(tuple):
    """A validated per-stage temporal configuration: a tuple of ints >= 1.

    ``str(TemporalConfig((3, 2, 2)))`` is ``"3-2-2"``, the notation of the reference values.
    """

    def __new__(cls, steps: Iterable[int]):
        steps = tuple(steps)
        if not steps:
            raise ValueError("a temporal configuration needs at least one stage")
        ints = []
        for i, t in enumerate(steps):
            try:
                if isinstance(t, bool):
                    raise TypeError
                ints.append(operator.index(t))
            except TypeError:
                raise ValueError(f"stage {i + 1} time step must be an integer, got {t!r}") from None
            if ints[-1] < 1:
                raise ValueError(f"stage {i + 1} time step must be >= 1, got {t}")
        return super().__new__(cls, ints)

    @classmethod
    def of(
        cls,
        t: int | Sequence[int],
        num_stages: int,
        t_min: int | None = None,
        t_max: int | None = None,
    ) -> "TemporalConfig":
        """``t`` as a configuration of ``num_stages`` stages: an int means uniform.

        With ``t_min``/``t_max`` given, every stage must lie in ``[t_min, t_max]``.
        """
        if isinstance(t, int) and not isinstance(t, bool):
            config = cls((t,) * num_stages)
        elif isinstance(t, str):
            config = cls.parse(t)
        else:
            config = cls(t)
        if len(config) != num_stages:
            raise ValueError(
                f"temporal configuration {config} has {len(config)} stages, the model has {num_stages}"
            )
        if t_min is not None and t_max is not None:
            check_bounds(t_min, t_max)
            outside = [i + 1 for i, s in enumerate(config) if not t_min <= s <= t_max]
            if outside:
                raise ValueError(f"temporal configuration {config}: stages {outside} outside [{t_min}, {t_max}]")
        return config

    @classmethod
    def parse(cls, text: str) -> "TemporalConfig":
        """``"3-2-2"`` -> ``(3, 2, 2)``."""
        try:
            return cls(int(part) for part in text.split("-"))
        except ValueError as err:
            raise ValueError(f"cannot parse temporal configuration {text!r}: {err}") from None

    @property
    def is_uniform(self) -> bool:
        return len(set(self)) == 1

    def __str__(self) -> str:
        return "-".join(str(t) for t in self)

    def __repr__(self) -> str:
        return f"TemporalConfig({str(self)!r})"


def check_bounds(t_min: int, t_max: int) -> None:
    """Raise a ValueError naming the field when ``1 <= t_min <= t_max`` does not hold."""
    if t_min < 1:
        raise ValueError(f"t_min must be >= 1, got {t_min}")
    if t_min > t_max:
        raise ValueError(f"t_min ({t_min}) must be <= t_max ({t_max})")


class ConfigSampler:
    """Draws temporal configurations; seeded through the ``torch.Generator`` it is given."""

    def sample(self, num_stages: int, generator: torch.Generator) -> TemporalConfig:
        raise NotImplementedError


class FixedSampler(ConfigSampler):
    """Always the uniform configuration ``T`` (SDT)."""

    def __init__(self, T: int):
        check_bounds(T, T)
        self.T = T

    def sample(self, num_stages, generator):
        return TemporalConfig.of(self.T, num_stages)


def _randint(low: int, high: int, generator: torch.Generator, size: int = 1) -> list[int]:
    return torch.randint(low, high + 1, (size,), generator=generator).tolist()


class SharedSampler(ConfigSampler):
    """One ``T`` uniform in ``[t_min, t_max]`` shared by all stages (NMT, section 4.1)."""

    def __init__(self, t_min: int, t_max: int):
        check_bounds(t_min, t_max)
        self.t_min, self.t_max = t_min, t_max

    def sample(self, num_stages, generator):
        return TemporalConfig.of(_randint(self.t_min, self.t_max, generator)[0], num_stages)


class StageSampler(SharedSampler):
    """Each stage's ``T`` independently uniform in ``[t_min, t_max]`` (MTT, Algorithm 1 line 4)."""

    def sample(self, num_stages, generator):
        return TemporalConfig(_randint(self.t_min, self.t_max, generator, num_stages))


class MonotoneSampler(SharedSampler):
    """First stage fixed to ``t_first``, later stages non-increasing (audio tasks, A.12).

    Stage ``i > 1`` draws uniformly from ``[t_min, t_{i-1}]``; the paper states only the
    constraint, this sequential draw is our choice.
    """

    def __init__(self, t_first: int, t_min: int, t_max: int):
        super().__init__(t_min, t_max)
        if not t_min <= t_first <= t_max:
            raise ValueError(f"t_first ({t_first}) must lie in [t_min, t_max] = [{t_min}, {t_max}]")
        self.t_first = t_first

    def sample(self, num_stages, generator):
        steps = [self.t_first]
        for _ in range(num_stages - 1):
            steps.append(_randint(self.t_min, steps[-1], generator)[0])
        return TemporalConfig(steps)
