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
         value: str = "accuracy", interpolate: dict | None = None) -> dict:
    """One part of a table.

    ``select``: column -> allowed values; ``timestep``: the column that gives the timestep (None:
    no timestep); ``timestep_map``: renames its values (e.g. ``{"event": "speck2e"}``);
    ``metric``: the metric name, or None to keep the CSV's ``metric`` column; ``value``: the value
    column. ``interpolate``: ``{"along": metric, "key": column, "at": [..]}`` gives, instead
    of the rows, their value interpolated linearly at each ``at`` of ``metric``, the rows of both
    paired by ``key`` (Table 5: the accuracy at an average number of time steps, along the
    thresholds of early exit).
    """
    return {"csv": csv, "method": method, "dataset": dataset, "stand_in": stand_in, "select": select or {},
            "timestep": timestep, "timestep_map": timestep_map or {}, "metric": metric, "value": value,
            "interpolate": interpolate}


def _timestep(values: pd.Series) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    whole = numeric.notna() & (numeric == numeric.round())
    out = values.astype(str)
    out[whole] = numeric[whole].astype("int64").astype(str)
    return out


def _interpolated(rows: pd.DataFrame, along: pd.DataFrame, spec: dict, value: str) -> pd.DataFrame:
    curve = rows.merge(along[[spec["key"], "value"]].rename(columns={"value": "_x"}), on=spec["key"])
    curve = curve.sort_values("_x")
    x, y = curve["_x"].to_numpy(float), curve[value].to_numpy(float)
    out = curve.iloc[[0] * len(spec["at"])].drop(columns=["_x", spec["key"]])
    out[value] = [float(np.interp(at, x, y)) for at in spec["at"]]
    out["timestep"] = [f"{at:.2f}" for at in spec["at"]]
    out["interpolated_along"] = spec["along"]
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
    if spec["interpolate"]:
        along = everything[everything["metric"] == spec["interpolate"]["along"]]
        rows = _interpolated(rows, along, spec["interpolate"], spec["value"])
    elif spec["timestep"]:
        rows["timestep"] = _timestep(rows[spec["timestep"]]).replace(spec["timestep_map"])
    else:
        rows["timestep"] = ""
    out = rows.drop(columns=["value"] if spec["value"] != "value" and "value" in rows else [])
    out = out.rename(columns={spec["value"]: "value"})
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


def side_by_side(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Per key: the paper's value, ours (mean and std over seeds, number of seeds) and the
    difference, in the order ours lists datasets and methods, then any only the paper has."""
    ours = ours.assign(value=pd.to_numeric(ours["value"]), timestep=ours["timestep"].fillna("").astype(str))
    mean = ours.groupby(KEYS, sort=False, as_index=False).agg(
        ours=("value", "mean"), std=("value", "std"), seeds=("seed", "nunique"))
    side = paper[KEYS + ["value"]].rename(columns={"value": "paper"}).merge(mean, on=KEYS, how="outer")
    order = {c: list(dict.fromkeys([*ours[c], *paper[c]])) for c in ("dataset", "method", "metric")}
    side = side.sort_values(
        ["dataset", "method", "metric", "timestep"],
        key=lambda c: c.map(order[c.name].index) if c.name in order else pd.to_numeric(c, errors="coerce"),
    )
    side["difference"] = side["ours"] - side["paper"]
    return side.reset_index(drop=True)
