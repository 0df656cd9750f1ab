"""Recall of approximate neighbours, measured against exact ones on a random sample of queries.

Recall@k of one query: the share of its k returned rows that are true k nearest neighbours,
where a returned row counts when its exact distance is within the exact k-th distance (so an
equally near row picked instead of a tied one is not a miss). Both sides are computed in
float64 from the vectors as given (:func:`~spacelens.neighbors.metrics.pair_distances`), so
equal pairs compare equal. The recall of a graph is the mean over its queries, estimated from
a simple random sample with a 95% t interval (finite population correction): the per-query
values are what vary, not the k neighbours within a query, so the interval is over queries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# k at which a graph's recall is also reported (when <= its k): what compare, UMAP and faithfulness use
REPORT_KS = (1, 5, 10, 15, 20, 30, 50)


@dataclass
class ExactSample:
    """The exact neighbours of a random sample of queries: the reference a recall is measured on."""

    sample: np.ndarray      # int64 positions of the sampled queries among all queries
    kth: np.ndarray         # float64 (s, k): exact distance of the j-th exact neighbour
    population: int         # number of queries the sample was drawn from

    @classmethod
    def of(cls, q, b, k: int, metric: str, rows: np.ndarray | None, n_sample: int, seed: int = 0,
           description: str | None = None) -> "ExactSample":
        """Search ``n_sample`` random queries of ``q`` (a prepared :class:`Side`) exactly among ``b``."""
        from spacelens.neighbors.exact import ExactEngine
        from spacelens.neighbors.metrics import pair_distances

        nq = len(q)
        sample = np.sort(np.random.default_rng(seed).choice(nq, size=min(int(n_sample), nq), replace=False))
        qs = q.take(sample)
        srows = rows[sample] if rows is not None else None
        idx, _ = ExactEngine().search_prepared(qs, b, k, metric, srows,
                                               description=description or "Exact neighbours of the recall sample")
        kth = pair_distances(qs.raw, b.raw, idx.astype(np.int64), metric, qs.norms, b.norms).astype(np.float64)
        return cls(sample.astype(np.int64), kth, nq)

    @property
    def k(self) -> int:
        return self.kth.shape[1]

    def per_query(self, q, b, got: np.ndarray, metric: str, k: int | None = None) -> np.ndarray:
        """Recall@k of each sampled query, given its returned rows ``got`` (s, >= k; -1: none)."""
        return self.per_query_all(q, b, got, metric, [k or self.k])[k or self.k]

    def per_query_all(self, q, b, got: np.ndarray, metric: str, ks) -> dict[int, np.ndarray]:
        """Recall@k' of each sampled query for every k' in ``ks`` (each <= :attr:`k`)."""
        from spacelens.neighbors.metrics import pair_distances

        qs = q.take(self.sample)
        kmax = max(ks)
        got = np.asarray(got)[:, :kmax].astype(np.int64)
        got_d = pair_distances(qs.raw, b.raw, got, metric, qs.norms, b.norms).astype(np.float64)
        out = {}
        for kk in ks:
            hit = got_d[:, :kk] <= self.kth[:, kk - 1:kk]
            hit &= got[:, :kk] >= 0
            out[kk] = hit.sum(axis=1) / kk
        return out


def summarize(per_query: np.ndarray, population: int) -> dict:
    """``{"mean", "ci95", "n_queries"}`` of per-query recalls of a random sample of ``population`` queries."""
    from spacelens.stats import mean_ci

    mean, lo, hi = mean_ci(per_query, population=population)
    return {"mean": round(mean, 5), "ci95": [round(lo, 5), round(hi, 5)], "n_queries": int(len(per_query))}


def report(sample: ExactSample, q, b, got: np.ndarray, metric: str) -> dict:
    """Recall of ``got`` (the sampled queries' returned rows, (s, k)) at k and at the usual smaller k."""
    k = sample.k
    ks = sorted({kk for kk in REPORT_KS if kk < k} | {k})
    per = sample.per_query_all(q, b, got, metric, ks)
    out = {"k": k, **summarize(per[k], sample.population)}
    out["by_k"] = {str(kk): summarize(per[kk], sample.population) for kk in ks if kk != k}
    return out


def recall_at(info: dict | None, k: int) -> dict | None:
    """The recall entry of a graph's ``info`` for consumers at ``k`` (exact k if measured, else the
    graph's own k, or None when the graph carries no recall)."""
    rec = (info or {}).get("recall")
    if not rec:
        return None
    if int(rec.get("k", 0)) == k:
        return {key: rec[key] for key in ("mean", "ci95", "n_queries")} | {"k": k}
    entry = rec.get("by_k", {}).get(str(k))
    if entry is not None:
        return {**entry, "k": k}
    return {key: rec[key] for key in ("mean", "ci95", "n_queries")} | {"k": int(rec["k"])}
