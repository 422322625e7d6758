"""Keep what this scale has finished in the repository (rule keep_results), so a new machine
resumes where this one stopped and a reader sees the results without running anything:

- ``runs/{run}/``: each training run trained here (not one restored from there, nor one copied
  from its snapshot twin, which is kept itself): its config,
  checkpoint (without the optimizer state: :func:`tfsnn.io.save_finished_checkpoint`), per-epoch
  metrics, Snakemake benchmark and the stack it ran on (``environment.json``, written by the
  training: :func:`tfsnn.stack.record`). Rule train copies
  a run from here instead of training it again when its config is byte-for-byte the same.
- ``evals/`` and ``analyses/``: every evaluation and analysis CSV made here (not one restored
  from there), with its per-item records (``.npz``) and the job's benchmark (for
  the re-run check, ``tests/test_small_rerun.py``). Rules evaluate and analyze restore them
  beside a restored run.
- the top-level result CSVs (tables, figures' data, scorecard) and ``environment.json``
  (:func:`tfsnn.report.regression.update_references`), the rendered ``figures/`` and
  ``cost/jobs.csv``, the measured time of every job kept (:func:`tfsnn.report.cost.job_costs`).
- while the scale's run is in progress (no ``scorecard.csv`` yet), ``scorecard-partial.csv``:
  the claims whose sources are made (here, or committed by an earlier machine's run: judged from
  ``workflow/reference/{scale}/``), judged; the others ``pending (not run yet)``.
- ``summary.md`` (:func:`tfsnn.report.summary.summary_markdown`), also written into README.md
  between its ``<!-- {scale}-results -->`` markers where it has them.

Every file is replaced atomically; rerunning it after more jobs finished adds them.
"""

import json
import sys
from collections import Counter
from pathlib import Path

from tfsnn.io import atomic_path, copy_atomic, provenance, save_finished_checkpoint, write_csv
from tfsnn.report.claims import headline_figure, item_records, scorecard, trained_models
from tfsnn.report.cost import job_costs
from tfsnn.report.regression import reference_environment, update_references
from tfsnn.report.summary import replace_section, summary_markdown
from tfsnn.stack import fingerprint

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
scale = snakemake.params.scale  # noqa: F821
results, figures = Path(f"results/{scale}"), Path(f"figures/{scale}")
reference = Path(f"workflow/reference/{scale}")


def metrics_of(runs):
    """The metrics.csv of each of ``runs`` that is finished: made here, else committed (its own
    or, for a run copied from its snapshot twin, the twin's)."""
    twins = snakemake.params.twins  # noqa: F821
    found = []
    for run in runs:
        candidates = [results / "runs" / run, reference / "runs" / run]
        candidates += [reference / "runs" / twins[run]] if run in twins else []
        found += [path for path in (folder / "metrics.csv" for folder in candidates) if path.is_file()][:1]
    return found


def stack_words(stack):
    """The main parts of a stack fingerprint (:mod:`tfsnn.stack`; a run kept before the full
    fingerprint has torch version, CPU capability and machine only) as words."""
    if "cpu" not in stack:
        return ", ".join(f"{key} {value}" for key, value in stack.items())
    return (f"torch {stack['torch']}, numpy {stack['numpy']}, CPU {stack['cpu']} with ATen {stack['aten']}, "
            f"{stack['threads']} thread(s)")


kept = 0
for run in snakemake.params.runs:  # noqa: F821
    checkpoint, log = results / "runs" / run / "checkpoint.pt", results / "logs" / "train" / f"{run}.log"
    if not checkpoint.is_file() or log.read_text().startswith(("restored", "copied")):
        continue
    folder = reference / "runs" / run
    copy_atomic(results / "configs" / f"{run}.yaml", folder / "config.yaml")
    copy_atomic(results / "runs" / run / "metrics.csv", folder / "metrics.csv")
    copy_atomic(results / "benchmarks" / "train" / f"{run}.tsv", folder / "benchmark.tsv")
    copy_atomic(results / "runs" / run / "environment.json", folder / "environment.json")
    # last: a run counts as kept once its checkpoint is there
    save_finished_checkpoint(checkpoint, folder / "checkpoint.pt")
    kept += 1
