"""Test every claim of the paper on this scale's results (rule claims_scorecard; tfsnn.report.claims)."""

import sys
from pathlib import Path

from tfsnn.io import atomic_path, provenance, write_csv
from tfsnn.report.claims import headline_figure, item_records, scorecard, trained_models

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
models = trained_models(snakemake.input.metrics)  # noqa: F821
card = scorecard(Path(snakemake.output.csv).parent, models=models, reference=snakemake.input.reference,  # noqa: F821
                 not_run=snakemake.params.not_run, scale=snakemake.wildcards.scale,  # noqa: F821
                 records=item_records(snakemake.input.records))  # noqa: F821
card = card.assign(**provenance())
write_csv(card, snakemake.output.csv)  # noqa: F821
headline_figure(card, snakemake.output.pdf, snakemake.output.png)  # noqa: F821
shown = card[["claim", "family", "statement", "paper_effect", "effect", "ci_low", "ci_high", "unit", "criterion",
              "verdict", "size", "mde", "p_value", "p_holm", "seeds", "images", "test", "replicates", "stand_ins"]]
page = (
    f"<h2>Claims of the paper, tested at scale {card['scale'].iloc[0]}</h2>"
    "<p>paper_effect: the same reduction of the paper's own values (reference_values.csv), where they are like "
    "ours. effect: the sum over groups of independently trained models (one per seed) of each group's mean, "
    "[ci_low, ci_high] its 95 % t interval; seeds and test items are crossed random effects, seeds independent "
    "between groups, test items paired (tfsnn/report/statistics.py). verdict: holds / does not hold / "
    "inconclusive by the claim's test (equivalence: two one-sided tests within the margin); the six headline "
    "claims (workflow/reference/preregistration.md) are Holm-adjusted together (p_holm), the others are "
    "exploratory. size: the paper's effect against our interval; mde: the effect detectable at 80 % power. "
    "No verdict at smoke scale, from a model or condition below 2x chance, or from one seed "
    "(tfsnn/report/claims.py states the rules). Data: "
    f"{'; '.join(sorted(set(card['data_source']) - {''}))}.</p>"
    + shown.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="")
)
with atomic_path(snakemake.output.html) as tmp:  # noqa: F821
    tmp.write_text(page)
