"""Gather evaluation CSVs into one tidy table CSV (rules <table>_csv).

params: ``table`` (its name in the reference CSV) and ``parts`` (the paper's method label -> a
list of parts, see ``table_part`` in common.smk: evaluation CSV, the uniform time steps whose
rows it gives, the paper's dataset and its stand-in at this scale or ""). Every row keeps the
provenance of the evaluation that made it; the evaluation's own ``dataset`` and ``method``
columns become ``dataset_used`` and ``training_method``.
"""

import sys

import pandas as pd

from tfsnn.io import write_csv

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
params = snakemake.params  # noqa: F821

frames = []
for label, parts in params.parts.items():
    for part in parts:
        rows = pd.read_csv(part["csv"]).rename(columns={"dataset": "dataset_used", "method": "training_method"})
        rows = rows[rows["T"].isin(part["T"])]
        rows.insert(0, "table", params.table)
        rows.insert(1, "dataset", part["dataset"])
        rows.insert(2, "data_stand_in", part["stand_in"])
        rows.insert(3, "method", label)
        rows.insert(4, "timestep", rows["T"].astype("Int64").astype(str))
        rows.insert(5, "metric", "top1_acc")
        rows.insert(6, "value", rows.pop("accuracy"))
        frames.append(rows)
write_csv(pd.concat(frames, ignore_index=True), snakemake.output[0])  # noqa: F821
