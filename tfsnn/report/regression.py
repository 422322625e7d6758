"""Compare a fresh run's result CSVs with committed reference CSVs (the smoke scale's are in
``workflow/reference/smoke/``) and say what moved: ``tfsnn diff-results results/smoke
workflow/reference/smoke``.

Rows are matched on every column that is neither a measured value nor provenance (code
version, commit, the machine's path to the data file, the stack); a measured value
(``VALUE_COLUMNS``) has moved when ``|fresh - reference| > atol + rtol * |reference|``. Rows
only one side has are reported too; where both sides have as many rows and as many unmatched
ones, the unmatched rows are reported as a moved row key (``row key moved: ... moved``): a
column that holds a result (a searched configuration, a comparison's verdict) keys those rows.

Seeded CPU runs are bitwise reproducible on one software and hardware stack, not across them
(:mod:`tfsnn.stack`: the numerical packages, the CPU model and the ISA its kernels dispatch on,
the threads). Every row carries the fingerprint of the stack that made it (``stack``), so each
change says whether the two rows were made on the same stack (``stack``: empty) or which parts
of the stacks differ; a caller may then treat values and row keys moved between different
stacks as expected while still failing on a changed structure (files, columns, the number of
rows). ``update_references`` also records the stack of the process that copied them
(``environment.json``), for reading.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tfsnn.io import atomic_path, copy_atomic
from tfsnn.stack import ENVIRONMENT_FILE, differences, fingerprint, parse_stack

__all__ = ["VALUE_COLUMNS", "PROVENANCE_COLUMNS", "diff_frames", "diff_results", "stack_differences",
           "reference_environment", "update_references"]

VALUE_COLUMNS = ("value", "accuracy", "loss", "effect", "std", "se", "mean", "difference", "ours", "ours - paper",
                 "ci_low", "ci_high", "seed_sd", "test_se")  # the last four: the scorecard's interval
PROVENANCE_COLUMNS = ("schema_version", "git_commit", "git_dirty", "tfsnn_version", "torch_version",
                      "python_version", "stack_id", "stack", "data_file")


def stack_differences(recorded: str, fresh: str) -> str:
    """The parts in which two rows' ``stack`` fingerprints differ, as words: empty for one stack
    (the same bits expected), ``"not recorded"`` where a row has none."""
    if not recorded or not fresh:
        return "not recorded"
    return ", ".join(differences(parse_stack(recorded), parse_stack(fresh)))


def _stacks(frame: pd.DataFrame) -> pd.Series:
    return frame["stack"].astype(str) if "stack" in frame else pd.Series("", index=frame.index)


def diff_frames(fresh: pd.DataFrame, reference: pd.DataFrame, atol: float, rtol: float) -> list[dict]:
    """What moved between two versions of one CSV: one dict per moved value or unmatched row. A
    moved value's ``stack`` says how the two rows' stacks differ (:func:`stack_differences`)."""
    values = [c for c in VALUE_COLUMNS if c in reference.columns]
    keys = [c for c in reference.columns if c not in values and c not in PROVENANCE_COLUMNS]
    missing_keys = sorted(set(keys) - set(fresh.columns))
    if missing_keys:
        return [{"change": "columns missing", "detail": ", ".join(missing_keys)}]
    left = reference[keys + values].astype({k: str for k in keys}).assign(stack=_stacks(reference))
    right = fresh[keys + [v for v in values if v in fresh.columns]].astype({k: str for k in keys})
    right = right.assign(stack=_stacks(fresh))
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
                            "detail": _describe(row, keys),
                            "stack": stack_differences(row["stack_reference"], row["stack_fresh"])})
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
            # as many rows, other keys: a key that holds a result moved, between these stacks
            stacks = [set(_stacks(frame)) for frame in (reference_frame, fresh_frame)]
            one = all(len(each) == 1 for each in stacks)
            stack = stack_differences(*(each.pop() for each in stacks)) if one else "several stacks"
            for change in unmatched:
                change["change"] = change["change"].replace("row in", "row key moved:", 1) + " moved"
                change["stack"] = stack
        changes += [{"file": path.name, **change} for change in found]
    return pd.DataFrame(changes, columns=["file", "change", "reference", "fresh", "detail", "stack"])


def reference_environment(reference_dir) -> dict | None:
    """The stack of the process that made ``reference_dir``'s references (its
    ``environment.json``), or None where it was not recorded."""
    path = Path(reference_dir) / ENVIRONMENT_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def update_references(fresh_dir, reference_dir, prune: bool = True) -> list[str]:
    """Make ``fresh_dir``'s CSVs the references, each with the per-item records beside it
    (``x.npz`` beside ``x.csv``) where it has them: copy each into ``reference_dir`` atomically,
    then (``prune``) remove the references ``fresh_dir`` no longer has, and record this
    machine's stack beside them. Returns the names of the CSVs copied."""
    fresh_dir, reference_dir = Path(fresh_dir), Path(reference_dir)
    fresh = sorted(fresh_dir.glob("*.csv"))
    if not fresh:
        raise ValueError(f"{fresh_dir} holds no result CSVs to make references of")
    names = [path.name for path in fresh]
    copied = [p for path in fresh for p in (path, path.with_suffix(".npz")) if p.is_file()]
    for path in copied:
        copy_atomic(path, reference_dir / path.name)
    kept = {path.name for path in copied}
    for stale in [*reference_dir.glob("*.csv"), *reference_dir.glob("*.npz")] if prune else ():
        if stale.name not in kept:
            stale.unlink()
    with atomic_path(reference_dir / ENVIRONMENT_FILE) as tmp:
        tmp.write_text(json.dumps(fingerprint(), indent=2) + "\n")
    return names
