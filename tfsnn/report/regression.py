"""Compare a fresh run's result CSVs with committed reference CSVs (the smoke scale's are in
``workflow/reference/smoke/``) and say what moved: ``tfsnn diff-results results/smoke
workflow/reference/smoke``.

Rows are matched on every column that is neither a measured value nor provenance (code
version, commit, the machine's path to the data file); a measured value (``VALUE_COLUMNS``) has
moved when ``|fresh - reference| > atol + rtol * |reference|``. Rows only one side has are
reported too; where both sides have as many rows and as many unmatched ones, the unmatched rows
are reported as a moved row key (``row key moved: ... moved``): a column that holds a result
(a searched configuration, a comparison's verdict) keys those rows.

Seeded CPU runs are bitwise reproducible on one software and hardware stack, not across them
(PyTorch's kernels differ by CPU instruction set). ``update_references`` therefore records the
stack the references came from (``environment.json``: torch version, CPU capability, machine);
``diff_results`` says whether this machine's stack is the same, and a caller may then treat
moved values and moved row keys as expected noise while still failing on a changed structure
(files, columns, the number of rows).
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import pandas as pd

from tfsnn.io import atomic_path, copy_atomic

__all__ = ["VALUE_COLUMNS", "PROVENANCE_COLUMNS", "ENVIRONMENT_FILE", "diff_frames", "diff_results",
           "environment", "reference_environment", "update_references"]

VALUE_COLUMNS = ("value", "accuracy", "loss", "effect", "std", "se", "mean", "difference", "ours", "ours - paper",
                 "ci_low", "ci_high", "seed_sd", "test_se")  # the last four: the scorecard's interval
PROVENANCE_COLUMNS = ("schema_version", "git_commit", "git_dirty", "tfsnn_version", "torch_version",
                      "python_version", "data_file")
ENVIRONMENT_FILE = "environment.json"


def diff_frames(fresh: pd.DataFrame, reference: pd.DataFrame, atol: float, rtol: float) -> list[dict]:
    """What moved between two versions of one CSV: one dict per moved value or unmatched row."""
    values = [c for c in VALUE_COLUMNS if c in reference.columns]
    keys = [c for c in reference.columns if c not in values and c not in PROVENANCE_COLUMNS]
    missing_keys = sorted(set(keys) - set(fresh.columns))
    if missing_keys:
        return [{"change": "columns missing", "detail": ", ".join(missing_keys)}]
    left = reference[keys + values].astype({k: str for k in keys})
    right = fresh[keys + [v for v in values if v in fresh.columns]].astype({k: str for k in keys})
    merged = left.merge(right, on=keys, how="outer", suffixes=("_reference", "_fresh"), indicator=True)
    changes = []
    for _, row in merged[merged["_merge"] != "both"].iterrows():
        where = "reference only" if row["_merge"] == "left_only" else "fresh only"
        changes.append({"change": f"row in {where}", "detail": _describe(row, keys)})
    both = merged[merged["_merge"] == "both"]
    for value in values:
        if f"{value}_fresh" not in both:
            changes.append({"change": "column missing", "detail": value})
            continue
        ref = pd.to_numeric(both[f"{value}_reference"], errors="coerce").to_numpy(float)
        new = pd.to_numeric(both[f"{value}_fresh"], errors="coerce").to_numpy(float)
        moved = ~(np.isclose(new, ref, atol=atol, rtol=rtol, equal_nan=True))
        for i in np.flatnonzero(moved):
            row = both.iloc[i]
            changes.append({"change": f"{value} moved", "reference": ref[i], "fresh": new[i],
                            "detail": _describe(row, keys)})
    return changes


def _describe(row: pd.Series, keys) -> str:
    shown = [k for k in keys if k not in ("data_source", "config_hash", "scale") and str(row[k]) not in ("", "nan")]
    return ", ".join(f"{k}={row[k]}" for k in shown[:8])


def diff_results(fresh_dir, reference_dir, atol: float = 1e-6, rtol: float = 1e-6) -> pd.DataFrame:
    """Every change between the CSVs of ``reference_dir`` and those of the same name in
    ``fresh_dir`` (a file missing from ``fresh_dir`` is a change), or between two CSV files
    (e.g. one job's fresh rows and its committed ones)."""
    fresh_dir, reference_dir = Path(fresh_dir), Path(reference_dir)
    if reference_dir.is_file():
        pairs = [(fresh_dir, reference_dir)]
    else:
        pairs = [(fresh_dir / path.name, path) for path in sorted(reference_dir.glob("*.csv"))]
        if not pairs:
            raise ValueError(f"{reference_dir} holds no reference CSVs")
    changes = []
    for fresh, path in pairs:
        if not fresh.is_file():
            changes.append({"file": path.name, "change": "file missing"})
            continue
        fresh_frame = pd.read_csv(fresh, keep_default_na=False)
        reference_frame = pd.read_csv(path, keep_default_na=False)
        found = diff_frames(fresh_frame, reference_frame, atol, rtol)
        unmatched = [c for c in found if c["change"].startswith("row in ")]
        if unmatched and len(fresh_frame) == len(reference_frame) and \
                sum(c["change"] == "row in fresh only" for c in unmatched) * 2 == len(unmatched):
            for change in unmatched:  # as many rows, other keys: a key that holds a result moved
                change["change"] = change["change"].replace("row in", "row key moved:", 1) + " moved"
        changes += [{"file": path.name, **change} for change in found]
    return pd.DataFrame(changes, columns=["file", "change", "reference", "fresh", "detail"])


def environment() -> dict:
    """The software and hardware stack that decides this machine's floating-point results."""
    import torch

    return {"torch_version": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "machine": platform.machine()}


def reference_environment(reference_dir) -> dict | None:
    """The stack ``reference_dir``'s CSVs were made on (its ``environment.json``; for a file, the
    nearest one in its folder or above), or None where it was not recorded."""
    reference_dir = Path(reference_dir)
    folders = reference_dir.parents if reference_dir.is_file() else [reference_dir]
    for folder in folders:
        if (folder / ENVIRONMENT_FILE).is_file():
            return json.loads((folder / ENVIRONMENT_FILE).read_text())
    return None


def update_references(fresh_dir, reference_dir, prune: bool = True) -> list[str]:
    """Make ``fresh_dir``'s CSVs the references: copy each into ``reference_dir`` atomically,
    then (``prune``) remove the references ``fresh_dir`` no longer has, and record this
    machine's stack beside them. Returns the names copied."""
    fresh_dir, reference_dir = Path(fresh_dir), Path(reference_dir)
    fresh = sorted(fresh_dir.glob("*.csv"))
    if not fresh:
        raise ValueError(f"{fresh_dir} holds no result CSVs to make references of")
    names = [path.name for path in fresh]
    for path in fresh:
        copy_atomic(path, reference_dir / path.name)
    for stale in reference_dir.glob("*.csv") if prune else ():
        if stale.name not in names:
            stale.unlink()
    with atomic_path(reference_dir / ENVIRONMENT_FILE) as tmp:
        tmp.write_text(json.dumps(environment(), indent=2) + "\n")
    return names
