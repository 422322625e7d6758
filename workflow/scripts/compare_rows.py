"""The evaluation rows of every compared method, labelled, in one CSV that other users' CSVs of
the same schema can be merged with (rule compare_rows; `tfsnn compare` reads them)."""

import sys

import pandas as pd

from tfsnn.io import write_csv

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
params = snakemake.params  # noqa: F821
frames = [pd.read_csv(csv).rename(columns={"dataset": "dataset_used"}).assign(label=label)
          for label, csvs in params.rows.items() for csv in csvs]
rows = pd.concat(frames, ignore_index=True).assign(dataset=params.dataset, data_stand_in=params.stand_in)
write_csv(rows, snakemake.output[0])  # noqa: F821
