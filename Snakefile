# The reproduction DAG: every table and figure of the paper, at the scale config/config.yaml
# selects (paper by default; small or smoke with `--config scale=...`).
#
#   snakemake --cores 8 figures/table4.pdf                        Table 4 at the paper scale
#   snakemake --cores 2 figures/table4.pdf --config scale=small   the same table at the small scale
#   snakemake --cores 2 all --config scale=smoke                  everything (targets before --config)
#
# figures/tableN.pdf, figN.pdf, sec4.2.pdf, scorecard.html, compare.pdf ... are copies of the
# configured scale's figures/{scale}/... (workflow/rules/targets.smk); results go to
# results/{scale}/ and figures/{scale}/, so scales never overwrite each other.


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/table1.smk"
include: "workflow/rules/table4.smk"
include: "workflow/rules/comparisons.smk"
include: "workflow/rules/inference.smk"
include: "workflow/rules/sequences.smk"
include: "workflow/rules/analyses.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/scorecard.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/benchmark.smk"
include: "workflow/rules/targets.smk"
include: "workflow/rules/keep.smk"


check_runs()
check_claims()


# everything this scale makes (config/scales/{scale}.yaml; what it does not run, the scorecard names)
rule all:
    input:
        report_targets(),
        f"results/{SCALE_NAME}/scorecard.csv",
        f"results/{SCALE_NAME}/power.csv",
        [f"figures/{SCALE_NAME}/compare.pdf"] if COMPARE else [],
        [path for path in NIR_EXPORTS if _run_of(path) not in NOT_RUN_RUNS],
        f"figures/{SCALE_NAME}/step_time.pdf",
