"""A table of the paper from tidy result CSVs, and beside it the paper's own values.

A table is assembled from *parts*: each part names a CSV (an evaluation by ``tfsnn evaluate``,
an analysis by ``tfsnn analyze``, or a training run's ``metrics.csv``), which of its rows to keep
and how they map onto the reference CSV's columns (``dataset``, ``method``, ``timestep``,
``metric``, ``value``). Every row keeps the provenance columns of the CSV it came from; the
CSV's own ``dataset`` and ``method`` become ``dataset_used`` and ``training_method``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["KEYS", "part", "assemble", "side_by_side", "read_reference"]

KEYS = ["dataset", "method", "timestep", "metric"]


def part(csv: str, method: str, dataset: str, stand_in: str = "", *, select: dict | None = None,
         timestep: str | None = "T", timestep_map: dict | None = None, metric: str | None = "top1_acc",
         metric_map: dict | None = None, value: str = "accuracy", interpolate: dict | None = None,
         note: str = "") -> dict:
    """One part of a table.

    ``select``: column -> allowed values; ``timestep``: the column that gives the timestep (None:
    no timestep); ``timestep_map``: renames its values (e.g. ``{"event": "speck2e"}``);
    ``metric``: the metric name, or None to keep the CSV's ``metric`` column; ``metric_map``
    (with ``metric=None``): renames some of the CSV's metrics to the reference's names (a metric
    joins the paper's row of the same name; e.g. Table 13's ``weight_grad_norm_sum_loss`` is the
    paper's ``weight_grad_norm``), the CSV's own name kept in ``measured_metric``; ``value``: the
    value column. ``interpolate``: ``{"along": metric, "key": column, "at": [..]}`` gives,
    instead of the rows, their value interpolated linearly at each ``at`` of ``metric``, the rows
    of both paired by ``key`` (Table 5: the accuracy at an average number of time steps, along
    the thresholds of early exit). An ``at`` outside the measured range gives NaN and a ``note``,
    never the curve's end value. ``note``: what a reader must know about these rows (column
    ``note``, printed under the table), e.g. which of two readings of the paper they are.
    """
    if metric_map and metric:
        raise ValueError("part: metric_map renames the CSV's metrics; it needs metric=None")
    return {"csv": csv, "method": method, "dataset": dataset, "stand_in": stand_in, "select": select or {},
            "timestep": timestep, "timestep_map": timestep_map or {}, "metric": metric,
            "metric_map": metric_map or {}, "value": value, "interpolate": interpolate, "note": note}


def _timestep(values: pd.Series) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    whole = numeric.notna() & (numeric == numeric.round())
    out = values.astype(str)
    out[whole] = numeric[whole].astype("int64").astype(str)
    return out


def _interpolated(rows: pd.DataFrame, along: pd.DataFrame, spec: dict, value: str) -> pd.DataFrame:
    """The value of ``rows`` at each ``at`` of the ``along`` metric, linearly between the two
    measured points around it (points of equal ``along`` averaged); NaN with a ``note`` outside
    the measured range, which a clamped ``np.interp`` would fill with the end point's value."""
    key = spec["key"]
    curve = rows.merge(along[[key, "value"]].rename(columns={"value": "_x"}), on=key)
    if curve.empty:
        raise ValueError(f"{spec['csv']}: no {spec['along']} rows pair with the selected rows by {key!r}")
    points = curve.groupby("_x", sort=True).agg(_y=(value, "mean"), _low=(key, "min"), _high=(key, "max"))
    x, y = points.index.to_numpy(float), points["_y"].to_numpy(float)
    out = curve.sort_values("_x").iloc[[0] * len(spec["at"])].drop(columns=["_x", key])
    values, between, notes = [], [], []
    for at in spec["at"]:
        if not x[0] <= at <= x[-1]:
            values.append(np.nan)
            between.append("")
            notes.append(f"{spec['along']} {at:g} lies outside the measured curve [{x[0]:.4g}, {x[-1]:.4g}] "
                         f"({key} {points['_low'].iloc[0]} to {points['_high'].iloc[-1]}): not extrapolated")
            continue
        high = min(int(np.searchsorted(x, at, side="left")), len(x) - 1)
        low = high if x[high] == at else high - 1
        values.append(float(np.interp(at, x, y)))
        # the nearest measured points: the largest key of the one below, the smallest of the one above
        ends = [(points["_high"].iloc[low], x[low])] if low == high else \
            [(points["_high"].iloc[low], x[low]), (points["_low"].iloc[high], x[high])]
        between.append(" and ".join(f"{key} {k} ({spec['along']} {v:.4g})" for k, v in ends))
        notes.append("")
    out[value] = values
    out["timestep"] = [f"{at:.2f}" for at in spec["at"]]
    out["interpolated_along"] = spec["along"]
    out["interpolated_between"] = between
    out["note"] = notes
    if "record" in out:  # an interpolated value is no one measurement's: it has no per-item record
        out["record"] = ""
    return out


