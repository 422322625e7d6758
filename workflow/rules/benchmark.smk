# The speed benchmark (issue 6, benchmarks/step_time.py): step time of SDT at each T and of an
# MTT iteration against the ANN floor (and SpikingJelly where installed), with the scale's
# arguments (`benchmark:` in config/scales/{scale}.yaml).


rule benchmark:
    output:
        csv="results/{scale}/benchmark/step_time.csv",
        pdf=report("figures/{scale}/step_time.pdf", category="Speed"),
    params:
        arguments=SCALE["benchmark"],
    threads: SCALE["resources"]["train"]["threads"]
    resources:
        mem_mb=SCALE["resources"]["train"]["mem_mb"],
        gpu=SCALE["resources"]["train"]["gpu"],
    conda:
        "../envs/tfsnn.yaml"
    log:
        "results/{scale}/logs/benchmark.log",
    shell:
        "OMP_NUM_THREADS={threads} python benchmarks/step_time.py {params.arguments} --out {output.csv} "
        "--plot {output.pdf} > {log} 2>&1"
