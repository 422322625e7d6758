"""The statistics of every verdict: trained seeds crossed with test images.

An accuracy is the mean of per-image outcomes ``y[s, i]`` (1 where model ``s`` is right on test
image ``i``, else 0; or any per-image value) over the ``n`` seeds of a set of independently
trained models and the ``N`` images of the one test set that every model sees. Seeds and images
are crossed random effects (the two-way random-effects model; Searle, Casella and McCulloch,
*Variance Components*, 1992, ch. 4)::

    y[s, i] = mu + a[s] + b[i] + e[s, i]      var a = seed, var b = image, var e = residual

**Groups and contrasts.** A *group* is one set of independently trained models (one per seed)
with one value per image and model (:class:`Group`): its correctness at one configuration, or a
within-model contrast such as its correctness at T=2 minus at T=6 (paired over seeds and images).
A *contrast* is ``D = sum_g w_g mean_{s,i} y_g[s, i]`` over groups that are independent over
seeds (two methods' runs that share a seed number are still independent trainings: nothing is
paired by seed between groups) and share the images (paired over images). Its variance is::

    var D = sum_g w_g^2 (seed_g / n_g + residual_g / (n_g N))  +  image / N

with ``image = var_i(sum_g w_g b_g[i])``, the variance of the per-image contrast of the groups'
image effects. It is estimated, each part once, as::

    sum_g w_g^2 MS_seed_g / (n_g N)  +  max(0, var_i(c) - sum_g w_g^2 MS_res_g / n_g) / N

- the *seed term*: ``MS_seed_g / N`` is the variance of group ``g``'s per-seed means, which holds
  its seed part and its residual (``n_g - 1`` degrees of freedom);
- the *test-set term*: ``c[i] = sum_g w_g mean_s y_g[s, i]`` is the per-image contrast of the seed
  means (the pairing over images); its variance over images holds the image part and, again,
  the residuals, which are taken out (``N - 1`` degrees of freedom).

``MS_seed`` and ``MS_res`` are the two-way ANOVA mean squares of a group (:func:`components`).
A group with one value per model (``N = 1``: a loss, a cosine, a correlation, an accuracy whose
images were not recorded) has no test-set term: its seed term is the plain variance over seeds,
and a contrast of such groups is Welch's.

**Interval.** ``D -/+ t(0.975, df) sqrt(var D)``, ``df`` Satterthwaite's over the terms, each
seed term taken at its upper quartile, ``MS_seed (n_g - 1) / chi2(0.25, n_g - 1)``, in the
``df`` only. Plain Satterthwaite plugs the estimated terms in: where a seed term of 2 degrees of
freedom comes out small by chance, the ``df`` grows exactly when the standard error is too small,
and the intervals over 3 seeds cover 92-94 % (simulated); at the upper quartile they cover
94-96 %. With 10 seeds the two hardly differ, and where the seed terms have equal ``n_g`` and
there is no test-set term the ``df`` is Welch's. The coverage is checked by simulation in
``tests/test_statistics.py`` (n = 3 and 10 seeds, within- and between-model contrasts, Gaussian
and 0/1 outcomes). With 3 seeds it assumes near-normal seed effects: with uniform ones even a t
interval over 3 exact means covers 92 %.

**Verdicts** (:func:`judge`): the direction of a claim (holds, does not hold: a significant
reversal, inconclusive), equivalence by two one-sided tests against a margin (TOST, Schuirmann
1987), non-inferiority and "at least" against a bound; Holm's step-down correction over a family
of pre-registered claims (:func:`holm`); the size against the paper's like-for-like effect
(:func:`size_against`); and the minimum detectable effect of an inconclusive result
(:func:`minimum_detectable_effect`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["ALPHA", "KINDS", "POWER", "Components", "Estimate", "Group", "components", "contrast", "holm", "judge",
           "minimum_detectable_effect", "required_design", "size_against"]

ALPHA = 0.05  # two-sided level of every interval and test: 95 % intervals
POWER = 0.80  # the power at which a minimum detectable effect is detected
DF_QUANTILE = 0.25  # the seed terms enter the degrees of freedom at this quantile of their chi-square


@dataclass(frozen=True)
class Group:
    """One set of independently trained models: ``values[s, i]`` the value of seed ``s``'s model
    on test image ``i`` (``[n, N]``; ``[n, 1]`` where there is one value per model), entering a
    contrast with ``weight``."""

    values: np.ndarray
    weight: float = 1.0

    def __post_init__(self):
        values = np.asarray(self.values, dtype=float)
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2 or values.shape[0] < 1 or values.shape[1] < 1:
            raise ValueError(f"a group's values are [seeds, images], got shape {np.shape(self.values)}")
        if not np.isfinite(values).all():
            raise ValueError("a group's values must be finite (drop the seeds or images that lack one)")
        object.__setattr__(self, "values", values)


@dataclass(frozen=True)
class Components:
    """Variance components of one group (:func:`components`), per model and per image."""

    seed: float
    image: float
    residual: float


def _mean_squares(y: np.ndarray) -> tuple[float, float, float]:
    """The two-way ANOVA mean squares (seed, image, residual) of ``[n, N]`` values; NaN where a
    factor has one level (the residual too)."""
    n, N = y.shape
    grand = y.mean()
    seed_means, image_means = y.mean(axis=1), y.mean(axis=0)
    ms_seed = N * float(((seed_means - grand) ** 2).sum()) / (n - 1) if n > 1 else math.nan
    ms_image = n * float(((image_means - grand) ** 2).sum()) / (N - 1) if N > 1 else math.nan
    if n == 1 or N == 1:
        return ms_seed, ms_image, math.nan
    resid = y - seed_means[:, None] - image_means[None, :] + grand
    return ms_seed, ms_image, float((resid**2).sum()) / ((n - 1) * (N - 1))


def components(values: np.ndarray) -> Components:
    """The two-way ANOVA (method of moments) estimates of one group's ``[n, N]`` values, each
    truncated at 0: ``seed = (MS_seed - MS_res) / N``, ``image = (MS_image - MS_res) / n``,
    ``residual = MS_res``. With ``N = 1`` the seed component is the variance over seeds (it holds
    the residual too); with ``n = 1`` there is none (NaN)."""
    y = Group(values).values
    n, N = y.shape
    ms_seed, ms_image, ms_res = _mean_squares(y)
    if N == 1:
        return Components(seed=ms_seed, image=0.0, residual=0.0)
    if n == 1:
        return Components(seed=math.nan, image=ms_image, residual=math.nan)
    return Components(seed=max(0.0, (ms_seed - ms_res) / N), image=max(0.0, (ms_image - ms_res) / n),
                      residual=ms_res)


@dataclass(frozen=True)
class Estimate:
    """A contrast (:func:`contrast`): its value, the two variance terms of the module docstring,
    Satterthwaite's degrees of freedom, the seeds per group and the images."""

    effect: float
    seed_var: float  # sum_g w_g^2 MS_seed_g / (n_g N)
    test_var: float  # max(0, var_i(c) - sum_g w_g^2 MS_res_g / n_g) / N
    df: float
    seeds: tuple[int, ...]
    images: int
    seed_component: float  # sum_g w_g^2 seed_g: the seed part at one seed per group
    image_component: float  # var_i(sum_g w_g b_g[i]): the image part at one image
    residual_component: float  # sum_g w_g^2 residual_g: the residual at one seed and one image

    @property
    def se(self) -> float:
        return math.sqrt(self.seed_var + self.test_var)

    def interval(self, alpha: float = ALPHA) -> tuple[float, float]:
        """The two-sided ``1 - alpha`` t interval (NaN without an estimate of the seed term)."""
        if math.isnan(self.df):
            return math.nan, math.nan
        half = float(stats.t.ppf(1 - alpha / 2, self.df)) * self.se
        return self.effect - half, self.effect + half

    def p_greater(self, bound: float = 0.0) -> float:
        """One-sided p-value of ``effect <= bound`` against ``effect > bound``."""
        if math.isnan(self.df):
            return math.nan
        if self.se == 0:
            return 0.0 if self.effect > bound else 1.0
        return float(stats.t.sf((self.effect - bound) / self.se, self.df))

    def p_less(self, bound: float = 0.0) -> float:
        """One-sided p-value of ``effect >= bound`` against ``effect < bound``."""
        if math.isnan(self.df):
            return math.nan
        if self.se == 0:
            return 0.0 if self.effect < bound else 1.0
        return float(stats.t.cdf((self.effect - bound) / self.se, self.df))


