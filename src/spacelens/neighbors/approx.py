"""Approximate kNN engines (faiss HNSW and IVF) and how to measure their recall.

An approximate engine builds a faiss index over the base, asks it for a few more candidates
than needed, and ranks them exactly like the exact engine does (exact distances, self dropped,
ties by lower row). Queries for which the index found fewer than k rows are searched exactly.
What is approximate is only *which* candidates were seen: :func:`~spacelens.neighbors.engines.measure_recall` says how many
of the true neighbours that misses.

Measured on these machines (see MEASURED.md): for a one-shot self-kNN graph IVF is the better
choice; HNSW pays for itself only above ~200k items or when the index is reused for queries.
"""

from __future__ import annotations

import math
import time
import warnings
from contextlib import nullcontext

import numpy as np

from spacelens.errors import SpacelensError, SpacelensWarning
from spacelens.neighbors.base import Engine, KnnGraph
from spacelens.neighbors.exact import ExactEngine, Side, prepare_search, rank_candidates
from spacelens.neighbors.metrics import check_metric, faiss_metric
from spacelens.neighbors.recall import ExactSample, report
from spacelens.progress import progress

RECALL_QUERIES = 1000   # queries searched exactly to measure (and to tune) an approximate graph's recall
# IVF scans its lists one query at a time, well below the GEMM speed of a flat search: at the same
# share of the rows visited it costs this many times more (see bench/recall.py).
IVF_SCAN_SLOWDOWN = 4.0
# With an exact fallback (the auto engine), a search that cannot reach its recall target still
# goes exact when exact is estimated to take at most this long; beyond, it runs with a warning.
EXACT_RESCUE_SECONDS = 4 * 3600.0


class ExactIsCheaper(Exception):
    """Raised by a tuned approximate search that measured itself slower than exact search, or
    unable to reach its recall target, when its caller (the auto engine) can run exact instead.

    ``message``: one line for the user saying what was measured and what runs instead.
    """

    def __init__(self, message: str, measured: dict):
        super().__init__(message)
        self.message = message
        self.measured = measured


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SpacelensError(f"{name}={value!r} must be a positive whole number", f"Pass e.g. {name}=16")
    return int(value)


def check_recall(value) -> float | None:
    """A recall target in (0, 1], or None (no target)."""
    if value is None:
        return None
    try:
        r = float(value)
    except (TypeError, ValueError):
        r = float("nan")
    if isinstance(value, bool) or not 0 < r <= 1:
        raise SpacelensError(f"recall={value!r} must be a number in (0, 1]", "Pass e.g. recall=0.95")
    return r


