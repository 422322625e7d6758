"""What each job of a scale cost, from Snakemake's ``benchmark:`` files (wall seconds ``s``,
``cpu_time``, ``max_rss`` in MB) as rule keep_results keeps them under
``workflow/reference/{scale}/``: ``runs/{run}/benchmark.tsv`` (training),
``evals/{run}/{tag}.tsv`` and ``analyses/{run}/{key}.tsv``."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

__all__ = ["job_costs", "family_costs", "experiment_of", "remaining_training"]

COLUMNS = ["rule", "run", "family", "job", "wall_s", "cpu_s", "max_rss_mb"]


def _family(run: str, families) -> str:
    """The experiment family a run name holds (``{dataset}-{family}-{method}-...``)."""
    found = [family for family in families if f"-{family}-" in f"-{run}-"]
    return max(found, key=len) if found else ""


def experiment_of(run: str) -> str:
    """The experiment a run belongs to: its name without the seed (``...-seed3``)."""
    return re.sub(r"-seed\d+$", "", run)


def job_costs(reference_dir: str | Path, families=()) -> pd.DataFrame:
    """One row per benchmarked job under ``reference_dir``: its rule (train, evaluate, analyze),
    run, experiment family (one of ``families`` the run's name holds), job, wall and CPU seconds
    and peak memory."""
    reference_dir = Path(reference_dir)
    found = [("train", path.parent.name, "train", path) for path in reference_dir.glob("runs/*/benchmark.tsv")]
    for folder, rule in (("evals", "evaluate"), ("analyses", "analyze")):
        found += [(rule, path.parent.name, path.stem, path) for path in reference_dir.glob(f"{folder}/*/*.tsv")]
    rows = []
    for rule, run, job, path in sorted(found):
        bench = pd.read_csv(path, sep="\t").iloc[0]
        rows.append({"rule": rule, "run": run, "family": _family(run, families), "job": job,
                     "wall_s": float(bench["s"]), "cpu_s": float(bench["cpu_time"]),
                     "max_rss_mb": float(bench["max_rss"])})
    return pd.DataFrame(rows, columns=COLUMNS)


def family_costs(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per family and rule, then a last row ``all``: jobs, total wall hours, CPU hours and the
    longest job in wall and in CPU minutes (wall time also counts waiting for a core)."""
    def costs(grouped):
        return pd.DataFrame({
            "jobs": grouped.size(),
            "wall_h": grouped["wall_s"].sum() / 3600,
            "cpu_h": grouped["cpu_s"].sum() / 3600,
            "longest_wall_min": grouped["wall_s"].max() / 60,
            "longest_cpu_min": grouped["cpu_s"].max() / 60,
        }).reset_index()

    total = costs(jobs.assign(family="all", rule="").groupby(["family", "rule"]))
    return pd.concat([costs(jobs.groupby(["family", "rule"], sort=True)), total], ignore_index=True)


def remaining_training(planned, finished, jobs: pd.DataFrame) -> tuple[float, int]:
    """The CPU hours that the runs of ``planned`` not in ``finished`` still need to train, each at
    the mean CPU time of its experiment's trainings measured in ``jobs`` (:func:`job_costs`); and
    how many of them have no measured training in their experiment (not counted)."""
    trained = jobs[jobs["rule"] == "train"]
    measured = trained.groupby(trained["run"].map(experiment_of))["cpu_s"].mean()
    left = [experiment_of(run) for run in sorted(set(planned) - set(finished))]
    return sum(measured.get(e, 0.0) for e in left) / 3600, sum(e not in measured.index for e in left)
