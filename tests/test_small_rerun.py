"""The small scale's committed results can be checked by anyone with the packs: its cheapest
committed run (FSDD spikes, SDT at T=100, seed 2: a fully connected network, about 2 minutes;
retrained under the lock, so its rows carry the full stack fingerprint)
trained again from scratch and evaluated gives the committed rows, and restored from the
commit and evaluated afresh, gives the committed evaluation again.

Bitwise where the fresh rows were made on the stack of the committed ones (the rows' ``stack``
fingerprint, :mod:`tfsnn.stack`: numerical packages, CPU model and ISA, threads); on another
stack the kernels round differently and a retrained model drifts like one of another seed, so
there the test checks the rows' structure and bounds the drift (10 points of accuracy
retrained, 2 evaluated), and prints which parts of the stacks differ and what moved.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tfsnn.io import load_checkpoint
from tfsnn.report.regression import diff_frames, stack_differences

ROOT = Path(__file__).resolve().parent.parent
RUN = "fsdd-spikes-shd-fc-sdt-T100-seed2"
EVALUATION = f"results/small/evals/{RUN}/T100.csv"
METRICS = f"results/small/runs/{RUN}/metrics.csv"
COMMITTED = ROOT / "workflow" / "reference" / "small"
PACKS = Path(os.environ.get("TFSNN_PACKS", ROOT.parent / "shared" / "data"))


@pytest.fixture
def workspace(tmp_path):
    """A copy of the workflow that holds only RUN's checkpoint of the committed runs (the others'
    metrics only), the packs at the scale's ../shared/data."""
    if not (COMMITTED / "runs" / RUN / "checkpoint.pt").is_file():
        pytest.fail(f"{COMMITTED / 'runs' / RUN} is not committed: the re-run check has nothing to check")
    repo = tmp_path / "repo"
    repo.mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(PACKS.resolve(), target_is_directory=True)

    def other_checkpoints(folder, names):
        folder = Path(folder)
        return [n for n in names if folder.parent.name == "runs" and folder.name != RUN and n == "checkpoint.pt"]

    shutil.copytree(ROOT / "workflow", repo / "workflow", ignore=other_checkpoints)
    shutil.copytree(ROOT / "config", repo / "config")
    shutil.copy(ROOT / "Snakefile", repo / "Snakefile")
    (repo / "README.md").write_text("before\n<!-- small-results:begin -->\nold\n<!-- small-results:end -->\nafter\n")
    return repo


def snakemake(repo: Path, *config: str, target: str = EVALUATION) -> None:
    done = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--config", "scale=small", *config,
                           "--", target], cwd=repo, capture_output=True, text=True, timeout=1200,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]


def accuracies(frame: pd.DataFrame) -> pd.Series:
    """The accuracies of a metrics CSV (per epoch) or an evaluation CSV (per configuration)."""
    if "accuracy" in frame:
        return frame.set_index(["config", "bn_calibrated"])["accuracy"].astype(float)
    rows = frame[frame["metric"].isin(["train_acc", "test_acc"])]
    return rows.set_index(["epoch", "metric"])["value"].astype(float)


def same_rows(fresh: Path, committed: Path, tolerance: float) -> None:
    """Bitwise on the committed stack; elsewhere the same rows, accuracies within ``tolerance``."""
    fresh_rows, committed_rows = (pd.read_csv(p, keep_default_na=False) for p in (fresh, committed))
    moved = diff_frames(fresh_rows, committed_rows, atol=0.0, rtol=0.0)
    recorded, made = (set(rows["stack"]) if "stack" in rows else {""} for rows in (committed_rows, fresh_rows))
    stacks = {stack_differences(a, b) for a in recorded for b in made}
    if stacks == {""}:
        assert moved == []
        return
    print(f"{fresh.name}: made on another stack than the committed rows ({' | '.join(stacks)}): "
          f"{len(moved)} values moved")
    assert [c for c in moved if not c["change"].endswith(" moved")] == []  # the same rows
    drift = (accuracies(fresh_rows) - accuracies(committed_rows)).abs()
    assert drift.notna().all() and drift.max() <= tolerance, drift.max()


