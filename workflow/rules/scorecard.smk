# The claims scorecard (tfsnn.report.claims): every qualitative claim of the paper tested on the
# tables and figures of this scale, as a CSV and a page of `snakemake --report`.


# the sources this scale makes (a claim with a source not run here: "not run at this scale")
CLAIM_SOURCES = sorted({source for claim in CLAIMS for source in claim.sources} - set(NOT_RUN))
# the claims' sources this scale does not make -> why
CLAIMS_NOT_RUN = {source: NOT_RUN[source] for claim in CLAIMS for source in claim.sources if source in NOT_RUN}


# what each test item got in the evaluations and analyses behind the claims (beside their CSVs)
CLAIM_RECORDS = sorted({str(Path(csv).with_suffix(".npz")) for source in CLAIM_SOURCES for csv in source_csvs(source)
                        if csv.startswith((f"results/{SCALE_NAME}/evals/", f"results/{SCALE_NAME}/analyses/"))})


rule claims_scorecard:
    input:
        results=[f"results/{SCALE_NAME}/{source}.csv" for source in CLAIM_SOURCES],
        records=CLAIM_RECORDS,
        # every model behind a claim: its test accuracy at its trained T (the near-chance rule)
        metrics=sorted({metrics_of(run) for source in CLAIM_SOURCES for run in runs_behind(source)}),
        reference=REFERENCE,
    params:
        not_run=CLAIMS_NOT_RUN,
    output:
        csv="results/{scale}/scorecard.csv",
        html=report("figures/{scale}/scorecard.html", category="Scorecard"),
        # each headline claim's effect and interval beside the paper's
        pdf="figures/{scale}/headline.pdf",
        png=report("figures/{scale}/headline.png", category="Scorecard"),
    conda:
        "../envs/tfsnn.yaml"
    log:
        "results/{scale}/logs/scorecard.log",
    script:
        "../scripts/scorecard.py"


localrules:
    power,


# The power table of the headline claims (tfsnn.report.claims.power): their variance components
# on this scale's results, and the seeds and test images that a 95 % half-width of half the
# paper's effect (at least 1 point) needs
rule power:
    input:
        results=[f"results/{SCALE_NAME}/{source}.csv" for source in CLAIM_SOURCES],
        records=CLAIM_RECORDS,
        reference=REFERENCE,
    output:
        "results/{scale}/power.csv",
    conda:
        "../envs/tfsnn.yaml"
    log:
        "results/{scale}/logs/power.log",
    script:
        "../scripts/power.py"
