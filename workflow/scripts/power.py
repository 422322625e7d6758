"""The power table of the headline claims on this scale's results (rule power; tfsnn.report.claims.power)."""

import sys
from pathlib import Path

from tfsnn.io import provenance, write_csv
from tfsnn.report.claims import item_records, power

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
table = power(Path(snakemake.output[0]).parent, reference=snakemake.input.reference,  # noqa: F821
              records=item_records(snakemake.input.records))  # noqa: F821
write_csv(table.assign(scale=snakemake.wildcards.scale, **provenance()), snakemake.output[0])  # noqa: F821
