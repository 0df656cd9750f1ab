"""Paired statistics: is the difference between two scorings of the same units more than noise?

Two spaces scored on the same queries (or two comparisons on the same items) give paired
values a_i, b_i; everything here works on the differences d_i = b_i - a_i, so what the units
share (an easy query is easy in both spaces) cancels out.

- :func:`t_interval`: mean of d with Student's t interval (the CLT interval; used for
  per-item agreement, where n is large).
- :func:`bootstrap_interval`: the percentile bootstrap of the mean of d (resample units with
  replacement, B = 2,000), no normality assumed; above ``BOOTSTRAP_MAX_WORK`` resampled values
  it falls back to the t interval, which the bootstrap converges to for large n, and says so.
- :func:`sign_flip_pvalue`: the paired randomization test (Fisher): under "no difference"
  each d_i is as likely to be -d_i, so the observed |mean d| is ranked among the |mean| of
  randomly sign-flipped copies: p = (1 + #{|mean(s d)| >= |mean d|}) / (B + 1), B = 9,999
  (a valid p-value for any B). Above ``RANDOMIZATION_MAX_WORK`` it uses the normal limit of the
  same randomization distribution, z = sum d / sqrt(sum d^2).

Units are treated as independent. For per-item kNN agreement they are not quite (neighbours
share neighbours), so those intervals are a little narrow; the readings say so.
"""

from __future__ import annotations

import math

import numpy as np

from spacelens.compare.sampled import t_quantile

BOOTSTRAP_RESAMPLES = 2000
RANDOMIZATION_RESAMPLES = 9999
BOOTSTRAP_MAX_WORK = 4e8        # resamples x units; beyond, the t interval (same limit, no work)
RANDOMIZATION_MAX_WORK = 4e8
_CHUNK = 1 << 24                # values generated per step


def t_interval(d, level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)`` of the values ``d`` with Student's t interval (no clipping)."""
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
    """``(mean, low, high, method)``: percentile bootstrap interval of the mean of ``d``."""
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
    """``(p, method)``: two-sided paired randomization (sign-flip) p-value for mean(d) = 0."""
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


def paired_difference(a, b, *, level: float = 0.95, seed: int = 0, interval: str = "bootstrap",
                      test: bool = True) -> dict:
    """Summary of b - a over paired units: means, the difference, its interval and p-value.

    ``interval``: "bootstrap" (percentile) or "t". Units where either value is NaN are dropped.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values must have the same shape; got {a.shape} and {b.shape}")
    ok = ~(np.isnan(a) | np.isnan(b))
    a, b = a[ok], b[ok]
    d = b - a
    if interval == "bootstrap":
        mean, lo, hi, method = bootstrap_interval(d, level, seed=seed)
    else:
        mean, lo, hi = t_interval(d, level)
        method = "t interval"
    out = {"n": int(d.size), "mean_a": float(a.mean()) if a.size else float("nan"),
           "mean_b": float(b.mean()) if b.size else float("nan"), "difference": mean,
           "ci95" if level == 0.95 else f"ci{level * 100:g}": [lo, hi], "interval": method,
           "b_better": int((d > 0).sum()), "a_better": int((d < 0).sum()), "ties": int((d == 0).sum())}
    if test:
        out["p_value"], out["test"] = sign_flip_pvalue(d, seed=seed + 1)
    return out


def format_p(p: float) -> str:
    """``p = 0.034`` / ``p < 0.001``."""
    if p is None or not math.isfinite(p):
        return "p = -"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def excludes_zero(ci) -> bool:
    lo, hi = ci
    return lo is not None and hi is not None and (lo > 0 or hi < 0)
