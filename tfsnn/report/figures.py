"""The paper's figures from tidy result CSVs (seaborn/matplotlib). Each function takes the
curves of a figure as ``{label: frame}`` (e.g. ``{"SDT": ..., "MTT": ...}``) and an Axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from tfsnn.io import atomic_path  # noqa: E402

__all__ = ["FIGURES", "combined", "draw"]


def combined(curves: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One tidy frame of every curve, the label in column ``curve``."""
    return pd.concat([frame.assign(curve=label) for label, frame in curves.items()], ignore_index=True)


def noise(data: pd.DataFrame, ax, target: str = "weights", **_):
    """Fig. 5 (weights) / Fig. 6 (inputs): mean accuracy over repeats, band from min to max."""
    data = data[data["metric"] == "top1_acc"]
    for label, rows in data.groupby("curve", sort=False):
        stats = rows.groupby("sigma2")["value"].agg(["mean", "min", "max"])
        ax.plot(stats.index, stats["mean"], marker="o", label=label)
        ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.25)
    ax.legend(title="training")
    ax.set(xlabel=r"noise variance $\sigma^2$", ylabel="test accuracy (%)",
           title=f"Gaussian noise on the {target}: mean, min and max over repeats")


def landscape(data: pd.DataFrame, ax, **_):
    """Fig. 9: loss along a filter-normalized random direction."""
    sns.lineplot(data=data[data["metric"] == "loss"], x="alpha", y="value", hue="curve", marker="o", ax=ax)
    ax.set(xlabel=r"$\alpha$", ylabel="loss", title="1D loss landscape")


def estimation(data: pd.DataFrame, ax, dataset: str = "", **_):
    """Fig. 7A / Fig. 8: estimated against measured accuracy of sampled configurations."""
    rows = data[data["split"].isin(["fit", "validate"])]
    pairs = rows.pivot_table(index=["split", "config"], columns="metric", values="value").reset_index()
    sns.scatterplot(data=pairs, x="predicted_acc", y="top1_acc", hue="split", ax=ax, s=18)
    low, high = np.nanmin(pairs[["predicted_acc", "top1_acc"]].to_numpy()), np.nanmax(pairs[["predicted_acc", "top1_acc"]].to_numpy())
    ax.plot([low, high], [low, high], color="grey", lw=0.8, ls="--")
    r = data.loc[data["metric"] == "pearson_r", "value"]
    ax.set(xlabel="estimated accuracy (%)", ylabel="test accuracy (%)",
           title=f"accuracy estimation {dataset}" + (f" (validation r = {r.iloc[0]:.3f})" if len(r) else ""))


def granularity(data: pd.DataFrame, ax, **_):
    """Fig. 7B: accuracy at T = 2..6 of models of granularity g (and an SDT model at T=6)."""
    sns.lineplot(data=data, x="T", y="accuracy", hue="curve", marker="o", ax=ax)
    ax.set(xlabel="T", ylabel="test accuracy (%)", title="granularity (g=1: MTT, g=8: NMT)")


def bn_curves(data: pd.DataFrame, ax, **_):
    """Fig. 7C: test accuracy along training with and without BN calibration."""
    rows = data[data["metric"].isin(["test_acc", "test_acc_uncalibrated"])]
    rows = rows.assign(statistics=rows["metric"].map({"test_acc": "calibrated", "test_acc_uncalibrated": "training's"}))
    sns.lineplot(data=rows, x="epoch", y="value", hue="statistics", marker="o", ax=ax)
    ax.set(xlabel="epoch", ylabel="test accuracy (%) at T_max", title="BN calibration along training")


def sampling_number(data: pd.DataFrame, ax, **_):
    """Table 11 (garbled in the paper): test accuracy at T_max along epochs for s = 1..4."""
    sns.lineplot(data=data[data["metric"] == "test_acc"], x="epoch", y="value", hue="curve", marker="o", ax=ax)
    ax.set(xlabel="epoch", ylabel="test accuracy (%) at T_max", title="sampling number s against epochs")


FIGURES = {f.__name__: f for f in (noise, landscape, estimation, granularity, bn_curves, sampling_number)}


def draw(kind: str, curves: dict[str, pd.DataFrame], pdf, png, note: str = "", **settings) -> pd.DataFrame:
    """Draw figure ``kind`` into ``pdf`` and ``png``; returns its data (:func:`combined`)."""
    data = combined(curves)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    FIGURES[kind](data, ax, **settings)
    if note:
        fig.text(0.01, -0.02, note, fontsize=6, va="top")
    for path, fmt in ((pdf, "pdf"), (png, "png")):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, bbox_inches="tight", format=fmt, dpi=150)
    plt.close(fig)
    return data
