"""Analyses by name: ``tfsnn analyze NAME --checkpoint ... --out ...`` runs one on a trained
checkpoint (:class:`tfsnn.experiment.Trained`) and writes its tidy rows.

An analysis is a function ``f(trained, **options) -> list[dict]`` registered with
``@register("name")``; its keyword arguments are its options (``--option key=value``), checked
here before any work (:func:`tfsnn.options.check_options`): a misspelt option is an error that
names the valid ones, a value of the wrong type (``repeats=two``, ``thresholds=0.9``) one that
names the option. A row that measures an accuracy on the test set may carry ``correct``: each
test item's share of right predictions (1 or 0; a fraction over repeats), in the test loader's
order; :func:`run_analysis` keeps these apart, as per-item records. An analysis that reads only
the training set registers with ``reads_test_set=False``: the test data a workflow sets for
evaluations (e.g. the whole test split) then does not change it, nor its name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from tfsnn.io import write_records
from tfsnn.options import check_options

__all__ = ["ANALYSES", "register", "analysis_options", "reads_test_set", "run_analysis"]

ANALYSES: dict[str, Callable] = {}
_TRAINING_SET_ONLY: set[str] = set()


def register(name: str, *, reads_test_set: bool = True):
    def decorate(function: Callable) -> Callable:
        if name in ANALYSES:
            raise ValueError(f"analysis {name!r} is already registered")
        ANALYSES[name] = function
        if not reads_test_set:
            _TRAINING_SET_ONLY.add(name)
        return function

    return decorate


def reads_test_set(name: str) -> bool:
    """Whether analysis ``name`` reads the test set (False: the training set only)."""
    if name not in ANALYSES:
        raise ValueError(f"unknown analysis {name!r}; choose from {sorted(ANALYSES)}")
    return name not in _TRAINING_SET_ONLY


def analysis_options(name: str, options: dict | None = None) -> dict:
    """``options`` of analysis ``name``, checked against its signature before any work."""
    if name not in ANALYSES:
        raise ValueError(f"unknown analysis {name!r}; choose from {sorted(ANALYSES)}")
    return check_options(ANALYSES[name], options or {}, f"analysis {name}: option {{}}", name, skip=1)


def run_analysis(name: str, trained, options: dict | None = None, records: str | Path | None = None):
    """Rows of analysis ``name`` on ``trained`` with ``options``, as a tidy frame with provenance
    (column ``analysis`` = ``name``). Every analysis runs in ``trained.analysis_context()`` and
    passes ``trained.analysis_precision`` on (fp32: :mod:`tfsnn.precision`).

    ``records``: an ``.npz`` file (:func:`tfsnn.io.write_records`, the rows' provenance) that gets
    what each test item got in the rows that say (``correct``, module docstring): ``row`` (their
    index in the frame), ``item`` (each item's position in the data source's test split) and
    ``correct`` (``[rows, items]``); no rows where the analysis measures no accuracy. Those rows
    then name their record in column ``record``, ``{file stem}:{row}`` (empty in the others), which
    tables and figures keep (:func:`tfsnn.report.claims.item_records` reads it back)."""
    options = analysis_options(name, options)
    with trained.analysis_context():
        rows = ANALYSES[name](trained, **options)
    per_item = {i: row.pop("correct") for i, row in enumerate(rows) if "correct" in row}
    frame = trained.rows(rows, analysis=name, precision=trained.analysis_precision)
    if records is not None:
        frame["record"] = [f"{Path(records).stem}:{i}" if i in per_item else "" for i in range(len(frame))]
        items = trained.datasets.test_items
        lengths = {len(correct) for correct in per_item.values()}
        if lengths - {len(items)}:
            raise ValueError(f"analysis {name}: per-item records of {sorted(lengths)} items, the test set has "
                             f"{len(items)}")
        correct = np.stack(list(per_item.values())) if per_item else np.zeros((0, len(items)))
        write_records({"row": np.array(list(per_item), dtype=np.int64), "item": items,
                       "correct": correct.astype(np.float32)}, records, **trained.fields(), analysis=name)
    return frame
