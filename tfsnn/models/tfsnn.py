"""The temporally flexible SNN (TFSNN, section 4.3): blocks grouped into stages, each stage run
at its own number of time steps, a TTM between stages.

Layout: a stem, a list of blocks and a head. Stage ``i`` holds blocks ``[i*g, (i+1)*g)`` for
granularity ``g``; the stem belongs to stage 1 and the head to the last stage. The TTM is
applied to the spike tensor entering a stage, before its first block, so in a residual block
both the residual branch and the shortcut see the transformed input.

Input: a static sample ``[B, *input_shape]`` is direct-encoded (the same input current at each
of stage 1's ``t_1`` steps); frames ``[T_in, B, *input_shape]`` feed stage 1 their FIRST ``t_1``
frames. Output: the mean over the last stage's steps of the per-step classifier output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from tfsnn.models.layers import MAX_SPIKE_COUNT, SpikeConv2d
from tfsnn.neuron import SpikingNeuron
from tfsnn.temporal import TemporalConfig, transform

__all__ = ["TFSNN"]


class TFSNN(nn.Module):
    """A stage-wise SNN that runs at any uniform ``T`` or per-stage configuration ``t``."""

    def __init__(
        self,
        stem: nn.Module,
        blocks: Sequence[nn.Module],
        head: nn.Module,
        input_rank: int,
        granularity: int = 1,
    ):
        super().__init__()
        if granularity < 1:
            raise ValueError(f"granularity must be >= 1, got {granularity}")
        self.stem = stem
        self.blocks = nn.ModuleList(blocks)
        self.head = head
        self.input_rank = input_rank
        self.granularity = granularity
        self.saves_spike_counts = any(isinstance(m, SpikeConv2d) for m in self.modules())

    @property
    def num_stages(self) -> int:
        return math.ceil(len(self.blocks) / self.granularity)

    def stage_of_block(self, block: int) -> int:
        return block // self.granularity

    def config(self, t: int | Sequence[int] | str) -> TemporalConfig:
        """``t`` validated against this model's number of stages."""
        return TemporalConfig.of(t, self.num_stages)

    def encode(self, x: torch.Tensor, t_first: int) -> torch.Tensor:
        """Stage 1 input ``[t_1, B, ...]``: direct encoding or the first ``t_1`` frames."""
        if x.dim() == self.input_rank + 1:
            return x.unsqueeze(0).expand(t_first, *x.shape)
        if x.dim() == self.input_rank + 2:
            if x.shape[0] < t_first:
                raise ValueError(f"input has {x.shape[0]} frames, stage 1 needs t_1={t_first}")
            return x[:t_first]
        raise ValueError(
            f"input of shape {tuple(x.shape)} is neither a static batch [B, ...] of rank "
            f"{self.input_rank + 1} nor frames [T, B, ...] of rank {self.input_rank + 2}"
        )

    def forward_steps(self, x: torch.Tensor, t: int | Sequence[int] | str) -> torch.Tensor:
        """Per-step classifier outputs ``[t_n, B, classes]`` of the last stage."""
        config = self.config(t)
        if self.saves_spike_counts and torch.is_grad_enabled() and max(config) > MAX_SPIKE_COUNT:
            raise ValueError(f"configuration {config} has more than {MAX_SPIKE_COUNT} steps, more than the int8 "
                             "spike counts of model.compact_spikes hold; train it with model.compact_spikes: false")
        x = self.stem(self.encode(x, config[0]))
        for i, block in enumerate(self.blocks):
            if i % self.granularity == 0:
                x = transform(x, config[self.stage_of_block(i)])
            x = block(x)
        return self.head(x)

    def forward(self, x: torch.Tensor, t: int | Sequence[int] | str) -> torch.Tensor:
        return self.forward_steps(x, t).mean(0)

    def block_neurons(self) -> dict[str, list[str]]:
        """Names of the spiking neurons (LIF, IF, IAF) in each block (``block1`` .. ``blockN``; the stem counts in
        block 1 and the head in the last), for :class:`tfsnn.neuron.FiringRateMonitor`."""
        groups = {f"block{i + 1}": [] for i in range(len(self.blocks))}
        for name, module in self.named_modules():
            if not isinstance(module, SpikingNeuron):
                continue
            part, _, rest = name.partition(".")
            if part == "blocks":
                index = int(rest.partition(".")[0])
            else:
                index = 0 if part == "stem" else len(self.blocks) - 1
            groups[f"block{index + 1}"].append(name)
        return groups
