"""From a validated config to a trained checkpoint and evaluation rows (what the CLI runs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tfsnn import data as tfdata
from tfsnn import execution
from tfsnn.config import Config, config_hash, validate_config
from tfsnn.evaluate import evaluate
from tfsnn.io import CheckpointError, load_checkpoint, with_provenance, write_records
from tfsnn.models import build
from tfsnn.precision import ANALYSIS_PRECISION, autocast, memory_format
from tfsnn.stack import record
from tfsnn.training import Trainer, build_method, distributed

__all__ = ["load_data", "build_model", "run_info", "train", "Trained", "load_trained", "evaluate_checkpoint"]


def load_data(config: Config) -> tfdata.Datasets:
    """The datasets of ``config.data``; the split and subsets are drawn with
    ``data.split_seed``, so runs of several seeds see the same data."""
    return tfdata.load(config.data.name, config.data.source, **config.data.load_options())


def build_model(config: Config, datasets: tfdata.Datasets):
    m = config.model
    return build(
        m.name, datasets.num_classes, datasets.in_channels, m.granularity, m.width,
        m.neuron.factory_kwargs(), m.hidden, m.compact_spikes,
    )


def run_info(config: Config, datasets: tfdata.Datasets) -> dict:
    """What every row of this run carries besides the code provenance."""
    return {
        "config": config.model_dump(mode="json"),
        "config_hash": config_hash(config),
        "seed": config.seed,
        "scale": config.scale,
        "model": config.model.name,
        "method": config.method.name,
        **datasets.provenance,
    }


def train(config: Config, out_dir: str | Path, progress: bool = True, device=None) -> pd.DataFrame:
    """Train as ``config`` says into ``out_dir`` (resuming if a checkpoint is there), beside the
    stack fingerprint it runs on (``environment.json``, :func:`tfsnn.stack.record`); under
    ``torchrun``, data-parallel with one process per GPU (:mod:`tfsnn.training.distributed`)."""
    datasets = load_data(config)
    torch.manual_seed(config.seed)
    model = build_model(config, datasets)
    method = build_method(config.method.name, **config.method.options())
    t = config.train
    with distributed.session(device) as device:
        if distributed.is_main():
            record(out_dir)
        trainer = Trainer(
            model, method, datasets.train, datasets.test, out_dir,
            epochs=t.epochs, batch_size=t.batch_size, optimizer=t.optimizer, lr=t.lr, momentum=t.momentum,
            weight_decay=t.weight_decay, precision=t.precision, channels_last=execution.channels_last(),
            eval_batch_size=execution.eval_batch(t.batch_size),
            calibrate_batches=t.calibrate_batches,
            eval_uncalibrated=t.eval_uncalibrated, save_epochs=t.save_epochs, sync_bn=t.sync_bn,
            eval_T=config.eval.T, seed=config.seed, num_workers=config.data.num_workers, device=device,
            progress=progress, run_info=run_info(config, datasets),
        )
        return trainer.fit()


class _FirstBatches:
    """The first ``batches`` batches of ``loader``, afresh at every iteration."""

    def __init__(self, loader, batches: int):
        self.loader, self.batches = loader, batches

    def __iter__(self):
        return islice(self.loader, self.batches)


@dataclass
class Trained:
    """A trained checkpoint, ready for evaluation and analysis: the model (eval mode, on
    ``device``), its validated config, datasets, epoch, the states it kept along training
    (``snapshots``, by epoch: ``train.save_epochs``), and the fields every result row of it
    carries (:meth:`rows`).

    Precision: evaluation (``tfsnn evaluate``) runs under the run's ``train.precision``
    (:attr:`precision`), every analysis under :attr:`analysis_precision` (fp32), inside
    :meth:`analysis_context` (:func:`tfsnn.analysis.run_analysis`; see
    :data:`tfsnn.precision.ANALYSIS_PRECISION`)."""

    model: torch.nn.Module
    config: Config
    datasets: tfdata.Datasets
    device: torch.device
    epoch: int
    snapshots: dict[int, dict] = field(default_factory=dict)

    def test_loader(self, batch_size: int | None = None):
        return tfdata.make_loader(self.datasets.test, batch_size or self.config.train.batch_size, False)

    def train_loader(self, batch_size: int | None = None, seed: int = 0, shuffle: bool = True):
        """Training batches (augmented as in training), shuffled by a generator seeded from the
        run's seed and ``seed``; ``shuffle=False`` gives every item once, in order."""
        generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + seed)
        return tfdata.make_loader(self.datasets.train, batch_size or self.config.train.batch_size, shuffle, generator)

    def split_loader(self, split: str, batches: int | None = None, batch_size: int | None = None):
        """The ``"test"`` set, or the ``"train"`` set without shuffling or augmentation (reloaded
        with ``augment``, ``autoaugment`` and ``cutout`` off when the run used any): every item
        once, in order, as evaluation sees it; only the first ``batches`` batches unless None.
        Re-iterable."""
        batch_size = batch_size or self.config.train.batch_size
        if batches is not None and batches < 1:
            raise ValueError(f"batches must be >= 1 or None, got {batches}")
        if split == "test":
            loader = self.test_loader(batch_size)
        elif split == "train":
            loader = tfdata.make_loader(self._unaugmented_train(), batch_size, False)
        else:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        return loader if batches is None else _FirstBatches(loader, batches)

    def _unaugmented_train(self):
        data = self.config.data
        if not (data.augment or data.autoaugment or data.cutout):
            return self.datasets.train
        plain = data.model_copy(update={"augment": False, "autoaugment": False, "cutout": 0})
        return load_data(self.config.model_copy(update={"data": plain})).train

    @property
    def t_max(self) -> int:
        """The largest time step the model was trained at (SDT: its T)."""
        return build_method(self.config.method.name, **self.config.method.options()).t_max

    @property
    def calibration_batches(self) -> int:
        return max(self.config.train.calibrate_batches, 1)

    @property
    def precision(self) -> str:
        """The run's ``train.precision``, under which its evaluations (``tfsnn evaluate``) run."""
        return self.config.train.precision

    @property
    def analysis_precision(self) -> str:
        """The precision of every analysis, whatever the run's (:data:`tfsnn.precision.ANALYSIS_PRECISION`)."""
        return ANALYSIS_PRECISION

    def analysis_context(self):
        """The autocast context every analysis runs in: :attr:`analysis_precision` (fp32: autocast
        off, also inside an enclosing autocast)."""
        return autocast(self.device, self.analysis_precision)

    def fields(self) -> dict:
        """What this run's results carry besides the code provenance (:func:`run_info` without
        the config, and the checkpoint's epoch)."""
        info = run_info(self.config, self.datasets)
        info.pop("config")
        return {"checkpoint_epoch": self.epoch, **info}

    def rows(self, rows, **fields) -> pd.DataFrame:
        """``rows`` as a tidy frame with this run's fields and the provenance columns."""
        return with_provenance(rows, **self.fields(), **fields)


