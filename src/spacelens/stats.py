"""Confidence intervals and p-values: the one place spacelens computes them.

Every sampled or paired figure spacelens reports (a sampled mean Jaccard, a sampled
evaluation, a map's faithfulness, B - A of two spaces) comes with an interval from here, so
that one method gives one number wherever it is shown. numpy and the standard library only:
scipy's import costs seconds, and these run on every command.

- :func:`t_quantile`: Student's t quantile without scipy.
- :func:`mean_ci`: mean of a random sample of a score in [0, 1] (Jaccard, recall, P@1,
  faithfulness), t interval with the finite population correction, clipped to [0, 1].
- :func:`t_interval`: mean of paired differences d with Student's t interval, unclipped
  (the CLT interval; used for per-item agreement, where n is large).
- :func:`bootstrap_interval`: the percentile bootstrap of the mean of d (resample units with
  replacement, B = 2,000), no normality assumed; above ``BOOTSTRAP_MAX_WORK`` resampled values
  it falls back to the t interval, which the bootstrap converges to for large n, and says so.
- :func:`sign_flip_pvalue`: the paired randomization test (Fisher): under "no difference"
  each d_i is as likely to be -d_i, so the observed |mean d| is ranked among the |mean| of
  randomly sign-flipped copies: p = (1 + #{|mean(s d)| >= |mean d|}) / (B + 1), B = 9,999
  (a valid p-value for any B). Above ``RANDOMIZATION_MAX_WORK`` it uses the normal limit of the
  same randomization distribution, z = sum d / sqrt(sum d^2).
- :func:`excludes_zero`: whether an interval says the difference is not noise.
"""

from __future__ import annotations

import math

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
RANDOMIZATION_RESAMPLES = 9999
BOOTSTRAP_MAX_WORK = 4e8        # resamples x units; beyond, the t interval (same limit, no work)
RANDOMIZATION_MAX_WORK = 4e8
_CHUNK = 1 << 24                # values generated per step


def t_quantile(p: float, df: int) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom (no scipy: its import costs seconds).

    Exact for df = 1, 2; above, the Cornish-Fisher expansion around the normal quantile
    (Abramowitz & Stegun 26.7.5): for a 95% interval within 0.2% of exact at df = 3, 1e-6 at df = 30.
    """
    from statistics import NormalDist

    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) * math.sqrt(2 / (4 * p * (1 - p)))
    z = NormalDist().inv_cdf(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def mean_ci(values: np.ndarray, population: int | None = None, level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of a random sample and its ``level`` confidence interval.

    t interval on the sample standard deviation; with ``population`` (the number of items
    the sample was drawn from, without replacement) the finite population correction is
    applied, so the interval shrinks to the exact value when the whole population is sampled.
    Bounds are clipped to [0, 1], the range of the scores it serves (Jaccard, recall, P@1,
    faithfulness); one value gives the whole range [0, 1].
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if n == 1:
        return mean, 0.0, 1.0
    se = float(v.std(ddof=1)) / math.sqrt(n)
    if population is not None and population > 1:
        se *= math.sqrt(max(population - n, 0) / (population - 1))
    half = t_quantile(0.5 + level / 2, n - 1) * se
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def t_interval(d, level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)`` of the values ``d`` with Student's t interval (no clipping).

    For differences, which may be negative; cheap at any n, and what the bootstrap tends to
    for large n. One value gives NaN bounds (no spread to measure).
    """
    d = np.asarray(d, dtype=np.float64)
    n = d.size
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(d.mean())
    if n == 1:
        return mean, float("nan"), float("nan")
    half = t_quantile(0.5 + level / 2, n - 1) * float(d.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half


def bootstrap_interval(d, level: float = 0.95, n_resamples: int = BOOTSTRAP_RESAMPLES,
                       seed: int = 0) -> tuple[float, float, float, str]:
    """``(mean, low, high, method)``: percentile bootstrap interval of the mean of ``d``.

    No normality assumed: per-query score differences are lumpy (P@1 differences are -1, 0
    or 1). ``method`` says which interval was computed (the t interval when n < 2 or the
    resampling would exceed ``BOOTSTRAP_MAX_WORK``).
    """
    d = np.asarray(d, dtype=np.float64)
    n = d.size
    if n < 2:
        return (*t_interval(d, level), "t")
    if n * n_resamples > BOOTSTRAP_MAX_WORK:
        return (*t_interval(d, level), f"t interval (n = {n:,}: the bootstrap's large-n limit)")
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    step = max(1, _CHUNK // n)
    for s in range(0, n_resamples, step):
        b = min(step, n_resamples - s)
        means[s:s + b] = d[rng.integers(0, n, size=(b, n))].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(d.mean()), float(lo), float(hi), f"percentile bootstrap ({n_resamples:,} resamples)"


def sign_flip_pvalue(d, n_resamples: int = RANDOMIZATION_RESAMPLES, seed: int = 0) -> tuple[float, str]:
    """``(p, method)``: two-sided paired randomization (sign-flip) p-value for mean(d) = 0.

    Exact in the sense of a permutation test (valid for any number of resamples, no
    distribution assumed); the normal limit above ``RANDOMIZATION_MAX_WORK``.
    """
    d = np.asarray(d, dtype=np.float64)
    n = d.size
    if n == 0 or not np.any(d):
        return 1.0, "all differences are 0"
    if n * n_resamples > RANDOMIZATION_MAX_WORK:
        from statistics import NormalDist

        z = abs(d.sum()) / math.sqrt(float(d @ d))
        return float(2 * (1 - NormalDist().cdf(z))), f"sign-flip randomization, normal limit (n = {n:,})"
    rng = np.random.default_rng(seed)
    observed = abs(d.sum())
    tol = 1e-9 * max(1.0, float(np.abs(d).sum()))
    hits = 0
    step = max(1, _CHUNK // n)
    for s in range(0, n_resamples, step):
        b = min(step, n_resamples - s)
        signs = rng.integers(0, 2, size=(b, n), dtype=np.int8) * 2 - 1
        hits += int((np.abs(signs @ d) >= observed - tol).sum())
    return (1 + hits) / (n_resamples + 1), f"sign-flip randomization ({n_resamples:,} resamples)"


def excludes_zero(ci) -> bool:
    """Whether the interval ``[low, high]`` lies wholly above or below 0 (missing bounds: no)."""
    lo, hi = ci
    return lo is not None and hi is not None and (lo > 0 or hi < 0)
