"""The paper's figures from tidy result CSVs (seaborn/matplotlib). Each function takes the
curves of a figure as ``{label: frame}`` (e.g. ``{"SDT": ..., "MTT": ...}``) and an Axes. A
label's frame holds the rows of every seed it was trained with (column ``seed``): a line is the
mean over seeds, its band one standard deviation of the seeds (``SEEDS_BAND``)."""

from __future__ import annotations

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from tfsnn.io import atomic_path  # noqa: E402

__all__ = ["FIGURES", "SEEDS_BAND", "combined", "final_epoch", "draw"]

SEEDS_BAND = "sd"  # seaborn's errorbar: +/- one standard deviation over seeds (none with one seed)


def combined(curves: dict[str, pd.DataFrame], fields: dict[str, dict] | None = None) -> pd.DataFrame:
    """One tidy frame of every curve, the label in column ``curve`` and the columns ``fields``
    gives that label (e.g. ``{"s=1 e=300": {"samples": 1, "epochs": 300}}``)."""
    fields = fields or {}
    return pd.concat([frame.assign(curve=label, **fields.get(label, {})) for label, frame in curves.items()],
                     ignore_index=True)


def noise(data: pd.DataFrame, ax, target: str = "weights", **_):
    """Fig. 5 (weights) / Fig. 6 (inputs): mean accuracy over seeds and repeats, band from min to
    max; the noise levels equally spaced and each labelled (on a linear axis a decade of them
    would crowd at zero)."""
    data = data[data["metric"] == "top1_acc"]
    levels = sorted(data["sigma2"].unique())
    position = {level: i for i, level in enumerate(levels)}
    for label, rows in data.groupby("curve", sort=False):
        stats = rows.groupby("sigma2")["value"].agg(["mean", "min", "max"])
        x = [position[level] for level in stats.index]
        ax.plot(x, stats["mean"], marker="o", label=label)
        ax.fill_between(x, stats["min"], stats["max"], alpha=0.25)
    ax.set_xticks(range(len(levels)), [f"{level:g}" for level in levels])
    ax.legend(title="training")
    ax.set(xlabel=r"noise variance $\sigma^2$", ylabel="test accuracy (%)",
           title=f"Gaussian noise on the {target}: mean, min and max over seeds and repeats")


def landscape(data: pd.DataFrame, ax, **_):
    """Fig. 9: loss along a filter-normalized random direction, on the training set (Li et al.'s
    plot; solid) and on the test set (dashed), where the data has both."""
    rows = data[data["metric"] == "loss"]
    style = {"style": "split", "style_order": [s for s in ("train", "test") if s in set(rows["split"])]} \
        if "split" in rows else {}
    sns.lineplot(data=rows, x="alpha", y="value", hue="curve", marker="o", errorbar=SEEDS_BAND, ax=ax, **style)
    ax.set(xlabel=r"$\alpha$", ylabel="loss", title="1D loss landscape, training and test set (mean over seeds)")


def estimation(data: pd.DataFrame, ax, dataset: str = "", **_):
    """Fig. 7A / Fig. 8: estimated against measured accuracy of sampled configurations."""
    rows = data[data["split"].isin(["fit", "validate"])]
    pairs = rows.pivot_table(index=["seed", "split", "config"], columns="metric", values="value").reset_index()
    sns.scatterplot(data=pairs, x="predicted_acc", y="top1_acc", hue="split", ax=ax, s=18)
    both = pairs[["predicted_acc", "top1_acc"]].to_numpy()
    low, high = np.nanmin(both), np.nanmax(both)
    ax.plot([low, high], [low, high], color="grey", lw=0.8, ls="--")
    r = data.loc[data["metric"] == "pearson_r", "value"]  # one per seed
    seeds = f", mean of {len(r)} seeds)" if len(r) > 1 else ")"
    shown = "" if r.empty else f" (validation r = {r.mean():.3f}" + seeds
    ax.set(xlabel="estimated accuracy (%)", ylabel="test accuracy (%)", title=f"accuracy estimation {dataset}{shown}")


