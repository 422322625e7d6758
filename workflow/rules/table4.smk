# Table 4: temporal flexibility. One MTT model per dataset (s=3, T_min=1), tested at uniform T:
# ResNet-19 on CIFAR-10/100 and ResNet-34 on ImageNet (T_max=6, tested at T=2..6), ResNet-18 on
# CIFAR10-DVS and N-Caltech101 (T_max=10 frames, tested at T=2,4,6,8,10).

TABLE4_STATIC_T = [2, 3, 4, 5, 6]
TABLE4_DVS_T = [2, 4, 6, 8, 10]
TABLE4_PARTS = {
    "MTT": [
        table_part(dataset, family, "mtt", Ts, t_min=1, t_max=max(Ts), samples=3)
        for dataset, family, Ts in [
            ("cifar10", "cifar-resnet19", TABLE4_STATIC_T),
            ("cifar100", "cifar-resnet19", TABLE4_STATIC_T),
            ("imagenet", "imagenet-resnet34", TABLE4_STATIC_T),
            ("cifar10dvs", "dvs-resnet18", TABLE4_DVS_T),
            ("ncaltech101", "dvs-resnet18", TABLE4_DVS_T),
        ]
    ],
}
TABLES.append("table4")


rule table4_csv:
    input:
        table_inputs(TABLE4_PARTS),
    output:
        "results/{scale}/table4.csv",
    params:
        table="table4",
        parts=TABLE4_PARTS,
    conda:
        "../envs/tfsnn.yaml"
    log:
        "results/{scale}/logs/table4_csv.log",
    script:
        "../scripts/assemble_table.py"


rule table4_pdf:
    input:
        table="results/{scale}/table4.csv",
        reference=REFERENCE,
    output:
        "figures/{scale}/table4.pdf",
    params:
        title="Table 4: top-1 accuracy (%) of one MTT model at each uniform T",
    conda:
        "../envs/tfsnn.yaml"
    log:
        "results/{scale}/logs/table4_pdf.log",
    script:
        "../scripts/render_table.py"
