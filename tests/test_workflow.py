"""The Snakemake DAG (Snakefile, workflow/): it parses at every scale, plans every table and
figure at paper scale with each model trained once, and its schemas and checks reject bad
config. Dry runs only; nothing is trained."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def snakemake(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--nolock", "--cores", "1", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def test_paper_scale_table1_dry_run():
    done = snakemake("-n", "--forceall", "figures/paper/table1.pdf", "--config", "scale=paper")
    assert done.returncode == 0, done.stderr
    # per seed (3 at paper scale) SDT T=2..6 (T=6 shared by SDT and SDT*) and NMT: six models,
    # each trained once
    assert re.search(r"^train\s+18$", done.stdout, re.MULTILINE), done.stdout
    assert "results/paper/runs/cifar100-cifar-resnet19-sdt-T6-seed0/checkpoint.pt" in done.stdout


@pytest.mark.parametrize("scale", ["small", "smoke"])
def test_small_scales_name_their_stand_in(scale):
    done = snakemake("-n", "--forceall", f"figures/{scale}/table1.pdf", "--config", f"scale={scale}")
    assert done.returncode == 0, done.stderr
    assert f"results/{scale}/runs/cifar10-cifar-resnet19-sdt-T6-seed0/checkpoint.pt" in done.stdout


def test_schema_rejects_an_unknown_scale():
    done = snakemake("-n", "--forceall", "--config", "scale=huge")
    assert done.returncode != 0
    assert "huge" in done.stdout + done.stderr


@pytest.mark.parametrize("scale, trainings", [("paper", 5 * 3), ("smoke", 3 * 2)])
def test_table4_trains_each_model_once(scale, trainings):
    # one MTT model per dataset and seed (3 seeds at paper scale, 2 at smoke); at smoke scale CIFAR-10 stands in for CIFAR-100 (one ResNet-19
    # serves both) and N-MNIST for both DVS sets (one ResNet-18 serves both)
    done = snakemake("-n", "--forceall", f"figures/{scale}/table4.pdf", "--config", f"scale={scale}")
    assert done.returncode == 0, done.stderr
    assert re.search(rf"^train\s+{trainings}$", done.stdout, re.MULTILINE), done.stdout


def test_all_at_paper_scale_plans_every_table_and_figure_once():
    done = snakemake("-n", "--forceall", "all", "--config", "scale=paper")
    assert done.returncode == 0, done.stderr
    for table in [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16]:
        assert f"figures/paper/table{table}.pdf" in done.stdout
    for name in ["fig5", "fig6", "fig7A", "fig7B", "fig7C", "fig8", "fig9", "table11", "sec4.2", "sec5.3", "appA.9",
                 "scorecard.html", "compare.pdf", "step_time.pdf"]:
        assert f"figures/paper/{name}" in done.stdout, name
    trainings = re.findall(r"output: (results/paper/runs/\S+/checkpoint.pt)", done.stdout)
    assert trainings and len(trainings) == len(set(trainings))  # each model trained once


def test_a_bad_scale_fails_at_parse_naming_the_run_and_field(tmp_path):
    for item in ("Snakefile", "workflow", "config"):
        source = ROOT / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / item)
    scale = tmp_path / "config" / "scales" / "smoke.yaml"
    scale.write_text(scale.read_text().replace("optimizer: sgd", "optimizer: sgdd", 1))
    done = subprocess.run([sys.executable, "-m", "snakemake", "-n", "all", "--config", "scale=smoke"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "train.optimizer" in done.stdout + done.stderr and "smoke.yaml" in done.stdout + done.stderr
