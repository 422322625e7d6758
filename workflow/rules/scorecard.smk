# The claims scorecard (tfsnn.report.claims): every qualitative claim of the paper tested on the
# tables and figures of this scale, as a CSV and a page of `snakemake --report`.


def source_labels(source):
    """The labels a table's parts or a figure's curves are registered with (tfsnn.report.labels)."""
    if source in TABLES:
        return {part["method"] for part in TABLES[source]["parts"]}
    return set(FIGURES[source]["inputs"])


def source_csvs(source):
    if source in TABLES:
        return [part["csv"] for part in TABLES[source]["parts"]]
    return [path for paths in FIGURES[source]["inputs"].values()
            for path in ([paths] if isinstance(paths, str) else paths)]


def runs_behind(source):
    """The training runs whose evaluations, analyses or metrics a table or figure reads
    (results/{scale}/{evals,analyses,runs}/{run}/...)."""
    return sorted({Path(csv).parts[3] for csv in source_csvs(source)})


def check_claims():
    """Every label a claim reads is one its source is made with: a label renamed in one place
    fails here, when the workflow is parsed, instead of emptying the claim's row."""
    for claim in CLAIMS:
        for source, label in claim.reads:
            if source not in TABLES and source not in FIGURES:
                raise ValueError(f"claim {claim.id} reads {source}, which no rules file registers")
            if label not in source_labels(source):
                raise ValueError(f"claim {claim.id} reads label {label!r} of {source}, which is made with "
                                 f"{sorted(source_labels(source))} (tfsnn/report/labels.py)")


check_claims()
CLAIM_SOURCES = sorted({source for claim in CLAIMS for source in claim.sources})


rule claims_scorecard:
    input:
        results=[f"results/{SCALE_NAME}/{source}.csv" for source in CLAIM_SOURCES],
        # every model behind a claim: its test accuracy at its trained T (the near-chance rule)
        metrics=sorted({metrics_of(run) for source in CLAIM_SOURCES for run in runs_behind(source)}),
        reference=REFERENCE,
    output:
        csv="results/{scale}/scorecard.csv",
        html=report("figures/{scale}/scorecard.html", category="Scorecard"),
    conda:
        "../envs/tfsnn.yaml"
    log:
        "results/{scale}/logs/scorecard.log",
    script:
        "../scripts/scorecard.py"
