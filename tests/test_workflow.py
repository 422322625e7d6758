"""The Snakemake DAG (Snakefile, workflow/): it parses at every scale, plans Table 1 at paper
scale, and its config schema rejects an unknown scale. Dry runs only; nothing is trained."""

import re
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
    # SDT T=2..6 (T=6 shared by SDT and SDT*) and NMT: six models, each trained once
    assert re.search(r"^train\s+6$", done.stdout, re.MULTILINE), done.stdout
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


@pytest.mark.parametrize("scale, trainings", [("paper", 5), ("smoke", 3)])
def test_table4_trains_each_model_once(scale, trainings):
    # one MTT model per dataset; at smoke scale CIFAR-10 stands in for CIFAR-100 (one ResNet-19
    # serves both) and N-MNIST for both DVS sets (one ResNet-18 serves both)
    done = snakemake("-n", "--forceall", f"figures/{scale}/table4.pdf", "--config", f"scale={scale}")
    assert done.returncode == 0, done.stderr
    assert re.search(rf"^train\s+{trainings}$", done.stdout, re.MULTILINE), done.stdout