def load_trained(checkpoint: str | Path, overrides: dict | None = None, device=None,
                 trust_method: bool = False) -> Trained:
    """Load a checkpoint (``weights_only``) with its config and data. ``overrides`` replace
    config sections (e.g. ``{"data": {"pack_dir": ...}}``) for a checkpoint made on another
    machine.

    A checkpoint is untrusted: a ``module.path:ClassName`` method its config names is imported
    (which runs that module's code) only with ``trust_method``, or when ``overrides`` name that
    method themselves."""
    state = load_checkpoint(checkpoint)
    raw = state.get("config")
    if not isinstance(raw, dict):
        raise CheckpointError(f"checkpoint {checkpoint} holds no training config (key 'config')")
    for section, values in (overrides or {}).items():
        raw = {**raw, section: {**raw.get(section, {}), **values}}
    named = (overrides or {}).get("method", {}).get("name")
    config = validate_config(raw, trusted_methods=None if trust_method else {named} - {None})
    datasets = load_data(config)
    model = build_model(config, datasets)
    _load_weights(model, state["model"], checkpoint, overrides)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(device, memory_format=memory_format(execution.channels_last())).eval()
    snapshots = {int(epoch): weights for epoch, weights in state.get("snapshots", {}).items()}
    return Trained(model, config, datasets, device, state["epoch"], snapshots)