def _rows(table: str, spec: dict) -> pd.DataFrame:
    rows = pd.read_csv(spec["csv"]).rename(columns={"dataset": "dataset_used", "method": "training_method"})
    everything = rows
    for column, allowed in spec["select"].items():
        if column not in rows:
            raise KeyError(f"{spec['csv']} has no column {column!r} to select on")
        allowed = allowed if isinstance(allowed, list | tuple) else [allowed]
        rows = rows[rows[column].astype(str).isin([str(a) for a in allowed])]
    if rows.empty:
        raise ValueError(f"{spec['csv']}: no rows match {spec['select']} (table {table}, {spec['method']})")
    if spec["metric"]:  # the table's metric name; the CSV's own (if any) is kept beside it
        rows = rows.rename(columns={"metric": "measured_metric"}).assign(metric=spec["metric"])
    elif spec.get("metric_map"):  # some of the CSV's metrics under the reference's names
        rows = rows.assign(measured_metric=rows["metric"], metric=rows["metric"].replace(spec["metric_map"]))
    if spec["interpolate"]:
        along = everything[everything["metric"] == spec["interpolate"]["along"]]
        rows = _interpolated(rows, along, spec["interpolate"], spec["value"])
    elif spec["timestep"]:
        rows["timestep"] = _timestep(rows[spec["timestep"]]).replace(spec["timestep_map"])
    else:
        rows["timestep"] = ""
    out = rows.drop(columns=["value"] if spec["value"] != "value" and "value" in rows else [])
    out = out.rename(columns={spec["value"]: "value"})
    if spec.get("note"):
        own = out["note"].fillna("").astype(str) if "note" in out else ""
        out["note"] = (own + "; " + spec["note"]).str.lstrip("; ") if "note" in out else spec["note"]
    head = {"table": table, "dataset": spec["dataset"], "data_stand_in": spec["stand_in"], "method": spec["method"]}
    for position, (column, content) in enumerate(head.items()):
        out.insert(position, column, content)
    first = ["table", "dataset", "data_stand_in", "method", "timestep", "metric", "value"]
    return out[first + [c for c in out.columns if c not in first]]


def assemble(table: str, parts: list[dict]) -> pd.DataFrame:
    """The tidy CSV of ``table``: the rows of every part, in order."""
    return pd.concat([_rows(table, spec) for spec in parts], ignore_index=True)


def read_reference(path: str, table: str) -> pd.DataFrame:
    """The paper's own rows of ``table`` in the reference CSV (rows repeated verbatim dropped;
    a key with two different values is an error)."""
    reference = pd.read_csv(path, dtype={"timestep": str}, keep_default_na=False)
    paper = reference[(reference["table"] == table) & (reference["source"] == "paper")]
    paper = paper.drop_duplicates(KEYS + ["value"])
    if paper.duplicated(KEYS, keep=False).any() and not paper.duplicated(KEYS + ["architecture"]).any():
        # one method on several architectures (Table 8): the method's label names it
        paper = paper.assign(method=paper["method"] + " (" + paper["architecture"] + ")")
    clashes = paper[paper.duplicated(KEYS, keep=False)]
    if len(clashes):
        raise ValueError(f"{path}: several paper values for\n{clashes[KEYS + ['value']]}")
    return paper.assign(value=pd.to_numeric(paper["value"]))


