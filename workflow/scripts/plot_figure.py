"""Draw a figure of the paper from its input CSVs and write its data as one tidy CSV (rule figure)."""

import sys

import pandas as pd

from tfsnn.io import write_csv
from tfsnn.report.figures import draw

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
settings = dict(snakemake.params.settings)  # noqa: F821
# a label's CSVs: one per seed (a str when the rule gave one path); the CSVs' seed column tells them apart
curves = {label: pd.concat([pd.read_csv(path) for path in ([paths] if isinstance(paths, str) else paths)],
                           ignore_index=True)
          for label, paths in snakemake.input.items()}  # noqa: F821
first = next(iter(curves.values()))
lines = [f"scale {first['scale'].iloc[0]}; data: {first['data_source'].iloc[0]}",
         f"code {str(first['git_commit'].iloc[0])[:12]}",
         "seeds " + ", ".join(str(s) for s in sorted({s for c in curves.values() for s in c["seed"]}))]
data = draw(settings.pop("kind"), curves, snakemake.output.pdf, snakemake.output.png, "; ".join(lines), **settings)  # noqa: F821
write_csv(data.assign(figure=snakemake.wildcards.figure), snakemake.output.csv)  # noqa: F821