def _load_weights(model: torch.nn.Module, weights: dict, checkpoint, overrides: dict | None) -> None:
    """``model.load_state_dict(weights)``, or :class:`CheckpointError` naming the first tensor
    that differs (the overrides of the model's config are the usual cause)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    shapes = [k for k in expected if k in weights and tuple(weights[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or shapes:
        if shapes:
            what = (f"{shapes[0]} has shape {list(weights[shapes[0]].shape)} in the checkpoint, "
                    f"{list(expected[shapes[0]].shape)} in the model its config builds")
        else:
            what = f"tensor {(missing or unexpected)[0]} is {'missing from' if missing else 'extra in'} the checkpoint"
        hint = f" (overridden: {overrides.get('model')})" if (overrides or {}).get("model") else ""
        raise CheckpointError(f"checkpoint {checkpoint} does not fit the model of its config{hint}: {what}")
    model.load_state_dict(weights)


def evaluate_checkpoint(
    checkpoint: str | Path,
    T: list[int] | None = None,
    configs: list[str] | None = None,
    overrides: dict | None = None,
    device=None,
    recalibrate: str = "nonuniform",
    random_configs: int = 0,
    random_seed: int = 0,
    trust_method: bool = False,
    records: str | Path | None = None,
) -> pd.DataFrame:
    """Rows of test accuracy of a trained checkpoint at uniform ``T`` and per-stage ``configs``,
    plus ``random_configs`` configurations drawn with ``random_seed``, each stage uniform in
    ``[1, T_max]`` (the same draws for every model of the same depth and ``T_max``).

    ``records``: an ``.npz`` file (:func:`tfsnn.io.write_records`, the rows' provenance) that
    gets what each test item got: ``item`` (its position in the data source's test split,
    :attr:`tfsnn.data.Datasets.test_items`), ``target``, ``config`` (the rows' configurations),
    ``bn_calibrated`` and ``predicted`` (``[configs, items]``, the predicted classes).

    BN is calibrated (``train.calibrate_batches`` training batches) at every non-uniform
    configuration (``recalibrate="all"``: at every one, Table 12); otherwise the checkpoint's
    statistics (from T_max) serve.
    """
    from tfsnn.analysis.estimation import sample_configs

    trained = load_trained(checkpoint, overrides, device, trust_method)
    config = trained.config
    wanted = list(T if T is not None else config.eval.T) + list(configs if configs is not None else config.eval.configs)
    generator = torch.Generator().manual_seed(random_seed)
    wanted += sample_configs(trained.model.num_stages, random_configs, 1, trained.t_max, generator)
    rows = evaluate(
        trained.model,
        trained.test_loader(execution.eval_batch(config.train.batch_size)),
        wanted,
        trained.device,
        calibration_loader=trained.train_loader(),
        calibration_batches=trained.calibration_batches,
        recalibrate=recalibrate,
        precision=trained.precision,
        per_item=records is not None,
    )
    if records is None:
        return trained.rows(rows)
    rows, predictions = rows
    names = [row["config"] for row in rows]
    write_records({"item": trained.datasets.test_items, "target": predictions.targets.astype(np.int16),
                   "config": np.array(names), "bn_calibrated": np.array([row["bn_calibrated"] for row in rows]),
                   "predicted": np.stack([predictions.predicted[c] for c in names]).astype(np.int16)},
                  records, **trained.fields())
    return trained.rows(rows)
