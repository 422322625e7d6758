"""The claims scorecard: each qualitative claim of the paper tested on the results of the scale
that ran, with its effect size, the spread of that effect and a verdict.

Each claim reduces the tidy results to *replicates* of one effect (a difference in accuracy
points, or a statistic such as a correlation): one per seed where the experiment has several
seeds, otherwise one per repeat, time step or epoch (column ``spread_over`` says which). With
``n`` replicates of mean ``d`` and standard error ``se``:

- ``greater`` (the effect is positive): holds if ``d - 2 se > 0``, does not hold if ``d + 2 se < 0``;
- ``not_worse`` (matches or beats, margin ``m`` points): holds if ``d - 2 se > -m``, does not hold
  if ``d + 2 se < -m``;
- ``at_least`` (a statistic reaches a threshold ``m``): holds if ``d - 2 se >= m``, does not hold
  if ``d + 2 se < m``;

and it is inconclusive otherwise, or with a single replicate (no spread: a verdict needs one).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Claim", "CLAIMS", "verdict", "scorecard"]


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    sources: tuple[str, ...]  # result CSVs (results/{scale}/{name}.csv) it reads
    kind: str  # greater | not_worse | at_least
    replicates: Callable[..., tuple[np.ndarray, str]]  # (frames by source) -> (values, spread_over)
    margin: float = 0.0
    unit: str = "points"


def verdict(values, kind: str, margin: float = 0.0) -> dict:
    """Mean effect, its standard error over replicates and the verdict (module docstring)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    n = len(values)
    if n == 0:
        return {"effect": math.nan, "std": math.nan, "se": math.nan, "n": 0, "verdict": "inconclusive (no data)"}
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if n > 1 else math.nan
    se = std / math.sqrt(n) if n > 1 else math.nan
    row = {"effect": mean, "std": std, "se": se, "n": n}
    if n < 2:
        return {**row, "verdict": "inconclusive (one replicate)"}
    low, high = mean - 2 * se, mean + 2 * se
    bound = {"greater": 0.0, "not_worse": -margin, "at_least": margin}[kind]
    if low > bound or (kind == "at_least" and low >= bound):
        return {**row, "verdict": "holds"}
    if high < bound:
        return {**row, "verdict": "does not hold"}
    return {**row, "verdict": "inconclusive"}


def _acc(frame, **where) -> pd.DataFrame:
    rows = frame
    for column, value in where.items():
        rows = rows[rows[column].astype(str) == str(value)]
    return rows


def _by_seed(frame, method, timestep, dataset=None) -> pd.Series:
    rows = _acc(frame, method=method, timestep=timestep, **({"dataset": dataset} if dataset else {}))
    return rows.groupby("seed")["value"].mean()


def _mtt_vs_sdt_star(f):
    t1, t4 = f["table1"], f["table4"]
    Ts = sorted(set(t1.loc[t1.method == "SDT*", "timestep"]))
    diffs = pd.concat([_by_seed(t4, "MTT", T, "cifar100") - _by_seed(t1, "SDT*", T) for T in Ts], axis=1)
    return diffs.mean(axis=1).dropna().to_numpy(), "seeds (mean over T = 2..6)"


def _low_T_drop(f):
    t1, t4 = f["table1"], f["table4"]
    mtt = _by_seed(t4, "MTT", 2, "cifar100") - _by_seed(t4, "MTT", 6, "cifar100")
    sdt = _by_seed(t1, "SDT", 2) - _by_seed(t1, "SDT", 6)
    return (mtt - sdt).dropna().to_numpy(), "seeds"


def _beyond_T_max(f):
    t6 = f["table6"]
    mtt = t6[t6.method == "MTT"].assign(T=lambda r: pd.to_numeric(r.timestep))
    at_max = mtt.loc[mtt["T"] == 6, "value"].mean()
    return (mtt.loc[mtt["T"] > 6, "value"] - at_max).to_numpy(), "T = 8..64"


