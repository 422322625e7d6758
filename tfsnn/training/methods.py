"""Training methods: what is done with each mini-batch, kept in a registry by name.

A method decides, per batch, which temporal configurations the model runs at (one forward and
backward pass each; their gradients add up before the single optimizer step) and the loss of
each pass. Its constructor's keyword arguments are its config options (``method:`` section).
To add one, subclass :class:`Method` in any module; the trainer, the CLI and the config need no
edit::

    @register("mine")
    class Mine(Method):
        def __init__(self, t_max: int = 6, samples: int = 2):
            super().__init__(StageSampler(1, t_max), samples, t_max)

A config names a method by its registered name, by ``module.path:ClassName`` (an importable
module: installed, or on ``PYTHONPATH``), or by the name of an entry point in the group
``tfsnn.methods`` of an installed package. Naming a module imports it, i.e. runs its code: a
config can only name code that is already installed or on the path, never a file.

Paper methods:

- ``sdt``: standard direct training at one fixed ``T``.
- ``nmt``: naive mixture training, ``samples`` shared ``T`` per batch (section 4.1).
- ``mtt``: mixed time-step training, ``samples`` per-stage configurations per batch (Algorithm 1,
  Eq. 10); ``monotone: true`` fixes stage 1 to ``t_max`` (the input's T) and samples later stages
  non-increasing (the audio tasks of A.12).

Baseline of Table 2 and worked example of a new method:

- ``tet``: SDT with the TET loss (Deng et al. 2022), ``mtt-tet``: MTT with the TET loss.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

import torch
import torch.nn.functional as F

from tfsnn.options import TimeStep, check_options
from tfsnn.temporal import (
    ConfigSampler,
    FixedSampler,
    MonotoneSampler,
    SharedSampler,
    StageSampler,
    TemporalConfig,
)

__all__ = ["Method", "register", "build_method", "method_class", "METHODS", "SDT", "NMT", "MTT", "TET", "MTTTET",
           "TETLoss", "is_module_path"]

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

    def __init__(self, T: TimeStep = 6):
        super().__init__(FixedSampler(T), 1, T)


@register("nmt")
class NMT(Method):
    def __init__(self, t_min: TimeStep = 1, t_max: TimeStep = 6, samples: int = 3):
        super().__init__(SharedSampler(t_min, t_max), samples, t_max)


@register("mtt")
class MTT(Method):
    def __init__(self, t_min: TimeStep = 1, t_max: TimeStep = 6, samples: int = 3, monotone: bool = False):
        sampler = MonotoneSampler(t_max, t_min, t_max) if monotone else StageSampler(t_min, t_max)
        super().__init__(sampler, samples, t_max)


class TETLoss:
    """TET (Deng et al. 2022): cross-entropy on the output of EVERY time step of the last stage,
    ``(1 - lamb) * mean_t CE(O_t, y) + lamb * MSE(O, phi)``; the MSE term pulls the outputs
    toward ``phi``. Mixed into a method to replace its loss."""

    lamb: float
    phi: float

    def loss(self, model, inputs, targets, config):
        steps = model.forward_steps(inputs, config)  # [t_n, B, classes]
        ce = F.cross_entropy(steps.flatten(0, 1), targets.repeat(steps.shape[0]))
        mse = F.mse_loss(steps, torch.full_like(steps, self.phi))
        return (1.0 - self.lamb) * ce + self.lamb * mse, steps.mean(0)


def _check_lamb(lamb: float) -> float:
    if not 0.0 <= lamb <= 1.0:
        raise ValueError(f"method.lamb must lie in [0, 1], got {lamb}")
    return lamb


@register("tet")
class TET(TETLoss, SDT):
    def __init__(self, T: TimeStep = 6, lamb: float = 1e-3, phi: float = 1.0):
        super().__init__(T)
        self.lamb, self.phi = _check_lamb(lamb), phi


@register("mtt-tet")
class MTTTET(TETLoss, MTT):
    def __init__(self, t_min: TimeStep = 1, t_max: TimeStep = 6, samples: int = 3, monotone: bool = False,
                 lamb: float = 1e-3, phi: float = 1.0):
        super().__init__(t_min, t_max, samples, monotone)
        self.lamb, self.phi = _check_lamb(lamb), phi


def is_module_path(name: str) -> bool:
    """Whether ``name`` is a ``module.path:ClassName`` (importing it runs that module's code)."""
    return name not in METHODS and ":" in name


def method_class(name: str) -> type[Method]:
    """The method class called ``name``: registered, an entry point of group ``tfsnn.methods``,
    or ``module.path:ClassName``."""
    if name in METHODS:
        return METHODS[name]
    found = [ep for ep in entry_points(group="tfsnn.methods") if ep.name == name]
    if found:
        cls = found[0].load()
    elif ":" in name:
        module, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"method.name: cannot import {name!r}: {err}") from None
    else:
        raise ValueError(
            f"method.name: unknown method {name!r}; choose from {sorted(METHODS)}, an entry point of "
            "group 'tfsnn.methods', or 'module.path:ClassName'"
        )
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise ValueError(f"method.name: {name!r} is not a subclass of tfsnn.training.Method")
    return cls


def build_method(name: str, **options) -> Method:
    """The method ``name`` (see :func:`method_class`) built with ``options``, checked first
    against its constructor's signature (:func:`tfsnn.options.check_options`); errors name the
    bad field."""
    cls = method_class(name)
    options = check_options(cls.__init__, options, "method.{}", name, skip=1)
    try:
        return cls(**options)
    except ValueError as err:
        message = str(err)
        raise ValueError(message if message.startswith("method.") else f"method: {message}") from None
