"""README "Add your method", end to end: a method defined in a file outside the package is
compared with MTT by the DAG's comparison target at smoke scale (two tiny trainings)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent

MY_METHOD = '''
import torch.nn.functional as F
from tfsnn.temporal import StageSampler
from tfsnn.training import Method


class LastStepCE(Method):
    """MTT's configurations, cross-entropy on the last time step's output only."""

    def __init__(self, t_max: int = 6, samples: int = 3):
        super().__init__(StageSampler(1, t_max), samples, t_max)

    def loss(self, model, inputs, targets, config):
        steps = model.forward_steps(inputs, config)
        return F.cross_entropy(steps[-1], targets), steps.mean(0)
'''


def test_a_method_from_outside_the_package_is_compared(tmp_path, pack_dir):
    work = tmp_path / "workflow-copy"
    work.mkdir()
    for item in ("Snakefile", "workflow", "config", "benchmarks"):
        source = ROOT / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, work / item)
    scale_file = work / "config" / "scales" / "smoke.yaml"
    scale = yaml.safe_load(scale_file.read_text())
    scale["data"]["pack_dir"] = str(pack_dir)
    scale_file.write_text(yaml.safe_dump(scale))
    (tmp_path / "my_methods.py").write_text(MY_METHOD)
    (work / "mine.yaml").write_text(yaml.safe_dump({"compare": {
        "methods": [{"label": "MTT", "name": "mtt", "t_min": 1, "t_max": 6, "samples": 3},
                    {"label": "last-step", "name": "my_methods:LastStepCE", "t_max": 6, "samples": 2}],
        "seeds": [0], "T": [2, 6], "random_configs": 1}}))
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "figures/smoke/compare.pdf",
         "--configfile", "mine.yaml", "--config", "scale=smoke"],
        cwd=work, env=env, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = pd.read_csv(work / "results" / "smoke" / "compare.csv", keep_default_na=False)
    assert set(table["label"]) == {"MTT", "last-step"}
    # each method at T=2, T=6 and one random per-stage configuration, the same for both
    assert table.groupby("label")["config"].apply(frozenset).nunique() == 1
    assert len(table) == 6 and set(table["T"]) == {"2", "6", ""}
    assert (table["verdict"] == "unknown (one seed)").sum() == 3  # one seed: noise unknown
    assert (work / "figures" / "smoke" / "compare.pdf").stat().st_size > 0
