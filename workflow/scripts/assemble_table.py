"""Gather the CSVs of a table's parts into its tidy CSV (rule table_csv; see tfsnn.report.tables)."""

import sys

from tfsnn.io import write_csv
from tfsnn.report.tables import assemble

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
write_csv(assemble(snakemake.wildcards.table, snakemake.params.parts), snakemake.output[0])  # noqa: F821