def _bn_calibration(f):
    curves = f["fig7C"]
    pivot = curves[curves.metric.isin(["test_acc", "test_acc_uncalibrated"])].pivot_table(
        index="epoch", columns="metric", values="value")
    return (pivot["test_acc"] - pivot["test_acc_uncalibrated"]).to_numpy(), "epochs"


def _granularity(f):
    data = f["fig7B"]
    pivot = data.pivot_table(index="T", columns="curve", values="accuracy")
    return (pivot["g=1"] - pivot["g=8"]).to_numpy(), "T = 2..6"


def _noise(source):
    def replicates(f):
        data = f[source]
        data = data[data.metric == "top1_acc"]
        clean = data[data.sigma2 == 0].groupby("curve")["value"].mean()
        noisy = data[data.sigma2 > 0]
        loss = noisy.assign(drop=noisy["value"] - noisy["curve"].map(clean))
        per_repeat = loss.pivot_table(index="repeat", columns="curve", values="drop")
        return (per_repeat["MTT"] - per_repeat["SDT"]).to_numpy(), "repeats (mean over sigma^2 > 0)"
    return replicates


def _method_gap(table, better="MTT", worse="SDT", **where):
    def replicates(f):
        frame = _acc(f[table], **where)
        methods = frame["method"].unique()
        pairs = [(m, m.replace(better, worse, 1)) for m in methods if m.startswith(better) and m.replace(better, worse, 1) in methods]
        diffs = pd.concat([frame[frame.method == b].groupby("seed")["value"].mean()
                           - frame[frame.method == w].groupby("seed")["value"].mean() for b, w in pairs], axis=1)
        return diffs.mean(axis=1).dropna().to_numpy(), "seeds" + (" (mean over architectures)" if len(pairs) > 1 else "")
    return replicates


def _flatness(f):
    data = f["fig9"]
    loss = data[data.metric == "loss"].pivot_table(index="alpha", columns="curve", values="value")
    rise = loss - loss.loc[0.0]
    edge = rise[rise.index != 0.0]
    return (edge["SDT"] - edge["MTT"]).to_numpy(), "alphas"


def _gradient_norms(f):
    data = f["table13"]
    pivot = data.pivot_table(index="metric", columns="method", values="value")
    return np.log(pivot["SDT"] / pivot["MTT"]).to_numpy(), "metrics (weight, input gradient norm)"


def _statistic(table, metric, **where):
    def replicates(f):
        return _acc(f[table], metric=metric, **where)["value"].to_numpy(), "single measurement"
    return replicates


def _search(table):
    def replicates(f):
        data = f[table]
        acc = data[data.metric == "top1_acc"].groupby("split")["value"].mean()
        return np.array([acc["search"] - acc["uniform"]]), "single measurement"
    return replicates


def _event_driven(f):
    data = f["table7"]
    pivot = data.pivot_table(index="seed", columns=["method", "timestep"], values="value")
    return ((pivot[("MTT", "speck2e")] - pivot[("MTT", "gpu")])
            - (pivot[("SDT", "speck2e")] - pivot[("SDT", "gpu")])).to_numpy(), "seeds"


def _early_exit(f):
    data = f["table5"]
    pivot = data.pivot_table(index="timestep", columns="method", values="value")
    return (pivot["SEENN-I+MTT"] - pivot["SEENN-I"]).to_numpy(), "average time steps 1.09, 1.20"


