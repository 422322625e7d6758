# The reproduction DAG: every table of the paper at the scale config/config.yaml selects
# (paper, small or smoke; `--config scale=smoke`). Outputs go to results/{scale}/ and
# figures/{scale}/, so scales never overwrite each other.
#
#   snakemake --cores 2 figures/smoke/table1.pdf --config scale=smoke   (targets before --config)


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/table1.smk"
include: "workflow/rules/table4.smk"


rule all:
    input:
        table_targets(),
