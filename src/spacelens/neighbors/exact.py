"""Exact kNN with faiss's flat (brute-force) kernels, blocked over queries.

faiss does the GEMM and keeps the best ``k + extra`` candidates per query (L2 on centred rows,
from 33 dimensions as an inner product of augmented rows: :mod:`~spacelens.neighbors.metrics`,
``faiss_rows``, ``faiss_target``). Its float32
distances are within :func:`~spacelens.neighbors.metrics.search_tolerance` of the exact ones,
so two candidates further apart than twice that are already in the right order: only
candidates that close to another one (near-ties, usually a small share) are re-computed
in float64 from the vectors as given (see :mod:`metrics`) and rounded to float32, which gives
mathematically tied rows (duplicates) equal distances. Then the query itself is dropped and
the rest sorted by (float32 distance, row): the order is that of the float32-rounded exact
distances, ties by lower row. So two rows whose float64 distances differ by less than float32
resolution (about 6e-8 relative) count as tied, and the lower row comes first even when it is
the (negligibly) farther one. That is the rule every engine applies (the dask engine's merge,
the approximate engines' re-ranking: :mod:`spacelens.neighbors.base`), so they return the same
neighbours in the same order; a float64 order would be the exact engine's alone.
A query whose candidates all lie within faiss's rounding error of its k-th distance may have
a tie at the boundary with rows faiss did not return: only those rare rows are searched
again with twice as many candidates, until the boundary is clear. Memory is bounded by the
query block (``block_size`` x ``k``), never n x n, plus for L2 one centred copy of the base
(at most 2 GiB: beyond, faiss's L2 searches the rows as given, with more near-ties).

A self-graph (every row against the others) from 64 dimensions takes its candidates from
half the products instead (:mod:`~spacelens.neighbors.symmetric`: each pair of row blocks
multiplied once, both sides fed from it), then the same ranking: the same graph, 0.57-0.78x
the CPU time of faiss's flat search at the same k (bench/self_graph.py).

A caller that also needs each query's scores against every row (the trustworthiness of a map
ranks its map neighbours among all items) can watch the search's own product
(``search_prepared(..., on_scores=...)``) instead of computing a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from spacelens.errors import SpacelensError
from spacelens.neighbors.base import Engine
from spacelens.neighbors.duplicates import duplicate_groups
from spacelens.neighbors.metrics import (check_metric, check_vectors, column_mean, distances_of_pairs, faiss_base,
                                         faiss_knn, faiss_rows, pair_distances,
                                         prepare_with_norms, row_norms, scored_knn, search_tolerance)
from spacelens.neighbors.symmetric import distances as sym_distances
from spacelens.neighbors.symmetric import n_products, symmetric_knn, worth_it
from spacelens.parallel import spans, thread_map
from spacelens.progress import progress

# A re-search never holds more than this many (query, candidate) pairs at once.
_RESEARCH_PAIRS = 1 << 22
# The largest copy of the base the l2 search makes (centred, augmented rows; see ExactEngine).
_L2_COPY_MAX_BYTES = 2 << 30
# Below both, a search is one faiss call by default (see ExactEngine).
_ONE_CALL_MACS, _ONE_CALL_CANDIDATES = 1 << 34, 1 << 23
# Scores per query block handed to an observer (search_prepared's on_scores), when the engine
# has no block size: ~512 MB of float32, 134 queries at 1M rows (taller blocks, faster GEMM).
_SCORED_BLOCK_ELEMENTS = 1 << 27

# on_scores(queries, scores): ``queries`` the positions of a block's queries, ``scores`` their
# float32 (len(queries), n_base) scores, ordered like the metric's distances along each row.
ScoresObserver = Callable[[np.ndarray, np.ndarray], None]


def check_k(k, n_base: int, self_excluded: bool) -> int:
    """``k`` as an int in [1, n_base - self_excluded], or a clear error naming the fix."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise SpacelensError(f"k must be a whole number, not {k!r}", "Pass e.g. k=10")
    k = int(k)
    limit = n_base - 1 if self_excluded else n_base
    if k < 1 or k > limit:
        what = f"{n_base} rows" + (" (self excluded)" if self_excluded else "")
        raise SpacelensError(f"k={k} is out of range for {what}",
                             f"Choose k between 1 and {limit}" if limit >= 1 else "Add more items")
    return k


