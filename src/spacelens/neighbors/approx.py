"""Approximate kNN engines (faiss HNSW and IVF) and how to measure their recall.

An approximate engine builds a faiss index over the base, asks it for a few more candidates
than needed, and ranks them exactly like the exact engine does (exact distances, self dropped,
ties by lower row). Queries for which the index found fewer than k rows are searched exactly.
What is approximate is only *which* candidates were seen: :func:`measure_recall` says how many
of the true neighbours that misses.

Measured on these machines (see MEASURED.md): for a one-shot self-kNN graph IVF is the better
choice; HNSW pays for itself only above ~200k items or when the index is reused for queries.
"""

from __future__ import annotations

import math

import numpy as np

from spacelens.errors import SpacelensError
from spacelens.neighbors.exact import ExactEngine, Side, prepare_search, rank_candidates
from spacelens.neighbors.metrics import check_metric, faiss_metric
from spacelens.progress import progress


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SpacelensError(f"{name}={value!r} must be a positive whole number", f"Pass e.g. {name}=16")
    return int(value)


class _FaissApprox:
    """Shared search loop: build an index, query it in blocks, rank candidates exactly."""

    name = "approx"
    extra = 4  # candidates beyond k (+1 for self): a little slack for ties and ranking

    def __init__(self, block_size: int = 8192):
        self.block_size = _positive_int(block_size, "block_size")

    @property
    def params(self) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    def build(self, base: np.ndarray, metric: str, *, description: str | None = None):
        """A faiss index over ``base`` (prepared vectors)."""
        raise NotImplementedError

    def configure(self, index, k: int) -> None:
        """Set search-time parameters for ``k`` results."""

    def search(self, queries, base, k: int, metric: str, query_rows=None,
               *, description: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """k nearest rows of ``base`` per query, approximately: ``(indices int32, distances float32)``."""
        q, b, rows, k = prepare_search(queries, base, k, metric, query_rows)
        label = description or f"{self.name.upper()} kNN ({metric})"
        index = self.build(b.vec, metric, description=f"{label}: building index")
        return self.search_index(index, q, b, k, metric, rows, description=label)

    def search_index(self, index, qs: Side, b: Side, k, metric, rows, *, description=None):
        """Search a built ``index`` over ``b`` (also used by named indexes)."""
        n, nq = len(b), len(qs)
        kk = min(n, k + (rows is not None) + self.extra)
        self.configure(index, kk)
        indices = np.empty((nq, k), dtype=np.int32)
        distances = np.empty((nq, k), dtype=np.float32)
        with progress(description or f"{self.name.upper()} kNN ({metric})", total=nq) as bar:
            for s in range(0, nq, self.block_size):
                e = min(nq, s + self.block_size)
                q = qs.take(slice(s, e))
                _, cand = index.search(np.ascontiguousarray(q.vec), kk)
                indices[s:e], distances[s:e] = rank_candidates(q, b, cand, k, metric,
                                                                rows[s:e] if rows is not None else None)
                bar.advance(e - s)
        short = np.flatnonzero(~np.isfinite(distances[:, -1]))
        if len(short):  # the index saw fewer than k rows for these queries: answer them exactly
            sub_rows = rows[short] if rows is not None else None
            indices[short], distances[short] = ExactEngine().search_prepared(
                qs.take(short), b, k, metric, sub_rows, description="Exact fallback")
        return indices, distances


class HnswEngine(_FaissApprox):
    """faiss ``IndexHNSWFlat``: a graph index; ``M`` links per node, ``ef_*`` beam widths."""

    name = "hnsw"

    def __init__(self, M: int = 32, ef_construction: int = 100, ef_search: int = 64, block_size: int = 8192):
        super().__init__(block_size)
        self.M = _positive_int(M, "M")
        self.ef_construction = _positive_int(ef_construction, "ef_construction")
        self.ef_search = _positive_int(ef_search, "ef_search")

    @property
    def params(self) -> dict:
        return {"M": self.M, "ef_construction": self.ef_construction, "ef_search": self.ef_search}

    def build(self, base, metric, *, description=None):
        import faiss

        check_metric(metric)
        index = faiss.IndexHNSWFlat(base.shape[1], self.M, faiss_metric(metric))
        index.hnsw.efConstruction = self.ef_construction
        _add(index, base, description or "HNSW: building index", self.block_size)
        return index

    def configure(self, index, k):
        index.hnsw.efSearch = max(self.ef_search, k)


class IvfEngine(_FaissApprox):
    """faiss ``IndexIVFFlat``: k-means cells; search visits the ``nprobe`` nearest of ``nlist``.

    ``nlist`` defaults to 4·sqrt(N), capped at N/39 so k-means has the 39 points per
    centroid faiss asks for; k-means trains on at most 64 points per centroid (faiss samples
    them with a fixed seed, so results are reproducible); ``nprobe`` defaults to 16
    (recall@10 ~ 1.0 on clustered data).
    """

    name = "ivf"

    def __init__(self, nlist: int | None = None, nprobe: int = 16, block_size: int = 8192):
        super().__init__(block_size)
        self.nlist = None if nlist is None else _positive_int(nlist, "nlist")
        self.nprobe = _positive_int(nprobe, "nprobe")

    @property
    def params(self) -> dict:
        return {"nlist": self.nlist if self.nlist is not None else "auto", "nprobe": self.nprobe}

    @staticmethod
    def default_nlist(n: int) -> int:
        return max(1, min(int(round(4 * math.sqrt(n))), n // 39))

    def build(self, base, metric, *, description=None):
        import faiss

        check_metric(metric)
        n, d = base.shape
        nlist = min(self.nlist or self.default_nlist(n), n)
        quantizer = faiss.IndexFlat(d, faiss_metric(metric))
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss_metric(metric))
        index.cp.max_points_per_centroid = 64   # k-means on <= 64 points per cell: bounded training cost
        index.train(base)
        _add(index, base, description or "IVF: building index", self.block_size)
        return index

    def configure(self, index, k):
        index.nprobe = min(self.nprobe, index.nlist)


def _add(index, base, description, block_size):
    with progress(description, total=len(base)) as bar:
        for s in range(0, len(base), block_size * 4):
            e = min(len(base), s + block_size * 4)
            index.add(np.ascontiguousarray(base[s:e]))
            bar.advance(e - s)


def measure_recall(vectors, engine="hnsw", k: int = 10, metric: str = "cosine", n_queries: int = 1000,
                   seed: int = 0, graph=None, **engine_params) -> float:
    """Recall@k of an engine against exact search, on ``n_queries`` random rows of ``vectors``.

    Each sampled row queries all rows (self excluded). A returned neighbour counts as found
    when its exact distance is within the exact k-th distance, so an equally near row picked
    instead of a tied one is not a miss. Pass ``graph`` (a :class:`KnnGraph` the engine built
    for all rows) to score it instead of searching again.
    """
    from spacelens.neighbors.engines import get_engine

    eng = get_engine(engine, **engine_params) if isinstance(engine, str) else engine
    n = len(vectors)
    sample = np.sort(np.random.default_rng(seed).choice(n, size=min(int(n_queries), n), replace=False))
    if graph is not None:
        if len(graph.indices) != n or graph.k < k:
            raise SpacelensError("The graph does not match the vectors or has fewer than k neighbours",
                                 "Pass the graph built for these vectors with k_max >= k")
        got = np.asarray(graph.indices[sample, :k])
    else:
        got, _ = eng.search(np.asarray(vectors[sample]), vectors, k, metric, query_rows=sample)
    q, b, rows, k = prepare_search(np.asarray(vectors[sample]), vectors, k, metric, sample)
    exact_i, _ = ExactEngine().search_prepared(q, b, k, metric, rows)
    from spacelens.neighbors.metrics import pair_distances

    # Both sides in float64 (the exact engine keeps faiss's value where no tie is near).
    kth = pair_distances(q.raw, b.raw, exact_i[:, -1:].astype(np.int64), metric, q.norms, b.norms)
    got_d = pair_distances(q.raw, b.raw, got.astype(np.int64), metric, q.norms, b.norms)
    return float((got_d <= kth).sum() / got_d.size)
