"""Experiment configuration: one YAML file = data + model + method + training + evaluation + seed.

Validated by pydantic; unknown keys are errors (a typo never passes silently). YAML is read
with the safe loader. :func:`load_config` raises :class:`ConfigError` naming the bad field.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    model_validator,
)

__all__ = ["Config", "ConfigError", "load_config", "validate_config", "parse_assignment", "config_hash"]


class ConfigError(ValueError):
    """A config that cannot be used; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    """Arguments of :func:`tfsnn.data.load` (see there); ``num_workers`` None picks
    :func:`tfsnn.data.default_workers`."""

    name: str
    source: Literal["download", "pack"] = "download"
    root: str | None = None
    pack_dir: str | None = None
    pack_file: str | None = None
    download: bool = True
    train_size: PositiveInt | None = None
    test_size: PositiveInt | None = None
    split_seed: int = 0
    augment: bool = False
    autoaugment: bool = False
    cutout: int = Field(0, ge=0)
    time_bins: PositiveInt | None = None
    frame_size: PositiveInt | None = None
    duration: float | None = Field(None, gt=0)
    pixels_per_step: PositiveInt = 1
    cache: bool = True
    cache_dir: str | None = None
    num_workers: int | None = Field(None, ge=0)

    def load_options(self) -> dict:
        """Keyword arguments of :func:`tfsnn.data.load` besides ``name`` and ``source``."""
        options = self.model_dump(exclude={"name", "source", "split_seed"})
        return {**options, "seed": self.split_seed}


class NeuronConfig(_Strict):
    """``kind``: ``lif`` (Eq. 1-4), ``if`` (no leak), ``iaf`` (Speck's neuron as sinabs runs it:
    no leak, subtractive reset, several spikes per step, :class:`tfsnn.neuron.IAF`) or ``relu``
    (the ANN twin). ``tau`` is the LIF's; ``h`` (the triangle surrogate's width, Eq. 6) and
    ``backend`` are the LIF's and IF's (the IAF has sinabs's own surrogate and one implementation)."""

    kind: Literal["lif", "if", "iaf", "relu"] = "lif"
    tau: float | None = Field(None, gt=0, le=1)
    v_threshold: float = Field(1.0, gt=0)
    h: float = Field(1.0, gt=0)
    detach_reset: bool = False
    backend: Literal["auto", "triton", "compiled", "fused", "autograd"] = "auto"

    @model_validator(mode="after")
    def _check_iaf(self):
        if self.kind == "iaf":
            # a value other than the default; a checkpoint's config (a full dump) names every field
            fields = type(self).model_fields
            unused = sorted(f for f in self.model_fields_set & {"tau", "h", "backend"}
                            if getattr(self, f) != fields[f].default)
            if unused:
                raise ValueError(f"{', '.join(unused)}: not an option of neuron kind 'iaf' (no leak; sinabs's "
                                 "surrogate; one implementation)")
        return self

    def factory_kwargs(self) -> dict:
        kwargs = self.model_dump(exclude_none=True)
        if self.kind != "lif":
            kwargs.pop("tau", None)
        if self.kind == "iaf":
            kwargs.pop("h"), kwargs.pop("backend")
        return kwargs


class ModelConfig(_Strict):
    name: str
    width: float = Field(1.0, gt=0)
    granularity: PositiveInt = 1
    hidden: list[PositiveInt] | None = None
    compact_spikes: bool = True
    neuron: NeuronConfig = NeuronConfig()


class MethodConfig(BaseModel):
    """``name`` and the method's own options (checked by the method's constructor)."""

    model_config = ConfigDict(extra="allow")
    name: str

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class TrainConfig(_Strict):
    epochs: PositiveInt
    batch_size: PositiveInt = 64
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"  # tfsnn.precision; auto: fp16 on CUDA
    calibrate_batches: int = Field(10, ge=0)
    eval_uncalibrated: bool = False  # also test with training's own BN statistics, never calibrated (Fig. 7C)
    # epochs after which the weights are kept in the checkpoint (0: the initial weights), for
    # analyses along training (section 4.2's gradient cosine); the trained weights are the same
    save_epochs: list[NonNegativeInt] = []
    sync_bn: bool = False  # DDP (torchrun) on GPUs: BN statistics over the global batch (SyncBatchNorm)

    @model_validator(mode="before")
    @classmethod
    def _moved_channels_last(cls, data):
        """``channels_last`` is an execution setting now (:mod:`tfsnn.execution`), not part of the
        run: the ``false`` that configs saved in checkpoints before name is dropped."""
        if isinstance(data, dict) and "channels_last" in data:
            if data["channels_last"] is not False:
                raise ValueError("channels_last: the memory layout is an execution setting, not part of the run's "
                                 "config; set the environment variable TFSNN_CHANNELS_LAST=1 instead")
            data = {k: v for k, v in data.items() if k != "channels_last"}
        return data

    @model_validator(mode="after")
    def _check_save_epochs(self):
        late = [e for e in self.save_epochs if e > self.epochs]
        if late:
            raise ValueError(f"save_epochs: epoch {late[0]} is after the last one ({self.epochs})")
        if len(set(self.save_epochs)) != len(self.save_epochs):
            raise ValueError(f"save_epochs: {self.save_epochs} names an epoch twice")
        return self


