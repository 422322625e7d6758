"""The statistics of the verdicts (tfsnn.report.statistics): hand-computed cases, and the coverage
of its intervals over simulated experiments of seeds crossed with test images."""

import math

import numpy as np
import pytest
from scipy import stats

from tfsnn.report.statistics import (Group, components, contrast, holm, judge, minimum_detectable_effect,
                                     required_design, size_against)

EXPERIMENTS = 2000


def test_components_of_a_hand_computed_table():
    # y = [[1, 2, 3], [3, 4, 8]]: grand mean 3.5, seed means 2 and 5, image means 2, 3, 5.5
    # MS_seed = 3 * (1.5^2 + 1.5^2) / 1 = 13.5; MS_image = 2 * (1.5^2 + 0.5^2 + 2^2) / 2 = 6.5
    # residuals: y - seed - image + grand = [[.5, .5, -1], [-.5, -.5, 1]]: MS_res = 3 / 2 = 1.5
    c = components([[1, 2, 3], [3, 4, 8]])
    assert c.residual == pytest.approx(1.5)
    assert c.seed == pytest.approx((13.5 - 1.5) / 3)
    assert c.image == pytest.approx((6.5 - 1.5) / 2)


def test_a_within_model_contrast_by_hand():
    # the seed term is the variance of the per-seed means (2, 5) over n: MS_seed / (n N) = 13.5 / 6;
    # the test-set term that of the image means (2, 3, 5.5: 3.25) less the residual's share of it
    # (MS_res / n = 0.75), over N: 2.5 / 3
    e = contrast([Group([[1, 2, 3], [3, 4, 8]])])
    assert e.effect == pytest.approx(3.5)
    assert e.seed_var == pytest.approx(2.25) and e.test_var == pytest.approx(2.5 / 3)
    # Satterthwaite, the seed term at its upper quartile: 2.25 * 1 / chi2(0.25, 1)
    seed = 2.25 / stats.chi2.ppf(0.25, 1)
    assert e.df == pytest.approx((seed + 2.5 / 3) ** 2 / (seed**2 / 1 + (2.5 / 3) ** 2 / 2))
    low, high = e.interval()
    assert (high - low) / 2 == pytest.approx(stats.t.ppf(0.975, e.df) * math.sqrt(2.25 + 2.5 / 3))
    assert (e.seed_component, e.image_component, e.residual_component) == pytest.approx((4.0, 2.5, 1.5))


def _residual_mean_square(y):
    r = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + y.mean()
    return (r**2).sum() / ((y.shape[0] - 1) * (y.shape[1] - 1))


def test_a_between_method_contrast_is_welch_over_seeds_and_paired_over_images():
    a = np.array([[1.0, 0, 1, 1], [1, 1, 1, 0], [1, 1, 0, 1]])
    b = np.array([[1.0, 0, 0, 1], [0, 1, 1, 0], [1, 1, 0, 1]])
    e = contrast([Group(a, 1.0), Group(b, -1.0)])
    assert e.effect == pytest.approx(a.mean() - b.mean())
    assert e.seeds == (3, 3) and e.images == 4
    # each method's per-seed means vary on their own (no pairing by seed number)
    assert e.seed_var == pytest.approx(np.var(a.mean(axis=1), ddof=1) / 3 + np.var(b.mean(axis=1), ddof=1) / 3)
    per_image = a.mean(axis=0) - b.mean(axis=0)  # the pairing over images
    residuals = _residual_mean_square(a) / 3 + _residual_mean_square(b) / 3
    assert e.test_var == pytest.approx(max(0.0, np.var(per_image, ddof=1) - residuals) / 4)


def test_one_value_per_model_is_welch():
    a, b = np.array([0.91, 0.95, 0.93]), np.array([0.90, 0.85, 0.88])
    e = contrast([Group(a), Group(b, -1.0)])
    welch = stats.ttest_ind(a, b, equal_var=False)
    assert e.test_var == 0 and e.effect == pytest.approx(a.mean() - b.mean())
    assert e.effect / e.se == pytest.approx(welch.statistic)
    assert e.df == pytest.approx(welch.df)


