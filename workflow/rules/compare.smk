# Compare training methods (yours among them) under the paper's protocol: every method of the
# scale's `compare` section (or of `compare:` in config/config.yaml, which replaces it) trained
# with the same family settings and seeds, tested at the uniform T of Table 4 and at random
# per-stage configurations; mean and std over seeds, and the difference to MTT marked when it is
# within the seeds' noise. See README, "Add your method".

# a scale without a compare section (and no compare: in config/config.yaml) compares nothing
COMPARE = {**SCALE.get("compare", {}), **config.get("compare", {})}
if not COMPARE:
    not_run("compare", f"config/scales/{SCALE_NAME}.yaml has no compare section")
else:
    validate(COMPARE, "../schemas/compare.schema.yaml")
    if not runs_here(COMPARE["family"]):
        not_run("compare", f"config/scales/{SCALE_NAME}.yaml does not list family {COMPARE['family']}")
        COMPARE = {}


if COMPARE:

    localrules:
        compare_rows,
        compare_methods,

    # label -> evaluation CSVs (one per seed) of each compared method
    COMPARE_ROWS = {
        spec["label"]: [
            evaluation_of(
                run(COMPARE["dataset"], COMPARE["family"], spec["name"], seed=seed,
                    **{k: v for k, v in spec.items() if k not in ("label", "name")}),
                COMPARE["T"], random_configs=COMPARE["random_configs"], random_seed=COMPARE["config_seed"],
            )
            for seed in COMPARE["seeds"]
        ]
        for spec in COMPARE["methods"]
    }


    rule compare_rows:
        input:
            sorted({csv for csvs in COMPARE_ROWS.values() for csv in csvs}),
        output:
            rows="results/{scale}/compare-rows.csv",
            records="results/{scale}/compare-rows.npz",
        params:
            rows=COMPARE_ROWS,
            dataset=COMPARE["dataset"],
            stand_in=stand_in_note(COMPARE["dataset"]),
        conda:
            "../envs/tfsnn.yaml"
        log:
            "results/{scale}/logs/compare_rows.log",
        script:
            "../scripts/compare_rows.py"


    rule compare_methods:
        input:
            rows="results/{scale}/compare-rows.csv",
            records="results/{scale}/compare-rows.npz",
            reference=REFERENCE,
        output:
            pdf=report("figures/{scale}/compare.pdf", category="Method comparison"),
            csv="results/{scale}/compare.csv",
        params:
            dataset=COMPARE["dataset"],
        conda:
            "../envs/tfsnn.yaml"
        log:
            "results/{scale}/logs/compare.log",
        shell:
            "tfsnn compare {input.rows} --reference {input.reference} --dataset {params.dataset} "
            "--out {output.pdf} --csv-out {output.csv} > {log} 2>&1"
