"""Per-item neighbourhood agreement: the Jaccard index of an item's k neighbours in two spaces.

Everything here is pure numpy on neighbour-index arrays (rows of one item set, self
excluded), vectorized over items: the two neighbour lists of every item are concatenated,
sorted along the row and equal adjacent entries counted. A neighbour list holds distinct
rows, so each equal pair is one shared neighbour. No Python loop per item (0.05 s for
500k items at k = 10, against 1.2 s with Python sets).

Conventions: negative entries (``-1``, what approximate engines return when they find
fewer than k neighbours) are missing neighbours, counted in neither the intersection nor
the set size. ``include_self`` reproduces the seed tool's convention: the item is one of
its own k neighbours, so the set is {self} + its k - 1 nearest others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

_CHUNK = 1 << 16  # rows per vectorized step: bounds the temporary (rows x 2k) copy


def shared_counts(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Number of neighbours each row of ``a`` shares with the same row of ``b`` (int32).

    ``a`` (n, ka) and ``b`` (n, kb) hold distinct row indices per row (self excluded);
    negative entries are missing neighbours.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"neighbour arrays must be (n, k) with the same n; got {a.shape} and {b.shape}")
    n = a.shape[0]
    out = np.empty(n, dtype=np.int32)
    dtype = np.result_type(a.dtype, b.dtype)
    for s in range(0, n, _CHUNK):
        both = np.concatenate([a[s:s + _CHUNK], b[s:s + _CHUNK]], axis=1).astype(dtype, copy=False)
        both.sort(axis=1)
        eq = both[:, 1:] == both[:, :-1]
        if both.size and both[:, 0].min() < 0:  # missing neighbours never count as shared
            eq &= both[:, 1:] >= 0
        out[s:s + _CHUNK] = eq.sum(axis=1)
    return out


def _sizes(x: np.ndarray) -> np.ndarray | int:
    x = np.asarray(x)
    if x.size and x.min() < 0:
        return (x >= 0).sum(axis=1).astype(np.int32)
    return x.shape[1]


def jaccard(a: np.ndarray, b: np.ndarray, k: int | None = None, include_self: bool = False) -> np.ndarray:
    """Per-item Jaccard of the k-neighbour sets in ``a`` and ``b`` (float32, one per row).

    ``a``/``b`` are neighbour indices sorted nearest first, self excluded, with at least
    ``k`` columns (``k - 1`` with ``include_self``); ``k=None`` uses all columns. With
    ``include_self`` both sets are {self} + the k - 1 nearest others, so self is always
    shared: J = (s + 1) / (2k - s - 1) for s shared others.
    """
    a, b = np.asarray(a), np.asarray(b)
    if k is None:
        k = min(a.shape[1], b.shape[1]) + (1 if include_self else 0)
    m = k - 1 if include_self else k
    if m < 0 or m > a.shape[1] or m > b.shape[1]:
        raise ValueError(f"need {m} neighbour columns for k={k}; got {a.shape[1]} and {b.shape[1]}")
    a, b = a[:, :m], b[:, :m]
    inter = shared_counts(a, b).astype(np.float64)
    union = _sizes(a) + _sizes(b) - inter
    if include_self:
        inter, union = inter + 1, union + 1
    with np.errstate(invalid="ignore", divide="ignore"):
        j = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return j.astype(np.float32)


def k_curve(a: np.ndarray, b: np.ndarray, ks: Sequence[int], include_self: bool = False) -> dict[int, np.ndarray]:
    """Per-item Jaccard at each k in ``ks`` from one pair of graphs built for max(ks)."""
    return {int(k): jaccard(a, b, int(k), include_self) for k in sorted(set(int(k) for k in ks))}


def _log_comb(n: int, r: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(r + 1) - math.lgamma(n - r + 1)


def chance_jaccard(n: int, k: int, include_self: bool = False) -> float:
    """Expected per-item Jaccard of two spaces that share nothing but chance.

    Each item's neighbours in A and in B are two independent uniformly random k-subsets of
    the other M = n - 1 items. Their overlap X is hypergeometric,

        P(X = x) = C(k, x) C(M - k, k - x) / C(M, k),   max(0, 2k - M) <= x <= k,

    and the expected Jaccard is  E[J] = sum_x P(X = x) * x / (2k - x)
    (about k / (2M) when k << M). With ``include_self`` the sets are {self} plus k - 1
    random others, so E[J] = sum_x P'(X = x) (x + 1) / (2k - x - 1) with X hypergeometric
    on (M, k - 1, k - 1).
    """
    m_items = n - 1
    kk = k - 1 if include_self else k
    if kk < 0 or kk > m_items:
        raise ValueError(f"k={k} does not fit {n} items")
    if kk == 0:
        return 1.0 if include_self else float("nan")
    lo, hi = max(0, 2 * kk - m_items), kk
    log_total = _log_comb(m_items, kk)
    e = 0.0
    for x in range(lo, hi + 1):
        p = math.exp(_log_comb(kk, x) + _log_comb(m_items - kk, kk - x) - log_total)
        s = x + (1 if include_self else 0)
        e += p * s / (2 * k - s)
    return e


def chance_overlap(n: int, k: int, include_self: bool = False) -> float:
    """Expected overlap@k (shared neighbours / k) of two spaces that share nothing but chance.

    Each item's neighbours in A and in B are independent uniformly random k-subsets of the
    other M = n - 1 items: each of A's k is among B's with probability k / M, so E[shared] =
    k^2 / M and E[overlap] = k / M. With ``include_self`` the sets are {self} plus k - 1
    random others: self is always shared, so E[shared] = 1 + (k - 1)^2 / M and E[overlap] =
    (1 + (k - 1)^2 / M) / k (0.127 at n = 300, k = 10, where k - 1 over M alone gives 0.030).
    """
    m_items = max(n - 1, 1)
    if not include_self:
        return k / m_items
    return (1 + (k - 1) ** 2 / m_items) / k


QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def summarize(values: np.ndarray, k: int, include_self: bool = False) -> dict:
    """Mean, quantiles and a histogram of per-item Jaccard values.

    For k <= 20 the histogram has one bar per possible number of shared neighbours (the
    values are discrete: s / (2k - s)); above, ten equal bins on [0, 1].
    """
    v = np.asarray(values, dtype=np.float64)
    out = {"mean": float(v.mean()) if v.size else float("nan"),
           "std": float(v.std()) if v.size else float("nan"),
           "quantiles": {f"{q:g}": float(x) for q, x in zip(QUANTILES, np.quantile(v, QUANTILES))}
           if v.size else {},
           "min": float(v.min()) if v.size else float("nan"),
           "max": float(v.max()) if v.size else float("nan")}
    out["histogram"] = histogram(v, k, include_self)
    return out


def histogram(values: np.ndarray, k: int, include_self: bool = False) -> dict:
    """``{"edges"|"levels", "counts", "labels"}`` for the terminal and PNG histograms."""
    v = np.asarray(values, dtype=np.float64)
    if k <= 20:
        # shared count s from J: s = 2kJ / (1 + J) (exact up to float rounding)
        s = np.rint(2 * k * v / (1 + v)).astype(np.int64)
        lo = 1 if include_self else 0
        counts = np.bincount(np.clip(s, lo, k) - lo, minlength=k + 1 - lo)
        levels = [(x, x / (2 * k - x)) for x in range(lo, k + 1)]
        return {"kind": "shared", "levels": [float(j) for _, j in levels], "shared": [x for x, _ in levels],
                "counts": counts.tolist(),
                "labels": [f"{x:>2}/{k} J={j:.2f}" for x, j in levels]}
    edges = np.linspace(0, 1, 11)
    counts, _ = np.histogram(v, bins=edges)
    return {"kind": "bins", "edges": edges.tolist(), "counts": counts.tolist(),
            "labels": [f"{edges[i]:.1f}-{edges[i + 1]:.1f}" for i in range(10)]}