class EvalConfig(_Strict):
    T: list[PositiveInt] = Field([1, 2, 3, 4, 5, 6], min_length=1)
    configs: list[str] = []


class Config(_Strict):
    seed: int = 0
    scale: str = "custom"
    data: DataConfig
    model: ModelConfig
    method: MethodConfig
    train: TrainConfig
    eval: EvalConfig = EvalConfig()

    @model_validator(mode="after")
    def _check_names(self, info: ValidationInfo):
        from tfsnn.data import DATASETS
        from tfsnn.models import ARCHITECTURES
        from tfsnn.training.methods import build_method, is_module_path

        if self.data.name not in DATASETS:
            raise ValueError(f"data.name: unknown dataset {self.data.name!r}; choose from {sorted(DATASETS)}")
        if self.model.name not in ARCHITECTURES:
            raise ValueError(f"model.name: unknown architecture {self.model.name!r}; choose from {ARCHITECTURES}")
        trusted = (info.context or {}).get("trusted_methods")
        if trusted is not None and is_module_path(self.method.name) and self.method.name not in trusted:
            raise ValueError(
                f"method.name: {self.method.name!r} names a module to import, which would run its code; a "
                "checkpoint or config from elsewhere is not trusted to do that: name the method yourself "
                f"(--set method.name={self.method.name}) or pass --trust-method"
            )
        build_method(self.method.name, **self.method.options())
        return self


def _format(err: ValidationError) -> str:
    lines = []
    for item in err.errors():
        where = ".".join(str(p) for p in item["loc"]) or "config"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if item["loc"] else message)
    return "; ".join(lines)


def validate_config(data: Any, trusted_methods: set[str] | None = None) -> Config:
    """A :class:`Config` from a dict, or :class:`ConfigError` naming each bad field.

    ``trusted_methods``: for a config that is not the user's own (a checkpoint's), the
    ``module.path:ClassName`` method names that may be imported; None trusts every name (a
    config file the user runs is their own code)."""
    if not isinstance(data, dict):
        raise ConfigError(f"config must be a mapping, got {type(data).__name__}")
    try:
        return Config.model_validate(data, context={"trusted_methods": trusted_methods})
    except ValidationError as err:
        raise ConfigError(_format(err)) from None


def _yaml_problem(err: yaml.YAMLError) -> str:
    """A YAML error in one line: its problem (PyYAML's message spans several lines)."""
    return getattr(err, "problem", None) or str(err).splitlines()[0]


def parse_assignment(item: str, flag: str) -> tuple[str, Any]:
    """``key`` and the YAML value of a command line's ``key=value`` (``flag`` names the option in
    errors, e.g. ``--set``)."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"{flag} {item!r} must look like key=value")
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError as err:
        raise ConfigError(f"{flag} {key}: {value!r} is not a valid YAML value ({_yaml_problem(err)})") from None


def load_config(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read and validate a YAML config; ``overrides`` are ``dotted.key=value`` strings (YAML values)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a folder, not a YAML file") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {_yaml_problem(err)}") from None
    for item in overrides:
        key, value = parse_assignment(item, "--set")
        node = data if isinstance(data, dict) else {}
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {part} is not a section")
        node[leaf] = value
    return validate_config(data)


def config_hash(config: Config) -> str:
    """Short sha256 of the validated config's canonical JSON."""
    dump = config.model_dump(mode="json")
    if not dump["train"]["save_epochs"]:  # off: the hash of configs written before the field existed
        del dump["train"]["save_epochs"]
    # the layout became an execution setting (tfsnn.execution): the hash of the configs before, which all had it off
    dump["train"]["channels_last"] = False
    canonical = json.dumps(dump, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
