"""Test every claim of the paper on this scale's results (rule claims_scorecard; tfsnn.report.claims)."""

import sys
from pathlib import Path

from tfsnn.io import atomic_path, provenance, write_csv
from tfsnn.report.claims import scorecard, trained_models

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
models = trained_models(snakemake.input.metrics)  # noqa: F821
card = scorecard(Path(snakemake.output.csv).parent, models=models, reference=snakemake.input.reference,  # noqa: F821
                 not_run=snakemake.params.not_run, scale=snakemake.wildcards.scale)  # noqa: F821
card = card.assign(**provenance())
write_csv(card, snakemake.output.csv)  # noqa: F821
shown = card[["claim", "statement", "paper_effect", "effect", "ci_low", "ci_high", "n", "unit", "criterion", "test",
              "verdict", "reason", "replicates", "stand_ins"]]
page = (
    f"<h2>Claims of the paper, tested at scale {card['scale'].iloc[0]}</h2>"
    "<p>paper_effect: the same reduction of the paper's own values (reference_values.csv). effect: the mean "
    "over independently trained seeds of one value per seed; [ci_low, ci_high]: mean +/- t(0.975, n-1) SE, "
    "SE^2 = (between-seed variance + mean binomial test-set variance of the effect) / n; verdict: holds / "
    "does not hold when the interval clears the criterion, no verdict at smoke scale or from a model below "
    "2x chance, descriptive with one seed (tfsnn/report/claims.py states the rules exactly). Data: "
    f"{'; '.join(sorted(set(card['data_source']) - {''}))}.</p>"
    + shown.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="")
)
with atomic_path(snakemake.output.html) as tmp:  # noqa: F821
    tmp.write_text(page)
