# Keep what this scale has finished in the repository (workflow/scripts/keep_results.py says
# what goes where): `snakemake --cores 1 keep_results --config scale=small`, then commit
# workflow/reference/{scale}/. Rule train restores a kept run instead of training it again.


localrules:
    keep_results,


rule keep_results:
    params:
        scale=SCALE_NAME,
        # every run a table or figure of this scale reads
        runs=sorted({run for source in [*TABLES, *FIGURES] for run in runs_behind(source)}),
        families=sorted(SCALE["experiments"]),
        # run -> the run it is copied from (rule train)
        twins={run: twin for run in RUNS if (twin := snapshot_twin(run))},
        # the scorecard of a run in progress: every claim's sources made so far, and their models
        not_run=CLAIMS_NOT_RUN,
        claim_runs={source: runs_behind(source) for source in CLAIM_SOURCES},
        reference=REFERENCE,
    conda:
        "../envs/tfsnn.yaml"
    log:
        f"results/{SCALE_NAME}/logs/keep_results.log",
    script:
        "../scripts/keep_results.py"
