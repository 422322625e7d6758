# Table 1: CIFAR-100, SDT trained at T=6 and tested at T=2..6, SDT* (one model trained per T)
# and NMT (s=3, T in 1..6), tested at T=2..6.

TABLE1_DATASET = "cifar100"
TABLE1_FAMILY = "cifar-resnet19"
TABLE1_T = [2, 3, 4, 5, 6]

# paper's method label -> where its rows come from; every model is tested at all of TABLE1_T
# (the test of SDT T=6 serves both SDT and SDT*)
TABLE1_PARTS = {
    "SDT": [table_part(TABLE1_DATASET, TABLE1_FAMILY, "sdt", TABLE1_T, T=6)],
    "SDT*": [table_part(TABLE1_DATASET, TABLE1_FAMILY, "sdt", TABLE1_T, [t], T=t) for t in TABLE1_T],
    "NMT": [table_part(TABLE1_DATASET, TABLE1_FAMILY, "nmt", TABLE1_T, t_min=1, t_max=6, samples=3)],
}
TABLES.append("table1")


rule table1_csv:
    input:
        table_inputs(TABLE1_PARTS),
    output:
        "results/{scale}/table1.csv",
    params:
        table="table1",
        parts=TABLE1_PARTS,
    conda:
        "../envs/tfsnn.yaml"
    log:
        "results/{scale}/logs/table1_csv.log",
    script:
        "../scripts/assemble_table.py"


rule table1_pdf:
    input:
        table="results/{scale}/table1.csv",
        reference=REFERENCE,
    output:
        "figures/{scale}/table1.pdf",
    params:
        title="Table 1: top-1 accuracy (%) of SDT, SDT* and NMT",
    conda:
        "../envs/tfsnn.yaml"
    log:
        "results/{scale}/logs/table1_pdf.log",
    script:
        "../scripts/render_table.py"
