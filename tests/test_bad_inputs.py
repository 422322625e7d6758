"""Every bad input through the real command line (``python -m tfsnn.cli``, what the ``tfsnn``
script runs): exit status 2, one line on stderr naming the field or path, no traceback, and
nothing written (no output file, no half-written folder).

Each case is a row of ``CASES``: the arguments (``{config}``, ``{checkpoint}``, ``{tmp}`` are
filled in), what the one-line message must contain, and optionally a ``setup`` that writes the
bad input into ``tmp`` (and may return more fields for the arguments).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from conftest import tiny_config


@dataclass
class Case:
    id: str
    args: list[str]
    message: str  # a part of the one-line error
    setup: Callable[[Path, dict], dict | None] | None = None
    env: dict = field(default_factory=dict)


def _write_config(tmp: Path, fields: dict, **changes) -> Path:
    config = yaml.safe_load(Path(fields["config"]).read_text())
    for dotted, value in changes.items():
        node = config
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    path = tmp / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def config_with(**changes) -> Callable[[Path, dict], dict]:
    """A setup writing the valid config with ``changes`` (dotted keys, ``__`` for dots) as {bad}."""
    changes = {k.replace("__", "."): v for k, v in changes.items()}
    return lambda tmp, fields: {"bad": str(_write_config(tmp, fields, **changes))}


TRAIN = ["train", "--config", "{config}", "--out", "{tmp}/run"]
EVALUATE = ["evaluate", "--checkpoint", "{checkpoint}", "--out", "{tmp}/eval.csv"]


def analyze(name: str, *options: str) -> list[str]:
    return ["analyze", name, "--checkpoint", "{checkpoint}", "--out", "{tmp}/rows.csv",
            *(a for o in options for a in ("--option", o))]


EVIL = "import pathlib\npathlib.Path('pwned').write_text('code of a shared checkpoint ran')\n"


def evil_checkpoint(tmp: Path, fields: dict) -> dict:
    """A shared checkpoint whose config names ``evil:Method``, and an evil.py beside it (the
    working folder, hence on sys.path under ``python -m``) that leaves a file when imported."""
    import torch

    state = torch.load(fields["checkpoint"], weights_only=True)
    state["config"]["method"] = {"name": "evil:Method"}
    (tmp / "shared").mkdir()
    torch.save(state, tmp / "shared" / "checkpoint.pt")
    (tmp / "evil.py").write_text(EVIL)
    return {"evil": str(tmp / "shared" / "checkpoint.pt")}


def damaged_checkpoint(tmp: Path, fields: dict) -> dict:
    (tmp / "checkpoint.pt").write_bytes(Path(fields["checkpoint"]).read_bytes()[:5000])
    return {"damaged": str(tmp / "checkpoint.pt")}


def a_file(name: str, text: str = "x\n") -> Callable[[Path, dict], dict]:
    """A setup writing a file ``name`` in tmp (e.g. where an --out folder is asked for)."""
    def setup(tmp: Path, fields: dict) -> dict:
        (tmp / name).write_text(text)
        return {}
    return setup


def tiny_pack(sidecar: str | None = None, **arrays) -> Callable[[Path, dict], dict]:
    """A setup writing a small MNIST-like pack {tmp}/packs/tiny.npz (``arrays`` replace its own;
    ``sidecar`` is written as its .sha256) and the valid config reading it as {bad}."""
    def setup(tmp: Path, fields: dict) -> dict:
        import numpy as np

        folder = tmp / "packs"
        folder.mkdir()
        blank = np.zeros((10, 28, 28), np.uint8)
        own = {"x_train": blank, "y_train": np.arange(10), "x_test": blank, "y_test": np.arange(10)}
        np.savez_compressed(folder / "tiny.npz", **{**own, **{k: np.array(v) for k, v in arrays.items()}})
        if sidecar is not None:
            (folder / "tiny.npz.sha256").write_text(sidecar)
        return config_with(data__pack_dir=str(folder), data__pack_file="tiny.npz")(tmp, fields)
    return setup


def two_runs_as_one_label(tmp: Path, fields: dict) -> None:
    """Two users' evaluation CSVs {tmp}/a.csv, b.csv: different runs (config_hash a, b) as MTT seed 0."""
    for run in ("a", "b"):
        (tmp / f"{run}.csv").write_text(f"label,method,seed,config,accuracy,dataset,config_hash\n"
                                        f"MTT,mtt,0,4,90.0,mnist,{run}\n")


TRAIN_ON_PACK = ["train", "--config", "{bad}", "--out", "{tmp}/run"]
COMPARE_AB = ["compare", "{tmp}/a.csv", "{tmp}/b.csv", "--out", "{tmp}/cmp.pdf"]


