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

KEYS = ["dataset", "method", "timestep", "metric"]

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
# the paper's row order (as ours lists datasets and methods, then any only the paper has)
order = {c: list(dict.fromkeys([*ours[c], *paper[c]])) for c in ("dataset", "method")}
side = side.sort_values(
    ["dataset", "method", "timestep"],
    key=lambda c: c.map(order[c.name].index) if c.name in order else pd.to_numeric(c, errors="coerce"),
)
side["paper"] = pd.to_numeric(side["paper"])
side["difference"] = side["ours"] - side["paper"]


def cell(value):
    return "" if pd.isna(value) else f"{value:.2f}"


several = len(order["dataset"]) > 1
rows = [[*([r.dataset] if several else []), r.method, r.timestep, cell(r.paper), cell(r.ours), cell(r.difference)]
        for r in side.itertuples()]
first = ours.iloc[0]
used = ours.drop_duplicates("dataset")
notes = [
    f"scale: {first['scale']}",
    *(
        f"{r.dataset}" + (f", replaced by {r.data_stand_in} at this scale" if r.data_stand_in else "")
        + f": {r.data_source}"
        for r in used.itertuples()
    ),
    f"ours: mean over {int(mean['seeds'].max())} seed(s); code {str(first['git_commit'])[:12]}"
    + (" (dirty)" if str(first["git_dirty"]) == "True" else ""),
]

fig, ax = plt.subplots(figsize=(6.5, 0.22 * (len(rows) + 1)))
ax.axis("off")
labels = [*(["dataset"] if several else []), "method", "T", "paper", "ours", "ours - paper"]
grid = ax.table(cellText=rows, colLabels=labels, bbox=[0, 0, 1, 1])
grid.auto_set_font_size(False)
grid.set_fontsize(8)
ax.set_title(snakemake.params.title, fontsize=10)  # noqa: F821
ax.text(0, -0.03, "\n".join(notes), fontsize=6, va="top", transform=ax.transAxes)
fig.savefig(snakemake.output[0], bbox_inches="tight")  # noqa: F821