def test_the_cheapest_committed_run_trains_again_to_its_committed_rows(workspace):
    snakemake(workspace, "reuse_committed=False")
    log = (workspace / f"results/small/logs/train/{RUN}.log").read_text()
    assert not log.startswith("restored")  # it trained
    same_rows(workspace / METRICS, COMMITTED / "runs" / RUN / "metrics.csv", 10.0)
    same_rows(workspace / EVALUATION, COMMITTED / "evals" / RUN / "T100.csv", 10.0)

    # kept, as a machine that trained it keeps it: the run (checkpoint without optimizer state), its
    # evaluation, a scorecard (the claims whose sources a machine made and committed judged, the
    # others pending), and the README's section, only that
    kept = workspace / "workflow" / "reference" / "small"
    (kept / "table15.csv").unlink(missing_ok=True)
    snakemake(workspace, target="keep_results")
    assert (kept / "runs" / RUN / "config.yaml").read_bytes() == \
        (workspace / f"results/small/configs/{RUN}.yaml").read_bytes()
    assert "optimizer" not in load_checkpoint(kept / "runs" / RUN / "checkpoint.pt")
    assert (kept / "evals" / RUN / "T100.csv").read_bytes() == (workspace / EVALUATION).read_bytes()
    assert (kept / "evals" / RUN / "T100.npz").read_bytes() == (workspace / EVALUATION).with_suffix(".npz").read_bytes()
    card = pd.read_csv(kept / "scorecard-partial.csv", keep_default_na=False).set_index("claim")
    assert card.loc["sequence-table15", "verdict"] == "pending (not run yet)"
    assert (COMMITTED / "fig7C.csv").is_file()
    assert card.loc["bn-calibration-needed", "verdict"] == "holds"
    assert card.loc["early-exit", "verdict"] == "not run at this scale"
    readme = (workspace / "README.md").read_text()
    assert readme.startswith("before\n<!-- small-results:begin -->\n")
    assert readme.endswith("<!-- small-results:end -->\nafter\n")
    assert "fsdd-spikes-shd-fc-sdt-T100 |" in readme and "\nold\n" not in readme
    # a run copied from its snapshot twin is the twin's training: listed once, under the twin. The
    # snapshot runs (Table 13, section 4.2) train on the scale's seeds; Table 1's SDT T=6 on its
    # further seeds have no twin and are the only ones its row counts
    assert "| cifar10-cifar-resnet18-sdt-T6-save_epochs0_1_2_3 |" in readme
    twinned = set(yaml.safe_load((workspace / "config" / "scales" / "small.yaml").read_text())["seeds"])
    own = sum(int(re.search(r"seed(\d+)$", path.parent.name).group(1)) not in twinned
              for path in COMMITTED.glob("runs/cifar10-cifar-resnet18-sdt-T6-seed*/checkpoint.pt"))
    row = re.search(r"^\| cifar10-cifar-resnet18-sdt-T6 \|.*\| (\d+) \|$", readme, re.MULTILINE)
    assert (int(row.group(1)) if row else 0) == own
    # the stacks it was trained on: the retrained run's full fingerprint, the older runs' torch and ISA
    assert "Trained on " in readme and "| all |  |" in readme
    assert " with ATen " in readme and "torch_version 2.14.1+cu130, cpu_capability AVX512" in readme


def test_the_restored_run_evaluates_to_its_committed_rows(workspace):
    # without its committed evaluation, which rule evaluate would restore instead of evaluating
    (workspace / "workflow" / "reference" / "small" / "evals" / RUN / "T100.csv").unlink()
    snakemake(workspace)
    assert not (workspace / f"results/small/logs/evaluate/{RUN}/T100.log").read_text().startswith("restored")
    assert (workspace / f"results/small/logs/train/{RUN}.log").read_text().startswith("restored from")
    assert (workspace / f"results/small/runs/{RUN}/checkpoint.pt").read_bytes() == \
        (COMMITTED / "runs" / RUN / "checkpoint.pt").read_bytes()
    same_rows(workspace / EVALUATION, COMMITTED / "evals" / RUN / "T100.csv", 2.0)
