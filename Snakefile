# The reproduction DAG: every table and figure of the paper at the scale config/config.yaml
# selects (paper, small or smoke; `--config scale=smoke`). Outputs go to results/{scale}/ and
# figures/{scale}/, so scales never overwrite each other.
#
#   snakemake --cores 2 figures/smoke/table1.pdf --config scale=smoke   (targets before --config)
#   snakemake --cores 2 all --config scale=smoke                        (everything)


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


check_runs()


rule all:
    input:
        report_targets(),
        f"results/{SCALE_NAME}/scorecard.csv",
        f"figures/{SCALE_NAME}/compare.pdf",
        NIR_EXPORTS,
        f"figures/{SCALE_NAME}/step_time.pdf",