def test_one_seed_gives_no_interval():
    e = contrast([Group([[1.0, 0.0, 1.0]]), Group([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]], -1.0)])
    assert math.isnan(e.df) and all(math.isnan(v) for v in e.interval())
    assert judge(e)["verdict"] == "no verdict (one seed)"


def test_bad_groups_are_refused():
    with pytest.raises(ValueError, match="share their test images"):
        contrast([Group(np.ones((2, 3))), Group(np.ones((2, 4)), -1.0)])
    with pytest.raises(ValueError, match="finite"):
        Group([[1.0, math.nan]])
    with pytest.raises(ValueError, match="unknown claim kind"):
        judge(contrast([Group(np.eye(3))]), kind="bigger")


def _estimate(effect, se, df):
    """An estimate with this effect, standard error and degrees of freedom (a seed term alone)."""
    from tfsnn.report.statistics import Estimate

    return Estimate(effect=effect, seed_var=se**2, test_var=0.0, df=df, seeds=(df + 1,), images=1,
                    seed_component=se**2 * (df + 1), image_component=0.0, residual_component=0.0)


@pytest.mark.parametrize("kind, margin, effect, verdict", [
    ("greater", 0.0, 3.0, "holds"), ("greater", 0.0, -3.0, "does not hold"), ("greater", 0.0, 1.0, "inconclusive"),
    ("not_worse", 1.0, -0.5, "inconclusive"), ("not_worse", 1.0, 2.0, "holds"),
    ("not_worse", 1.0, -4.0, "does not hold"),
    ("at_least", 0.9, 0.95, "inconclusive"), ("at_least", 0.5, 3.0, "holds"),
    ("equivalent", 3.0, 0.2, "holds"), ("equivalent", 1.0, 0.2, "inconclusive"),
    ("equivalent", 1.0, 5.0, "does not hold"),
])
def test_verdicts(kind, margin, effect, verdict):
    # se 1, df 1000: the 95 % interval is effect -/+ 1.96, TOST's 90 % one effect -/+ 1.65
    assert judge(_estimate(effect, 1.0, 1000), kind, margin)["verdict"] == verdict


def test_equivalence_is_tost_at_the_90_percent_interval():
    # margin 2: |effect| + 1.646 se < 2 is equivalence; 0.3 passes, 0.4 does not
    assert judge(_estimate(0.3, 1.0, 10**6), "equivalent", 2.0)["verdict"] == "holds"
    assert judge(_estimate(0.4, 1.0, 10**6), "equivalent", 2.0)["verdict"] == "inconclusive"


def test_minimum_detectable_effect_and_size():
    e = _estimate(1.0, 1.0, 10**6)
    assert minimum_detectable_effect(e) == pytest.approx(1.959964 + 0.841621, rel=1e-5)
    assert size_against(e, 0.5) == "paper's inside ours"
    assert size_against(e, 4.0) == "ours smaller" and size_against(e, -2.0) == "ours larger"
    assert size_against(e, None) == "" and size_against(e, math.nan) == ""


def test_holm_by_hand():
    # sorted 0.01, 0.02, 0.04 of m = 3: 0.03, max(0.03, 0.04), max(0.04, 0.04); NaN stays out
    assert holm([0.04, 0.01, math.nan, 0.02]) == pytest.approx([0.04, 0.03, math.nan, 0.04], nan_ok=True)
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    # a holding claim that Holm's correction turns inconclusive
    e = _estimate(2.2, 1.0, 10**6)
    assert judge(e)["verdict"] == "holds"
    assert judge(e, p_adjusted=holm([judge(e)["p_value"]] * 3)[0])["verdict"] == "inconclusive"


def test_required_design_shrinks_with_seeds_and_images():
    rng = np.random.default_rng(0)
    e = contrast([Group(rng.normal(0, 1, (4, 300)) + rng.normal(0, 2, (4, 1)))])
    plan = required_design(e, half_width=1.5, images=(300, 3000))
    for n, N, half in plan:
        assert n >= 2 and half <= 1.5
        se = math.sqrt(e.seed_component / (n - 1) + e.image_component / N + e.residual_component / ((n - 1) * N))
        assert n == 2 or stats.t.ppf(0.975, n - 2) * se > 1.5  # one seed fewer would not do
    assert required_design(e, half_width=1e-6, seeds=range(2, 5))[0][0] == 0


