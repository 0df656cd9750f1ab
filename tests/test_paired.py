"""Paired statistics that can fail: interval coverage on simulated paired data with a known
difference, uniform randomization p-values under no difference, power under a planted one."""

from __future__ import annotations

import numpy as np
import pytest

from spacelens.evaluate.paired import paired_difference
from spacelens.stats import bootstrap_interval, sign_flip_pvalue, t_interval

SEEDS = 600


def _paired_scores(rng, n, delta):
    """Per-query scores of two spaces: a shared query difficulty plus space noise; mean(b - a) = delta."""
    difficulty = rng.beta(2, 2, size=n)
    a = difficulty + rng.normal(0, 0.15, size=n)
    b = difficulty + delta + rng.normal(0, 0.15, size=n)
    return a, b


@pytest.mark.parametrize("method", ["bootstrap", "t"])
def test_interval_covers_the_true_difference_95_percent(method):
    delta, n, covered = 0.04, 80, 0
    for seed in range(SEEDS):
        a, b = _paired_scores(np.random.default_rng(seed), n, delta)
        d = b - a
        if method == "bootstrap":
            _, lo, hi, _ = bootstrap_interval(d, n_resamples=1000, seed=seed)
        else:
            _, lo, hi = t_interval(d)
        covered += lo <= delta <= hi
    assert 0.93 <= covered / SEEDS <= 0.97, covered / SEEDS


def test_binary_scores_interval_coverage():
    # P@1 is 0/1 per query: correlated Bernoulli pairs with known P(b) - P(a) = 0.1
    n, covered = 300, 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(10_000 + seed)
        u = rng.random(n)
        a = (u < 0.6).astype(float)
        b = (u < 0.7).astype(float)
        flip = rng.random(n) < 0.2           # some discordant pairs both ways
        b[flip] = 1 - b[flip]
        true = 0.7 * 0.8 + 0.3 * 0.2 - 0.6   # E[b] - E[a]
        _, lo, hi, _ = bootstrap_interval(b - a, n_resamples=1000, seed=seed)
        covered += lo <= true <= hi
    assert 0.93 <= covered / SEEDS <= 0.97, covered / SEEDS


def test_pvalues_uniform_under_no_difference():
    from scipy import stats

    ps = []
    for seed in range(SEEDS):
        a, b = _paired_scores(np.random.default_rng(50_000 + seed), 60, 0.0)
        ps.append(sign_flip_pvalue(b - a, n_resamples=999, seed=seed)[0])
    ps = np.array(ps)
    assert stats.kstest(ps, "uniform").pvalue > 0.01
    assert 0.03 <= (ps < 0.05).mean() <= 0.07


def test_planted_difference_is_found():
    found = 0
    for seed in range(100):
        a, b = _paired_scores(np.random.default_rng(90_000 + seed), 200, 0.06)
        found += sign_flip_pvalue(b - a, n_resamples=999, seed=seed)[0] < 0.05
    assert found >= 95  # power ~ 1 for an effect of 0.06 at sd 0.21 and n = 200


def test_exact_randomization_distribution_small_case():
    # n = 4: all 16 sign patterns; d = (1, 2, 3, 4): |sum| >= 10 only for all + or all -: p = 2/16
    d = np.array([1.0, 2.0, 3.0, 4.0])
    p, _ = sign_flip_pvalue(d, n_resamples=200_000, seed=0)
    assert p == pytest.approx(2 / 16, abs=0.005)


def test_large_n_uses_normal_limits_consistently():
    rng = np.random.default_rng(0)
    d = rng.normal(0.01, 0.3, size=300_000)
    mean, lo, hi, method = bootstrap_interval(d)
    assert "t interval" in method
    m2, lo2, hi2 = t_interval(d)
    assert (mean, lo, hi) == (m2, lo2, hi2)
    p, how = sign_flip_pvalue(d)
    assert "normal" in how and p < 1e-10


def test_paired_difference_summary_brute_force():
    a = np.array([0.1, 0.5, np.nan, 0.9, 0.4])
    b = np.array([0.3, 0.5, 0.2, 0.6, 0.8])
    out = paired_difference(a, b, interval="t")
    d = np.array([0.2, 0.0, -0.3, 0.4])
    assert out["n"] == 4
    assert out["difference"] == pytest.approx(d.mean())
    assert (out["b_better"], out["a_better"], out["ties"]) == (2, 1, 1)
    assert out["mean_a"] == pytest.approx(np.mean([0.1, 0.5, 0.9, 0.4]))


def test_interval_and_p_value_do_not_depend_on_the_order_of_the_units():
    """Permuting the paired units (queries listed in another order) gives the same interval and
    p-value to the last bit: resamples are drawn over the sorted differences."""
    from spacelens.evaluate.paired import paired_difference

    rng = np.random.default_rng(4)
    a = rng.random(300)
    b = np.clip(a + rng.normal(0.02, 0.1, 300), 0, 1)
    perm = rng.permutation(300)
    one, two = paired_difference(a, b, seed=7), paired_difference(a[perm], b[perm], seed=7)
    assert one["ci95"] == two["ci95"] and one["p_value"] == two["p_value"]
    assert one["difference"] == pytest.approx(two["difference"], abs=1e-15)
