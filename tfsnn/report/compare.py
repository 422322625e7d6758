"""Compare training methods under one protocol: mean and std over seeds of each method at every
uniform T and per-stage configuration, the difference to a baseline method, and whether that
difference is within the seeds' noise (issue: "the table marks a difference that is within the
seeds' noise as such").

Input: tidy evaluation rows (``tfsnn evaluate`` CSVs, or the comparison CSVs of other users,
which have the same schema plus ``label``), so results from several machines can be merged:
``tfsnn compare a.csv b.csv --out compare.pdf``. A difference ``d`` of means is within noise
when ``|d| <= 2 se``, ``se = sqrt(s_a^2/n_a + s_b^2/n_b)`` over the seeds of both methods; with a
single seed of either, the noise is unknown and the table says so.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from tfsnn.io import atomic_path  # noqa: E402

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
    the label "MTT" if present, else the first): the difference and whether it is within noise."""
    labels = list(dict.fromkeys(rows["label"]))
    baseline = baseline or ("MTT" if "MTT" in labels else labels[0])
    if baseline not in labels:
        raise ValueError(f"baseline {baseline!r} is not among the methods {labels}")
    stats = rows.groupby(["label", "config"], sort=False)["accuracy"].agg(mean="mean", std="std", seeds="count")
    stats = stats.reset_index()
    base = stats[stats["label"] == baseline].set_index("config")
    out = []
    for row in stats.itertuples(index=False):
        if row.config not in base.index:
            continue
        b = base.loc[row.config]
        difference = row.mean - b["mean"]
        if row.label == baseline:
            noise = ""
        elif row.seeds < 2 or b["seeds"] < 2:
            noise = "unknown (one seed)"
        else:
            se = math.sqrt(row.std**2 / row.seeds + b["std"] ** 2 / b["seeds"])
            noise = "within noise" if abs(difference) <= 2 * se else ("better" if difference > 0 else "worse")
        out.append({**row._asdict(), "baseline": baseline, "difference": difference if row.label != baseline else 0.0,
                    "verdict": noise})
    frame = pd.DataFrame(out)
    uniform = frame["config"].map(lambda c: len(set(str(c).split("-"))) == 1)
    frame.insert(2, "T", frame["config"].map(lambda c: str(c).split("-")[0]).where(uniform, ""))
    return frame


def paper_values(frame: pd.DataFrame, reference: pd.DataFrame, dataset: str) -> pd.Series:
    """The paper's value of each row where it prints one: MTT from Table 4, SDT (trained at
    T=6) and NMT from Table 1, on ``dataset``, at a uniform T."""
    source = {"MTT": "table4", "SDT": "table1", "NMT": "table1"}
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
             cell(r.difference) if r.verdict else "", r.verdict] for r in frame.itertuples()]
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
    frame["paper"] = paper_values(frame, pd.read_csv(reference, keep_default_na=False), dataset) if reference else math.nan
    sources = sorted(set(rows["data_source"].astype(str))) if "data_source" in rows else []
    scales = sorted(set(rows["scale"].astype(str))) if "scale" in rows else []
    notes = [f"scale: {', '.join(scales)}; data: {'; '.join(sources)}",
             f"paper's values: {dataset}, where it prints the method at that T",
             "verdict: the difference to the baseline against twice its standard error over seeds"]
    if csv is not None:
        write_csv(frame.assign(dataset=dataset, scale=", ".join(scales)), csv)
    comparison_pdf(frame, title, notes, pdf)
    return frame