CLAIMS = [
    Claim("one-model-matches-sdt", "One MTT model matches or beats SDT models trained separately at each T "
          "(CIFAR-100, T = 2..6; margin 0.5 points)", ("table1", "table4"), "not_worse", _mtt_vs_sdt_star, 0.5),
    Claim("sdt-loses-at-low-T", "An SDT model trained at T=6 loses more accuracy from T=6 to T=2 than an MTT model",
          ("table1", "table4"), "greater", _low_T_drop),
    Claim("beyond-T-max", "An MTT model trained with T_max=6 keeps its accuracy at T = 8..64 (margin 0.5 points)",
          ("table6",), "not_worse", _beyond_T_max, 0.5),
    Claim("bn-calibration-needed", "BN calibration raises test accuracy along training (Fig. 7C)",
          ("fig7C",), "greater", _bn_calibration),
    Claim("finer-granularity-helps", "Granularity g=1 (MTT) beats g=8 (NMT) at T = 2..6 (Fig. 7B)",
          ("fig7B",), "greater", _granularity),
    Claim("robust-to-weight-noise", "MTT loses less accuracy than SDT under Gaussian noise on the weights (Fig. 5)",
          ("fig5",), "greater", _noise("fig5")),
    Claim("robust-to-input-noise", "MTT loses less accuracy than SDT under Gaussian noise on the inputs (Fig. 6)",
          ("fig6",), "greater", _noise("fig6")),
    Claim("flatter-minimum", "The loss of the MTT model rises less along a random direction than SDT's (Fig. 9)",
          ("fig9",), "greater", _flatness, unit="loss"),
    Claim("smaller-gradients", "MTT's gradient norms are smaller than SDT's (Table 13)",
          ("table13",), "greater", _gradient_norms, unit="log(SDT/MTT)"),
    Claim("gradients-similar-across-T", "Gradients at T=3 and T=6 have cosine similarity over 0.94 (section 4.2)",
          ("sec4.2",), "at_least", _statistic("sec4.2", "grad_cosine_similarity"), 0.94, unit="cosine"),
    Claim("deep-networks", "MTT beats SDT on B-ResNet-50/72 at T=4 (Table 8)", ("table8",), "greater",
          _method_gap("table8")),
    Claim("estimation-predicts", "The accuracy model sum K_i sqrt(log2 t_i) + c predicts held-out configurations "
          "(validation Pearson r at least 0.8; Fig. 7A)", ("fig7A",), "at_least",
          _statistic("fig7A", "pearson_r", split="validate"), 0.8, unit="r"),
    Claim("search-beats-uniform", "The searched configuration beats uniform T=3 at no more energy (section 5.3)",
          ("sec5.3",), "greater", _search("sec5.3")),
    Claim("event-driven", "Moved to event-driven execution, MTT loses less accuracy than SDT (Table 7)",
          ("table7",), "greater", _event_driven),
    Claim("early-exit", "SEENN-I on an MTT model beats SEENN-I on an SDT model at the same average T (Table 5)",
          ("table5",), "greater", _early_exit),
    *(Claim(f"sequence-{t}", f"MTT beats SDT on {name} ({t.replace('table', 'Table ')})", (t,), "greater",
            _method_gap(t)) for t, name in [("table14", "sequential MNIST"), ("table15", "SHD"), ("table16", "SSC")]),
]


def scorecard(results_dir: str | Path, claims=CLAIMS) -> pd.DataFrame:
    """One row per claim from the CSVs in ``results_dir``, with the scale and data they came from."""
    results_dir = Path(results_dir)
    rows = []
    for claim in claims:
        frames = {s: pd.read_csv(results_dir / f"{s}.csv", dtype={"timestep": str}, keep_default_na=False,
                                 na_values={"value": [""]}) for s in claim.sources}
        values, spread_over = claim.replicates(frames)
        first = next(iter(frames.values()))
        stand_ins = sorted({s for f in frames.values() if "data_stand_in" in f for s in f["data_stand_in"] if s})
        rows.append({
            "claim": claim.id, "statement": claim.statement, "test": claim.kind, "margin": claim.margin,
            **verdict(values, claim.kind, claim.margin), "unit": claim.unit, "spread_over": spread_over,
            "sources": " ".join(claim.sources), "scale": first["scale"].iloc[0],
            "data_source": "; ".join(sorted(set(first["data_source"]))), "stand_ins": " ".join(stand_ins),
        })
    return pd.DataFrame(rows)
