"""Test every claim of the paper on this scale's results (rule scorecard; tfsnn.report.claims)."""

import sys
from pathlib import Path

from tfsnn.io import atomic_path, provenance, write_csv
from tfsnn.report.claims import scorecard

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
card = scorecard(Path(snakemake.output.csv).parent)  # noqa: F821
card = card.assign(**provenance())
write_csv(card, snakemake.output.csv)  # noqa: F821
shown = card[["claim", "statement", "verdict", "effect", "std", "n", "unit", "spread_over", "scale", "stand_ins"]]
page = (
    f"<h2>Claims of the paper, tested at scale {card['scale'].iloc[0]}</h2>"
    "<p>effect: mean of the replicates (seeds where the experiment has several); verdict from the "
    "effect and twice its standard error (see tfsnn/report/claims.py). Data: "
    f"{'; '.join(sorted(set(card['data_source'])))}.</p>"
    + shown.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="")
)
with atomic_path(snakemake.output.html) as tmp:  # noqa: F821
    tmp.write_text(page)