print(f"kept {kept} training runs trained here", file=sys.stderr)

for kind, rule in (("evals", "evaluate"), ("analyses", "analyze")):
    for csv in sorted((results / kind).glob("*/*.csv")):
        job = csv.relative_to(results / kind).with_suffix("")
        log = results / "logs" / rule / f"{job}.log"
        if log.is_file() and log.read_text().startswith("restored"):
            continue
        copy_atomic(csv, reference / kind / f"{job}.csv")
        if csv.with_suffix(".npz").is_file():  # its per-item records
            copy_atomic(csv.with_suffix(".npz"), reference / kind / f"{job}.npz")
        benchmark = results / "benchmarks" / rule / f"{job}.tsv"
        if benchmark.is_file():
            copy_atomic(benchmark, reference / kind / f"{job}.tsv")

# the scale's run complete (its scorecard made), committed CSVs it no longer makes go; before
# that, those made on an earlier machine stay, and the scorecard judges them too
complete = (results / "scorecard.csv").is_file()
if any(results.glob("*.csv")):
    names = update_references(results, reference, prune=complete)
    print(f"kept {len(names)} result CSVs", file=sys.stderr)

for rendered in sorted(figures.glob("*")):
    if rendered.suffix in (".pdf", ".png", ".html"):
        copy_atomic(rendered, reference / "figures" / rendered.name)
jobs = job_costs(reference, snakemake.params.families)  # noqa: F821
write_csv(jobs, reference / "cost" / "jobs.csv")

claim_runs = snakemake.params.claim_runs  # noqa: F821
if complete:
    import pandas as pd

    card, title = pd.read_csv(results / "scorecard.csv", keep_default_na=False, na_values=[""]), "scorecard.csv"
    (reference / "scorecard-partial.csv").unlink(missing_ok=True)
else:
    pending = {source: "its rows are not made yet: the scale's run is in progress"
               for source in claim_runs if not (reference / f"{source}.csv").is_file()}
    made = [run for source, runs in claim_runs.items() if source not in pending for run in runs]
    models = trained_models(metrics_of(sorted(set(made))))
    records = item_records(sorted(path for run in set(made) for kind in ("evals", "analyses")
                                  for path in (reference / kind / run).glob("*.npz")))
    card = scorecard(reference, models=models, reference=snakemake.params.reference,  # noqa: F821
                     not_run=snakemake.params.not_run, pending=pending, scale=scale, records=records)  # noqa: F821
    card, title = card.assign(**provenance()), "scorecard-partial.csv"
    write_csv(card, reference / title)
    headline_figure(card, reference / "figures" / "headline.pdf", reference / "figures" / "headline.png")

# a run copied from its snapshot twin is the twin's training: counted and listed once, as the twin
trainings = sorted({snakemake.params.twins.get(run, run) for run in snakemake.params.runs})  # noqa: F821
models = trained_models(metrics_of(trainings))
stacks = Counter(stack_words(json.loads(path.read_text())) for run in trainings
                 if (path := reference / "runs" / run / "environment.json").is_file())
sources = sorted(set(card["data_source"].dropna()) - {""})
note = (f"Scale `{scale}`, from `workflow/reference/{scale}/` ({title}; data: the offline packs"
        + (f", {'; '.join(sources)}" if sources else "") + "). "
        + ("Trained on " + " and on ".join(f"{stack} ({n} runs)" for stack, n in sorted(stacks.items())) + "; "
           if stacks else "")
        + f"tables last made on {stack_words(reference_environment(reference) or fingerprint())}.")
figure = reference / "figures" / "flexibility.png"
summary = summary_markdown(card, models, jobs, trainings, note, str(figure) if figure.is_file() else "")
with atomic_path(reference / "summary.md") as tmp:
    tmp.write_text(summary + "\n")
readme = Path("README.md")
if f"<!-- {scale}-results:begin -->" in readme.read_text():
    with atomic_path(readme) as tmp:
        tmp.write_text(replace_section(readme.read_text(), f"{scale}-results", summary))
