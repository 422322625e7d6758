"""The claims scorecard: each qualitative claim of the paper tested on the results of the scale
that ran, beside the paper's own effect.

**Replicates.** A claim reduces its result rows to one value of its effect per independently
trained seed (the rows' ``seed`` column). Whatever the claim averages within a seed (time steps,
noise levels and their repeats, early-exit interpolation points, alphas, epochs, architectures,
the two gradient norms) is averaged into that seed's one value; seeds are never pooled before
the test. Where a claim compares two methods, their models share the seeds (every experiment
trains each of its methods with the scale's seed list) and the effect is their difference
within a seed: a paired test over seeds. ``n`` is the number of seeds that have every value the
effect needs.

**Interval.** With the ``n`` per-seed effects ``d_i`` (mean ``d``), their sample variance ``s^2``
(ddof 1) and ``v_i`` the test-sampling variance of ``d_i`` (below)::

    SE^2 = s^2 / n + mean(v_i) / n
    interval = d -/+ t(0.975, n - 1) * SE         (95 %, two-sided; scipy.stats.t)

**Test-sampling variance.** An accuracy ``p`` (a fraction) measured on ``N`` test images has
binomial variance ``p (1 - p) / N`` (standard error ``s_j = 100 sqrt(p (1 - p) / N)`` points).
An accuracy effect is ``d = sum_+ w_j a_j - sum_- w_j a_j`` (e.g. MTT minus SDT*, each the mean
over T). The accuracies entering with ``+`` are taken as perfectly correlated with each other,
those entering with ``-`` likewise, and the two groups as uncorrelated::

    v = (sum_+ w_j s_j)^2 + (sum_- w_j s_j)^2

For the difference of two models tested on the same ``N`` images this is
``p1 (1 - p1) / N + p2 (1 - p2) / N``: it ignores the positive correlation of the two models'
errors on shared images, so it is wider than a test paired on the images. ``mean(v_i) / n``
treats the seeds' test-sampling errors as independent (they share the test images; the bound on
``v`` is what keeps the sum conservative). ``N`` is a row's ``samples`` (evaluations) or else its
``test_size`` (the test split it was measured on). Effects that are not accuracies (a loss, a
log-ratio of gradient norms, a cosine similarity, a Pearson r) have no binomial term: their
interval is the t interval over seeds alone (column ``test`` says which).

**Verdicts**, the first rule that applies (one function each below):

0. ``not run at this scale``: the scale does not make one of the claim's sources (its scale file
   lists none of the experiment families behind it, or skips it); ``reason`` says which and why.
   ``pending (not run yet)``: a source the scale makes has not been made yet (a scorecard of a
   run in progress, ``workflow/scripts/keep_results.py``).
1. ``no verdict (smoke scale)``: every row at scale ``smoke``, which only checks that the DAG runs.
2. ``no verdict (no data)``: no seed has every value the effect needs.
3. ``no verdict (model near chance)``: a model behind the claim (a training run whose rows enter
   the effect) has a test accuracy at its trained T (metric ``test_acc`` of its last epoch in its
   ``metrics.csv``: T for SDT, T_max for MTT and NMT) below twice chance, ``200 / num_classes`` %
   (20 % on 10 classes); ``no verdict (trained accuracy unknown)`` when that accuracy is missing.
4. ``descriptive (one replicate)``: ``n = 1``; the effect is shown, without interval or verdict.
5. From the interval ``[low, high]`` and the claim's kind (margin ``m``):
   ``greater``: holds if ``low > 0``, does not hold if ``high < 0``;
   ``not_worse`` (matches or beats): holds if ``low > -m``, does not hold if ``high < -m``;
   ``at_least`` (a statistic reaches ``m``): holds if ``low >= m``, does not hold if ``high < m``;
   else ``inconclusive``.

**The paper's effect** (``paper_effect``) is the same reduction applied to the paper's own rows
of ``reference_values.csv``, as one seed; empty where the paper prints no values (its figures)
or lacks a row the reduction needs (``paper_note`` says which).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from tfsnn.report import labels as L
from tfsnn.report.tables import read_reference

__all__ = [
    "CHANCE_FACTOR",
    "CLAIMS",
    "LEVEL",
    "Claim",
    "Replicates",
    "interval",
    "interval_verdict",
    "near_chance",
    "no_data",
    "one_replicate",
    "read_result",
    "reference_frames",
    "scorecard",
    "smoke_scale",
    "trained_models",
    "verdict",
]

LEVEL = 0.95  # two-sided level of the interval
CHANCE_FACTOR = 2.0  # a model below this many times chance gives no verdict
T_MAX = 6  # Table 6: the MTT model's T_max


@dataclass(frozen=True)
class Replicates:
    """A claim's effect per seed (``effect``, index ``seed``), the bound ``v`` on each value's
    test-sampling variance (``test_var``; None: not an accuracy), the result rows it was computed
    from (``rows``: their ``config_hash`` names the models behind it) and what a replicate
    averages (``over``)."""

    effect: pd.Series
    test_var: pd.Series | None
    rows: pd.DataFrame
    over: str


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    sources: tuple[str, ...]  # result CSVs (results/{scale}/{name}.csv) it reads
    reads: tuple[tuple[str, str], ...]  # (source, label): the table methods / figure curves it selects
    kind: str  # greater | not_worse | at_least
    replicates: Callable[[dict], Replicates]  # frames by source -> replicates
    margin: float = 0.0
    unit: str = "points"
    paired: bool = True  # two methods' models of the same seeds (False: one model per seed)
    paper_note: str = "same reduction of the paper's rows"


# ---------------------------------------------------------------------------- the rules


def interval(effect, test_var=None, level: float = LEVEL) -> dict:
    """n, mean, between-seed standard deviation, test-sampling standard error (``sqrt(mean v)``),
    SE and the t interval of the module docstring (NaN below two replicates)."""
    effect = np.asarray(effect, dtype=float)
    n = len(effect)
    out = {"n": n, "effect": math.nan, "seed_sd": math.nan, "test_se": math.nan, "se": math.nan,
           "t_quantile": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    if n == 0:
        return out
    v = 0.0 if test_var is None else float(np.mean(np.asarray(test_var, dtype=float)))  # mean(v_i)
    out.update(effect=float(effect.mean()), test_se=math.nan if test_var is None else math.sqrt(v))
    if n < 2:
        return out
    s = float(effect.std(ddof=1))
    se = math.sqrt(s**2 / n + v / n)
    q = float(stats.t.ppf(0.5 + level / 2, n - 1))
    return {**out, "seed_sd": s, "se": se, "t_quantile": q, "ci_low": out["effect"] - q * se,
            "ci_high": out["effect"] + q * se}


def interval_verdict(low: float, high: float, kind: str, margin: float = 0.0) -> tuple[str, str]:
    """Rule 5: holds / does not hold / inconclusive from the interval ``[low, high]``."""
    bound, sign = {"greater": (0.0, ">"), "not_worse": (-margin, ">"), "at_least": (margin, ">=")}[kind]
    if math.isnan(low) or math.isnan(high):  # e.g. a row without its test-set size
        return "inconclusive", "no interval (a replicate's test-sampling variance is unknown)"
    shown = f"{LEVEL:.0%} interval [{low:.3g}, {high:.3g}]"
    if low > bound or (kind == "at_least" and low >= bound):
        return "holds", f"{shown} is {sign} {bound:g}"
    if high < bound:
        return "does not hold", f"{shown} is < {bound:g}"
    return "inconclusive", f"{shown} contains {bound:g}"


def near_chance(rows: pd.DataFrame, models: pd.DataFrame | None) -> tuple[str, str] | None:
    """Rule 3: (verdict, reason) if a model behind ``rows`` is below ``CHANCE_FACTOR`` times
    chance at its trained T (or its accuracy is unknown), else None. ``models``: one row per
    training run (:func:`trained_models`)."""
    hashes = sorted(set(rows["config_hash"].astype(str))) if "config_hash" in rows else []
    known = pd.DataFrame() if models is None else models.assign(
        config_hash=models["config_hash"].astype(str)).drop_duplicates("config_hash").set_index("config_hash")
    unknown = [h for h in hashes if h not in known.index]
    if not hashes or unknown:
        return "no verdict (trained accuracy unknown)", f"no test accuracy at the trained T of models {unknown or '?'}"
    weak = []
    for h in hashes:
        model = known.loc[h]
        threshold = CHANCE_FACTOR * 100.0 / model["num_classes"]
        if not model["test_acc"] >= threshold:
            weak.append(f"{model['run']}: {model['test_acc']:.1f} % at T={model['T']:g} < {CHANCE_FACTOR:g} x chance "
                        f"= {threshold:.1f} % ({model['num_classes']} classes)")
    if weak:
        return "no verdict (model near chance)", "; ".join(weak)
    return None


def smoke_scale(scale: str) -> tuple[str, str] | None:
    """Rule 1."""
    if scale == "smoke":
        return "no verdict (smoke scale)", "the smoke scale only checks that the DAG runs; its models are not judged"
    return None


def no_data(n: int) -> tuple[str, str] | None:
    """Rule 2."""
    return ("no verdict (no data)", "no seed has every value the effect needs") if n == 0 else None


def one_replicate(n: int) -> tuple[str, str] | None:
    """Rule 4."""
    if n == 1:
        return "descriptive (one replicate)", "one trained seed: no spread to weigh the effect against"
    return None


def verdict(effect, kind: str = "greater", margin: float = 0.0, test_var=None, *, scale: str = "",
            chance: tuple[str, str] | None = None) -> dict:
    """The interval of ``effect`` (per-seed values) and its verdict: the first of the module
    docstring's rules that applies; ``chance``: what :func:`near_chance` (rule 3) said of the
    claim's models."""
    row = interval(effect, test_var)
    for rule in (smoke_scale(scale), no_data(row["n"]), chance, one_replicate(row["n"])):
        if rule is not None:
            return {**row, "verdict": rule[0], "reason": rule[1]}
    decided, reason = interval_verdict(row["ci_low"], row["ci_high"], kind, margin)  # rule 5
    return {**row, "verdict": decided, "reason": reason}