class Side:
    """Vectors as given (``raw``, for exact distances) and prepared for faiss (``vec``)."""

    def __init__(self, raw: np.ndarray, vec: np.ndarray, norms: np.ndarray | None = None):
        self.raw, self.vec, self.norms = raw, vec, norms   # norms: float64 row norms (cosine only)

    @classmethod
    def of(cls, vectors, metric: str, what: str = "vectors") -> "Side":
        raw = check_vectors(vectors, what)
        vec, norms = prepare_with_norms(raw, metric)
        return cls(raw, vec, norms)

    def __len__(self) -> int:
        return len(self.vec)

    def take(self, rows) -> "Side":
        norms = self.norms[rows] if self.norms is not None else None
        if isinstance(rows, slice):
            return Side(self.raw[rows], self.vec[rows], norms)
        return Side(np.asarray(self.raw[rows]), np.ascontiguousarray(self.vec[rows]), norms)


def rank_candidates(q: Side, b: Side, cand: np.ndarray, k: int, metric: str,
                    query_rows: np.ndarray | None, members: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Exact distances of candidate rows, self dropped, sorted by (distance, row); first k.

    Missing candidates (-1) and the query itself get +inf and sort last. With ``members``
    (groups of identical rows, see :mod:`duplicates`), ``cand`` are group numbers: each is
    measured once and expanded into its lowest rows.
    """
    rows = cand if members is None else members[cand, 0]
    dist = pair_distances(q.raw, b.raw, rows, metric, q.norms, b.norms)
    return _drop_and_rank(cand, dist, k, query_rows, members)


def rank_near_ties(q: Side, b: Side, cand: np.ndarray, fd: np.ndarray, tol: np.ndarray, k: int, metric: str,
                   query_rows: np.ndarray | None, members: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`rank_candidates` for faiss's sorted candidates, re-computing only near-ties.

    ``fd``: faiss's distances of ``cand`` (float64, increasing along rows), each within
    ``tol`` of the exact one (``tol``: one bound per query, shape (r,), or per candidate,
    (r, w)). Neighbours in that list further apart than their two bounds are in the right
    order whatever the rounding, so they keep faiss's value; runs of candidates closer than
    that get exact distances, computed in float64 and rounded to float32, ordered by those
    float32 values and then by lower row (rows closer than float32 resolution count as tied:
    the engines' shared rule, see the module docstring), which gives mathematically tied rows
    equal values. So are candidates within their bound of 0 (l2, cosine): identical rows report
    exactly 0. Reported distances stay sorted: a kept value and an exact one differ from the
    truth by at most their bounds.
    """
    tol = np.asarray(tol)
    close = np.diff(fd, axis=1) <= (tol[:, :-1] + tol[:, 1:] if tol.ndim == 2 else 2 * tol[:, None])
    near = np.zeros(fd.shape, dtype=bool)
    near[:, 1:] = close
    near[:, :-1] |= close
    if metric != "dot":       # within the bound of 0: maybe an identical row, whose distance is exactly 0
        near |= fd <= (tol if tol.ndim == 2 else tol[:, None])
    near &= cand >= 0
    dist = fd.astype(np.float32)
    qi, cj = np.nonzero(near)
    if len(qi):
        rows = cand[qi, cj] if members is None else members[cand[qi, cj], 0]
        dist[qi, cj] = distances_of_pairs(q.raw, b.raw, qi, rows, metric, q.norms, b.norms)
    return _drop_and_rank(cand, dist, k, query_rows, members)


def _drop_and_rank(cand, dist, k, query_rows, members):
    """Groups expanded into their rows, missing rows and the query itself set to +inf, first k."""
    if members is not None:
        cand = members[cand].reshape(len(cand), -1)                     # (r, width * w) rows
        dist = np.repeat(dist, members.shape[1], axis=1)
    dist[cand < 0] = np.inf
    if query_rows is not None:
        dist[cand == query_rows[:, None]] = np.inf
    return first_k(cand, dist, k)


def first_k(cand: np.ndarray, dist: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``k`` of each row by (distance, row): ``(rows int32, distances float32)``.

    One sort of 64-bit keys, the distance's bits made order-preserving in the high half and
    the row in the low half (3x faster than a two-key ``lexsort``). Rows are in [-1, 2^31);
    -1 (no candidate) sorts last among equal distances.
    """
    bits = np.array(dist, dtype=np.float32)                  # a copy, changed in place below
    bits += np.float32(0)                                     # -0.0 becomes +0.0
    bits = bits.view(np.uint32)
    flip = bits >> np.uint32(31)                              # negative: flip all bits, else the sign bit
    flip *= np.uint32(0x7FFFFFFF)
    flip |= np.uint32(0x80000000)
    bits ^= flip
    key = bits.astype(np.uint64)
    key <<= np.uint64(32)
    key |= np.asarray(cand).astype(np.uint32)
    # numpy's quicksort has a sorting network up to 256 keys a row; beyond, timsort wins on
    # faiss's nearly sorted candidates (4x faster at k = 565). Same result: keys are unique.
    key.sort(axis=1, kind="stable" if key.shape[1] > 256 else "quicksort")
    key = key[:, :k]
    high = (key >> np.uint64(32)).astype(np.uint32)
    bits = np.where(high >= 0x80000000, high & np.uint32(0x7FFFFFFF), ~high)
    return key.astype(np.uint32).view(np.int32), bits.view(np.float32)


@dataclass
class _Target:
    """What every query block of one exact search shares: the base as faiss searches it."""

    base: Side                  # the base as given (exact distances)
    rows: np.ndarray            # what faiss searches: prepared (centred, augmented) distinct rows
    members: np.ndarray | None  # groups of identical rows (rows are then group numbers), or None
    query_rows: np.ndarray | None  # the base row each query is (self exclusion), or None
    k: int
    metric: str
    max_norm: float             # largest norm of ``rows`` (one error bound per query)
    norms: np.ndarray | None    # norm of each of ``rows`` (an error bound per candidate), or None
    center: np.ndarray | None   # the mean subtracted from l2 rows, or None


@dataclass
class _Candidates:
    """faiss's sorted candidates for some queries, ranked exactly in threads (:meth:`rank`)."""

    target: _Target
    queries: Side
    query_rows: np.ndarray | None
    out: np.ndarray             # where each query's result goes in the output arrays
    cand: np.ndarray            # (r, width) candidate rows (or groups)
    fd: np.ndarray              # their faiss distances
    tol: np.ndarray             # one faiss error bound per query
    qv: np.ndarray              # the queries as faiss saw them
    qn: np.ndarray | None       # their norms (l2, dot)
    augmented: bool

    def rank(self, start: int, stop: int, indices: np.ndarray, distances: np.ndarray) -> None:
        t = self.target
        part = self.queries.take(slice(start, stop))
        cand = self.cand[start:stop]
        tol = (self.tol[start:stop] if t.norms is None else
               search_tolerance(self.qv[start:stop], t.norms[cand], t.metric, self.augmented,
                                self.qn[start:stop]))
        idx, dist = rank_near_ties(part, t.base, cand, self.fd[start:stop], tol, t.k, t.metric,
                                   self.query_rows[start:stop] if self.query_rows is not None else None,
                                   t.members)
        indices[self.out[start:stop]] = idx
        distances[self.out[start:stop]] = dist


class ExactEngine(Engine):
    """Brute force with faiss ``knn`` (the kernel of ``IndexFlatIP`` / ``IndexFlatL2``), exact ties."""

    name = "exact"
    summary = "brute force (faiss flat kernels), every true neighbour, ties by lower row"

    def __init__(self, block_size: int | None = None, extra: int | None = None, symmetric: bool | None = None):
        """``block_size``: queries per faiss call. None: all of them when the search is small
        (under ~2^34 multiply-adds and 8M candidates: well under a second; one call is ~5%
        faster than two at 10k x 10k, k = 123), else 8,192 (progress, bounded memory).
        ``symmetric``: whether a self-graph takes its candidates from half the products
        (:mod:`~spacelens.neighbors.symmetric`); None: where that was measured faster
        (:func:`~spacelens.neighbors.symmetric.worth_it`). Never changes results."""
        if block_size is not None and int(block_size) < 1:
            raise SpacelensError(f"block_size={block_size} must be positive", "Use e.g. 8192")
        self.block_size = None if block_size is None else int(block_size)
        self.extra = extra
        self.symmetric = symmetric

    @property
    def params(self) -> dict:
        return {}  # block size and candidate count change speed, never results

    @property
    def settings(self) -> dict:
        return {"block_size": self.block_size, "symmetric": self.symmetric}

    def estimate_seconds(self, n_queries: int, n_base: int, dim: int, k: int) -> float:
        from spacelens.neighbors.cost import exact_seconds

        return exact_seconds(n_queries, n_base, dim)

    def search(self, queries, base, k: int, metric: str, query_rows=None,
               *, description: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """k nearest rows of ``base`` per query: ``(indices int32, distances float32)``.

        ``queries`` and ``base`` are raw vectors (prepared here); pass the same object for
        both to search a space against itself without a second copy.
        """
        q, b, rows, k = prepare_search(queries, base, k, metric, query_rows)
        return self.search_prepared(q, b, k, metric, rows, description=description)

    def search_prepared(self, q: Side, b: Side, k: int, metric: str, rows: np.ndarray | None,
                        *, description: str | None = None, on_scores: ScoresObserver | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` on vectors already through :func:`prepare_search`.

        ``on_scores(queries, scores)``: a caller that needs every query's scores against the
        whole base as well (ranks among all rows) gets them from the search's own product.
        Each query block is then one numpy GEMM (:func:`~spacelens.neighbors.metrics.scored_knn`:
        faiss's forms and its heap selection, so the same candidates and error bounds), and
        the observer sees each query exactly once, with its (queries x base rows) float32
        scores, ordered like the metric's distances along each row (a per-query constant
        apart); it may overwrite them. Everything after (near-ties, re-search, self, zero
        queries) is the engine's, so the neighbours are the same. Not when the base has
        identical rows: faiss then searches one row per group, whose scores would not be
        ranks among all rows, so the observer is never called (the caller sees which
        queries it was called for). Blocks of ~2^27 scores unless ``block_size`` is set.
        """
        nq = len(q)
        # Grouping costs a pass over the base: worth it when many queries search it.
        groups = duplicate_groups(b.raw, k + 1) if nq >= 64 else None
        if groups is not None:
            on_scores = None
        # faiss searches the distinct vectors; candidates are group numbers when there are duplicates.
        # l2: centred, from 33 dims as an inner product (faiss_rows, faiss_target), unless that
        # copy of the base would pass _L2_COPY_MAX_BYTES: then faiss's L2 on the rows as given.
        # Norms of the searched rows: a faiss error bound per candidate (l2, dot), tighter
        # than one from the largest norm.
        n_rows = len(b) if groups is None else len(groups.reps)
        copy = metric == "l2" and n_rows * (b.vec.shape[1] + 1) * 4 <= _L2_COPY_MAX_BYTES
        center = column_mean(b.raw) if copy else None
        target, tnorms = faiss_base(b.raw, b.vec, metric, center, None if groups is None else groups.reps)
        members = None if groups is None else groups.members
        m = len(target)
        extra = self.extra if self.extra is not None else max(8, k // 16)
        kk = min(m, k + (rows is not None) + extra)
        bmax = float(tnorms.max(initial=0.0)) if tnorms is not None else 1.0
        tgt = _Target(b, target, members, rows, k, metric, bmax, tnorms, center)

        indices = np.empty((nq, k), dtype=np.int32)
        distances = np.empty((nq, k), dtype=np.float32)
        pending: list[np.ndarray] = []
        found = None
        if on_scores is None and self._use_symmetric(q, b, rows, target, kk, metric):
            # a self-graph: every query's candidates from half the products, ranked below as usual
            with progress(f"{description or f'Exact kNN ({metric})'}: candidates, half the products",
                          total=n_products(m)) as bar:
                found = symmetric_knn(target, kk, metric, advance=lambda: bar.advance(1))
            of = groups.of_row if groups is not None else np.arange(m)  # a query's candidates: its group's
        with progress(description or f"Exact kNN ({metric})", total=nq) as bar:
            small = nq * m * q.vec.shape[1] <= _ONE_CALL_MACS and nq * kk <= _ONE_CALL_CANDIDATES
            step = self.block_size or (max(1, _SCORED_BLOCK_ELEMENTS // max(1, m)) if on_scores is not None
                                       else max(1, nq) if small else 8192)
            for s in range(0, nq, step):
                e = min(nq, s + step)
                todo = self._block(q, np.arange(s, e), kk, tgt, indices, distances, on_scores,
                                   None if found is None else (sym_distances(found[0][of[s:e]], metric),
                                                               found[1][of[s:e]]))
                if len(todo):
                    pending.append(todo)
                bar.advance(e - s)
        # Rows whose k-th neighbour may tie with rows faiss did not return: widen and retry.
        todo = np.concatenate(pending) if pending else np.empty(0, dtype=np.int64)
        while len(todo):
            kk = min(m, 2 * kk)
            step = max(1, _RESEARCH_PAIRS // kk)
            left = [self._block(q, todo[s:s + step], kk, tgt, indices, distances)
                    for s in range(0, len(todo), step)]
            todo = np.concatenate(left)
        return indices, distances

    def _use_symmetric(self, q: Side, b: Side, rows, target, kk: int, metric: str) -> bool:
        """Whether this search is a self-graph that :func:`symmetric_knn` can serve, and should."""
        if self.symmetric is False or q is not b or rows is None:
            return False
        if not np.array_equal(rows, np.arange(len(b))):
            return False
        if metric == "l2" and target.shape[1] != b.vec.shape[1] + 1:
            return False     # l2 below 33 dims, or without the centred copy: faiss's own L2
        return bool(self.symmetric) or worth_it(len(target), b.vec.shape[1], kk)

    def _block(self, qs, qi, kk, tgt: _Target, indices, distances,
               on_scores: ScoresObserver | None = None, found=None) -> np.ndarray:
        """Search queries ``qi``; write their results; return those whose boundary is unclear.

        ``on_scores``: see :meth:`search_prepared` (the first pass only: re-searches are not
        shown again). ``found``: the queries' candidates ``(distances, rows)`` already
        searched (:func:`symmetric_knn`, whose l2 bound is the non-augmented one)."""
        rows, k, metric = tgt.query_rows, tgt.k, tgt.metric
        m = len(tgt.rows)
        contiguous = len(qi) > 0 and qi[-1] - qi[0] + 1 == len(qi)
        q = qs.take(slice(qi[0], qi[-1] + 1) if contiguous else qi)
        qrows = rows[qi] if rows is not None else None
        qv = fd = cand = None
        augmented = None
        if found is not None:
            fd, cand = found
            qv = faiss_rows(q.raw, q.vec, metric, tgt.center)
            augmented = False
        elif on_scores is not None:   # one product: the observer's scores and faiss's candidates
            qv = faiss_rows(q.raw, q.vec, metric, tgt.center)
            scores, fd, cand = scored_knn(qv, tgt.rows, kk, metric, tgt.norms)
            on_scores(qi, scores)
            del scores
        # A zero query under cosine/dot is equally far from every row: the lowest rows win.
        if metric != "l2":
            zero = ~q.vec.any(axis=1)
            if zero.any():
                self._zero_queries(qi[zero], qrows[zero] if qrows is not None else None, k, metric,
                                   indices, distances)
                keep = ~zero
                qi, q = qi[keep], q.take(keep)
                qrows = qrows[keep] if qrows is not None else None
                if fd is not None:
                    qv, fd, cand = qv[keep], fd[keep], cand[keep]
                if not len(qi):
                    return qi
        if fd is None:
            qv = faiss_rows(q.raw, q.vec, metric, tgt.center)
            fd, cand = faiss_knn(qv, tgt.rows, kk, metric)
        if augmented is None:
            augmented = tgt.rows.shape[1] != qv.shape[1]        # l2 as an inner product
        qn = row_norms(qv) if metric != "cosine" else None      # for both bounds below
        tol = search_tolerance(qv, tgt.max_norm, metric, augmented, qn)
        if kk >= m:  # every distinct vector is a candidate: nothing can be missing
            need = np.full(len(qi), kk)
            easy, p = np.ones(len(qi), dtype=bool), kk - 1
        else:
            # The k-th nearest non-self row is at most fd[p] + tol away (p = k with self
            # among the candidates, else k - 1), so only candidates with fd <= fd[p] + 2 tol
            # can be among the k nearest or tie with the k-th. Usually that is the first
            # p + 1: only those are ranked.
            p = k if qrows is not None else k - 1
            need = (fd <= (fd[:, p] + 2 * tol)[:, None]).sum(axis=1)
            easy = need <= p + 1
        groups = [(easy, p + 1)] if easy.all() else [(easy, p + 1), (~easy, int(need[~easy].max()))]
        for mask, width in groups:
            if not mask.any():
                continue
            sel = slice(None) if mask.all() else mask        # all rows: views, no copies
            group = _Candidates(tgt, q if mask.all() else q.take(mask),
                                qrows[sel] if qrows is not None else None, qi[sel], cand[sel, :width],
                                fd[sel, :width], tol[sel], qv[sel], qn[sel] if qn is not None else None,
                                augmented)
            _in_threads(lambda s, e, g=group: g.rank(s, e, indices, distances), len(group.out))
        # Every candidate within the bound: rows faiss did not return may be as near.
        return qi[need >= kk] if kk < m else qi[:0]

    @staticmethod
    def _zero_queries(qi, qrows, k, metric, indices, distances):
        cand = np.broadcast_to(np.arange(k + 1, dtype=np.int64), (len(qi), k + 1))
        if qrows is not None:
            is_self = cand == qrows[:, None]
            drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k)
        else:
            drop = np.full(len(qi), k)
        keep = np.ones(cand.shape, dtype=bool)
        keep[np.arange(len(qi)), drop] = False
        indices[qi] = cand[keep].reshape(len(qi), k)
        distances[qi] = 1.0 if metric == "cosine" else 0.0


def _in_threads(work, n: int, min_rows: int = 512) -> None:
    """``work(start, stop)`` over ``range(n)`` in as many threads as faiss uses."""
    import faiss

    parts = max(1, min(faiss.omp_get_max_threads(), n // min_rows))
    thread_map(lambda span: work(*span), spans(n, parts), parts)


def prepare_search(queries, base, k, metric, query_rows):
    """Validate a search request; ``(queries, base, query_rows, k)`` prepared for ``metric``.

    Pass the same object as ``queries`` and ``base`` to prepare a space only once.
    """
    check_metric(metric)
    b = Side.of(base, metric, "base vectors")
    q = b if queries is base else Side.of(queries, metric, "query vectors")
    if q.vec.shape[1] != b.vec.shape[1]:
        raise SpacelensError(f"Queries have dimension {q.vec.shape[1]} but the base has {b.vec.shape[1]}",
                             "Search a space with vectors of its own dimension")
    rows = _check_rows(query_rows, len(q), len(b))
    return q, b, rows, check_k(k, len(b), rows is not None)


def _check_rows(query_rows, nq: int, n: int) -> np.ndarray | None:
    if query_rows is None:
        return None
    rows = np.asarray(query_rows)
    if rows.shape != (nq,) or not np.issubdtype(rows.dtype, np.integer):
        raise SpacelensError(f"query_rows must be {nq} integers (one base row per query)",
                             "Pass the row of the base that each query is, or None")
    if nq and (rows.min() < 0 or rows.max() >= n):
        raise SpacelensError("query_rows refer to rows outside the base", f"Use rows in [0, {n})")
    return rows.astype(np.int64, copy=False)


def exact_search(queries, base, k: int, metric: str = "cosine", query_rows=None) -> tuple[np.ndarray, np.ndarray]:
    """Shortcut for ``get_engine("exact").search``."""
    return ExactEngine().search(queries, base, k, metric, query_rows)