class _FaissApprox(Engine):
    """Shared search loop: build an index, query it in blocks, rank candidates exactly.

    With a ``recall`` target, the search effort (IVF ``nprobe``, HNSW ``ef_search``) starts
    low and doubles until the recall measured on ``recall_queries`` random queries (searched
    exactly for reference) reaches the target, then is narrowed down by bisection; the
    search of all queries runs at that effort. Its recall is then measured again on a second,
    independent sample (the first one chose the effort, so its estimate is biased upwards),
    and kept with the graph (``KnnGraph.info["recall"]``, ``last_info`` after :meth:`search`).
    Without a target the effort is fixed and the recall is still measured and kept. An
    effort that reaches its budget (``max_effort``) without the target gives a
    :class:`SpacelensWarning` and ``info["recall"]["reached"] = False``.
    """

    name = "approx"
    approximate = True
    extra = 4  # candidates beyond k (+1 for self): a little slack for ties and ranking
    effort_name = "effort"

    def __init__(self, block_size: int = 8192, recall: float | None = None,
                 recall_queries: int = RECALL_QUERIES, seed: int = 0):
        self.block_size = _positive_int(block_size, "block_size")
        self.recall = check_recall(recall)
        self.recall_queries = _positive_int(recall_queries, "recall_queries")
        self.seed = int(seed)
        self.last_info: dict | None = None
        # Estimated seconds of an exact search of the same job, set by the auto engine: a tuned
        # search whose measured speed says it would take longer (or that cannot reach its
        # target, when exact is affordable) raises ExactIsCheaper instead of running.
        self.exact_fallback: float | None = None

    @property
    def params(self) -> dict:
        raise NotImplementedError

    @property
    def settings(self) -> dict:
        return {**self.params, "block_size": self.block_size}

    def build(self, base: np.ndarray, metric: str, *, description: str | None = None):
        """A faiss index over ``base`` (prepared vectors)."""
        raise NotImplementedError

    def configure(self, index, k: int, effort: int | None = None) -> None:
        """Set search-time parameters for ``k`` results (``effort``: instead of the engine's own)."""

    def effort_range(self, index) -> tuple[int, int]:
        """The first effort tried when tuning, and the largest (the budget)."""
        raise NotImplementedError

    def least_effort(self, index, n_base: int, k: int) -> int:
        """The smallest effort worth timing for ``k`` neighbours: below it most queries see fewer
        than k rows and are answered by the exact fallback, which says nothing of the index."""
        return 1

    def search(self, queries, base, k: int, metric: str, query_rows=None,
               *, description: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """k nearest rows of ``base`` per query, approximately: ``(indices int32, distances float32)``.

        What the search measured (recall, effort) is in :attr:`last_info` afterwards.
        """
        idx, dist, self.last_info = self.search_measured(queries, base, k, metric, query_rows,
                                                         description=description)
        return idx, dist

    def build_graph(self, vectors, k: int, metric: str, *, description: str | None = None) -> KnnGraph:
        idx, dist, info = self.search_measured(vectors, vectors, k, metric, np.arange(len(vectors)),
                                               description=description)
        self.last_info = info
        return KnnGraph(idx, dist, metric, self.name, info)

    def search_measured(self, queries, base, k: int, metric: str, query_rows=None,
                        *, description: str | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
        """:meth:`search` plus what it measured: ``(indices, distances, info)``."""
        q, b, rows, k = prepare_search(queries, base, k, metric, query_rows)
        label = description or f"{self.name.upper()} kNN ({metric})"
        index = self.build(b.vec, metric, description=f"{label}: building index")
        info: dict = {"approximate": True}
        effort = None
        if self.recall is not None and len(q):
            effort, tuning, per_query = self._tune(index, q, b, k, metric, rows, label)
            info["tuning"] = tuning
            self._check_fallback(effort, tuning, per_query * len(q), k)
        indices, distances = self.search_index(index, q, b, k, metric, rows, description=label, effort=effort)
        info[self.effort_name] = effort if effort is not None else self._default_effort(index)
        if len(q):
            check = ExactSample.of(q, b, k, metric, rows, self.recall_queries, self.seed + 1,
                                   description=f"{label}: measuring recall")
            info["recall"] = report(check, q, b, indices[check.sample], metric)
            if self.recall is not None:
                reached = info["tuning"][-1][1] >= self.recall
                info["recall"].update(target=self.recall, reached=reached)
                if not reached:
                    warnings.warn(
                        f"{self.name} search reached recall@{k} {info['recall']['mean']:.3f} (95% CI "
                        f"{info['recall']['ci95'][0]:.3f}-{info['recall']['ci95'][1]:.3f}), below the target "
                        f"{self.recall:g}, at its largest {self.effort_name} ({effort}): figures built on this "
                        f"graph miss more neighbours than asked. Use the exact engine, or a lower target",
                        SpacelensWarning, stacklevel=3)
        return indices, distances, info

    def _default_effort(self, index) -> int:
        raise NotImplementedError

    def _check_fallback(self, effort: int, tuning: list, seconds: float, k: int) -> None:
        """Raise :class:`ExactIsCheaper` when the auto engine should run exact instead: the
        search at the tuned effort, timed on the tuning sample, would take longer than exact,
        or it cannot reach the target and exact is affordable (``EXACT_RESCUE_SECONDS``)."""
        from spacelens.neighbors.cost import format_seconds

        if self.exact_fallback is None:
            return
        recall = tuning[-1][1]
        reached = recall >= self.recall
        slower = seconds > self.exact_fallback
        if reached and not slower:
            return
        if not slower and self.exact_fallback > EXACT_RESCUE_SECONDS:
            return      # exact is out of reach too: the approximate graph runs, with its warning
        measured = {"engine": self.name, self.effort_name: effort, "recall": recall, "reached": reached,
                    "approx_seconds_estimate": round(seconds, 1),
                    "exact_seconds_estimate": round(self.exact_fallback, 1)}
        what = (f"{self.name} search measured recall@{k} {recall:.3f} at the largest {self.effort_name} tried "
                f"({effort}), below the target {self.recall:g}" if not reached else
                f"{self.name} search needs {self.effort_name} {effort} for recall@{k} >= {self.recall:g}")
        raise ExactIsCheaper(
            f"{what}; timed on {self.recall_queries:,} queries it would take about {format_seconds(seconds)}, "
            f"exact about {format_seconds(self.exact_fallback)}: running exact instead (these vectors are "
            "weakly structured for an index). For a figure in seconds with a 95% interval, pass --sample N",
            measured)

    def _tune(self, index, q: Side, b: Side, k, metric, rows, label) -> tuple[int, list, float]:
        """The smallest effort whose recall on a random sample of queries reaches the target,
        the recall at each effort tried, and the seconds per query that effort took.

        With an exact fallback, raising the effort stops once the timed search would take
        longer than exact: a larger effort only costs more.
        """
        ref = ExactSample.of(q, b, k, metric, rows, self.recall_queries, self.seed,
                             description=f"{label}: exact neighbours of {min(self.recall_queries, len(q)):,} "
                                         "queries (to tune the search)")
        qs = q.take(ref.sample)
        srows = rows[ref.sample] if rows is not None else None
        tried: dict[int, float] = {}
        seconds: dict[int, float] = {}   # per query, at each effort tried

        def recall_at(effort: int) -> float:
            if effort not in tried:
                t0 = time.perf_counter()
                idx, _ = self.search_index(index, qs, b, k, metric, srows, effort=effort, show=False)
                seconds[effort] = (time.perf_counter() - t0) / max(1, len(qs))
                tried[effort] = float(ref.per_query(q, b, idx, metric).mean())
            return tried[effort]

        def too_slow(effort: int) -> bool:
            return self.exact_fallback is not None and seconds[effort] * len(q) > self.exact_fallback

        first, budget = self.effort_range(index)
        first = min(budget, max(first, self.least_effort(index, len(b), k)))
        fail, effort = first - 1, first     # (the bisection below never goes under the first effort)
        while recall_at(effort) < self.recall and effort < budget and not too_slow(effort):
            fail, effort = effort, min(budget, 2 * effort)
        if recall_at(effort) >= self.recall:
            while effort - fail > max(1, effort // 16):     # bisect to within ~6%
                mid = (fail + effort) // 2
                if recall_at(mid) >= self.recall:
                    effort = mid
                else:
                    fail = mid
        tuning = [[e, round(r, 5)] for e, r in sorted(tried.items())]
        tuning.append([effort, round(tried[effort], 5)])    # last: the chosen effort
        return effort, tuning, seconds[effort]

    def search_index(self, index, qs: Side, b: Side, k, metric, rows, *, description=None,
                     effort: int | None = None, show: bool = True):
        """Search a built ``index`` over ``b`` (also used by named indexes)."""
        n, nq = len(b), len(qs)
        kk = min(n, k + (rows is not None) + self.extra)
        self.configure(index, kk, effort)
        indices = np.empty((nq, k), dtype=np.int32)
        distances = np.empty((nq, k), dtype=np.float32)
        label = description or f"{self.name.upper()} kNN ({metric})"
        with (progress(label, total=nq) if show else nullcontext(_Silent())) as bar:
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
    """faiss ``IndexHNSWFlat``: a graph index; ``M`` links per node, ``ef_*`` beam widths.

    With ``recall``, ``ef_search`` is tuned (from k, doubling up to ``max_ef_search``).
    """

    name = "hnsw"
    summary = "faiss HNSW graph index, candidates ranked exactly"
    effort_name = "ef_search"

    def __init__(self, M: int = 32, ef_construction: int = 100, ef_search: int = 64, block_size: int = 8192,
                 recall: float | None = None, recall_queries: int = RECALL_QUERIES, max_ef_search: int = 4096,
                 seed: int = 0):
        super().__init__(block_size, recall, recall_queries, seed)
        self.M = _positive_int(M, "M")
        self.ef_construction = _positive_int(ef_construction, "ef_construction")
        self.ef_search = _positive_int(ef_search, "ef_search")
        self.max_ef_search = _positive_int(max_ef_search, "max_ef_search")

    @property
    def params(self) -> dict:
        p = {"M": self.M, "ef_construction": self.ef_construction}
        return {**p, "recall": self.recall} if self.recall is not None else {**p, "ef_search": self.ef_search}

    def build(self, base, metric, *, description=None):
        import faiss

        check_metric(metric)
        index = faiss.IndexHNSWFlat(base.shape[1], self.M, faiss_metric(metric))
        index.hnsw.efConstruction = self.ef_construction
        _add(index, base, description or "HNSW: building index", self.block_size)
        return index

    def configure(self, index, k, effort=None):
        index.hnsw.efSearch = max(effort or self.ef_search, k)

    def effort_range(self, index):
        return 16, self.max_ef_search

    def _default_effort(self, index):
        return self.ef_search


class IvfEngine(_FaissApprox):
    """faiss ``IndexIVFFlat``: k-means cells; search visits the ``nprobe`` nearest of ``nlist``.

    ``nlist`` defaults to 4·sqrt(N), capped at N/39 so k-means has the 39 points per
    centroid faiss asks for; k-means trains on at most 64 points per centroid (faiss samples
    them with a fixed seed, so results are reproducible); ``nprobe`` defaults to 16
    (recall@10 ~ 1.0 on clustered data, far less on weakly structured data). With ``recall``,
    ``nprobe`` is tuned instead (from 1, doubling up to ``max_nprobe``, default nlist / 4:
    beyond that share of the cells, the exact engine is about as fast). ``centroids``
    (attribute): k-means centroids to fill the index from instead of training, as the graph
    cache does when a larger k rebuilds a graph of the same vectors; ``last_centroids``: those
    of the last build.
    """

    name = "ivf"
    summary = "faiss IVF (k-means cells), candidates ranked exactly"
    effort_name = "nprobe"

    def __init__(self, nlist: int | None = None, nprobe: int = 16, block_size: int = 8192,
                 recall: float | None = None, recall_queries: int = RECALL_QUERIES, max_nprobe: int | None = None,
                 seed: int = 0):
        super().__init__(block_size, recall, recall_queries, seed)
        self.nlist = None if nlist is None else _positive_int(nlist, "nlist")
        self.nprobe = _positive_int(nprobe, "nprobe")
        self.max_nprobe = None if max_nprobe is None else _positive_int(max_nprobe, "max_nprobe")
        # k-means centroids to start from instead of training (the graph cache sets them on a
        # copy of the engine, from an earlier graph of the same vectors), and those of the last build.
        self.centroids: np.ndarray | None = None
        self.last_centroids: np.ndarray | None = None

    @property
    def params(self) -> dict:
        p = {"nlist": self.nlist if self.nlist is not None else "auto"}
        return {**p, "recall": self.recall} if self.recall is not None else {**p, "nprobe": self.nprobe}

    @staticmethod
    def default_nlist(n: int) -> int:
        return max(1, min(int(round(4 * math.sqrt(n))), n // 39))

    def estimate_seconds(self, n_queries: int, n_base: int, dim: int, k: int) -> float:
        """At the fixed ``nprobe`` (or, with a recall target, at nlist / 16: a typical tuned value)."""
        from spacelens.neighbors.cost import exact_seconds

        nlist = min(self.nlist or self.default_nlist(n_base), n_base)
        share = (max(1, nlist // 16) if self.recall is not None else min(self.nprobe, nlist)) / nlist
        train = exact_seconds(min(n_base, 64 * nlist), nlist, dim) * 10       # ~10 k-means iterations
        return train + exact_seconds(n_queries, max(1, int(n_base * share)), dim) * IVF_SCAN_SLOWDOWN

    def build(self, base, metric, *, description=None):
        import faiss

        check_metric(metric)
        n, d = base.shape
        nlist = min(self.nlist or self.default_nlist(n), n)
        quantizer = faiss.IndexFlat(d, faiss_metric(metric))
        reuse = self.centroids is not None and self.centroids.shape == (nlist, d)
        if reuse:  # the trained state itself: an IVFFlat index is trained once its quantizer holds nlist centroids
            quantizer.add(np.ascontiguousarray(self.centroids, dtype=np.float32))
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss_metric(metric))
        if not reuse:
            index.cp.max_points_per_centroid = 64   # k-means on <= 64 points per cell: bounded training cost
            index.train(base)
        self.last_centroids = quantizer.reconstruct_n(0, nlist)
        _add(index, base, description or "IVF: building index", self.block_size)
        return index

    def configure(self, index, k, effort=None):
        index.nprobe = min(effort or self.nprobe, index.nlist)

    def effort_range(self, index):
        return 1, min(index.nlist, self.max_nprobe or max(1, index.nlist // 4))

    def least_effort(self, index, n_base, k):
        # lists hold n_base / nlist rows on average: visit enough of them for twice the k + slack
        # rows asked (at k = 1,100 over 1M rows in 4,000 lists: 10 lists, not 1)
        return max(1, math.ceil(2 * (k + self.extra + 1) * index.nlist / max(1, n_base)))

    def _default_effort(self, index):
        return min(self.nprobe, index.nlist)


class _Silent:
    def advance(self, n=1) -> None:
        pass


def _add(index, base, description, block_size):
    with progress(description, total=len(base)) as bar:
        for s in range(0, len(base), block_size * 4):
            e = min(len(base), s + block_size * 4)
            index.add(np.ascontiguousarray(base[s:e]))
            bar.advance(e - s)