def granularity(data: pd.DataFrame, ax, **_):
    """Fig. 7B: accuracy at T = 2..6 of models of granularity g (and an SDT model at T=6)."""
    sns.lineplot(data=data, x="T", y="accuracy", hue="curve", marker="o", errorbar=SEEDS_BAND, ax=ax)
    ax.set(xlabel="T", ylabel="test accuracy (%)", title="granularity (g=1: MTT, g=8: NMT)")


FLEXIBILITY_LEGEND = {"SDT*": "SDT* (one model per T, tested at its T)", "SDT": "SDT (trained at T=6)",
                      "MTT": "MTT (one model, T_max=6)"}


def flexibility(data: pd.DataFrame, ax, **_):
    """Tables 1 and 4 in one plot: test accuracy against T of SDT* (a model trained at each T),
    SDT trained at T=6 and one MTT model; line: mean over seeds, band: their standard deviation."""
    rows = data.assign(training=data["curve"].map(lambda c: FLEXIBILITY_LEGEND.get(c, c)))
    sns.lineplot(data=rows, x="T", y="accuracy", hue="training", marker="o", errorbar=SEEDS_BAND, ax=ax)
    seeds = rows.groupby("curve")["seed"].nunique().min()
    ax.set(xlabel="T (test)", ylabel="test accuracy (%)",
           title=f"one MTT model against SDT at each T ({seeds} seeds: mean, band +/- 1 sd)")


def bn_curves(data: pd.DataFrame, ax, **_):
    """Fig. 7C: test accuracy along training with BN calibration, and with the running statistics
    that training alone gathered, which never saw a calibration (:mod:`tfsnn.training.trainer`)."""
    rows = data[data["metric"].isin(["test_acc", "test_acc_uncalibrated"])]
    rows = rows.assign(statistics=rows["metric"].map({"test_acc": "calibrated", "test_acc_uncalibrated": "training's"}))
    sns.lineplot(data=rows, x="epoch", y="value", hue="statistics", marker="o", errorbar=SEEDS_BAND, ax=ax)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set(xlabel="epoch", ylabel="test accuracy (%) at T_max", title="BN calibration along training")


def final_epoch(data: pd.DataFrame) -> pd.DataFrame:
    """The rows of each curve's last epoch."""
    last = data.groupby("curve")["epoch"].transform("max")
    return data[data["epoch"] == last]


def sampling_number(data: pd.DataFrame, ax, **_):
    """Table 11 (garbled in the paper): the final test accuracy at T_max of runs of sampling
    number s trained for e epochs, each its own run with its own cosine schedule, against the
    budget e x s (the columns ``samples``, ``epochs``, ``budget`` of each curve)."""
    rows = final_epoch(data[data["metric"] == "test_acc"])
    rows = rows.assign(s=rows["samples"].astype(int).map("s={}".format))
    sns.lineplot(data=rows, x="budget", y="value", hue="s", marker="o", errorbar=SEEDS_BAND, ax=ax)
    for (budget, epochs), cell in rows.groupby(["budget", "epochs"]):
        ax.annotate(f"e={int(epochs)}", (budget, cell["value"].mean()), fontsize=6, textcoords="offset points",
                    xytext=(3, 3))
    ax.set(xlabel="budget e x s (epochs x sampling number)", ylabel="final test accuracy (%) at T_max",
           title="sampling number s at a fixed budget e x s")


FIGURES = {f.__name__: f for f in (noise, landscape, estimation, granularity, flexibility, bn_curves,
                                   sampling_number)}


def draw(kind: str, curves: dict[str, pd.DataFrame], pdf, png, note: str = "", fields: dict | None = None,
         **settings) -> pd.DataFrame:
    """Draw figure ``kind`` into ``pdf`` and ``png``; returns its data (:func:`combined`, with the
    columns ``fields`` gives each curve)."""
    data = combined(curves, fields)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    FIGURES[kind](data, ax, **settings)
    if note:
        fig.text(0.01, -0.02, note, fontsize=6, va="top")
    for path, fmt in ((pdf, "pdf"), (png, "png")):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, bbox_inches="tight", format=fmt, dpi=150)
    plt.close(fig)
    return data