# ------------------------------------------------------------------ coverage by simulation


def _gaussian(rng, n, N, seed_sd, image_sd, resid_sd, images=None):
    """``[EXPERIMENTS, n, N]`` draws of ``a[s] + b[i] + e[s, i]`` (``images``: shared ``b``)."""
    b = rng.normal(0, image_sd, (EXPERIMENTS, 1, N)) if images is None else images
    return rng.normal(0, seed_sd, (EXPERIMENTS, n, 1)) + b + rng.normal(0, resid_sd, (EXPERIMENTS, n, N))


def _coverage(experiments, truth):
    hits = 0
    for groups in experiments:
        low, high = contrast(groups).interval()
        hits += low <= truth <= high
    return hits / EXPERIMENTS


# seed-dominated, image-dominated and balanced noise (the small scale's CIFAR runs sit in between:
# a seed sd of 1.4-3 points against 2,000 images)
NOISE = {"seeds": (1.0, 1.0, 1.0), "images": (0.02, 2.0, 1.0), "balanced": (0.12, 1.5, 1.0)}


@pytest.mark.parametrize("n", [3, 10])
@pytest.mark.parametrize("noise", list(NOISE))
def test_coverage_within_one_model(n, noise):
    """Paired over seeds and images: one checkpoint per seed, its per-image contrast (e.g. T=2
    against T=6) with true mean 0.7."""
    rng = np.random.default_rng([n, list(NOISE).index(noise)])
    y = 0.7 + _gaussian(rng, n, 200, *NOISE[noise])
    coverage = _coverage(([Group(v)] for v in y), 0.7)
    assert 0.93 <= coverage <= 0.97, coverage


@pytest.mark.parametrize("n_a, n_b", [(3, 3), (10, 10), (3, 10)])
@pytest.mark.parametrize("noise", list(NOISE))
def test_coverage_between_methods(n_a, n_b, noise):
    """Independent over seeds, paired over images: two methods' models on the same images, whose
    image effects are correlated (a shared part and a method-specific part)."""
    rng = np.random.default_rng([n_a, n_b, list(NOISE).index(noise)])
    seed_sd, image_sd, resid_sd = NOISE[noise]
    shared = rng.normal(0, image_sd, (EXPERIMENTS, 1, 200))
    a = 0.5 + _gaussian(rng, n_a, 200, seed_sd, 0.5 * image_sd, resid_sd) + shared
    b = 0.2 + _gaussian(rng, n_b, 200, seed_sd, 0.5 * image_sd, resid_sd) + shared
    coverage = _coverage(([Group(x), Group(z, -1.0)] for x, z in zip(a, b)), 0.3)
    assert 0.93 <= coverage <= 0.97, coverage


@pytest.mark.parametrize("n", [3, 10])
def test_coverage_of_accuracies(n):
    """Correctness as 0/1 outcomes: image ``i`` is right with probability ``p[i] + a[s]``
    (image difficulty ``p ~ U(0.35, 0.85)``, seed shift ``a ~ N(0, 0.04)``, so the accuracy over
    the populations of images and trainings is 0.6); for the contrast, a second configuration of
    the same checkpoint (e.g. a lower T) is right with probability ``p[i] - 0.05 + u[i] + a[s]``
    (``u ~ U(-0.05, 0.05)``), on the same draws: a true contrast of 0.05."""
    rng = np.random.default_rng(n)
    p = rng.uniform(0.35, 0.85, (EXPERIMENTS, 1, 500))
    shift = rng.normal(0, 0.04, (EXPERIMENTS, n, 1))
    u = rng.uniform(0, 1, (EXPERIMENTS, n, 500))
    right = (u < p + shift).astype(float)
    assert 0.93 <= _coverage(([Group(y)] for y in right), 0.6) <= 0.97
    lower = (u < p - 0.05 + rng.uniform(-0.05, 0.05, (EXPERIMENTS, 1, 500)) + shift).astype(float)
    assert 0.93 <= _coverage(([Group(y - z)] for y, z in zip(right, lower)), 0.05) <= 0.97
