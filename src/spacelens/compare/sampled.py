"""The sampled estimate: exact neighbours for n random items only, mean with a 95% interval.

For N items the full comparison costs two exact kNN graphs, O(N^2 d). Sampling n query
items and searching them against all N items costs O(n N d) and gives an unbiased
estimate of the mean Jaccard: the per-item Jaccard of a sampled item is exactly its value
in the full comparison (its neighbours are searched among all items). The interval is the
t interval of a mean of a simple random sample without replacement, with the finite
population correction sqrt((N - n) / (N - 1)) (so it shrinks to the exact value at n = N):
:func:`spacelens.stats.mean_ci`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from spacelens.compare.jaccard import jaccard
from spacelens.stats import mean_ci

Search = Callable[..., tuple[np.ndarray, np.ndarray]]


def sample_rows(n_items: int, n_sample: int, seed: int = 0) -> np.ndarray:
    """``n_sample`` distinct rows of ``n_items``, sorted, drawn uniformly without replacement."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_items, size=min(n_sample, n_items), replace=False)).astype(np.int64)


def sampled_neighbours(xa: np.ndarray, xb: np.ndarray, rows: np.ndarray, m: int, metric_a: str = "cosine",
                       metric_b: str = "cosine", search: Search | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``m`` nearest other items of each of ``rows``, searched among all items, in A and in B."""
    if search is None:
        from spacelens.neighbors import exact_search as search
    ia, _ = search(np.ascontiguousarray(xa[rows]), xa, m, metric_a, query_rows=rows)
    ib, _ = search(np.ascontiguousarray(xb[rows]), xb, m, metric_b, query_rows=rows)
    return np.asarray(ia), np.asarray(ib)


def sampled_jaccard(xa: np.ndarray, xb: np.ndarray, k: int, metric_a: str = "cosine", metric_b: str = "cosine",
                    n_sample: int = 1000, seed: int = 0, include_self: bool = False,
                    search: Search | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, jaccard)`` for ``n_sample`` random items of two row-aligned spaces.

    ``xa`` (N, da) and ``xb`` (N, db): the same N items in both spaces. Each sampled item's
    k neighbours (self excluded) are searched exactly among all N items in each space.
    ``search(queries, base, k, metric, query_rows=...)`` defaults to the exact engine.
    """
    rows = sample_rows(xa.shape[0], n_sample, seed)
    m = k - 1 if include_self else k
    if m == 0:
        return rows, np.ones(rows.size, dtype=np.float32)
    ia, ib = sampled_neighbours(xa, xb, rows, m, metric_a, metric_b, search)
    return rows, jaccard(ia, ib, k, include_self)


def exact_check(xa: np.ndarray, xb: np.ndarray, approx_values: np.ndarray, k: int, metric_a: str = "cosine",
                metric_b: str = "cosine", include_self: bool = False, n_sample: int = 1000, seed: int = 0) -> dict:
    """The exact mean Jaccard estimated on ``n_sample`` random items (exact neighbours among all
    items), with its 95% CI, beside the mean of ``approx_values`` (per item, from approximate
    graphs): whether the approximate mean lies inside the interval of the exact one."""
    rows, values = sampled_jaccard(xa, xb, k, metric_a, metric_b, n_sample, seed, include_self)
    n = xa.shape[0]
    mean, lo, hi = mean_ci(values, population=n)
    approx_values = np.asarray(approx_values)
    return {"mean": mean, "ci95": [lo, hi], "n": int(len(rows)), "seed": seed,
            "approx_mean_on_sample": float(approx_values[rows].mean()),
            "approx_inside_ci": bool(lo <= float(approx_values.mean()) <= hi)}