def contrast(groups: Sequence[Group]) -> Estimate:
    """``D = sum_g w_g mean(values_g)`` and its variance (module docstring). Every group must have
    the same images (columns, in the same order); a group of one seed leaves the seed term, and
    so the interval, unknown (``df`` NaN)."""
    groups = [g if isinstance(g, Group) else Group(g) for g in groups]
    if not groups:
        raise ValueError("a contrast needs at least one group")
    images = {g.values.shape[1] for g in groups}
    if len(images) != 1:
        raise ValueError(f"the groups of a contrast must share their test images; they have {sorted(images)} columns")
    N = images.pop()
    n = [g.values.shape[0] for g in groups]
    w2 = [g.weight**2 for g in groups]
    effect = float(sum(g.weight * g.values.mean() for g in groups))
    squares = [_mean_squares(g.values) for g in groups]
    comps = [components(g.values) for g in groups]
    if any(k < 2 for k in n):
        return Estimate(effect=effect, seed_var=math.nan, test_var=math.nan, df=math.nan, seeds=tuple(n), images=N,
                        seed_component=math.nan, image_component=math.nan, residual_component=math.nan)
    seed_terms = [w * ms_seed / (k * N) for w, (ms_seed, _, _), k in zip(w2, squares, n)]
    image_component = test_var = residual = 0.0
    if N > 1:
        per_image = sum(g.weight * g.values.mean(axis=0) for g in groups)
        residual = sum(w * ms_res for w, (_, _, ms_res) in zip(w2, squares))
        image_component = max(0.0, float(np.var(per_image, ddof=1))
                              - sum(w * ms_res / k for w, (_, _, ms_res), k in zip(w2, squares, n)))
        test_var = image_component / N
    # Satterthwaite's df, with each seed term at its upper quartile (module docstring)
    terms = [(t * (k - 1) / stats.chi2.ppf(DF_QUANTILE, k - 1), k - 1) for t, k in zip(seed_terms, n)]
    terms.append((test_var, N - 1))
    total = sum(t for t, _ in terms)
    df = total**2 / sum(t**2 / d for t, d in terms if t > 0) if total > 0 else math.inf
    return Estimate(effect=effect, seed_var=float(sum(seed_terms)), test_var=test_var, df=df, seeds=tuple(n),
                    images=N, seed_component=float(sum(w * c.seed for w, c in zip(w2, comps))),
                    image_component=image_component, residual_component=float(residual))


