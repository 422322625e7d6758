# Compare training methods (yours among them) under the paper's protocol: every method of the
# scale's `compare` section (or of `compare:` in config/config.yaml, which replaces it) trained
# with the same family settings and seeds, tested at the uniform T of Table 4 and at random
# per-stage configurations; mean and std over seeds, and the difference to MTT marked when it is
# within the seeds' noise. See README, "Add your method".

COMPARE = {**SCALE["compare"], **config.get("compare", {})}
validate(COMPARE, "../schemas/compare.schema.yaml")


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
        "results/{scale}/compare-rows.csv",
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