# ---------------------------------------------------------------------------- the replicates


def _select(frame: pd.DataFrame, label: str | None = None, **where) -> pd.DataFrame:
    """Rows of ``label`` (a table's ``method`` or a figure's ``curve``) and ``column=value`` (or a
    list of values), compared as strings."""
    rows = frame
    if label is not None:
        rows = rows[rows["curve" if "curve" in rows else "method"].astype(str) == label]
    for column, value in where.items():
        allowed = [str(v) for v in (value if isinstance(value, list | tuple | set) else [value])]
        rows = rows[rows[column].astype(str).isin(allowed)]
    return rows


def _numeric(rows: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(rows[column], errors="coerce")


def _accuracy_effect(plus: list[pd.DataFrame], minus: list[pd.DataFrame], over: str) -> Replicates:
    """Per seed: the sum over the ``plus`` terms minus the sum over the ``minus`` terms, each term
    the mean accuracy (points) of its rows of that seed; ``test_var``: the bound ``v`` of the
    module docstring, each term's standard error the mean of its rows' binomial ones."""
    def term(rows):
        p = (_numeric(rows, "value") / 100.0).clip(0.0, 1.0)
        se = 100.0 * np.sqrt(p * (1 - p) / _numeric(rows, "n_test"))
        by_seed = rows.assign(_acc=_numeric(rows, "value"), _se=se).groupby("seed")
        return by_seed["_acc"].mean(), by_seed["_se"].mean()

    terms = [term(rows) for rows in plus + minus]
    values = pd.concat([t[0] for t in terms], axis=1)
    ses = pd.concat([t[1] for t in terms], axis=1)
    complete = values.notna().all(axis=1) if len(terms) else pd.Series(dtype=bool)
    values, ses = values[complete], ses[complete]
    k = len(plus)
    effect = values.iloc[:, :k].sum(axis=1) - values.iloc[:, k:].sum(axis=1)
    test_var = ses.iloc[:, :k].sum(axis=1) ** 2 + ses.iloc[:, k:].sum(axis=1) ** 2
    return Replicates(effect, test_var, pd.concat(plus + minus), over)


def _statistic_per_seed(values: pd.Series, rows: pd.DataFrame, over: str) -> Replicates:
    """Replicates of an effect that is not an accuracy (no binomial term)."""
    return Replicates(values.dropna(), None, rows, over)


def _mtt_vs_sdt_star(f):
    t1, t4 = f["table1"], f["table4"]
    Ts = sorted(set(_select(t1, L.SDT_STAR)["timestep"]), key=float)
    return _accuracy_effect([_select(t4, L.MTT, dataset="cifar100", timestep=Ts)],
                            [_select(t1, L.SDT_STAR, timestep=Ts)], "mean over T = " + ", ".join(Ts))


def _low_T_drop(f):
    t1, t4 = f["table1"], f["table4"]
    mtt = _select(t4, L.MTT, dataset="cifar100")
    # (MTT(2) - MTT(6)) - (SDT(2) - SDT(6))
    return _accuracy_effect([_select(mtt, timestep=2), _select(t1, L.SDT, timestep=6)],
                            [_select(mtt, timestep=6), _select(t1, L.SDT, timestep=2)], "T = 2 and 6")


def _beyond_T_max(f):
    mtt = _select(f["table6"], L.MTT)
    T = _numeric(mtt, "timestep")
    return _accuracy_effect([mtt[T > T_MAX]], [mtt[T == T_MAX]], f"mean over T > {T_MAX}, minus T = {T_MAX}")


def _bn_calibration(f):
    curves = _select(f["fig7C"], L.MTT)
    return _accuracy_effect([_select(curves, metric="test_acc")], [_select(curves, metric="test_acc_uncalibrated")],
                            "mean over epochs")


def _t_max_statistics(f):
    rows = _select(f["table12"], metric="top1_acc")
    t_max, recalculated = _select(rows, L.MTT_TMAX_BN), _select(rows, L.MTT_RECALCULATED_BN)
    Ts = sorted(set(t_max["timestep"]) & set(recalculated["timestep"]), key=float)
    return _accuracy_effect([_select(t_max, timestep=Ts)], [_select(recalculated, timestep=Ts)],
                            "mean over T = " + ", ".join(Ts))


def _granularity(f):
    data = f["fig7B"]
    return _accuracy_effect([_select(data, L.granularity(1))], [_select(data, L.granularity(8))], "mean over T = 2..6")


def _noise(source):
    def replicates(f):
        data = _select(f[source], metric="top1_acc")
        sigma2 = _numeric(data, "sigma2")
        clean, noisy = data[sigma2 == 0], data[sigma2 > 0]
        # MTT's loss minus SDT's: (MTT noisy - MTT clean) - (SDT noisy - SDT clean)
        return _accuracy_effect([_select(noisy, L.MTT), _select(clean, L.SDT)],
                                [_select(clean, L.MTT), _select(noisy, L.SDT)], "mean over sigma^2 > 0 and repeats")
    return replicates


def _flatness(f):
    rows = _select(f["fig9"], metric="loss")
    if "split" in rows and (rows["split"] == "train").any():  # the training set's landscape, as the paper's
        rows = rows[rows["split"] == "train"]
    loss = rows.assign(alpha=_numeric(rows, "alpha"), value=_numeric(rows, "value")).pivot_table(
        index=["seed", "alpha"], columns="curve", values="value")
    rise = loss.sub(loss.xs(0.0, level="alpha"), level="seed")
    edge = rise[rise.index.get_level_values("alpha") != 0.0]
    effect = (edge[L.SDT] - edge[L.MTT]).groupby(level="seed").mean()
    split = "/".join(sorted(set(rows["split"]))) if "split" in rows else ""
    return _statistic_per_seed(effect, rows, f"mean over alpha != 0{f', {split} set' if split else ''}")


def _gradient_norms(f):
    rows = _select(f["table13"], metric=["weight_grad_norm", "input_grad_norm"])  # the two the paper prints
    norms = rows.assign(value=_numeric(rows, "value")).pivot_table(index=["seed", "metric"], columns="method",
                                                                    values="value")
    effect = np.log(norms[L.SDT] / norms[L.MTT]).groupby(level="seed").mean()
    return _statistic_per_seed(effect, rows, "mean over the weight and input gradient norms")


def _statistic(table, label, metric, **where):
    def replicates(f):
        rows = _select(f[table], label, metric=metric, **where)
        return _statistic_per_seed(rows.assign(v=_numeric(rows, "value")).groupby("seed")["v"].mean(), rows, "")
    return replicates


def _search(f):
    rows = _select(f["sec5.3"], L.MTT, metric="top1_acc")
    return _accuracy_effect([_select(rows, split="search")], [_select(rows, split="uniform")], "")


def _event_driven(f):
    rows = f["table7"]
    # (MTT event - MTT clock) - (SDT event - SDT clock)
    return _accuracy_effect([_select(rows, L.MTT, timestep=L.EVENT), _select(rows, L.SDT, timestep=L.CLOCK)],
                            [_select(rows, L.MTT, timestep=L.CLOCK), _select(rows, L.SDT, timestep=L.EVENT)], "")


def _early_exit(f):
    rows = f["table5"]
    return _accuracy_effect([_select(rows, L.SEENN_MTT)], [_select(rows, L.SEENN)],
                            "mean over the average time steps " + ", ".join(sorted(set(rows["timestep"]))))


def _method_gap(table, pairs):
    """Per seed: the mean over ``pairs`` (better, worse) of better minus worse."""
    def replicates(f):
        rows = f[table]
        return _accuracy_effect([_select(rows, method=[better for better, _ in pairs])],
                                [_select(rows, method=[worse for _, worse in pairs])],
                                "mean over architectures" if len(pairs) > 1 else "")
    return replicates


DEEP = [(L.on_architecture(L.MTT, a), L.on_architecture(L.SDT, a)) for a in L.DEEP_ARCHITECTURES]
FIGURE_ONLY = "figure only: the paper prints no values"

CLAIMS = [
    Claim("one-model-matches-sdt", "One MTT model matches or beats SDT models trained separately at each T "
          "(CIFAR-100, T = 2..6; margin 0.5 points)", ("table1", "table4"),
          (("table1", L.SDT_STAR), ("table4", L.MTT)), "not_worse", _mtt_vs_sdt_star, 0.5,
          paper_note="the paper's Table 4 MTT against its Table 1 SDT* (architecture unspecified there): its two "
                     "tables may not share one training setup; ours do"),
    Claim("sdt-loses-at-low-T", "An SDT model trained at T=6 loses more accuracy from T=6 to T=2 than an MTT model",
          ("table1", "table4"), (("table1", L.SDT), ("table4", L.MTT)), "greater", _low_T_drop,
          paper_note="the paper's Table 4 MTT against its Table 1 SDT (see one-model-matches-sdt)"),
    Claim("beyond-T-max", "An MTT model trained with T_max=6 keeps its accuracy at T = 8..64 (margin 0.5 points)",
          ("table6",), (("table6", L.MTT),), "not_worse", _beyond_T_max, 0.5, paired=False,
          paper_note="the paper's Table 6 prints no T=6 row"),
    Claim("bn-calibration-needed", "BN calibration raises test accuracy along training (Fig. 7C)",
          ("fig7C",), (("fig7C", L.MTT),), "greater", _bn_calibration, paired=False, paper_note=FIGURE_ONLY),
    Claim("t-max-statistics-serve", "BN statistics calibrated at T_max serve every uniform T: they match statistics "
          "recalculated at that T (Table 12; margin 0.5 points)", ("table12",),
          (("table12", L.MTT_TMAX_BN), ("table12", L.MTT_RECALCULATED_BN)), "not_worse", _t_max_statistics, 0.5,
          paired=False),
    Claim("finer-granularity-helps", "Granularity g=1 (MTT) beats g=8 (NMT) at T = 2..6 (Fig. 7B)",
          ("fig7B",), (("fig7B", L.granularity(1)), ("fig7B", L.granularity(8))), "greater", _granularity,
          paper_note=FIGURE_ONLY),
    Claim("robust-to-weight-noise", "MTT loses less accuracy than SDT under Gaussian noise on the weights (Fig. 5)",
          ("fig5",), (("fig5", L.MTT), ("fig5", L.SDT)), "greater", _noise("fig5"), paper_note=FIGURE_ONLY),
    Claim("robust-to-input-noise", "MTT loses less accuracy than SDT under Gaussian noise on the inputs (Fig. 6)",
          ("fig6",), (("fig6", L.MTT), ("fig6", L.SDT)), "greater", _noise("fig6"), paper_note=FIGURE_ONLY),
    Claim("flatter-minimum", "The loss of the MTT model rises less along a random direction than SDT's (Fig. 9)",
          ("fig9",), (("fig9", L.MTT), ("fig9", L.SDT)), "greater", _flatness, unit="loss", paper_note=FIGURE_ONLY),
    Claim("smaller-gradients", "MTT's gradient norms are smaller than SDT's (Table 13)",
          ("table13",), (("table13", L.MTT), ("table13", L.SDT)), "greater", _gradient_norms, unit="log(SDT/MTT)"),
    Claim("gradients-similar-across-T", "Gradients at T=3 and T=6 have cosine similarity over 0.94 (section 4.2)",
          ("sec4.2",), (("sec4.2", L.SDT),), "at_least", _statistic("sec4.2", L.SDT, "grad_cosine_similarity"), 0.94,
          unit="cosine", paired=False, paper_note="the paper's lower bound ('over 94%')"),
    Claim("deep-networks", "MTT beats SDT on B-ResNet-50/72 at T=4 (Table 8)", ("table8",),
          tuple(("table8", label) for pair in DEEP for label in pair), "greater", _method_gap("table8", DEEP)),
    Claim("estimation-predicts", "The accuracy model sum K_i sqrt(log2 t_i) + c predicts held-out configurations "
          "(validation Pearson r at least 0.8; Fig. 7A)", ("fig7A",), (("fig7A", L.MTT),), "at_least",
          _statistic("fig7A", L.MTT, "pearson_r", split="validate"), 0.8, unit="r", paired=False,
          paper_note=FIGURE_ONLY),
    Claim("search-beats-uniform", "The searched configuration beats uniform T=3 at no more energy (section 5.3)",
          ("sec5.3",), (("sec5.3", L.MTT),), "greater", _search, paired=False),
    Claim("event-driven", "Moved to event-driven execution, MTT loses less accuracy than SDT (Table 7)",
          ("table7",), (("table7", L.MTT), ("table7", L.SDT)), "greater", _event_driven),
    Claim("early-exit", "SEENN-I on an MTT model beats SEENN-I on the baseline model at the same average T (Table 5)",
          ("table5",), (("table5", L.SEENN_MTT), ("table5", L.SEENN)), "greater", _early_exit,
          paper_note="the paper's SEENN-I+MTT against the SEENN-I it cites (Li et al. 2023b)"),
    *(Claim(f"sequence-{t}", f"MTT beats SDT on {name} ({t.replace('table', 'Table ')})", (t,),
            ((t, L.MTT), (t, L.SDT)), "greater", _method_gap(t, [(L.MTT, L.SDT)]))
      for t, name in [("table14", "sequential MNIST"), ("table15", "SHD"), ("table16", "SSC")]),
]

# Table 5 compares the paper's row with a cited one: the cited baseline's rows count as the paper's
CITED = {"table5": L.SEENN}


# ---------------------------------------------------------------------------- reading


def read_result(path: str | Path) -> pd.DataFrame:
    """A result CSV with ``value`` (a figure's ``accuracy``) numeric and ``n_test``: the test
    images each row was measured on (``samples``, else ``test_size``)."""
    frame = pd.read_csv(path, dtype={"timestep": str}, keep_default_na=False, na_values={"value": [""]})
    if "value" not in frame and "accuracy" in frame:
        frame = frame.assign(value=frame["accuracy"])
    n_test = pd.Series(np.nan, index=frame.index)
    for column in ("test_size", "samples"):  # samples (what an evaluation counted) wins
        if column in frame:
            n_test = pd.to_numeric(frame[column], errors="coerce").fillna(n_test)
    return frame.assign(value=pd.to_numeric(frame["value"], errors="coerce"), n_test=n_test)


def reference_frames(path: str | Path, sources) -> dict[str, pd.DataFrame]:
    """The paper's rows of each source table of ``reference_values.csv``, shaped as one seed of
    our results (``seed`` 0, no test size); an empty frame for a source it has no rows of."""
    reference = pd.read_csv(path, dtype={"timestep": str}, keep_default_na=False)
    frames = {}
    for source in sources:
        rows = read_reference(path, source) if (reference["table"] == source).any() else reference.iloc[:0]
        if source in CITED:
            cited = reference[(reference["table"] == source) & (reference["method"] == CITED[source])]
            rows = pd.concat([rows, cited.assign(value=pd.to_numeric(cited["value"]))], ignore_index=True)
        if source == "sec5.3":  # the uniform configuration (all stages at one T) and the searched one
            rows = rows.assign(split=["uniform" if len(set(t.split("-"))) == 1 else "search" for t in rows["timestep"]])
        frames[source] = rows.assign(seed=0, n_test=np.nan, value=pd.to_numeric(rows["value"]))
    return frames


def trained_models(metrics_csvs) -> pd.DataFrame:
    """One row per training run (its ``metrics.csv``): ``config_hash``, ``run``, ``dataset`` (the
    one used), ``seed``, ``T`` and ``test_acc``, the test accuracy at its trained T after its last
    epoch, and ``num_classes`` of its dataset."""
    from tfsnn.data.catalog import dataset_info

    rows = []
    for path in metrics_csvs:
        metrics = pd.read_csv(path)
        final = metrics[metrics["metric"] == "test_acc"].sort_values("epoch").tail(1)
        first = metrics.iloc[0]
        rows.append({"config_hash": str(first["config_hash"]), "run": Path(path).parent.name,
                     "dataset": first["dataset"], "seed": first["seed"],
                     "T": float(final["T"].iloc[0]) if len(final) else math.nan,
                     "test_acc": float(final["value"].iloc[0]) if len(final) else math.nan,
                     "num_classes": dataset_info(first["dataset"]).num_classes})
    return pd.DataFrame(rows, columns=["config_hash", "run", "dataset", "seed", "T", "test_acc", "num_classes"])


def _test_name(claim: Claim, replicates: Replicates) -> str:
    design = "paired t over seeds" if claim.paired else "one-sample t over seeds"
    binomial = " + binomial test error" if replicates.test_var is not None else "; not an accuracy: no binomial term"
    return design + binomial


def _criterion(claim: Claim) -> str:
    return {"greater": "> 0", "not_worse": f"> -{claim.margin:g}", "at_least": f">= {claim.margin:g}"}[claim.kind]


NOT_RUN = "not run at this scale"
PENDING = "pending (not run yet)"


def _paper_effect(claim: Claim, reference: str | Path | None) -> float:
    if reference is None:
        return math.nan
    paper_frames = reference_frames(reference, claim.sources)
    if not all(len(frame) for frame in paper_frames.values()):
        return math.nan
    paper = claim.replicates(paper_frames).effect
    return float(paper.iloc[0]) if len(paper) else math.nan


def scorecard(results_dir: str | Path, claims=CLAIMS, *, models: pd.DataFrame | None = None,
              reference: str | Path | None = None, not_run: dict[str, str] | None = None,
              pending: dict[str, str] | None = None, scale: str = "") -> pd.DataFrame:
    """One row per claim from the CSVs in ``results_dir``: the paper's effect (from
    ``reference``), ours with its interval, n, the test, the verdict and its reason.
    ``models``: :func:`trained_models` of every run behind the claims (without it no verdict).
    ``not_run``: the sources scale ``scale`` does not make (name -> why): a claim reading one
    is ``not run at this scale``; ``pending``: those not made yet (name -> why), ``pending``."""
    results_dir = Path(results_dir)
    rows = []
    for claim in claims:
        for verdict_, missing in ((NOT_RUN, not_run or {}), (PENDING, pending or {})):
            sources = [source for source in claim.sources if source in missing]
            if sources:
                rows.append({"claim": claim.id, "statement": claim.statement,
                             "paper_effect": _paper_effect(claim, reference), "paper_note": claim.paper_note,
                             "unit": claim.unit, "criterion": _criterion(claim), "verdict": verdict_,
                             "reason": "; ".join(f"{source}: {missing[source]}" for source in sources),
                             "sources": " ".join(claim.sources), "scale": scale})
                break
        else:
            rows.append(_judged(claim, results_dir, models, reference))
    columns = ["claim", "statement", "paper_effect", "paper_note", "effect", "ci_low", "ci_high", "n", "unit",
               "criterion", "test", "verdict", "reason", "se", "seed_sd", "test_se", "t_quantile", "replicates",
               "sources", "scale", "data_source", "stand_ins"]
    return pd.DataFrame(rows, columns=columns).fillna({"test": "", "replicates": "", "data_source": "",
                                                        "stand_ins": ""})


def _judged(claim: Claim, results_dir: Path, models: pd.DataFrame | None, reference) -> dict:
    """The scorecard row of a claim whose sources are all in ``results_dir``."""
    frames = {s: read_result(results_dir / f"{s}.csv") for s in claim.sources}
    replicates = claim.replicates(frames)
    first = next(iter(frames.values()))
    scale = str(first["scale"].iloc[0])
    judged = verdict(replicates.effect.to_numpy(), claim.kind, claim.margin,
                     None if replicates.test_var is None else replicates.test_var.to_numpy(),
                     scale=scale, chance=near_chance(replicates.rows, models))
    paper_effect = _paper_effect(claim, reference)
    stand_ins = sorted({s for f in frames.values() if "data_stand_in" in f for s in f["data_stand_in"] if s})
    seeds = ", ".join(str(s) for s in replicates.effect.index)
    return {
        "claim": claim.id, "statement": claim.statement,
        "paper_effect": paper_effect, "paper_note": claim.paper_note,
        **{k: judged[k] for k in ("effect", "ci_low", "ci_high", "n")},
        "unit": claim.unit, "criterion": _criterion(claim), "test": _test_name(claim, replicates),
        "verdict": judged["verdict"], "reason": judged["reason"],
        **{k: judged[k] for k in ("se", "seed_sd", "test_se", "t_quantile")},
        "replicates": f"seeds {seeds}" + (f" ({replicates.over})" if replicates.over else "") if seeds else "",
        "sources": " ".join(claim.sources), "scale": scale,
        "data_source": "; ".join(sorted(set(first["data_source"]))), "stand_ins": " ".join(stand_ins),
    }