def minimum_detectable_effect(estimate: Estimate, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest true effect that a two-sided test at ``alpha`` detects with probability
    ``power``, at this design's standard error: ``(t(1 - alpha/2, df) + t(power, df)) se``."""
    if math.isnan(estimate.df):
        return math.nan
    return (float(stats.t.ppf(1 - alpha / 2, estimate.df)) + float(stats.t.ppf(power, estimate.df))) * estimate.se


KINDS = ("greater", "not_worse", "at_least", "equivalent")


def _p_value(estimate: Estimate, kind: str, margin: float) -> float:
    """The p-value of the claim's test, its null that the claim is false, scaled so that the claim
    holds where it is below ``alpha``: twice the one-sided p of a directional claim (it holds
    where the two-sided ``1 - alpha`` interval clears the bound), the larger of TOST's two
    one-sided p-values for an equivalence (it holds where the ``1 - 2 alpha`` interval lies
    inside the margin)."""
    if kind == "equivalent":
        return max(estimate.p_greater(-margin), estimate.p_less(margin))
    bound = {"greater": 0.0, "not_worse": -margin, "at_least": margin}.get(kind)
    if bound is None:
        raise ValueError(f"unknown claim kind {kind!r}; valid: {', '.join(KINDS)}")
    return min(1.0, 2 * estimate.p_greater(bound)) if not math.isnan(estimate.df) else math.nan


def judge(estimate: Estimate, kind: str = "greater", margin: float = 0.0, alpha: float = ALPHA,
          p_adjusted: float | None = None) -> dict:
    """The verdict on a claim of ``kind`` from its estimate:

    - ``greater`` (the effect is positive): holds if the ``1 - alpha`` interval lies above 0,
      does not hold (a significant reversal) if it lies below;
    - ``not_worse`` (``D > -margin``) and ``at_least`` (``D >= margin``): the same against that
      bound;
    - ``equivalent`` (``|D| < margin``): holds if both one-sided tests of TOST reject (the
      ``1 - 2 alpha`` interval lies inside ``(-margin, margin)``), does not hold if the effect is
      significantly outside the margin;
    - else inconclusive, with the minimum detectable effect.

    ``p_adjusted``: the claim's p-value after a multiplicity correction (:func:`holm`), which then
    decides "holds"; "does not hold" always uses the uncorrected two-sided level."""
    low, high = estimate.interval(alpha)
    out = {"effect": estimate.effect, "se": estimate.se, "df": estimate.df, "ci_low": low, "ci_high": high,
           "p_value": _p_value(estimate, kind, margin), "mde": minimum_detectable_effect(estimate, alpha)}
    p = out["p_value"] if p_adjusted is None else p_adjusted
    if math.isnan(p):
        return {**out, "verdict": "no verdict (one seed)", "reason": "one trained seed in a group: no spread to "
                "weigh the effect against"}
    shown = f"{1 - alpha:.0%} interval [{low:.3g}, {high:.3g}], p = {p:.2g}"
    if p < alpha:
        return {**out, "verdict": "holds", "reason": shown}
    if kind == "equivalent":  # significantly outside the margin
        refuted = estimate.p_greater(margin) < alpha / 2 or estimate.p_less(-margin) < alpha / 2
    else:  # significantly on the wrong side of the bound
        refuted = estimate.p_less({"greater": 0.0, "not_worse": -margin, "at_least": margin}[kind]) < alpha / 2
    if refuted:
        return {**out, "verdict": "does not hold", "reason": shown}
    return {**out, "verdict": "inconclusive", "reason": f"{shown}; detectable at 80 % power: {out['mde']:.3g}"}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979): sorted ascending, the ``k``-th (from 1) is
    ``max_{j <= k} min(1, (m - j + 1) p_(j))``. NaN p-values (claims without a test) are left out of
    the family and stay NaN."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, math.nan)
    tested = np.flatnonzero(~np.isnan(p))
    m = len(tested)
    running = 0.0
    for rank, index in enumerate(tested[np.argsort(p[tested], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


def size_against(estimate: Estimate, paper_effect: float | None, alpha: float = ALPHA) -> str:
    """Our effect's size against the paper's like-for-like effect: inside our interval, or ours
    smaller / larger (the interval lies below / above it); "" without a like-for-like effect."""
    low, high = estimate.interval(alpha)
    if paper_effect is None or not math.isfinite(paper_effect) or math.isnan(low):
        return ""
    if high < paper_effect:
        return "ours smaller"
    if low > paper_effect:
        return "ours larger"
    return "paper's inside ours"


def required_design(estimate: Estimate, half_width: float, seeds: Sequence[int] = range(2, 41),
                    images: Sequence[int] = (2000, 5000, 10000), alpha: float = ALPHA) -> list[tuple[int, int, float]]:
    """For each test-set size in ``images``, the fewest seeds per group (from ``seeds``) whose
    expected 95 % half-width, ``t(1 - alpha/2, n - 1) sqrt(seed/n + image/N + residual/(n N))``
    with this estimate's components, is at most ``half_width``: ``(n, N, half-width)``; ``n`` is 0
    where no count in ``seeds`` reaches it."""
    out = []
    for N in images:
        found = (0, N, math.nan)
        for n in seeds:
            se = math.sqrt(estimate.seed_component / n + estimate.image_component / N
                           + estimate.residual_component / (n * N))
            half = float(stats.t.ppf(1 - alpha / 2, n - 1)) * se
            if half <= half_width:
                found = (n, N, half)
                break
        out.append(found)
    return out
