"""Training methods: what is done with each mini-batch, kept in a registry by name.

A method decides, per batch, which temporal configurations the model runs at (one forward and
backward pass each; their gradients add up before the single optimizer step) and the loss of
each pass. To add one, subclass :class:`Method` in any module and decorate it with
``@register("name")``; the trainer, the CLI and the config need no edit::

    @register("mine")
    class Mine(Method):
        def __init__(self, t_max: int = 6, samples: int = 2):
            super().__init__(StageSampler(1, t_max), samples, t_max)

Paper methods:

- ``sdt``: standard direct training at one fixed ``T``.
- ``nmt``: naive mixture training, ``samples`` shared ``T`` per batch (section 4.1).
- ``mtt``: mixed time-step training, ``samples`` per-stage configurations per batch (Algorithm 1,
  Eq. 10); ``monotone: true`` fixes stage 1 to ``t_max`` (the input's T) and samples later stages
  non-increasing (the audio tasks of A.12).
"""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F

from tfsnn.temporal import (
    ConfigSampler,
    FixedSampler,
    MonotoneSampler,
    SharedSampler,
    StageSampler,
    TemporalConfig,
)

__all__ = ["Method", "register", "build_method", "METHODS", "SDT", "NMT", "MTT"]

METHODS: dict[str, type["Method"]] = {}


def register(name: str):
    """Class decorator: make a :class:`Method` available under ``name``."""

    def decorate(cls):
        if name in METHODS and METHODS[name] is not cls:
            raise ValueError(f"a method named {name!r} is already registered ({METHODS[name].__qualname__})")
        cls.name = name
        METHODS[name] = cls
        return cls

    return decorate


class Method:
    """One training method.

    ``sampler`` draws the configurations, ``samples`` of them per batch (``s`` of Algorithm 1).
    ``t_max`` is the configuration BN is calibrated at and the largest ``T`` trained.
    Override :meth:`configurations` or :meth:`loss` to change what is done per batch.
    """

    name = "?"
    calibrate_bn = True  # re-estimate BN statistics at t_max after each epoch

    def __init__(self, sampler: ConfigSampler, samples: int, t_max: int):
        if samples < 1:
            raise ValueError(f"method.samples must be >= 1, got {samples}")
        self.sampler, self.samples, self.t_max = sampler, samples, t_max

    def configurations(self, num_stages: int, generator: torch.Generator) -> list[TemporalConfig]:
        """The configurations of one batch: one forward/backward pass each."""
        return [self.sampler.sample(num_stages, generator) for _ in range(self.samples)]

    def loss(self, model, inputs: torch.Tensor, targets: torch.Tensor, config: TemporalConfig):
        """Loss of one pass and the model's output (cross-entropy on the time-averaged output)."""
        output = model(inputs, config)
        return F.cross_entropy(output, targets), output


@register("sdt")
class SDT(Method):
    calibrate_bn = False  # trained at one T: its running statistics already fit

    def __init__(self, T: int = 6):
        super().__init__(FixedSampler(T), 1, T)


@register("nmt")
class NMT(Method):
    def __init__(self, t_min: int = 1, t_max: int = 6, samples: int = 3):
        super().__init__(SharedSampler(t_min, t_max), samples, t_max)


@register("mtt")
class MTT(Method):
    def __init__(self, t_min: int = 1, t_max: int = 6, samples: int = 3, monotone: bool = False):
        sampler = MonotoneSampler(t_max, t_min, t_max) if monotone else StageSampler(t_min, t_max)
        super().__init__(sampler, samples, t_max)


def build_method(name: str, **options) -> Method:
    """The registered method ``name`` built with ``options``; errors name the bad field."""
    if name not in METHODS:
        raise ValueError(f"method.name: unknown method {name!r}; choose from {sorted(METHODS)}")
    cls = METHODS[name]
    accepted = inspect.signature(cls.__init__).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        valid = [p for p in accepted if p != "self"]
        raise ValueError(f"method.{unknown[0]}: not an option of {name!r}; its options are {valid}")
    try:
        return cls(**options)
    except ValueError as err:
        message = str(err)
        raise ValueError(message if message.startswith("method.") else f"method: {message}") from None
