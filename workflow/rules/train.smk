# Training and evaluation of any run registered with run() (common.smk).


rule train_config:
    output:
        "results/{scale}/configs/{run}.yaml",
    params:
        config=run_config,
    conda:
        "../envs/tfsnn.yaml"
    log:
        "results/{scale}/logs/train_config/{run}.log",
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
        "OMP_NUM_THREADS={threads} {params.env} tfsnn train --config {input} --out {params.partial} "
        "--no-progress > {log} 2>&1 && "
        "cp {params.partial}/metrics.csv {output.metrics} && "
        "cp {params.partial}/checkpoint.pt {output.checkpoint}"


rule evaluate:
    input:
        "results/{scale}/runs/{run}/checkpoint.pt",
    output:
        "results/{scale}/evals/{run}/T{Ts}.csv",
    params:
        T=lambda wildcards: wildcards.Ts.replace("-", " "),
        env=env_prefix(),
    threads: SCALE["resources"]["evaluate"]["threads"]
    resources:
        mem_mb=SCALE["resources"]["evaluate"]["mem_mb"],
        gpu=SCALE["resources"]["evaluate"]["gpu"],
    conda:
        "../envs/tfsnn.yaml"
    log:
        "results/{scale}/logs/evaluate/{run}/T{Ts}.log",
    shell:
        "OMP_NUM_THREADS={threads} {params.env} tfsnn evaluate --checkpoint {input} --T {params.T} "
        "--out {output} > {log} 2>&1"
