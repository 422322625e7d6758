# Every table and figure the rules files registered (table() and figure() in common.smk): a
# table's tidy CSV from its parts, then the paper's values beside ours (CSV and PDF); a figure's
# PDF and PNG from its input CSVs.


rule table_csv:
    input:
        lambda wildcards: part_inputs(TABLES[wildcards.table]["parts"]),
    output:
        "results/{scale}/{table}.csv",
    params:
        parts=lambda wildcards: TABLES[wildcards.table]["parts"],
    wildcard_constraints:
        table="|".join(TABLES),
    conda:
        "../envs/tfsnn.yaml"
    log:
        "results/{scale}/logs/table_csv/{table}.log",
    script:
        "../scripts/assemble_table.py"


rule table_pdf:
    input:
        table="results/{scale}/{table}.csv",
        reference=REFERENCE,
    output:
        pdf=report("figures/{scale}/{table}.pdf", category="Tables"),
        csv="results/{scale}/{table}-vs-paper.csv",
    params:
        title=lambda wildcards: TABLES[wildcards.table]["title"],
    wildcard_constraints:
        table="|".join(TABLES),
    conda:
        "../envs/tfsnn.yaml"
    log:
        "results/{scale}/logs/table_pdf/{table}.log",
    script:
        "../scripts/render_table.py"


rule figure:
    input:
        unpack(lambda wildcards: FIGURES[wildcards.figure]["inputs"]),
    output:
        pdf=report("figures/{scale}/{figure}.pdf", category="Figures"),
        png="figures/{scale}/{figure}.png",
        csv="results/{scale}/{figure}.csv",
    params:
        settings=lambda wildcards: FIGURES[wildcards.figure]["params"],
    wildcard_constraints:
        figure="|".join(FIGURES),
    conda:
        "../envs/tfsnn.yaml"
    log:
        "results/{scale}/logs/figure/{figure}.log",
    script:
        "../scripts/plot_figure.py"
