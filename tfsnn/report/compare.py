"""Compare training methods under one protocol: mean and std over seeds of each method at every
uniform T and per-stage configuration, the difference to a baseline method, and whether that
difference stands clear of the noise.

Input: tidy evaluation rows (``tfsnn evaluate`` CSVs, or the comparison CSVs of other users,
which have the same schema plus ``label``), so results from several machines can be merged:
``tfsnn compare a.csv b.csv --out compare.pdf``.

The noise is judged as the scorecard judges a claim (:mod:`tfsnn.report.claims`): the two
methods' models are independent, so the difference of means ``d = m_a - m_b`` has
``se^2 = (s_a^2 + v_a) / n_a + (s_b^2 + v_b) / n_b`` with ``s`` the standard deviation over seeds
and ``v`` the mean binomial variance of one accuracy on its test set (``100^2 p (1 - p) / N``,
``N`` the row's ``samples``; 0 where a CSV lacks it), and the interval is
``d +- t_{0.975, min(n_a, n_b) - 1} se`` (conservative degrees of freedom). ``better`` /
``worse`` when the interval excludes 0, else ``within noise``; with a single seed of either the
seeds' noise is unknown and the table says so.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from tfsnn.io import atomic_path  # noqa: E402
from tfsnn.report import labels as method_labels  # noqa: E402
from tfsnn.report.claims import LEVEL  # noqa: E402

__all__ = ["read_results", "comparison", "paper_values", "comparison_pdf"]

DUPLICATE_KEYS = ["label", "seed", "config", "dataset", "scale"]
RUN_KEYS = ["config_hash", "data_source"]  # what tells two runs apart, where the CSVs have it


def _one_run_each(rows: pd.DataFrame) -> None:
    """Refuse rows of two different runs (by ``RUN_KEYS``) under one label and seed."""
    group = [k for k in ("label", "seed", "dataset", "scale") if k in rows]
    for column in (k for k in RUN_KEYS if k in rows):
        for _, runs in rows.dropna(subset=[column]).groupby(group, sort=False, dropna=False):
            distinct = runs.drop_duplicates(column)
            if len(distinct) > 1:
                a, b = distinct.iloc[0], distinct.iloc[1]
                raise ValueError(f"label {a['label']!r} seed {a['seed']} comes from two different runs ({column} "
                                 f"{a[column]} in {a['_csv']}, {b[column]} in {b['_csv']}): give them different labels")


def read_results(paths) -> pd.DataFrame:
    """Evaluation rows of every CSV; ``label`` defaults to the training method's name. Rows that
    several files hold (same label, seed, configuration, dataset and scale) count once; rows of
    two different runs (``config_hash`` or ``data_source``) under one label and seed are an error."""
    frames = []
    for path in paths:
        if not Path(path).is_file():
            raise ValueError(f"evaluation CSV {path} does not exist")
        frame = pd.read_csv(path, dtype={"config": str, "config_hash": str})
        missing = {"method", "seed", "config", "accuracy"} - set(frame.columns)
        if missing:
            raise ValueError(f"{path} is not a tfsnn evaluation CSV: it lacks {sorted(missing)}")
        if "label" not in frame:
            frame["label"] = frame["method"]
        frames.append(frame.assign(_csv=str(path)))
    rows = pd.concat(frames, ignore_index=True)
    _one_run_each(rows)
    keys = [k for k in DUPLICATE_KEYS if k in rows]
    return rows.drop_duplicates(keys, keep="first").drop(columns="_csv").reset_index(drop=True)


def comparison(rows: pd.DataFrame, baseline: str | None = None) -> pd.DataFrame:
    """Per (label, config): mean, std and number of seeds, and against ``baseline`` (default:
    MTT if present, else the first label): the difference, its interval and the verdict of the
    module docstring."""
    labels = list(dict.fromkeys(rows["label"]))
    baseline = baseline or (method_labels.MTT if method_labels.MTT in labels else labels[0])
    if baseline not in labels:
        raise ValueError(f"baseline {baseline!r} is not among the methods {labels}")
    p = rows["accuracy"].astype(float) / 100.0
    test_var = 100.0**2 * p * (1 - p) / rows["samples"].astype(float) if "samples" in rows else 0.0 * p
    per_label = (rows.assign(test_var=test_var).groupby(["label", "config"], sort=False)
              .agg(mean=("accuracy", "mean"), std=("accuracy", "std"), seeds=("accuracy", "count"),
                   test_var=("test_var", "mean")).reset_index())
    base = per_label[per_label["label"] == baseline].set_index("config")
    out = []
    for row in per_label.itertuples(index=False):
        if row.config not in base.index:
            continue
        b = base.loc[row.config]
        difference, low, high, verdict = row.mean - b["mean"], math.nan, math.nan, ""
        if row.label == baseline:
            difference = 0.0
        elif row.seeds < 2 or b["seeds"] < 2:
            verdict = "unknown (one seed)"
        else:
            se = math.sqrt((row.std**2 + row.test_var) / row.seeds + (b["std"] ** 2 + b["test_var"]) / b["seeds"])
            half = float(stats.t.ppf(0.5 + LEVEL / 2, min(row.seeds, b["seeds"]) - 1)) * se
            low, high = difference - half, difference + half
            verdict = "better" if low > 0 else "worse" if high < 0 else "within noise"
        out.append({"label": row.label, "config": row.config, "mean": row.mean, "std": row.std,
                    "seeds": row.seeds, "baseline": baseline, "difference": difference, "ci_low": low,
                    "ci_high": high, "verdict": verdict})
    frame = pd.DataFrame(out)
    uniform = frame["config"].map(lambda c: len(set(str(c).split("-"))) == 1)
    frame.insert(2, "T", frame["config"].map(lambda c: str(c).split("-")[0]).where(uniform, ""))
    return frame


def paper_values(frame: pd.DataFrame, reference: pd.DataFrame, dataset: str) -> pd.Series:
    """The paper's value of each row where it prints one: MTT from Table 4, SDT (trained at
    T=6) and NMT from Table 1, on ``dataset``, at a uniform T."""
    source = {method_labels.MTT: "table4", method_labels.SDT: "table1", method_labels.NMT: "table1"}
    paper = reference[(reference["source"] == "paper") & (reference["dataset"] == dataset)
                      & (reference["metric"] == "top1_acc")]
    values = []
    for row in frame.itertuples():
        match = paper[(paper["table"] == source.get(row.label, "")) & (paper["method"] == row.label)
                      & (paper["timestep"].astype(str) == str(row.T))] if row.T else paper.iloc[:0]
        values.append(float(match["value"].iloc[0]) if len(match) else math.nan)
    return pd.Series(values, index=frame.index)


def comparison_pdf(frame: pd.DataFrame, title: str, notes: list[str], path) -> None:
    """The comparison as a one-page PDF table."""
    def cell(v):
        return "" if pd.isna(v) else f"{v:.2f}"

    labels = ["method", "T / configuration", "mean", "std", "seeds", "paper", f"vs {frame['baseline'].iloc[0]}", ""]
    rows = [[r.label, r.T or r.config, cell(r.mean), cell(r.std), str(r.seeds), cell(r.paper),
             cell(r.difference) if r.verdict else "",
             f"{r.verdict} [{r.ci_low:.2f}, {r.ci_high:.2f}]" if not pd.isna(r.ci_low) else r.verdict]
            for r in frame.itertuples()]
    fig, ax = plt.subplots(figsize=(8, 0.22 * (len(rows) + 1) + 0.4))
    ax.axis("off")
    widths = [0.13, 0.22, 0.09, 0.09, 0.07, 0.09, 0.09, 0.22]
    grid = ax.table(cellText=rows, colLabels=labels, colWidths=widths, bbox=[0, 0, 1, 1])
    grid.auto_set_font_size(False)
    grid.set_fontsize(7)
    ax.set_title(title, fontsize=9)
    ax.text(0, -0.02, "\n".join(notes), fontsize=6, va="top", transform=ax.transAxes)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, bbox_inches="tight", format="pdf")
    plt.close(fig)


def render_comparison(rows: pd.DataFrame, pdf, csv=None, baseline: str | None = None, reference=None,
                      dataset: str | None = None, title: str = "Comparison of training methods") -> pd.DataFrame:
    """:func:`comparison` of ``rows`` with the paper's values (``reference`` CSV, for the paper's
    ``dataset``) as a PDF, and as a CSV with ``csv``; returns the comparison."""
    from tfsnn.io import write_csv

    frame = comparison(rows, baseline)
    dataset = dataset or str(rows["dataset"].iloc[0])
    paper = pd.read_csv(reference, keep_default_na=False) if reference else None
    frame["paper"] = paper_values(frame, paper, dataset) if paper is not None else math.nan
    sources = sorted(set(rows["data_source"].astype(str))) if "data_source" in rows else []
    scales = sorted(set(rows["scale"].astype(str))) if "scale" in rows else []
    notes = [f"scale: {', '.join(scales)}; data: {'; '.join(sources)}",
             f"paper's values: {dataset}, where it prints the method at that T",
             f"verdict: the {LEVEL:.0%} t interval of the difference to the baseline, over seeds and "
             "test-set sampling (tfsnn.report.compare)"]
    if csv is not None:
        write_csv(frame.assign(dataset=dataset, scale=", ".join(scales)), csv)
    comparison_pdf(frame, title, notes, pdf)
    return frame
