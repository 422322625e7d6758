"""Keep what this scale has finished in the repository (rule keep_results), so a new machine
resumes where this one stopped and a reader sees the results without running anything:

- ``runs/{run}/``: each training run trained here (not one restored from there, nor one copied
  from its snapshot twin, which is kept itself): its config,
  checkpoint (without the optimizer state: :func:`tfsnn.io.save_finished_checkpoint`), per-epoch
  metrics, Snakemake benchmark and the stack it ran on. Rule train copies
  a run from here instead of training it again when its config is byte-for-byte the same.
- ``evals/`` and ``analyses/``: every evaluation and analysis CSV, with its benchmark (for the
  re-run check, ``tests/test_small_rerun.py``).
- the top-level result CSVs (tables, figures' data, scorecard) and ``environment.json``
  (:func:`tfsnn.report.regression.update_references`), the rendered ``figures/`` and
  ``cost/jobs.csv``, the measured time of every job kept (:func:`tfsnn.report.cost.job_costs`).
- while the scale's run is in progress (no ``scorecard.csv`` yet), ``scorecard-partial.csv``:
  the claims whose sources are made, judged; the others ``pending (not run yet)``.
- ``summary.md`` (:func:`tfsnn.report.summary.summary_markdown`), also written into README.md
  between its ``<!-- {scale}-results -->`` markers where it has them.

Every file is replaced atomically; rerunning it after more jobs finished adds them.
"""

import json
import sys
from pathlib import Path

from tfsnn.io import atomic_path, copy_atomic, provenance, save_finished_checkpoint, write_csv
from tfsnn.report.claims import scorecard, trained_models
from tfsnn.report.cost import job_costs
from tfsnn.report.regression import environment, reference_environment, update_references
from tfsnn.report.summary import replace_section, summary_markdown

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
scale = snakemake.params.scale  # noqa: F821
results, figures = Path(f"results/{scale}"), Path(f"figures/{scale}")
reference = Path(f"workflow/reference/{scale}")


kept = 0
for run in snakemake.params.runs:  # noqa: F821
    checkpoint, log = results / "runs" / run / "checkpoint.pt", results / "logs" / "train" / f"{run}.log"
    if not checkpoint.is_file() or log.read_text().startswith(("restored", "copied")):
        continue
    folder = reference / "runs" / run
    copy_atomic(results / "configs" / f"{run}.yaml", folder / "config.yaml")
    copy_atomic(results / "runs" / run / "metrics.csv", folder / "metrics.csv")
    copy_atomic(results / "benchmarks" / "train" / f"{run}.tsv", folder / "benchmark.tsv")
    with atomic_path(folder / "environment.json") as tmp:
        tmp.write_text(json.dumps(environment(), indent=2) + "\n")
    # last: a run counts as kept once its checkpoint is there
    save_finished_checkpoint(checkpoint, folder / "checkpoint.pt")
    kept += 1
print(f"kept {kept} training runs trained here", file=sys.stderr)

for kind in ("evals", "analyses"):
    for csv in sorted((results / kind).glob("*/*.csv")):
        relative = csv.relative_to(results)
        copy_atomic(csv, reference / relative)
        benchmark = results / "benchmarks" / {"evals": "evaluate", "analyses": "analyze"}[kind] / \
            relative.relative_to(kind).with_suffix(".tsv")
        if benchmark.is_file():
            copy_atomic(benchmark, (reference / relative).with_suffix(".tsv"))

if any(results.glob("*.csv")):
    names = update_references(results, reference)
    print(f"kept {len(names)} result CSVs", file=sys.stderr)
for rendered in sorted(figures.glob("*")):
    if rendered.suffix in (".pdf", ".png", ".html"):
        copy_atomic(rendered, reference / "figures" / rendered.name)
jobs = job_costs(reference, snakemake.params.families)  # noqa: F821
write_csv(jobs, reference / "cost" / "jobs.csv")

claim_runs = snakemake.params.claim_runs  # noqa: F821
if (results / "scorecard.csv").is_file():
    import pandas as pd

    card, title = pd.read_csv(results / "scorecard.csv", keep_default_na=False, na_values=[""]), "scorecard.csv"
    (reference / "scorecard-partial.csv").unlink(missing_ok=True)
else:
    pending = {source: "its rows are not made yet: the scale's run is in progress"
               for source in claim_runs if not (results / f"{source}.csv").is_file()}
    made = [run for source, runs in claim_runs.items() if source not in pending for run in runs]
    models = trained_models(sorted({results / "runs" / run / "metrics.csv" for run in made}))
    card = scorecard(results, models=models, reference=snakemake.params.reference,  # noqa: F821
                     not_run=snakemake.params.not_run, pending=pending, scale=scale)  # noqa: F821
    card, title = card.assign(**provenance()), "scorecard-partial.csv"
    write_csv(card, reference / title)
finished = [results / "runs" / run / "metrics.csv" for run in snakemake.params.runs]  # noqa: F821
models = trained_models([path for path in finished if path.is_file()])
stack = reference_environment(reference) or environment()
sources = sorted(set(card["data_source"].dropna()) - {""})
note = (f"Scale `{scale}`, from `workflow/reference/{scale}/` ({title}; data: the offline packs"
        + (f", {'; '.join(sources)}" if sources else "") + "); stack: "
        + ", ".join(f"{k} {v}" for k, v in stack.items()) + ".")
figure = reference / "figures" / "flexibility.png"
summary = summary_markdown(card, models, jobs, len(finished), note, str(figure) if figure.is_file() else "")
with atomic_path(reference / "summary.md") as tmp:
    tmp.write_text(summary + "\n")
readme = Path("README.md")
if f"<!-- {scale}-results:begin -->" in readme.read_text():
    with atomic_path(readme) as tmp:
        tmp.write_text(replace_section(readme.read_text(), f"{scale}-results", summary))
