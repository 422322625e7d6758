"""The README's account of a scale's committed results (``workflow/reference/{scale}/``): its
scorecard, the accuracy of every model behind it and what each family of jobs cost, as
Markdown (rule keep_results writes it between the README's ``<!-- {scale}-results -->``
markers)."""

from __future__ import annotations

import math

import pandas as pd

from tfsnn.report.cost import experiment_of, family_costs, remaining_training

__all__ = ["summary_markdown", "replace_section"]


def _number(value, digits: int = 2) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    return head + "".join("| " + " | ".join(str(v) for v in row) + " |\n" for row in frame.itertuples(index=False))


def _scorecard(card: pd.DataFrame) -> pd.DataFrame:
    def ours(row):
        if math.isnan(row["effect"]):
            return ""
        interval = "" if math.isnan(row["ci_low"]) else f" [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"
        return f"{row['effect']:.2f}{interval}"

    return pd.DataFrame({
        "claim": card["claim"], "family": card["family"], "paper's effect": card["paper_effect"].map(_number),
        "ours [95% CI]": card.apply(ours, axis=1), "unit": card["unit"], "seeds per group": card["seeds"],
        "test items": card["images"].map(lambda n: "" if not n or math.isnan(n) or n <= 1 else int(n)),
        "criterion": card["criterion"], "verdict": card["verdict"], "size": card["size"],
        "detectable at 80 %": card["mde"].map(_number),
    })


def _models(models: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread of the test accuracy at the trained T of each experiment over its seeds."""
    experiment = models["run"].map(experiment_of)
    grouped = models.assign(experiment=experiment).groupby("experiment", sort=True)["test_acc"]
    return pd.DataFrame({"run (seeds pooled)": grouped.mean().index,
                         "test accuracy at its trained T (%), mean": grouped.mean().map(lambda v: f"{v:.1f}").values,
                         "sd over seeds": grouped.std().map(_number).values,
                         "seeds": grouped.size().values})


def _progress(models: pd.DataFrame, jobs: pd.DataFrame, planned: list[str]) -> str:
    left = len(set(planned) - set(models["run"]))
    if not left:
        return f"**Training runs finished: all {len(planned)}.**"
    hours, unmeasured = remaining_training(planned, models["run"], jobs)
    return (f"**Training runs finished: {len(models)} of {len(planned)}.** The other {left} need about "
            f"{hours:.1f} CPU hours to train, each at the mean CPU time of its experiment's measured trainings"
            + (f" ({unmeasured} of them in experiments not measured yet, not counted)" if unmeasured else "")
            + "; their evaluations and analyses come on top.")


def summary_markdown(card: pd.DataFrame, models: pd.DataFrame, jobs: pd.DataFrame, planned: list[str],
                     note: str, figure: str = "") -> str:
    """Markdown of a scorecard (:func:`tfsnn.report.claims.scorecard`), the trained ``models``
    (:func:`tfsnn.report.claims.trained_models`) and the measured ``jobs``
    (:func:`tfsnn.report.cost.job_costs`), of the training runs ``planned`` by the scale (and
    the CPU time those not finished need, :func:`tfsnn.report.cost.remaining_training`);
    ``note``: what the numbers come from (data, stack); ``figure``: the path of a figure
    to show first (none if empty)."""
    costs = family_costs(jobs)
    costs = costs.assign(**{c: costs[c].map(lambda v: f"{v:.2f}") for c in ("wall_h", "cpu_h")},
                         **{c: costs[c].map(lambda v: f"{v:.1f}") for c in ("longest_wall_min", "longest_cpu_min")})
    count = jobs["rule"].value_counts()
    shown = f"![accuracy against T]({figure})\n\n" if figure else ""
    return (f"{shown}{note}\n\n{_progress(models, jobs, planned)}\n\n"
            f"#### Scorecard\n\n{_table(_scorecard(card))}\n"
            f"#### Every model, at the T it was trained at\n\n{_table(_models(models))}\n"
            f"#### Measured cost (Snakemake `benchmark:` files of the {count.get('train', 0)} trainings, "
            f"{count.get('evaluate', 0)} evaluations and {count.get('analyze', 0)} analyses kept; 1 thread a job, "
            f"2 jobs at once)\n\n{_table(costs)}")


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with what lies between ``<!-- name:begin -->`` and ``<!-- name:end -->`` replaced
    by ``body``; a ValueError if the markers are missing."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if begin not in text or end not in text:
        raise ValueError(f"the markers {begin} and {end} are missing")
    head, rest = text.split(begin, 1)
    return f"{head}{begin}\n{body}\n{end}{rest.split(end, 1)[1]}"
