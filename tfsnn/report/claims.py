"""The claims scorecard: each qualitative claim of the paper tested on the results of the scale
that ran, beside the paper's own like-for-like effect.

**Models and groups.** A claim selects result rows in *terms*, each with a weight (e.g. NMT's
accuracy at T = 2..6, +1; SDT*'s, -1); a term's rows of one seed are averaged. Each trained model
(a ``config_hash``) gets one value per test item: the weighted sum of its rows in the terms
(a row's per-item correctness, in points, from the per-item records, :func:`item_records`), or
one value where the records are missing or the seeds were tested on different items (then a
seed's test-set noise is inside its value, and counted there). Models that fill the same terms
at the same time steps are one *group* over seeds (:class:`tfsnn.report.statistics.Group`).
Within a model, terms pair over the seed and the items; between groups nothing pairs by seed
(two methods' runs that share a seed number are independent trainings), only the test items.
The effect is the sum of the groups' means, which is the mean over seeds of the per-seed effect
where every seed has every group.

**Statistics** (:mod:`tfsnn.report.statistics`): the crossed seed-by-image variance, the t
interval with Satterthwaite's degrees of freedom, and the verdict of the claim's kind:
``greater``, ``not_worse`` / ``at_least`` (against a bound), ``equivalent`` (TOST against a
margin). A claim of several contrasts (both gradient norms) holds only if each does (an
intersection-union test: its p-value is the largest). The six **headline** claims, registered
before their runs in ``workflow/reference/preregistration.md``, are one family: their p-values
are adjusted by Holm's procedure, and the adjusted one decides "holds". Every other claim is
**exploratory**: its p-value is not adjusted, and it says so.

**Verdicts**, the first rule that applies:

0. ``not run at this scale``: the scale does not make one of the claim's sources (its scale file
   lists none of the experiment families behind it, or skips it); ``reason`` says which and why.
   ``pending (not run yet)``: a source the scale makes has not been made yet (a scorecard of a
   run in progress, ``workflow/scripts/keep_results.py``).
1. ``no verdict (smoke scale)``: every row at scale ``smoke``, which only checks that the DAG runs.
2. ``no verdict (no data)``: no row enters the effect.
3. ``no verdict (model near chance)``: a model behind the claim has a test accuracy at its
   trained T (its last epoch's ``test_acc`` in its ``metrics.csv``) below twice chance,
   ``200 / num_classes`` %, or, for an accuracy claim, a condition that enters the effect (a row:
   a T, a noise level, a platform) is below it; ``no verdict (trained accuracy unknown)`` when a
   model's trained accuracy is missing.
4. ``no verdict (one seed)``: a group has one model: nothing to weigh the effect against.
5. :func:`tfsnn.report.statistics.judge`: holds / does not hold (significantly on the wrong side
   of the bound, or outside the margin) / inconclusive, with the minimum detectable effect at
   80 % power (``mde``).

**The paper's effect** (``paper_effect``) is the same reduction applied to the paper's own rows
of ``reference_values.csv`` (one value each); empty where the paper prints no values (its
figures), lacks a row the reduction needs, or its rows are not like for like with ours
(``paper_note`` says which). ``size`` compares it with our interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tfsnn.io import item_correctness, read_records
from tfsnn.report import labels as L
from tfsnn.report import statistics
from tfsnn.report.tables import read_reference

__all__ = [
    "CHANCE_FACTOR",
    "CLAIMS",
    "chance_floor",
    "HEADLINE",
    "Claim",
    "Effect",
    "Term",
    "item_records",
    "headline_figure",
    "near_chance",
    "power",
    "read_result",
    "reference_frames",
    "scorecard",
    "trained_models",
]

CHANCE_FACTOR = 2.0  # a model or condition below this many times chance gives no verdict
T_MAX = 6  # Table 6: the MTT model's T_max


@dataclass(frozen=True)
class Term:
    """Result rows entering an effect with ``weight``; each seed's rows are averaged. ``slot``:
    the column that tells apart the models the term holds per seed (Table 1's SDT*: one per T);
    None where each seed has one model in it, whatever its rows say (a searched configuration)."""

    rows: pd.DataFrame
    weight: float = 1.0
    slot: str | None = "timestep"


@dataclass(frozen=True)
class Effect:
    """What a claim's reduction gives: its contrasts (name -> terms; a claim of several holds
    only if each does), what a model's value averages (``over``) and what was left out and why
    (``dropped``)."""

    contrasts: dict[str, list[Term]]
    over: str = ""
    dropped: str = ""


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    sources: tuple[str, ...]  # result CSVs (results/{scale}/{name}.csv) it reads
    reads: tuple[tuple[str, str], ...]  # (source, label): the table methods / figure curves it selects
    kind: str  # greater | not_worse | at_least | equivalent (tfsnn.report.statistics.KINDS)
    effect: Callable[[dict], Effect]  # frames by source -> terms (its docstring: the paper's sentence)
    margin: float = 0.0
    unit: str = "points"
    headline: bool = False  # one of the six pre-registered claims (Holm-adjusted)
    paper_note: str = "same reduction of the paper's rows"
    like_for_like: bool = True  # False: the paper's rows are not like ours, no paper effect is shown
    floor: str = ""  # why a condition at chance is part of the claim (then only the models are checked)
    accuracy: bool = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "accuracy", self.unit == "points")


# ---------------------------------------------------------------------------- the selections


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


def _difference(plus: list[pd.DataFrame], minus: list[pd.DataFrame], over: str = "", dropped: str = "") -> Effect:
    """One contrast: the ``plus`` terms minus the ``minus`` terms."""
    return Effect({"": [Term(rows, 1.0) for rows in plus] + [Term(rows, -1.0) for rows in minus]}, over, dropped)


def chance_floor(num_classes: int) -> float:
    """The accuracy (points) below which a model or condition gives no verdict: ``CHANCE_FACTOR``
    times chance."""
    return CHANCE_FACTOR * 100.0 / num_classes


def _chance(rows: pd.DataFrame) -> float:
    """:func:`chance_floor` on the dataset the rows were measured on."""
    from tfsnn.data.catalog import dataset_info

    column = "dataset_used" if "dataset_used" in rows else "dataset"
    return chance_floor(dataset_info(str(rows[column].iloc[0])).num_classes)


# ---------------------------------------------------------------------------- the effects


def _nmt_vs_sdt_star(f):
    """Section 4.1, Table 1: "Our approach with the proposed simple strategy NMT shows improved
    performance across all time step settings" (one NMT model against SDT*, a model trained per
    T). Read as "one model matches": NMT minus SDT*, the mean over T = 2..6, equivalent within the
    margin (the paper's +0.36 lies inside it)."""
    t1 = f["table1"]
    Ts = sorted(set(_select(t1, L.SDT_STAR)["timestep"]), key=float)
    return _difference([_select(t1, L.NMT, timestep=Ts)], [_select(t1, L.SDT_STAR, timestep=Ts)],
                       "mean over T = " + ", ".join(Ts))


def _mtt_vs_sdt_star(f):
    """Section 5, Table 4: "On static datasets, TFSNN performs fairly well at different time
    steps": one MTT model against SDT* (Table 1), the mean over T = 2..6, equivalent within the
    margin. The paper's Table 4 used augmentations its Table 1 did not: no like-for-like effect."""
    t1, t4 = f["table1"], f["table4"]
    Ts = sorted(set(_select(t1, L.SDT_STAR)["timestep"]), key=float)
    return _difference([_select(t4, L.MTT, dataset="cifar100", timestep=Ts)], [_select(t1, L.SDT_STAR, timestep=Ts)],
                       "mean over T = " + ", ".join(Ts))


def _low_T_drop(f):
    """Table 1: an SDT model trained at T=6 loses more from T=6 to T=2 than the one NMT model
    ("improved performance across all time step settings", most at low T):
    (NMT(2) - NMT(6)) - (SDT(2) - SDT(6)), the paper's 3.25."""
    t1 = f["table1"]
    nmt, sdt = _select(t1, L.NMT), _select(t1, L.SDT)
    return _difference([_select(nmt, timestep=2), _select(sdt, timestep=6)],
                       [_select(nmt, timestep=6), _select(sdt, timestep=2)], "T = 2 and 6")


def _beyond_T_max(f):
    """Section 5, Table 6 ("MTT still outperforms them significantly at T=1 and T=2 while
    remaining comparable to them for higher time steps"; its rows reach T=64 with T_max=6): the
    MTT model keeps its accuracy beyond T_max, read as the mean over T > 6 minus T = 6, equivalent
    within the margin. The paper prints no T=6 row: no effect of its own."""
    mtt = _select(f["table6"], L.MTT)
    T = _numeric(mtt, "timestep")
    return _difference([mtt[T > T_MAX]], [mtt[T == T_MAX]], f"mean over T > {T_MAX}, minus T = {T_MAX}")


def _bn_calibration(f):
    """Appendix, Fig. 7C: "without correct BN statistics, the model suffers huge accuracy
    degradation and ... BN calibration effectively ameliorates the degradation"."""
    curves = _select(f["fig7C"], L.MTT)
    return _difference([_select(curves, metric="test_acc")], [_select(curves, metric="test_acc_uncalibrated")],
                       "mean over epochs")


def _t_max_statistics(f):
    """A.7, Table 12: "the mean and variance calculated at T=T_max is applicable directly to
    other T values": T_max statistics minus statistics recalculated at each T, equivalent within
    the margin, over the T both have."""
    rows = _select(f["table12"], metric="top1_acc")
    t_max, recalculated = _select(rows, L.MTT_TMAX_BN), _select(rows, L.MTT_RECALCULATED_BN)
    Ts = sorted(set(t_max["timestep"]) & set(recalculated["timestep"]), key=float)
    return _difference([_select(t_max, timestep=Ts)], [_select(recalculated, timestep=Ts)],
                       "mean over T = " + ", ".join(Ts))


def _granularity(f):
    """Fig. 7B ("Evolution from NMT to MTT"): granularity g=1 (MTT) beats g=8 (NMT)."""
    data = f["fig7B"]
    return _difference([_select(data, L.granularity(1))], [_select(data, L.granularity(8))], "mean over T = 2..6")


def _noise(source):
    def noise(f):
        """Section 5, Figs. 5 and 6: "the weights trained by MTT are more robust against noise":
        MTT's drop under noise minus SDT's, (MTT noisy - MTT clean) - (SDT noisy - SDT clean),
        over the noise levels where neither model is near chance (below them the drop is only
        the difference of the clean accuracies)."""
        data = _select(f[source], metric="top1_acc")
        data = data.assign(sigma2=_numeric(data, "sigma2"), value=_numeric(data, "value"))
        chance = _chance(data)
        lowest = data.groupby("sigma2")["value"].min()  # of any model and draw
        kept = lowest[lowest >= chance].index
        noisy = data[data["sigma2"].isin(kept) & (data["sigma2"] > 0)]
        clean = data[data["sigma2"] == 0]
        left = sorted(set(lowest.index) - set(kept))
        dropped = f"sigma^2 = {', '.join(f'{s:g}' for s in left)}: a model below {chance:g} %" if left else ""
        return _difference([_select(noisy, L.MTT), _select(clean, L.SDT)],
                           [_select(clean, L.MTT), _select(noisy, L.SDT)], "mean over the kept sigma^2 > 0 and repeats",
                           dropped)
    return noise


def _flatness(f):
    """A.10, Fig. 9: "MTT led the model to a flatter minimum": the loss's mean rise from alpha = 0
    along the random direction, SDT's minus MTT's, on the training set."""
    rows = _select(f["fig9"], metric="loss")
    if "split" in rows and (rows["split"] == "train").any():  # the training set's landscape, as the paper's
        rows = rows[rows["split"] == "train"]
    alpha = _numeric(rows, "alpha")
    edge, centre = rows[alpha != 0.0], rows[alpha == 0.0]
    split = "/".join(sorted(set(rows["split"]))) if "split" in rows else ""
    return _difference([_select(edge, L.SDT), _select(centre, L.MTT)], [_select(centre, L.SDT), _select(edge, L.MTT)],
                       f"mean over alpha != 0{f', {split} set' if split else ''}")


def _gradient_norms(f):
    """A.11, Table 13: "The model trained by MTT exhibits a shorter gradient of both weights and
    inputs": log(SDT / MTT) of each norm, each greater than 0 (an intersection-union test)."""
    rows = _select(f["table13"], metric=["weight_grad_norm", "input_grad_norm"])  # the two the paper prints
    rows = rows.assign(value=np.log(_numeric(rows, "value")))
    return Effect({metric: [Term(_select(rows, L.SDT, metric=metric), 1.0), Term(_select(rows, L.MTT, metric=metric),
                                                                              -1.0)]
                   for metric in ("weight_grad_norm", "input_grad_norm")}, "each norm: log(SDT) - log(MTT)")


def _cosine(f):
    """Section 4.2: "the gradients obtained under different time steps (T) settings are remarkably
    similar, with over 94% cosine similarity between the gradients acquired from scenarios with
    T = 3 and T = 6", along SDT training, after the first epoch (epoch 0 is the untrained
    network, which the paper does not describe)."""
    rows = _select(f["sec4.2"], L.SDT, metric="grad_cosine_similarity")
    if "epoch" in rows:  # ours, along training (the paper's one value has none)
        rows = rows[_numeric(rows, "epoch") > 0]
    return Effect({"": [Term(rows)]}, "mean over epochs >= 1")


def _estimation(f):
    """Section 5.3, Fig. 7A: the accuracy model sum K_i sqrt(log2 t_i) + c predicts held-out
    configurations (validation Pearson r)."""
    return Effect({"": [Term(_select(f["fig7A"], L.MTT, metric="pearson_r", split="validate"))]})


def _search(f):
    """Section 5.3: the configuration searched under the energy of uniform T=3 beats it."""
    rows = _select(f["sec5.3"], L.MTT, metric="top1_acc")  # each seed searches its own configuration
    return Effect({"": [Term(_select(rows, split="search"), 1.0, None),
                        Term(_select(rows, split="uniform"), -1.0, None)]})


def _event_driven(f):
    """Section 5, Table 7 ("TFSNN is naturally more suitable for deployment on asynchronous SNN
    chips"): (MTT event - MTT clock) - (SDT event - SDT clock)."""
    rows = f["table7"]
    return _difference([_select(rows, L.MTT, timestep=L.EVENT), _select(rows, L.SDT, timestep=L.CLOCK)],
                       [_select(rows, L.MTT, timestep=L.CLOCK), _select(rows, L.SDT, timestep=L.EVENT)])


def _early_exit(f):
    """Section 5, Table 5: SEENN-I on an MTT model beats SEENN-I on its baseline at the same
    average T."""
    rows = f["table5"]
    return _difference([_select(rows, L.SEENN_MTT)], [_select(rows, L.SEENN)],
                       "mean over the average time steps " + ", ".join(sorted(set(rows["timestep"]))))


def _method_gap(table, pairs):
    def gap(f):
        """Tables 8 and 14-16: MTT beats SDT ("MTT achieved higher accuracy on B-ResNet-50 ... and
        B-ResNet-72"; the sequence tasks' tables): the mean over ``pairs`` of MTT minus SDT."""
        rows = f[table]
        return _difference([_select(rows, method=[better for better, _ in pairs])],
                           [_select(rows, method=[worse for _, worse in pairs])],
                           "mean over architectures" if len(pairs) > 1 else "")
    return gap


DEEP = [(L.on_architecture(L.MTT, a), L.on_architecture(L.SDT, a)) for a in L.DEEP_ARCHITECTURES]
FIGURE_ONLY = "figure only: the paper prints no values"
# the margin of the equivalence claims: a point of accuracy, the paper's own steps between
# neighbouring T in Table 1 (0.2-1 point); the BN statistics, one model at one T, half of it
MARGIN = 1.0

CLAIMS = [
    Claim("one-model-matches-sdt", "One NMT model matches SDT models trained separately at each T (Table 1, "
          "T = 2..6; equivalent within 1 point)", ("table1",), (("table1", L.SDT_STAR), ("table1", L.NMT)),
          "equivalent", _nmt_vs_sdt_star, MARGIN, headline=True),
    Claim("sdt-loses-at-low-T", "An SDT model trained at T=6 loses more accuracy from T=6 to T=2 than one NMT model "
          "(Table 1)", ("table1",), (("table1", L.SDT), ("table1", L.NMT)), "greater", _low_T_drop, headline=True),
    Claim("beyond-T-max", "An MTT model trained with T_max=6 keeps its accuracy at T = 8..64 (Table 6; equivalent "
          "within 1 point)", ("table6",), (("table6", L.MTT),), "equivalent", _beyond_T_max, MARGIN, headline=True,
          paper_note="the paper's Table 6 prints no T=6 row"),
    Claim("t-max-statistics-serve", "BN statistics calibrated at T_max serve every uniform T: they match statistics "
          "recalculated at that T (Table 12; equivalent within 0.5 points)", ("table12",),
          (("table12", L.MTT_TMAX_BN), ("table12", L.MTT_RECALCULATED_BN)), "equivalent", _t_max_statistics,
          MARGIN / 2, headline=True),
    Claim("smaller-gradients", "MTT's gradient norms of both the weights and the inputs are smaller than SDT's "
          "(Table 13)", ("table13",), (("table13", L.MTT), ("table13", L.SDT)), "greater", _gradient_norms,
          unit="log(SDT/MTT)", headline=True),
    Claim("sequence-table15", "MTT beats SDT on SHD (Table 15)", ("table15",), (("table15", L.MTT), ("table15", L.SDT)),
          "greater", _method_gap("table15", [(L.MTT, L.SDT)]), headline=True),
    Claim("mtt-matches-sdt", "One MTT model matches SDT models trained separately at each T (Tables 1 and 4, "
          "T = 2..6; equivalent within 1 point)", ("table1", "table4"), (("table1", L.SDT_STAR), ("table4", L.MTT)),
          "equivalent", _mtt_vs_sdt_star, MARGIN, like_for_like=False,
          paper_note="not like for like: the paper's Table 4 used augmentations its Table 1 did not"),
    Claim("bn-calibration-needed", "BN calibration raises test accuracy along training (Fig. 7C)",
          ("fig7C",), (("fig7C", L.MTT),), "greater", _bn_calibration, paper_note=FIGURE_ONLY,
          floor="the uncalibrated network near chance is the degradation the claim is about"),
    Claim("finer-granularity-helps", "Granularity g=1 (MTT) beats g=8 (NMT) at T = 2..6 (Fig. 7B)",
          ("fig7B",), (("fig7B", L.granularity(1)), ("fig7B", L.granularity(8))), "greater", _granularity,
          paper_note=FIGURE_ONLY),
    Claim("robust-to-weight-noise", "MTT loses less accuracy than SDT under Gaussian noise on the weights (Fig. 5)",
          ("fig5",), (("fig5", L.MTT), ("fig5", L.SDT)), "greater", _noise("fig5"), paper_note=FIGURE_ONLY),
    Claim("robust-to-input-noise", "MTT loses less accuracy than SDT under Gaussian noise on the inputs (Fig. 6)",
          ("fig6",), (("fig6", L.MTT), ("fig6", L.SDT)), "greater", _noise("fig6"), paper_note=FIGURE_ONLY),
    Claim("flatter-minimum", "The loss of the MTT model rises less along a random direction than SDT's (Fig. 9)",
          ("fig9",), (("fig9", L.MTT), ("fig9", L.SDT)), "greater", _flatness, unit="loss", paper_note=FIGURE_ONLY),
    Claim("gradients-similar-across-T", "Gradients at T=3 and T=6 have cosine similarity over 0.94 along training "
          "(section 4.2)", ("sec4.2",), (("sec4.2", L.SDT),), "at_least", _cosine, 0.94, unit="cosine",
          paper_note="the paper's lower bound ('over 94%')"),
    Claim("deep-networks", "MTT beats SDT on B-ResNet-50/72 at T=4 (Table 8)", ("table8",),
          tuple(("table8", label) for pair in DEEP for label in pair), "greater", _method_gap("table8", DEEP)),
    Claim("estimation-predicts", "The accuracy model sum K_i sqrt(log2 t_i) + c predicts held-out configurations "
          "(validation Pearson r at least 0.8; Fig. 7A)", ("fig7A",), (("fig7A", L.MTT),), "at_least", _estimation,
          0.8, unit="r", paper_note=FIGURE_ONLY),
    Claim("search-beats-uniform", "The searched configuration beats uniform T=3 at no more energy (section 5.3)",
          ("sec5.3",), (("sec5.3", L.MTT),), "greater", _search),
    Claim("event-driven", "Moved to event-driven execution, MTT loses less accuracy than SDT (Table 7)",
          ("table7",), (("table7", L.MTT), ("table7", L.SDT)), "greater", _event_driven),
    Claim("early-exit", "SEENN-I on an MTT model beats SEENN-I on the baseline model at the same average T (Table 5)",
          ("table5",), (("table5", L.SEENN_MTT), ("table5", L.SEENN)), "greater", _early_exit,
          paper_note="the paper's SEENN-I+MTT against the SEENN-I it cites (Li et al. 2023b)"),
    *(Claim(f"sequence-{t}", f"MTT beats SDT on {name} ({t.replace('table', 'Table ')})", (t,),
            ((t, L.MTT), (t, L.SDT)), "greater", _method_gap(t, [(L.MTT, L.SDT)]))
      for t, name in [("table14", "sequential MNIST"), ("table16", "SSC")]),
]
HEADLINE = [claim.id for claim in CLAIMS if claim.headline]

# Table 5 compares the paper's row with a cited one: the cited baseline's rows count as the paper's
CITED = {"table5": L.SEENN}


# ---------------------------------------------------------------------------- reading


def read_result(path: str | Path) -> pd.DataFrame:
    """A result CSV with ``value`` (a figure's ``accuracy``) numeric."""
    frame = pd.read_csv(path, dtype={"timestep": str, "config_hash": str, "config": str, "record": str},
                        keep_default_na=False, na_values={"value": [""]})
    if "value" not in frame and "accuracy" in frame:
        frame = frame.assign(value=frame["accuracy"])
    return frame.assign(value=pd.to_numeric(frame["value"], errors="coerce"))


def item_records(paths) -> dict:
    """What each test item got, from per-item record files (:func:`tfsnn.io.write_records`): an
    evaluation's (``tfsnn evaluate --records``) by ``("eval", config_hash, config, bn_calibrated)``,
    an analysis's (``tfsnn analyze --records``) by ``("analysis", config_hash, record)``, the value
    of its rows' ``record`` column; each ``(items, correct)``, ``correct`` in [0, 1]."""
    found = {}
    for path in paths:
        arrays, fields = read_records(path)
        model = str(fields["config_hash"])
        correct = item_correctness(arrays)
        if "predicted" in arrays:
            for config, calibrated, row in zip(arrays["config"].tolist(), arrays["bn_calibrated"].tolist(), correct):
                found[("eval", model, str(config), str(bool(calibrated)))] = (arrays["item"], row)
        else:
            for index, row in zip(arrays["row"].tolist(), correct):
                found[("analysis", model, f"{Path(path).stem}:{index}")] = (arrays["item"], row)
    return found


def _record_key(row) -> tuple:
    if str(row.get("record", "") or ""):
        return ("analysis", str(row["config_hash"]), str(row["record"]))
    return ("eval", str(row.get("config_hash", "")), str(row.get("config", "")), str(row.get("bn_calibrated", "")))


def reference_frames(path: str | Path, sources) -> dict[str, pd.DataFrame]:
    """The paper's rows of each source table of ``reference_values.csv``, shaped as one seed of
    our results (``seed`` 0); an empty frame for a source it has no rows of."""
    reference = pd.read_csv(path, dtype={"timestep": str}, keep_default_na=False)
    frames = {}
    for source in sources:
        rows = read_reference(path, source) if (reference["table"] == source).any() else reference.iloc[:0]
        if source in CITED:
            cited = reference[(reference["table"] == source) & (reference["method"] == CITED[source])]
            rows = pd.concat([rows, cited.assign(value=pd.to_numeric(cited["value"]))], ignore_index=True)
        if source == "sec5.3":  # the uniform configuration (all stages at one T) and the searched one
            rows = rows.assign(split=["uniform" if len(set(t.split("-"))) == 1 else "search" for t in rows["timestep"]])
        frames[source] = rows.assign(seed=0, value=pd.to_numeric(rows["value"]))
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


# ---------------------------------------------------------------------------- the estimate


def _weighted_rows(terms: list[Term]) -> pd.DataFrame:
    """The terms' rows with ``_term`` (its index), ``_weight`` (its weight over its rows of that
    seed) and ``_slot`` (:class:`Term`)."""
    frames = []
    for index, term in enumerate(terms):
        rows = term.rows[term.rows["value"].notna()]
        count = rows.groupby("seed")["value"].transform("size")
        slot = rows[term.slot].astype(str) if term.slot in rows else ""
        frames.append(rows.assign(_term=index, _weight=term.weight / count, _slot=slot))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _paper_value(terms: list[Term]) -> float:
    """The contrast on rows of one value each (the paper's): the weighted sum of the terms' means."""
    if not terms or any(term.rows["value"].isna().all() for term in terms):
        return math.nan
    return float(sum(term.weight * term.rows["value"].mean() for term in terms))


def _groups(terms: list[Term], records: dict, accuracy: bool) -> tuple[list[statistics.Group], str, pd.DataFrame]:
    """The groups of models behind a contrast (module docstring), what enters each model's value
    (``test``) and the rows used."""
    rows = _weighted_rows(terms)
    if rows.empty:
        return [], "", rows
    vectors = [records.get(_record_key(row)) for row in rows.to_dict("records")] if accuracy and records else []
    crossed = bool(vectors) and all(v is not None for v in vectors)
    if crossed:
        order = np.argsort(vectors[0][0])
        items = vectors[0][0][order]
        crossed = all(len(v[0]) == len(items) and np.array_equal(np.sort(v[0]), items) for v in vectors)
    if crossed:
        values = [100.0 * v[1][np.argsort(v[0])] for v in vectors]
        test = f"seeds x {len(items)} test items (per-item records)"
    else:
        values = [np.array([value]) for value in rows["value"]]
        test = "seeds (one value per model)"
    models: dict[str, dict] = {}
    for row, value in zip(rows.to_dict("records"), values):
        model = models.setdefault(str(row.get("config_hash", row["seed"])), {"seed": row["seed"], "value": 0.0,
                                                                             "slots": set()})
        model["value"] = model["value"] + row["_weight"] * value
        model["slots"].add((row["_term"], row["_slot"]))
    by_signature: dict[frozenset, list] = {}
    for model in sorted(models.values(), key=lambda m: m["seed"]):
        by_signature.setdefault(frozenset(model["slots"]), []).append(model["value"])
    return [statistics.Group(np.stack(values)) for values in by_signature.values()], test, rows


def _model_note(rows: pd.DataFrame, models: pd.DataFrame | None, accuracy: bool, floor: str) -> tuple[str, str] | None:
    """Rule 3: (verdict, reason) if a model behind ``rows`` is below ``CHANCE_FACTOR`` times chance
    at its trained T (or its accuracy is unknown), or, for an accuracy claim without a ``floor``,
    one of the rows is; else None."""
    said = near_chance(rows, models)
    if said is not None or not accuracy or floor:
        return said
    threshold = _chance(rows)
    weak = rows[rows["value"] < threshold]
    if len(weak):
        shown = "; ".join(f"{row.get('method', row.get('curve', ''))} seed {row['seed']}"
                          f"{' T=' + str(row['timestep']) if 'timestep' in row else ''}: {row['value']:.1f} %"
                          for row in weak.head(3).to_dict("records"))
        return "no verdict (model near chance)", (f"{len(weak)} condition(s) entering the effect below "
                                                  f"{CHANCE_FACTOR:g} x chance = {threshold:.1f} %: {shown}")
    return None


def near_chance(rows: pd.DataFrame, models: pd.DataFrame | None) -> tuple[str, str] | None:
    """(verdict, reason) if a model behind ``rows`` is below ``CHANCE_FACTOR`` times chance at its
    trained T (or its accuracy is unknown), else None. ``models``: one row per training run
    (:func:`trained_models`)."""
    hashes = sorted(set(rows["config_hash"].astype(str))) if "config_hash" in rows else []
    known = pd.DataFrame() if models is None else models.assign(
        config_hash=models["config_hash"].astype(str)).drop_duplicates("config_hash").set_index("config_hash")
    unknown = [h for h in hashes if h not in known.index]
    if not hashes or unknown:
        return "no verdict (trained accuracy unknown)", f"no test accuracy at the trained T of models {unknown or '?'}"
    weak = []
    for h in hashes:
        model = known.loc[h]
        threshold = chance_floor(model["num_classes"])
        if not model["test_acc"] >= threshold:
            weak.append(f"{model['run']}: {model['test_acc']:.1f} % at T={model['T']:g} < {CHANCE_FACTOR:g} x chance "
                        f"= {threshold:.1f} % ({model['num_classes']} classes)")
    if weak:
        return "no verdict (model near chance)", "; ".join(weak)
    return None


# ---------------------------------------------------------------------------- the scorecard


NOT_RUN = "not run at this scale"
PENDING = "pending (not run yet)"
COLUMNS = ["claim", "family", "statement", "paper_effect", "paper_note", "effect", "ci_low", "ci_high", "unit",
           "criterion", "verdict", "size", "mde", "p_value", "p_holm", "reason", "test", "seeds", "images", "se", "df",
           "seed_var", "test_var", "seed_component", "image_component", "residual_component", "replicates", "sources",
           "scale", "data_source", "stand_ins"]


def _criterion(claim: Claim) -> str:
    return {"greater": "> 0", "not_worse": f"> -{claim.margin:g}", "at_least": f">= {claim.margin:g}",
            "equivalent": f"|effect| < {claim.margin:g}"}[claim.kind]


def _paper_effects(claim: Claim, reference: str | Path | None) -> dict[str, float]:
    """The paper's value of each contrast of ``claim`` (NaN where not like for like or missing)."""
    if reference is None or not claim.like_for_like:
        return {}
    frames = reference_frames(reference, claim.sources)
    if not all(len(frame) for frame in frames.values()):
        return {}
    return {name: _paper_value(terms) for name, terms in claim.effect(frames).contrasts.items()}


def _estimates(claim: Claim, frames: dict, records: dict) -> tuple[dict, Effect, pd.DataFrame, str]:
    effect = claim.effect(frames)
    estimates, used, test = {}, [], ""
    for name, terms in effect.contrasts.items():
        groups, test, rows = _groups(terms, records, claim.accuracy)
        used.append(rows)
        if groups:
            estimates[name] = statistics.contrast(groups)
    return estimates, effect, pd.concat(used, ignore_index=True) if used else pd.DataFrame(), test


def _binding(claim: Claim, estimates: dict, p_adjusted: float | None = None) -> tuple[str, dict]:
    """The contrast that decides the claim (the largest p-value: an intersection-union test) and
    its judgement."""
    judged = {name: statistics.judge(e, claim.kind, claim.margin) for name, e in estimates.items()}
    name = max(judged, key=lambda k: -1.0 if math.isnan(judged[k]["p_value"]) else judged[k]["p_value"])
    if p_adjusted is not None:
        judged[name] = statistics.judge(estimates[name], claim.kind, claim.margin, p_adjusted=p_adjusted)
    verdicts = {j["verdict"] for j in judged.values()}
    if "does not hold" in verdicts:  # one contrast significantly the wrong way refutes an intersection
        name = next(k for k, j in judged.items() if j["verdict"] == "does not hold")
    return name, judged[name]


def scorecard(results_dir: str | Path, claims=CLAIMS, *, models: pd.DataFrame | None = None,
              reference: str | Path | None = None, not_run: dict[str, str] | None = None,
              pending: dict[str, str] | None = None, scale: str = "", records: dict | None = None) -> pd.DataFrame:
    """One row per claim from the CSVs in ``results_dir``: the paper's effect (from
    ``reference``), ours with its interval, the verdict, its size against the paper's, the
    minimum detectable effect, the p-values (Holm's over the headline claims judged), the
    variance components and what they come from. ``models``: :func:`trained_models` of every run
    behind the claims (without it no verdict); ``records``: :func:`item_records` of their results.
    ``not_run``: the sources scale ``scale`` does not make (name -> why): a claim reading one is
    ``not run at this scale``; ``pending``: those not made yet (name -> why), ``pending``."""
    results_dir, records = Path(results_dir), records or {}
    rows, judged = [], {}
    for claim in claims:
        base = {"claim": claim.id, "family": "headline" if claim.headline else "exploratory",
                "statement": claim.statement, "paper_note": claim.paper_note, "unit": claim.unit,
                "criterion": _criterion(claim), "sources": " ".join(claim.sources), "scale": scale}
        paper = _paper_effects(claim, reference)
        missing = next(((verdict, [s for s in claim.sources if s in absent])
                        for verdict, absent in ((NOT_RUN, not_run or {}), (PENDING, pending or {}))
                        if any(s in absent for s in claim.sources)), None)
        if missing is not None:
            verdict, sources = missing
            absent = not_run if verdict == NOT_RUN else pending
            rows.append({**base, "paper_effect": max(paper.values(), default=math.nan), "verdict": verdict,
                         "reason": "; ".join(f"{source}: {absent[source]}" for source in sources)})
            continue
        frames = {s: read_result(results_dir / f"{s}.csv") for s in claim.sources}
        estimates, effect, used, test = _estimates(claim, frames, records)
        first = next(iter(frames.values()))
        scale_here = str(first["scale"].iloc[0]) if len(first) else scale
        stand_ins = sorted({s for f in frames.values() if "data_stand_in" in f for s in f["data_stand_in"] if s})
        row = {**base, "scale": scale_here, "test": test, "stand_ins": " ".join(stand_ins),
               "data_source": "; ".join(sorted(set(first["data_source"]))) if "data_source" in first else "",
               "replicates": "; ".join(x for x in (effect.over, f"left out: {effect.dropped}" if effect.dropped else "")
                                       if x)}
        rule = (("no verdict (smoke scale)", "the smoke scale only checks that the DAG runs; its models are not judged")
                if scale_here == "smoke" else None)
        rule = rule or (("no verdict (no data)", "no row enters the effect") if not estimates else None)
        rule = rule or _model_note(used, models, claim.accuracy, claim.floor)
        name, judgement = _binding(claim, estimates) if estimates else ("", {})
        if estimates:
            e = estimates[name]
            row.update({"paper_effect": paper.get(name, math.nan), "effect": e.effect,
                        "seeds": ", ".join(map(str, e.seeds)), "images": e.images, "se": e.se, "df": e.df,
                        "seed_var": e.seed_var, "test_var": e.test_var,
                        "seed_component": e.seed_component, "image_component": e.image_component,
                        "residual_component": e.residual_component, "ci_low": judgement["ci_low"],
                        "ci_high": judgement["ci_high"], "p_value": judgement["p_value"], "mde": judgement["mde"],
                        "size": statistics.size_against(e, paper.get(name))})
            if len(estimates) > 1:
                row["replicates"] = "; ".join(x for x in (row["replicates"], f"deciding: {name}") if x)
        else:
            row["paper_effect"] = max(paper.values(), default=math.nan)
        if rule is not None:
            row.update(verdict=rule[0], reason=rule[1])
        else:
            row.update(verdict=judgement["verdict"], reason=judgement["reason"])
            judged[claim.id] = (claim, estimates)
        rows.append(row)
    card = pd.DataFrame(rows, columns=COLUMNS)
    return _holm(card, judged)


def _holm(card: pd.DataFrame, judged: dict) -> pd.DataFrame:
    """Holm's adjustment over the headline claims (rule 5): the adjusted p-value decides "holds";
    the exploratory claims keep their own."""
    headline = [i for i in card.index if card.at[i, "family"] == "headline"]
    # the family is the six pre-registered claims: one without a test here (not run, no verdict, or
    # not among ``claims``) counts as p = 1, never rejected
    tested = [card.at[i, "p_value"] if card.at[i, "claim"] in judged else 1.0 for i in headline]
    adjusted = statistics.holm(tested + [1.0] * (len(HEADLINE) - len(headline)))
    for i, p in zip(headline, adjusted):
        if card.at[i, "claim"] not in judged:
            continue
        claim, estimates = judged[card.at[i, "claim"]]
        _, judgement = _binding(claim, estimates, p_adjusted=None if math.isnan(p) else p)
        card.at[i, "p_holm"] = p
        card.at[i, "verdict"] = judgement["verdict"]
        card.at[i, "reason"] = f"Holm over the headline claims: {judgement['reason']}"
    for column in ("test", "replicates", "data_source", "stand_ins", "size", "seeds"):
        card[column] = card[column].astype(object).where(card[column].notna(), "")
    return card


def power(results_dir: str | Path, claims=CLAIMS, *, reference: str | Path | None = None,
          records: dict | None = None, images=(2000, 5000, 10000)) -> pd.DataFrame:
    """The power table of the headline claims: the variance components measured on the results in
    ``results_dir`` (seed, image, residual: :class:`tfsnn.report.statistics.Estimate`, at one
    seed per group and one image) and, for each test-set size in ``images``, the seeds per group
    (CIFAR-10's split: 10,000; only the current size where the rows' data is the whole dataset,
    ``data_subset`` "full") whose expected 95 % half-width is
    at most the target: half the paper's like-for-like effect,
    at least 1 point (an effect in another unit: half the paper's; none without one).
    ``seeds_needed`` 0: more than 40. Claims whose models have one value each (no per-item
    records) have their test-set noise inside the seed component: one row, ``images`` empty."""
    results_dir, records = Path(results_dir), records or {}
    rows = []
    for claim in (c for c in claims if c.headline):
        frames = {s: read_result(results_dir / f"{s}.csv") for s in claim.sources
                  if (results_dir / f"{s}.csv").is_file()}
        if len(frames) < len(claim.sources):
            continue
        estimates, _, _, _ = _estimates(claim, frames, records)
        if not estimates:
            continue
        name, _ = _binding(claim, estimates)
        e = estimates[name]
        paper = _paper_effects(claim, reference).get(name, math.nan)
        target = abs(paper) / 2 if math.isfinite(paper) else math.nan
        if claim.accuracy:
            target = max(1.0, target) if math.isfinite(target) else 1.0
        crossed = e.images > 1
        # more images where the rows' data is a subset (data_subset), else the whole test split's
        subset = any((f.get("data_subset", pd.Series(["full"])).astype(str) != "full").any() for f in frames.values())
        sizes = [N for N in images if N >= e.images] if subset else [e.images]
        for n, N, half in statistics.required_design(e, target, images=sizes if crossed else (1,)):
            rows.append({"claim": claim.id, "unit": claim.unit, "paper_effect": paper, "target_half_width": target,
                         "seeds_now": ", ".join(map(str, e.seeds)), "images_now": e.images if crossed else "",
                         "half_width_now": e.interval()[1] - e.effect, "seed_component": e.seed_component,
                         "image_component": e.image_component, "residual_component": e.residual_component,
                         "images": N if crossed else "", "seeds_needed": n, "half_width": half})
    return pd.DataFrame(rows)


def headline_figure(card: pd.DataFrame, pdf, png) -> None:
    """Each headline claim's effect with its 95 % interval (black) beside the paper's
    like-for-like effect (red diamond) and the claim's bound (dashed: 0, or the margin of an
    equivalence), one panel per claim in its own unit, its verdict as the panel's title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfsnn.io import atomic_path

    rows = card[card["family"] == "headline"]
    fig, axes = plt.subplots(len(rows), 1, figsize=(6.0, 1.0 * len(rows) + 0.4), squeeze=False)
    for ax, row in zip(axes[:, 0], rows.to_dict("records")):
        claim = next(c for c in CLAIMS if c.id == row["claim"])
        bounds = [-claim.margin, claim.margin] if claim.kind == "equivalent" else \
            [{"greater": 0.0, "not_worse": -claim.margin, "at_least": claim.margin}[claim.kind]]
        for bound in bounds:
            ax.axvline(bound, color="grey", ls="--", lw=0.8)
        if pd.notna(row["ci_low"]):
            ax.plot([row["ci_low"], row["ci_high"]], [0, 0], color="black", lw=2)
        if pd.notna(row["effect"]):
            ax.plot([row["effect"]], [0], "o", color="black", label="ours (95 % interval)")
        if pd.notna(row["paper_effect"]):
            ax.plot([row["paper_effect"]], [0], "D", color="tab:red", label="paper")
        ax.set_yticks([])
        ax.set_xlabel(row["unit"], fontsize=7, labelpad=1)
        ax.tick_params(labelsize=7)
        ax.set_title(f"{row['claim']}: {row['verdict']}", fontsize=8, loc="left")
    handles = {label: h for ax in axes[:, 0] for h, label in zip(*ax.get_legend_handles_labels())}
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="upper right", fontsize=7, frameon=False)
    fig.tight_layout()
    for path, kind in ((pdf, "pdf"), (png, "png")):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=kind, dpi=150)
    plt.close(fig)
