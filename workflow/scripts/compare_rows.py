"""The evaluation rows of every compared method, labelled, in one CSV that other users' CSVs of
the same schema can be merged with, and their per-item records in one file beside it (rule
compare_rows; `tfsnn compare` reads both)."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tfsnn.io import read_records, write_csv, write_records

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
params = snakemake.params  # noqa: F821
frames, merged = [], {"label": [], "seed": [], "config": [], "predicted": []}
items = target = provenance = None
for label, csvs in params.rows.items():
    for csv in csvs:
        frame = pd.read_csv(csv, dtype={"config": str})
        frames.append(frame.rename(columns={"dataset": "dataset_used"}).assign(label=label))
        arrays, provenance = read_records(Path(csv).with_suffix(".npz"))
        if items is None:
            items, target = arrays["item"], arrays["target"]
        elif not np.array_equal(items, arrays["item"]):
            raise ValueError(f"{csv} was tested on other items than the first evaluation of the comparison")
        merged["label"] += [label] * len(arrays["config"])
        merged["seed"] += [int(frame["seed"].iloc[0])] * len(arrays["config"])
        merged["config"] += arrays["config"].tolist()
        merged["predicted"].append(arrays["predicted"])
rows = pd.concat(frames, ignore_index=True).assign(dataset=params.dataset, data_stand_in=params.stand_in)
write_csv(rows, snakemake.output.rows)  # noqa: F821
# the records' provenance: the last evaluation's code and stack (each row of the CSV has its own)
fields = {key: provenance[key] for key in ("scale", "data_source", "dataset") if key in provenance}
write_records({"item": items, "target": target, "label": np.array(merged["label"]), "seed": np.array(merged["seed"]),
               "config": np.array(merged["config"]), "predicted": np.concatenate(merged["predicted"])},
              snakemake.output.records, **fields)  # noqa: F821