CASES: list[Case] = [
    # --- config, overrides and options -----------------------------------------------------
    Case("set-unclosed-list", [*TRAIN, "--set", "train.lr=[1"], "train.lr"),
    Case("option-unclosed-list", analyze("noise", "sigma2=[0,0.1"), "sigma2"),
    Case("set-not-an-assignment", [*TRAIN, "--set", "train.lr"], "--set 'train.lr' must look like"),
    Case("set-not-a-section", [*TRAIN, "--set", "seed.x=1"], "seed is not a section"),
    Case("config-missing", ["train", "--config", "{tmp}/none.yaml", "--out", "{tmp}/run"], "none.yaml does not exist"),
    Case("config-not-a-mapping", ["train", "--config", "{tmp}/list.yaml", "--out", "{tmp}/run"],
         "config must be a mapping", a_file("list.yaml", "- 1\n- 2\n")),
    Case("config-bad-yaml", ["train", "--config", "{tmp}/bad.yaml", "--out", "{tmp}/run"], "not valid YAML",
         a_file("bad.yaml", "model: [unclosed\n")),
    Case("method-option-a-string", ["train", "--config", "{bad}", "--out", "{tmp}/run"], "method.t_max",
         config_with(method={"name": "mtt", "t_max": "6"})),
    Case("sdt-T-a-fraction", ["train", "--config", "{bad}", "--out", "{tmp}/run"], "method.T",
         config_with(method={"name": "sdt", "T": 6.5})),
    Case("method-t_max-a-float", ["train", "--config", "{bad}", "--out", "{tmp}/run"], "method.t_max",
         config_with(method={"name": "mtt", "t_max": 6.0})),
    Case("method-unknown-option", ["train", "--config", "{bad}", "--out", "{tmp}/run"],
         "method.tmax: not an option of 'mtt'",
         config_with(method={"name": "mtt", "tmax": 6})),
    Case("eval-T-empty", ["train", "--config", "{bad}", "--out", "{tmp}/run"], "eval.T", config_with(eval__T=[])),
    Case("train-out-is-a-file", ["train", "--config", "{config}", "--out", "{tmp}/taken"], "taken is a file",
         a_file("taken")),
    Case("train-out-under-a-file", ["train", "--config", "{config}", "--out", "{tmp}/taken/run"],
         "taken is a file, not a folder", a_file("taken")),
    # --- evaluate ------------------------------------------------------------------------------
    Case("evaluate-T-no-values", [*EVALUATE, "--T"], "argument --T: expected at least one argument"),
    Case("evaluate-T-zero", [*EVALUATE, "--T", "0"], "argument --T: 0 is below 1"),
    Case("evaluate-T-not-a-number", [*EVALUATE, "--T", "two"], "argument --T: 'two' is not an integer"),
    Case("evaluate-random-configs-negative", [*EVALUATE, "--random-configs", "-1"], "--random-configs"),
    Case("evaluate-bad-configuration", [*EVALUATE, "--configs", "3-x-2"], "3-x-2"),
    Case("evaluate-configuration-of-other-depth", [*EVALUATE, "--configs", "3-2"], "3-2"),
    Case("evaluate-other-width", [*EVALUATE, "--set", "model.width=0.5"],
         "does not fit the model of its config (overridden: {'width': 0.5})"),
    Case("evaluate-out-is-a-folder", ["evaluate", "--checkpoint", "{checkpoint}", "--out", "{tmp}"], "is a folder"),
    Case("checkpoint-missing", ["evaluate", "--checkpoint", "{tmp}/none.pt", "--out", "{tmp}/e.csv"],
         "none.pt does not exist"),
    Case("checkpoint-damaged", ["evaluate", "--checkpoint", "{damaged}", "--out", "{tmp}/e.csv"],
         "cannot be loaded safely", damaged_checkpoint),
    Case("checkpoint-names-a-module", ["evaluate", "--checkpoint", "{evil}", "--out", "{tmp}/e.csv"],
         "'evil:Method' names a module to import", evil_checkpoint),
    Case("checkpoint-names-a-module-analyze", ["analyze", "noise", "--checkpoint", "{evil}", "--out", "{tmp}/n.csv"],
         "--trust-method", evil_checkpoint),
    Case("checkpoint-names-a-module-export", ["export-nir", "--checkpoint", "{evil}", "--out", "{tmp}/m.nir"],
         "--trust-method", evil_checkpoint),
    # --- analyses: options checked against the analysis's signature before any work ----------
    Case("analysis-unknown", analyze("nosie"), "unknown analysis 'nosie'"),
    Case("analysis-unknown-option", analyze("noise", "sigma=0.1"), "option sigma: not an option of 'noise'"),
    Case("analysis-T-zero", analyze("landscape", "T=0"), "option T: Input should be greater than or equal to 1"),
    Case("early-exit-thresholds-a-number", analyze("early_exit", "thresholds=0.9"), "option thresholds"),
    Case("landscape-alphas-a-number", analyze("landscape", "alphas=0.5"), "option alphas"),
    Case("noise-repeats-a-word", analyze("noise", "repeats=two"), "option repeats"),
    Case("noise-target-unknown", analyze("noise", "target=bias"), "noise target must be one of"),
    Case("estimation-budget-beyond-t_max", analyze("estimation", "budget_T=9"), "budget_T must lie in [t_min, t_max]"),
    Case("estimation-rates_T-zero", analyze("estimation", "rates_T=0"), "option rates_T"),
    Case("bn-statistics-T-zero", analyze("bn_statistics", "T=[0,2]"), "option T.0"),
    # --- compare, diff-results, data pack ---------------------------------------------------------
    Case("compare-missing-csv", ["compare", "{tmp}/none.csv", "--out", "{tmp}/c.pdf"], "none.csv does not exist"),
    Case("compare-not-an-evaluation", ["compare", "{config}", "--out", "{tmp}/c.pdf"], "is not a tfsnn evaluation CSV"),
    Case("diff-results-no-references", ["diff-results", "{tmp}", "{tmp}"], "holds no reference CSVs"),
    Case("data-pack-unknown-dataset", ["data", "pack", "--dataset", "foo", "--out", "{tmp}/p.npz"],
         "unknown dataset 'foo'"),
    Case("data-pack-size-zero", ["data", "pack", "--dataset", "mnist", "--source", "pack", "--pack-dir", "{packs}",
                                 "--train-size", "0", "--out", "{tmp}/p.npz"], "--train-size must be >= 1"),
    # --- data packs, cache and compare (helper) ---
    Case("pack-empty-sha256", TRAIN_ON_PACK, "tiny.npz.sha256 is empty or malformed: it must hold lines",
         tiny_pack(sidecar="")),
    Case("pack-malformed-sha256", TRAIN_ON_PACK, "tiny.npz.sha256 is empty or malformed",
         tiny_pack(sidecar="0123abc  tiny.npz\n")),
    Case("pack-label-too-large", TRAIN_ON_PACK,
         "tiny.npz for mnist: y_train holds label 10 (item 9); labels must be 0..9 (10 classes)",
         tiny_pack(y_train=[0, 1, 2, 3, 4, 5, 6, 7, 8, 10])),
    Case("pack-label-negative", TRAIN_ON_PACK, "tiny.npz for mnist: y_test holds label -1 (item 0)",
         tiny_pack(y_test=[-1, 1, 2, 3, 4, 5, 6, 7, 8, 9])),
    Case("pack-images-labels-mismatch", TRAIN_ON_PACK, "x_train holds 10 items but y_train holds 9 labels",
         tiny_pack(y_train=list(range(9)))),
    Case("compare-two-runs-one-label", COMPARE_AB, "label 'MTT' seed 0 comes from two different runs (config_hash a in",
         two_runs_as_one_label),
]


