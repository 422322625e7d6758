# Training and evaluation of any run registered with run() (common.smk).


# jobs that take a second run where Snakemake runs, not through a cluster's queue
localrules:
    train_config,
    table_csv,
    table_pdf,
    figure,
    claims_scorecard,


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
# A run committed under workflow/reference/{scale}/runs/{run}/ (rule keep_results) with this very
# config is copied from there instead of trained again, unless `--config reuse_committed=false`.
# Else a run whose training another run repeats while keeping snapshots (snapshot_twin(), e.g.
# SDT T=6 of Table 1 at a scale whose ResNet-18 stands in for ResNet-19, and section 4.2's run)
# is copied from that run: one training serves both.
rule train:
    input:
        config="results/{scale}/configs/{run}.yaml",
        twin=snapshot_twin_outputs,
    output:
        checkpoint="results/{scale}/runs/{run}/checkpoint.pt",
        metrics="results/{scale}/runs/{run}/metrics.csv",
        environment="results/{scale}/runs/{run}/environment.json",
    params:
        committed=lambda wildcards: committed_run(wildcards.run),
        twin=lambda wildcards, input: Path(input.twin[0]).parent if input.twin else "",
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
        "if [ -n '{params.committed}' ] && cmp -s {input.config} {params.committed}/config.yaml; then "
        "echo 'restored from {params.committed} (trained there with this config)' > {log} && "
        "cp {params.committed}/metrics.csv {output.metrics} && "
        "cp {params.committed}/environment.json {output.environment} && "
        "cp {params.committed}/checkpoint.pt {output.checkpoint}; "
        "elif [ -n '{params.twin}' ]; then "
        "echo 'copied from {params.twin} (the same training, which also kept snapshots)' > {log} && "
        "cp {params.twin}/metrics.csv {output.metrics} && "
        "cp {params.twin}/environment.json {output.environment} && "
        "cp {params.twin}/checkpoint.pt {output.checkpoint}; "
        "else "
        "find $(dirname {params.partial}) -maxdepth 1 -name 'partial-*' ! -path {params.partial} "
        "-exec rm -rf {{}} + && "
        "OMP_NUM_THREADS={threads} {params.env} {params.launcher} train --config {input.config} --out {params.partial} "
        "--no-progress > {log} 2>&1 && "
        "cp {params.partial}/metrics.csv {output.metrics} && "
        "cp {params.partial}/environment.json {output.environment} && "
        "cp {params.partial}/checkpoint.pt {output.checkpoint}; "
        "fi"


# The checkpoints below are the DAG's own, trained from the user's config: a module:Class method
# they name is the user's, so evaluations and analyses may import it (--trust-method).
# An evaluation or analysis committed beside a committed run (rule keep_results) is copied from
# there when the job's checkpoint is byte-for-byte the committed one (restored or copied by rule
# train): on a new machine, nothing finished is computed again. Each also gives what each test
# item got (records: tfsnn evaluate / analyze --records); one committed without them is made again.
rule evaluate:
    input:
        "results/{scale}/runs/{run}/checkpoint.pt",
    output:
        csv="results/{scale}/evals/{run}/{tag}.csv",
        records="results/{scale}/evals/{run}/{tag}.npz",
    params:
        arguments=evaluation_arguments,
        committed=committed_result,
        committed_records=committed_records,
        checkpoint=lambda wildcards: committed_checkpoint(wildcards.run),
        env=env_prefix(),
    threads: SCALE["resources"]["evaluate"]["threads"]
    resources:
        mem_mb=SCALE["resources"]["evaluate"]["mem_mb"],
        gpu=SCALE["resources"]["evaluate"]["gpu"],
    benchmark:
        "results/{scale}/benchmarks/evaluate/{run}/{tag}.tsv"
    conda:
        "../envs/tfsnn.yaml"
    log:
        "results/{scale}/logs/evaluate/{run}/{tag}.log",
    shell:
        "if [ -n '{params.committed_records}' ] && cmp -s {input} {params.checkpoint}; then "
        "echo 'restored from {params.committed} (made there from this very checkpoint)' > {log} && "
        "cp {params.committed} {output.csv} && cp {params.committed_records} {output.records}; else "
        "OMP_NUM_THREADS={threads} {params.env} tfsnn evaluate --checkpoint {input} --trust-method "
        "{params.arguments} --out {output.csv} --records {output.records} > {log} 2>&1; fi"


rule analyze:
    input:
        "results/{scale}/runs/{run}/checkpoint.pt",
    output:
        csv="results/{scale}/analyses/{run}/{analysis}-{tag}.csv",
        records="results/{scale}/analyses/{run}/{analysis}-{tag}.npz",
    params:
        options=analysis_options,
        committed=committed_result,
        committed_records=committed_records,
        checkpoint=lambda wildcards: committed_checkpoint(wildcards.run),
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
        "if [ -n '{params.committed_records}' ] && cmp -s {input} {params.checkpoint}; then "
        "echo 'restored from {params.committed} (made there from this very checkpoint)' > {log} && "
        "cp {params.committed} {output.csv} && cp {params.committed_records} {output.records}; else "
        "OMP_NUM_THREADS={threads} {params.env} tfsnn analyze {wildcards.analysis} --checkpoint {input} "
        "--trust-method {params.options} --out {output.csv} --records {output.records} > {log} 2>&1; fi"


# a trained network in NIR, for a neuromorphic chip's toolchain (e.g. sinabs.from_nir)
rule export_nir:
    input:
        "results/{scale}/runs/{run}/checkpoint.pt",
    output:
        "results/{scale}/nir/{run}.nir",
    params:
        env=env_prefix(),
    conda:
        "../envs/tfsnn.yaml"
    log:
        "results/{scale}/logs/export_nir/{run}.log",
    shell:
        "{params.env} tfsnn export-nir --checkpoint {input} --trust-method --out {output} > {log} 2>&1"
