"""Render a table's tidy CSV beside the paper's values as a PDF and a CSV (rule table_pdf)."""

import sys

import pandas as pd

from tfsnn.io import write_csv
from tfsnn.report.render import table_pdf
from tfsnn.report.tables import read_reference, side_by_side

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
table = snakemake.wildcards.table  # noqa: F821
ours = pd.read_csv(snakemake.input.table, dtype={"timestep": str, "data_stand_in": str}, keep_default_na=False)  # noqa: F821
side = side_by_side(ours, read_reference(snakemake.input.reference, table))  # noqa: F821
write_csv(side, snakemake.output.csv)  # noqa: F821
table_pdf(side, ours, snakemake.params.title, snakemake.output.pdf)  # noqa: F821