@pytest.fixture(scope="module")
def fields(pack_dir, tmp_path_factory) -> dict:
    """A valid config and a checkpoint trained from it (tiny MNIST MTT, T_max=4)."""
    from tfsnn.config import validate_config
    from tfsnn.experiment import train

    folder = tmp_path_factory.mktemp("bad_inputs")
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump(tiny_config(pack_dir, train={"epochs": 1})))
    train(validate_config(yaml.safe_load(config.read_text())), folder / "run", progress=False, device="cpu")
    return {"config": str(config), "checkpoint": str(folder / "run" / "checkpoint.pt"), "packs": str(pack_dir)}


def _snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_line_and_writes_nothing(case, fields, tmp_path):
    values = {**fields, "tmp": str(tmp_path)}
    if case.setup is not None:
        values.update(case.setup(tmp_path, values) or {})
    before = _snapshot(tmp_path)
    args = [a.format(**values) for a in case.args]
    env = {**os.environ, "TFSNN_LIF_BACKEND": "fused", **case.env}
    done = subprocess.run([sys.executable, "-m", "tfsnn.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    err = done.stderr.strip()
    assert done.returncode == 2, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert len(err.splitlines()) == 1, err
    assert err.startswith("tfsnn "), err
    assert case.message in err, err
    assert _snapshot(tmp_path) == before, f"left behind: {sorted(_snapshot(tmp_path) - before)}"
