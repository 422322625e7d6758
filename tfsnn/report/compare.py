"""Compare training methods under one protocol: mean and std over seeds of each method at every
uniform T and per-stage configuration, the difference to a baseline method, and whether that
difference stands clear of the noise.

Input: tidy evaluation rows (``tfsnn evaluate`` CSVs, or the comparison CSVs of other users,
which have the same schema plus ``label``), so results from several machines can be merged:
``tfsnn compare a.csv b.csv --out compare.pdf``. Beside a CSV, its per-item records
(``a.npz``: ``tfsnn evaluate --records``, or the DAG's ``compare-rows.npz``) say what each test
item got.

The noise is judged by :mod:`tfsnn.report.statistics`, as the scorecard judges a claim: the two
methods' models are independent trainings (a shared seed number pairs nothing), so the
difference of means has a seed term per method, the variance of its per-seed accuracies over its
seeds; where both methods have per-item records of the same test items, it also has the
test-set term of the images they share (paired over the images), which per-seed accuracies alone
leave out. The interval is the module's t interval (``test`` says which terms it has, ``mde`` is
the difference detectable at 80 % power). ``better`` / ``worse`` when it excludes 0, else
``within noise``; with a single seed of either the seeds' noise is unknown and the table says so.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tfsnn.io import atomic_path, item_correctness, read_records  # noqa: E402
from tfsnn.report import labels as method_labels  # noqa: E402
from tfsnn.report.statistics import ALPHA, Group, contrast, minimum_detectable_effect  # noqa: E402

__all__ = ["read_results", "read_item_records", "comparison", "paper_values", "comparison_pdf"]

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


def read_item_records(paths) -> dict:
    """What each test item got, from the per-item records beside each CSV (``x.npz`` beside
    ``x.csv``; a CSV without them adds nothing): ``(label, seed, config) -> (items, correct)``,
    ``correct`` 1.0 where the item's predicted class is its class. An evaluation's records hold one
    run (its label and seed are the CSV's); the DAG's ``compare-rows.npz`` names each row's."""
    found = {}
    for path in paths:
        records = Path(path).with_suffix(".npz")
        if not records.is_file():
            continue
        arrays, _ = read_records(records)
        correct = item_correctness(arrays)
        if "label" in arrays:
            keys = zip(arrays["label"].tolist(), arrays["seed"].tolist(), arrays["config"].tolist())
        else:
            frame = pd.read_csv(path, dtype={"config": str})
            label = frame["label"].iloc[0] if "label" in frame else frame["method"].iloc[0]
            keys = ((label, int(frame["seed"].iloc[0]), config) for config in arrays["config"].tolist())
        for key, row in zip(keys, correct):
            found[(str(key[0]), int(key[1]), str(key[2]))] = (arrays["item"], row)
    return found


def _groups(accuracies: pd.Series, label: str, config: str, records: dict) -> tuple[np.ndarray, np.ndarray | None]:
    """One method's models at ``config`` (``accuracies`` by seed) as a group's values: each seed's
    per-item correctness (points) where every seed has records, else its accuracy; and the items."""
    keys = [(label, int(seed), config) for seed in accuracies.index]
    if keys and all(k in records for k in keys):
        items = [records[k][0] for k in keys]
        if all(np.array_equal(items[0], i) for i in items[1:]):
            return 100.0 * np.stack([records[k][1] for k in keys]), items[0]
    return accuracies.to_numpy(dtype=float)[:, None], None


def _difference(mine: tuple, theirs: tuple) -> tuple:
    """The estimate of ``mean(mine) - mean(theirs)`` and which terms it has: per-item values of
    the same items on both sides give the test-set term too, else per-seed accuracies alone."""
    (a, items_a), (b, items_b) = mine, theirs
    paired = items_a is not None and items_b is not None and np.array_equal(items_a, items_b)
    if not paired:
        a, b = a.mean(axis=1, keepdims=True), b.mean(axis=1, keepdims=True)
    return contrast([Group(a), Group(b, -1.0)]), "seeds and test items" if paired else "seeds"


def comparison(rows: pd.DataFrame, baseline: str | None = None, records: dict | None = None) -> pd.DataFrame:
    """Per (label, config): mean, std and number of seeds, and against ``baseline`` (default:
    MTT if present, else the first label): the difference, its interval, what it was judged on
    (``test``), the detectable difference (``mde``) and the verdict of the module docstring.
    ``records``: :func:`read_item_records` of the rows' CSVs."""
    labels = list(dict.fromkeys(rows["label"]))
    baseline = baseline or (method_labels.MTT if method_labels.MTT in labels else labels[0])
    if baseline not in labels:
        raise ValueError(f"baseline {baseline!r} is not among the methods {labels}")
    records = records or {}
    by_seed = rows.assign(accuracy=rows["accuracy"].astype(float)).groupby(["label", "config"], sort=False)
    per_label = by_seed.agg(mean=("accuracy", "mean"), std=("accuracy", "std"),
                            seeds=("accuracy", "count")).reset_index()
    accuracies = {key: group.set_index("seed")["accuracy"] for key, group in by_seed}
    base = per_label[per_label["label"] == baseline].set_index("config")
    out = []
    for row in per_label.itertuples(index=False):
        if row.config not in base.index:
            continue
        b = base.loc[row.config]
        difference, low, high, verdict, test, mde = row.mean - b["mean"], math.nan, math.nan, "", "", math.nan
        if row.label == baseline:
            difference = 0.0
        elif row.seeds < 2 or b["seeds"] < 2:
            verdict = "unknown (one seed)"
        else:
            estimate, test = _difference(_groups(accuracies[(row.label, row.config)], row.label, row.config, records),
                                         _groups(accuracies[(baseline, row.config)], baseline, row.config, records))
            difference, (low, high), mde = estimate.effect, estimate.interval(), minimum_detectable_effect(estimate)
            verdict = "better" if low > 0 else "worse" if high < 0 else "within noise"
        out.append({"label": row.label, "config": row.config, "mean": row.mean, "std": row.std,
                    "seeds": row.seeds, "baseline": baseline, "difference": difference, "ci_low": low,
                    "ci_high": high, "test": test, "mde": mde, "verdict": verdict})
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
                      dataset: str | None = None, title: str = "Comparison of training methods",
                      records: dict | None = None) -> pd.DataFrame:
    """:func:`comparison` of ``rows`` (``records``: their per-item records) with the paper's
    values (``reference`` CSV, for the paper's ``dataset``) as a PDF, and as a CSV with ``csv``;
    returns the comparison."""
    from tfsnn.io import write_csv

    frame = comparison(rows, baseline, records)
    dataset = dataset or str(rows["dataset"].iloc[0])
    paper = pd.read_csv(reference, keep_default_na=False) if reference else None
    frame["paper"] = paper_values(frame, paper, dataset) if paper is not None else math.nan
    sources = sorted(set(rows["data_source"].astype(str))) if "data_source" in rows else []
    scales = sorted(set(rows["scale"].astype(str))) if "scale" in rows else []
    notes = [f"scale: {', '.join(scales)}; data: {'; '.join(sources)}",
             f"paper's values: {dataset}, where it prints the method at that T",
             f"verdict: the {1 - ALPHA:.0%} t interval of the difference to the baseline over independent "
             "seeds, and over the shared test items where both have per-item records (tfsnn.report.statistics)"]
    if csv is not None:
        write_csv(frame.assign(dataset=dataset, scale=", ".join(scales)), csv)
    comparison_pdf(frame, title, notes, pdf)
    return frame