def _once(ours: pd.DataFrame) -> pd.DataFrame:
    """Each of our measurements once: where a stand-in's models serve two of the paper's datasets
    (CIFAR-10 for CIFAR-10 and CIFAR-100), their rows stay under the dataset that is itself (else
    the first); the other dataset keeps only the paper's rows."""
    if "config_hash" not in ours:
        return ours
    stand_in = ours["data_stand_in"].fillna("").astype(str) != "" if "data_stand_in" in ours else False
    ranked = ours.assign(_stand_in=stand_in).sort_values("_stand_in", kind="stable")
    keys = [c for c in ours.columns if c not in ("table", "dataset", "data_stand_in")]  # the same measurement
    return ours.loc[ranked.index[~ranked.duplicated(keys)].sort_values()]


def _effects(side: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, method, metric): each row's value minus the row at the group's largest
    numeric T that both the paper and ours have (``effect_reference``): ``paper_effect``,
    ``ours_effect`` and their difference. NaN where a group has no such T, or only that row."""
    side = side.assign(effect_reference="", paper_effect=float("nan"), ours_effect=float("nan"))
    T = pd.to_numeric(side["timestep"], errors="coerce")
    for _, group in side.groupby(["dataset", "method", "metric"], sort=False):
        both = group[T[group.index].notna() & group["paper"].notna() & group["ours"].notna()]
        if len(group) < 2 or both.empty:
            continue
        reference = both.loc[T[both.index].idxmax()]
        side.loc[group.index, "effect_reference"] = reference["timestep"]
        side.loc[group.index, "paper_effect"] = group["paper"] - reference["paper"]
        side.loc[group.index, "ours_effect"] = group["ours"] - reference["ours"]
    return side.assign(effect_difference=side["ours_effect"] - side["paper_effect"])


def side_by_side(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Per key: the paper's value, ours (mean and std over seeds, number of seeds), in the order
    ours lists datasets and methods, then any only the paper has; a stand-in's models once
    (:func:`_once`). ``difference`` (ours minus the paper's) only where ours ran on the paper's
    data and settings (scale ``paper``, no stand-in); elsewhere accuracies are not comparable,
    and the table compares effects instead (:func:`_effects`: each value against the same
    method's at the largest T)."""
    ours = _once(ours.assign(value=pd.to_numeric(ours["value"]), timestep=ours["timestep"].fillna("").astype(str)))
    mean = ours.groupby(KEYS, sort=False, as_index=False).agg(
        ours=("value", "mean"), std=("value", "std"), seeds=("seed", "nunique"))
    if "scale" in ours:
        stand_in = ours["data_stand_in"].fillna("").astype(str) if "data_stand_in" in ours else ""
        like = (ours["scale"].astype(str) == "paper") & (stand_in == "")
        mean = mean.merge(ours.assign(_like=like).groupby(KEYS, sort=False, as_index=False)["_like"].all(), on=KEYS)
    else:
        mean = mean.assign(_like=True)
    side = paper[KEYS + ["value"]].rename(columns={"value": "paper"}).merge(mean, on=KEYS, how="outer")
    order = {c: list(dict.fromkeys([*ours[c], *paper[c]])) for c in ("dataset", "method", "metric")}
    side = side.sort_values(
        ["dataset", "method", "metric", "timestep"],
        key=lambda c: c.map(order[c.name].index) if c.name in order else pd.to_numeric(c, errors="coerce"),
    ).reset_index(drop=True)
    side["difference"] = (side["ours"] - side["paper"]).where(side["_like"].fillna(False).astype(bool))
    return _effects(side.drop(columns="_like"))
