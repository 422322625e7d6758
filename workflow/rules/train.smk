# Training and evaluation of any run registered with run() (common.smk).


# jobs that take a second run where Snakemake runs, not through a cluster's queue
localrules:
    train_config,
    table_csv,
    table_pdf,
    figure,
    scorecard,
    compare_rows,
    compare,


rule train_config:
    output:
        "results/{scale}/configs/{run}.yaml",
    params:
        config=run_config,
    log:
        "results/{scale}/logs/train_config/{run}.log",
    conda:
        "../envs/tfsnn.yaml"
    script:
        "../scripts/write_train_config.py"


# tfsnn train resumes from partial-<hash>/ (checkpoint written after every epoch), which is not
# an output, so an interrupted job loses at most one epoch; the outputs appear once training
# ends. Partial folders of the run's earlier configs are removed.
rule train:
    input:
        "results/{scale}/configs/{run}.yaml",
    output:
        checkpoint="results/{scale}/runs/{run}/checkpoint.pt",
        metrics="results/{scale}/runs/{run}/metrics.csv",
    params:
        partial=partial_dir,
        env=env_prefix(),
        # one process per GPU (DDP) when a training job asks for several
        launcher=training_launcher(SCALE["resources"]["train"]["gpu"]),
    threads: SCALE["resources"]["train"]["threads"]
    resources:
        mem_mb=SCALE["resources"]["train"]["mem_mb"],
        gpu=SCALE["resources"]["train"]["gpu"],
    benchmark:
        "results/{scale}/benchmarks/train/{run}.tsv"
    conda:
        "../envs/tfsnn.yaml"
    log:
        "results/{scale}/logs/train/{run}.log",
    shell:
        "find $(dirname {params.partial}) -maxdepth 1 -name 'partial-*' ! -path {params.partial} "
        "-exec rm -rf {{}} + && "
        "OMP_NUM_THREADS={threads} {params.env} {params.launcher} train --config {input} --out {params.partial} "
        "--no-progress > {log} 2>&1 && "
        "cp {params.partial}/metrics.csv {output.metrics} && "
        "cp {params.partial}/checkpoint.pt {output.checkpoint}"


def evaluation_arguments(wildcards):
    """tfsnn evaluate arguments of an evaluation registered by evaluation_of()."""
    spec = EVALUATIONS[f"{wildcards.run}/{wildcards.tag}"]
    return (f"--T {' '.join(map(str, spec['T']))} --recalibrate {spec['recalibrate']} "
            f"--random-configs {spec['random_configs']} --random-seed {spec['random_seed']}")


rule evaluate:
    input:
        "results/{scale}/runs/{run}/checkpoint.pt",
    output:
        "results/{scale}/evals/{run}/{tag}.csv",
    params:
        arguments=evaluation_arguments,
        env=env_prefix(),
    threads: SCALE["resources"]["evaluate"]["threads"]
    resources:
        mem_mb=SCALE["resources"]["evaluate"]["mem_mb"],
        gpu=SCALE["resources"]["evaluate"]["gpu"],
    conda:
        "../envs/tfsnn.yaml"
    log:
        "results/{scale}/logs/evaluate/{run}/{tag}.log",
    shell:
        "OMP_NUM_THREADS={threads} {params.env} tfsnn evaluate --checkpoint {input} {params.arguments} "
        "--out {output} > {log} 2>&1"


def analysis_options(wildcards):
    """--option arguments of an analysis job (values as JSON, which YAML reads back)."""
    options = ANALYSES[f"{wildcards.run}/{wildcards.analysis}-{wildcards.tag}"]["options"]
    return " ".join(f"--option {shlex.quote(f'{k}={json.dumps(v)}')}" for k, v in sorted(options.items()))


rule analyze:
    input:
        "results/{scale}/runs/{run}/checkpoint.pt",
    output:
        "results/{scale}/analyses/{run}/{analysis}-{tag}.csv",
    params:
        options=analysis_options,
        env=env_prefix(),
    wildcard_constraints:
        analysis=r"[a-z_]+",
        tag=r"[0-9a-f]{8}",
    threads: SCALE["resources"]["evaluate"]["threads"]
    resources:
        mem_mb=SCALE["resources"]["evaluate"]["mem_mb"],
        gpu=SCALE["resources"]["evaluate"]["gpu"],
    benchmark:
        "results/{scale}/benchmarks/analyze/{run}/{analysis}-{tag}.tsv"
    conda:
        "../envs/tfsnn.yaml"
    log:
        "results/{scale}/logs/analyze/{run}/{analysis}-{tag}.log",
    shell:
        "OMP_NUM_THREADS={threads} {params.env} tfsnn analyze {wildcards.analysis} --checkpoint {input} "
        "{params.options} --out {output} > {log} 2>&1"
