"""Render a tidy table CSV as a PDF: the paper's value, ours and the difference side by side
(rules <table>_pdf). The paper's values come from the reference CSV, never typed here.

A row of ours is the mean over seeds; rows only the paper or only we have show a blank.
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

KEYS = ["method", "timestep", "metric"]

ours = pd.read_csv(snakemake.input.table, dtype={"timestep": str, "data_stand_in": str}, keep_default_na=False)  # noqa: F821
table = ours["table"].iloc[0]
reference = pd.read_csv(snakemake.input.reference, dtype={"timestep": str}, keep_default_na=False)  # noqa: F821
paper = reference[(reference["table"] == table) & (reference["source"] == "paper")]
# the reference CSV repeats some rows verbatim; a key with two different values is an error
paper = paper.drop_duplicates(KEYS + ["value"])
clashes = paper[paper.duplicated(KEYS, keep=False)]
if len(clashes):
    raise ValueError(f"{snakemake.input.reference}: several paper values for\n{clashes[KEYS + ['value']]}")  # noqa: F821

ours["value"] = pd.to_numeric(ours["value"])
mean = ours.groupby(KEYS, sort=False, as_index=False).agg(ours=("value", "mean"), seeds=("seed", "nunique"))
side = paper[KEYS + ["value"]].rename(columns={"value": "paper"}).merge(mean, on=KEYS, how="outer")
# the paper's row order (as ours lists the methods, then any method only the paper has)
order = list(dict.fromkeys([*ours["method"], *paper["method"]]))
side = side.sort_values(
    ["method", "timestep"],
    key=lambda c: c.map(order.index) if c.name == "method" else pd.to_numeric(c, errors="coerce"),
)
side["paper"] = pd.to_numeric(side["paper"])
side["difference"] = side["ours"] - side["paper"]


def cell(value):
    return "" if pd.isna(value) else f"{value:.2f}"


rows = [[r.method, r.timestep, cell(r.paper), cell(r.ours), cell(r.difference)] for r in side.itertuples()]
first = ours.iloc[0]
stand_in = first["data_stand_in"]
data = f"{first['dataset']}" + (f", replaced by {stand_in} at this scale" if stand_in else "")
notes = [
    f"scale: {first['scale']}; data: {data} ({first['data_source']})",
    f"ours: mean over {int(mean['seeds'].max())} seed(s); code {str(first['git_commit'])[:12]}"
    + (" (dirty)" if str(first["git_dirty"]) == "True" else ""),
]

fig, ax = plt.subplots(figsize=(6.5, 0.22 * (len(rows) + 1)))
ax.axis("off")
grid = ax.table(cellText=rows, colLabels=["method", "T", "paper", "ours", "ours - paper"], bbox=[0, 0, 1, 1])
grid.auto_set_font_size(False)
grid.set_fontsize(8)
ax.set_title(snakemake.params.title, fontsize=10)  # noqa: F821
ax.text(0, -0.03, "\n".join(notes), fontsize=6, va="top", transform=ax.transAxes)
fig.savefig(snakemake.output[0], bbox_inches="tight")  # noqa: F821
