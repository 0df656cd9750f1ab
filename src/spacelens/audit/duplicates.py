"""Exact and near duplicates, within a split and across splits (leaks), from the kNN graph.

The threshold comes from the space's own distances: near-duplicates are nearer to each other
than items ever are by chance, so they sit in the low tail of the nearest-neighbour distance
d1. Rule: on log d1 (over items with d1 > 0), ``median - 5 x robust SD`` (robust SD = 1.4826 x
the median absolute deviation), and never above half the median d1. Distances of distinct
items spread over orders of magnitude on a log scale only when the data really holds
near-copies, so the rule adapts to the space, the metric and the dimension; ``threshold``
sets it by hand. "Exact" means byte-identical vectors (:mod:`spacelens.neighbors.duplicates`
groups them).

A pair within one split flags its later row (the partner is the earlier one). A pair across
splits flags the query-side item: a query with a near-copy in the reference split (a leak).
Only the graph's k neighbours are looked at: an item with more than k copies of its own split
hides a cross-split one behind them.
"""

from __future__ import annotations

import numpy as np

from spacelens.audit.findings import Findings

ROBUST_SDS = 5.0         # how far below the typical log d1 a near-duplicate lies
MAX_SHARE_OF_MEDIAN = 0.5


def duplicate_threshold(d1: np.ndarray) -> tuple[float, str]:
    """``(threshold, rule in words)`` from the nearest-neighbour distances ``d1``."""
    pos = d1[d1 > 0]
    if len(pos) < 10:
        return 0.0, "too few distinct neighbours to set a threshold: exact duplicates only"
    log = np.log(pos.astype(np.float64))
    med = float(np.median(log))
    sd = 1.4826 * float(np.median(np.abs(log - med)))
    t = min(float(np.exp(med - ROBUST_SDS * sd)), MAX_SHARE_OF_MEDIAN * float(np.exp(med)))
    return t, (f"distance <= {t:.3g}: {ROBUST_SDS:g} robust SDs below the median log nearest-neighbour distance "
               f"({np.exp(med):.3g}), at most {MAX_SHARE_OF_MEDIAN:g} x that median")


def _exact_pairs(vectors, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Whether rows i and j hold the same bytes (compared only for the flagged pairs)."""
    if not len(i):
        return np.zeros(0, bool)
    a, b = np.asarray(vectors[np.asarray(i)]), np.asarray(vectors[np.asarray(j)])
    return (a.view(np.uint8) == b.view(np.uint8)).reshape(len(a), -1).all(axis=1)


def find_duplicates(indices: np.ndarray, distances: np.ndarray, vectors, *, threshold: float | None = None,
                    split_codes: np.ndarray | None = None, query: np.ndarray | None = None,
                    reference: np.ndarray | None = None, split_names=None) -> tuple[Findings, Findings, dict]:
    """``(leaks, duplicates, info)`` from a kNN graph (``indices``/``distances``, n x k).

    ``split_codes``: the split of each row (None: one split); ``query`` / ``reference``:
    boolean masks of the query and reference rows (a leak is a query row with a near-copy
    among the reference rows). ``info``: threshold and rule.
    """
    n, k = indices.shape
    d = np.maximum(np.asarray(distances, dtype=np.float64), 0.0)
    if threshold is None:
        t, rule = duplicate_threshold(d[:, 0]) if k else (0.0, "no neighbours")
    else:
        t, rule = float(threshold), f"distance <= {float(threshold):.3g} (set by hand)"
    near = d <= t
    idx = np.asarray(indices, dtype=np.int64)
    rows = np.arange(n)[:, None]
    empty = Findings("leak", np.zeros(0, np.int64), np.zeros(0), [], [], rule=rule)
    sp = split_codes

    def first(mask):
        has = mask.any(axis=1)
        col = mask.argmax(axis=1)
        r = np.flatnonzero(has)
        return r, idx[r, col[r]], d[r, col[r]]

    def build(kind, r, partner, dist, where):
        exact = _exact_pairs(vectors, r, partner)
        score = 1.0 - dist / t if t > 0 else np.ones(len(r))
        score[exact] = 1.0
        what = np.where(exact, "an exact duplicate", "a near-duplicate")
        reason = [f"{w} of item {{partner}}{where(i)} (distance {x:.3g} <= {t:.3g})" for i, (w, x) in
                  enumerate(zip(what, dist))]
        evid = ["exact" if e else f"distance {x:.3g}" for e, x in zip(exact, dist)]
        return Findings(kind, r, score, reason, evid, partner, rule=rule, threshold={"distance": t},
                        extra={"exact": int(exact.sum())})

    if sp is not None:
        same = sp[idx] == sp[:, None]
    else:
        same = np.ones_like(near)
    dup_mask = near & same & (idx < rows)
    r, p, x = first(dup_mask)
    dups = build("duplicate", r, p, x, lambda i: " in the same split" if sp is not None else "")
    if query is not None and reference is not None:
        leak_mask = near & reference[idx] & query[:, None]
        r, p, x = first(leak_mask)
        names = list(split_names) if split_names is not None else None
        leaks = build("leak", r, p, x, lambda i: (f" in split {names[sp[p[i]]]!r}" if names and sp is not None
                                              else " in the reference split"))
    else:
        leaks = empty
    info = {"threshold": t, "rule": rule, "k": int(k)}
    return leaks, dups, info
