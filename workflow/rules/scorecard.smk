# The claims scorecard (tfsnn.report.claims): every qualitative claim of the paper tested on the
# tables and figures of this scale, as a CSV and a page of `snakemake --report`.


rule scorecard:
    input:
        sorted({f"results/{SCALE_NAME}/{source}.csv" for claim in CLAIMS for source in claim.sources}),
    output:
        csv="results/{scale}/scorecard.csv",
        html=report("figures/{scale}/scorecard.html", category="Scorecard"),
    conda:
        "../envs/tfsnn.yaml"
    log:
        "results/{scale}/logs/scorecard.log",
    script:
        "../scripts/scorecard.py"
