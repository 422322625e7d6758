# The user's targets without a scale: `snakemake --cores 8 figures/table4.pdf` makes the
# configured scale's figures/{scale}/table4.pdf (default paper; `--config scale=small` for
# another) and copies it to figures/table4.pdf. Every table, figure and text number of the
# paper, the scorecard and the comparison of methods has such a name; `scorecard` and `compare`
# are short for figures/scorecard.html and figures/compare.pdf. The per-scale files are what the
# DAG builds on, so scales never overwrite each other; the unscaled copy is remade whenever the
# configured scale's file is newer or another scale is asked for.

UNSCALED = {
    **{f"{name}.pdf": f"figures/{SCALE_NAME}/{name}.pdf" for name in [*TABLES, *FIGURES]},
    **{f"{name}.png": f"figures/{SCALE_NAME}/{name}.png" for name in FIGURES},
    "scorecard.html": f"figures/{SCALE_NAME}/scorecard.html",
    **({"compare.pdf": f"figures/{SCALE_NAME}/compare.pdf"} if COMPARE else {}),
    "step_time.pdf": f"figures/{SCALE_NAME}/step_time.pdf",
}


localrules:
    configured_scale,
    scorecard,


rule configured_scale:
    input:
        lambda wildcards: UNSCALED[wildcards.name],
    output:
        "figures/{name}",
    params:
        scale=SCALE_NAME,  # a changed scale remakes the copy (Snakemake's params trigger)
    wildcard_constraints:
        name="|".join(re.escape(name) for name in UNSCALED),
    conda:
        "../envs/tfsnn.yaml"
    log:
        f"results/{SCALE_NAME}/logs/configured_scale/{{name}}.log",
    shell:
        "cp {input} {output} 2> {log}"


rule scorecard:
    input:
        "figures/scorecard.html",


if COMPARE:

    localrules:
        compare,

    rule compare:
        input:
            "figures/compare.pdf",
