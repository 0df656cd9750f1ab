"""Paired statistics: is the difference between two scorings of the same units more than noise?

Two spaces scored on the same queries (or two comparisons on the same items) give paired
values a_i, b_i; everything here works on the differences d_i = b_i - a_i, so what the units
share (an easy query is easy in both spaces) cancels out. The interval and the p-value come
from :mod:`spacelens.stats` (percentile bootstrap or t interval; sign-flip randomization test).

Units are treated as independent. For per-item kNN agreement they are not quite (neighbours
share neighbours), so those intervals are a little narrow; the readings say so.
"""

from __future__ import annotations

import numpy as np

from spacelens.stats import bootstrap_interval, sign_flip_pvalue, t_interval


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
    # sorted: the resamples and sign flips are drawn by position, so sorting makes the interval and
    # p-value depend on the differences alone, not on the order the units (queries) came in
    d = np.sort(b - a)
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
