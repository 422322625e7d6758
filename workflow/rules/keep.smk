# Keep what this scale has finished in the repository (workflow/scripts/keep_results.py says
# what goes where): `snakemake --cores 1 keep_results --config scale=small`, then commit
# workflow/reference/{scale}/. Rule train restores a kept run instead of training it again.


localrules:
    keep_results,


rule keep_results:
    params:
        scale=SCALE_NAME,
        runs=sorted(RUNS),
        families=sorted(SCALE["experiments"]),
    conda:
        "../envs/tfsnn.yaml"
    log:
        f"results/{SCALE_NAME}/logs/keep_results.log",
    script:
        "../scripts/keep_results.py"
