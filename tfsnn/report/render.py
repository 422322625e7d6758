"""PDF of a side-by-side table (the paper, ours, and their difference, or, where the data or
settings are not the paper's, their effects) with notes on the scale, the data each dataset was
replaced by, the seeds and the code version."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from tfsnn.io import atomic_path  # noqa: E402

__all__ = ["notes", "table_pdf"]


def _cell(value) -> str:
    return "" if pd.isna(value) else f"{value:.2f}" if abs(value) >= 0.1 or value == 0 else f"{value:.4f}"


def notes(ours: pd.DataFrame) -> list[str]:
    """What a reader must know about our rows: scale, data used per dataset, seeds, code, and
    the rows' own notes (column ``note``, e.g. a value left NaN and why)."""
    first = ours.iloc[0]
    used = ours.drop_duplicates("dataset")
    stand_in = used["data_stand_in"].fillna("").astype(str)
    noted = ours.assign(note=ours["note"].fillna("").astype(str)) if "note" in ours else ours.assign(note="")
    everywhere = len(noted)
    own = []
    for note, rows in noted[noted["note"] != ""].groupby("note", sort=False):
        cells = list(dict.fromkeys(f"{r.method} {r.timestep}".strip() for r in rows.itertuples()))
        own.append(note if len(rows) == everywhere else f"{', '.join(cells)}: {note}")
    return [
        f"scale: {first['scale']}",
        *(f"{r.dataset}" + (f", replaced by {s} at this scale" if s else "") + f": {r.data_source}"
          for r, s in zip(used.itertuples(), stand_in)),
        f"ours: mean over {ours['seed'].nunique()} seed(s); code {str(first['git_commit'])[:12]}"
        + (" (dirty)" if str(first["git_dirty"]) == "True" else ""),
        *own,
    ]


def table_pdf(side: pd.DataFrame, ours: pd.DataFrame, title: str, path) -> None:
    """Write ``side`` (:func:`tfsnn.report.tables.side_by_side`) as a one-page PDF table."""
    several = side["dataset"].nunique() > 1
    metrics = side["metric"].nunique() > 1
    spread = side["seeds"].fillna(0).max() > 1
    # accuracies are compared where ours ran on the paper's data and settings, else effects
    # (each value minus the same method's at its largest T: tfsnn.report.tables.side_by_side)
    compared = side["difference"].notna().any()
    effects = not compared and side["ours_effect"].notna().any()
    labels = [*(["dataset"] if several else []), "method", "T", *(["metric"] if metrics else []),
              "paper", "ours", *(["std"] if spread else []),
              *(["ours - paper"] if compared else ["vs T", "paper's effect", "our effect"] if effects else [])]
    rows = [
        [*([r.dataset] if several else []), r.method, r.timestep, *([r.metric] if metrics else []),
         _cell(r.paper), _cell(r.ours), *([_cell(r.std)] if spread else []),
         *([_cell(r.difference)] if compared else
           [r.effect_reference, _cell(r.paper_effect), _cell(r.ours_effect)] if effects else [])]
        for r in side.itertuples()
    ]
    fig, ax = plt.subplots(figsize=(7.5, 0.22 * (len(rows) + 1) + 0.4))
    ax.axis("off")
    grid = ax.table(cellText=rows, colLabels=labels, bbox=[0, 0, 1, 1])
    grid.auto_set_font_size(False)
    grid.set_fontsize(7)
    ax.set_title(title, fontsize=9)
    ax.text(0, -0.02, "\n".join(notes(ours)), fontsize=6, va="top", transform=ax.transAxes)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, bbox_inches="tight", format="pdf")
    plt.close(fig)
