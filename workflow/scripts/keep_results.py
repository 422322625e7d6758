"""Keep what this scale has finished in the repository (rule keep_results), so a new machine
resumes where this one stopped and a reader sees the results without running anything:

- ``runs/{run}/``: each training run trained here (not one restored from there): its config,
  checkpoint, per-epoch metrics, Snakemake benchmark and the stack it ran on. Rule train copies
  a run from here instead of training it again when its config is byte-for-byte the same.
- ``evals/`` and ``analyses/``: every evaluation and analysis CSV, with its benchmark (for the
  re-run check, ``tests/test_small_rerun.py``).
- the top-level result CSVs (tables, figures' data, scorecard) and ``environment.json``
  (:func:`tfsnn.report.regression.update_references`), the rendered ``figures/`` and
  ``cost/jobs.csv``, the measured time of every job kept (:func:`tfsnn.report.cost.job_costs`).

Every file is replaced atomically; rerunning it after more jobs finished adds them.
"""

import json
import shutil
import sys
from pathlib import Path

from tfsnn.io import atomic_path, write_csv
from tfsnn.report.cost import job_costs
from tfsnn.report.regression import environment, update_references

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
scale = snakemake.params.scale  # noqa: F821
results, figures = Path(f"results/{scale}"), Path(f"figures/{scale}")
reference = Path(f"workflow/reference/{scale}")


def keep(source: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


kept = 0
for run in snakemake.params.runs:  # noqa: F821
    checkpoint, log = results / "runs" / run / "checkpoint.pt", results / "logs" / "train" / f"{run}.log"
    if not checkpoint.is_file() or log.read_text().startswith("restored"):
        continue
    folder = reference / "runs" / run
    keep(results / "configs" / f"{run}.yaml", folder / "config.yaml")
    keep(results / "runs" / run / "metrics.csv", folder / "metrics.csv")
    keep(results / "benchmarks" / "train" / f"{run}.tsv", folder / "benchmark.tsv")
    with atomic_path(folder / "environment.json") as tmp:
        tmp.write_text(json.dumps(environment(), indent=2) + "\n")
    keep(checkpoint, folder / "checkpoint.pt")  # last: a run counts as kept once its checkpoint is there
    kept += 1
print(f"kept {kept} training runs trained here", file=sys.stderr)

for kind in ("evals", "analyses"):
    for csv in sorted((results / kind).glob("*/*.csv")):
        relative = csv.relative_to(results)
        keep(csv, reference / relative)
        benchmark = results / "benchmarks" / {"evals": "evaluate", "analyses": "analyze"}[kind] / \
            relative.relative_to(kind).with_suffix(".tsv")
        if benchmark.is_file():
            keep(benchmark, (reference / relative).with_suffix(".tsv"))

if any(results.glob("*.csv")):
    names = update_references(results, reference)
    print(f"kept {len(names)} result CSVs", file=sys.stderr)
for rendered in sorted(figures.glob("*")):
    if rendered.suffix in (".pdf", ".png", ".html"):
        keep(rendered, reference / "figures" / rendered.name)
write_csv(job_costs(reference, snakemake.params.families), reference / "cost" / "jobs.csv")  # noqa: F821
