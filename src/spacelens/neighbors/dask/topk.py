"""The work of one Dask task: the exact top k of a query block among a base block (faiss proposes,
float64 re-ranks, as the exact engine does), and the merge of two partial top-k lists.

Everything here runs on the workers; the client submits :func:`topk_task` and :func:`merge_topk`.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from spacelens.errors import SpacelensWarning
from spacelens.neighbors.dask.sources import read_block

PAD = np.iinfo(np.int64).max       # id of an empty slot in a partial top-k list (sorts last)
_RESEARCH_PAIRS = 1 << 22          # (query, candidate) pairs held at once when widening a search


def block_topk(q, b, offset: int, k: int, metric: str, self_rows: np.ndarray | None = None,
               extra: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top k of queries ``q`` among base block ``b`` (its rows are ``offset + 0..``).

    ``q`` and ``b`` are :class:`~spacelens.neighbors.exact.Side` (raw vectors and prepared
    ones). Returns ``(distances float32 (m, k), ids int64 (m, k))`` sorted by (distance, id),
    ids global; a block with fewer than k usable rows pads with (inf, PAD). ``self_rows``: the
    queries' own global rows, excluded. As in the exact engine, faiss proposes ``k + extra``
    candidates, their distances are re-computed exactly from the raw vectors, and a query whose
    k-th distance is not clearly below the worst candidate faiss returned is searched again
    with twice as many candidates.
    """
    from spacelens.neighbors.metrics import (column_mean, faiss_base, faiss_knn, faiss_rows, pair_distances,
                                             search_tolerance)

    m, nb = len(q), len(b)
    out_d = np.full((m, k), np.inf, dtype=np.float32)
    out_i = np.full((m, k), PAD, dtype=np.int64)
    if m == 0 or nb == 0:
        return out_d, out_i
    local = None
    if self_rows is not None:
        local = np.asarray(self_rows, dtype=np.int64) - offset
        local = np.where((local >= 0) & (local < nb), local, -2)   # -2 never matches a candidate
    has_self = local is not None and bool((local >= 0).any())
    extra = max(8, k // 4) if extra is None else int(extra)
    kk = min(nb, k + int(has_self) + extra)
    # faiss searches as the exact engine does: l2 on rows centred on this block's mean (any
    # centre keeps the distances), the bound from the rows faiss sees.
    center = column_mean(b.raw) if metric == "l2" else None
    target, norms = faiss_base(b.raw, b.vec, metric, center)
    bmax = float(norms.max(initial=0.0)) if norms is not None else 1.0
    augmented = target.shape[1] != b.vec.shape[1]             # l2 as an inner product

    todo = np.arange(m)
    if metric != "l2":
        # A zero query is equally far from every row (cosine 1, dot 0): the lowest rows win.
        zero = ~q.vec.any(axis=1)
        if zero.any():
            zi = todo[zero]
            cand = np.broadcast_to(np.arange(min(nb, k + 1), dtype=np.int64), (len(zi), min(nb, k + 1)))
            dist = np.full(cand.shape, 1.0 if metric == "cosine" else 0.0, dtype=np.float32)
            _write(out_d, out_i, zi, dist, cand, local, offset, k)
            todo = todo[~zero]
    first = True
    while len(todo):
        step = len(todo) if first else max(1, _RESEARCH_PAIRS // kk)
        first = False
        unclear = []
        for s in range(0, len(todo), step):
            qi = todo[s:s + step]
            qq = q if len(qi) == m else q.take(qi)
            qv = faiss_rows(qq.raw, qq.vec, metric, center)
            fd, cand = faiss_knn(qv, target, kk, metric)
            dist = pair_distances(qq.raw, b.raw, cand, metric, qq.norms, b.norms)
            kth = _write(out_d, out_i, qi, dist, cand, local, offset, k)
            if kk < nb:
                bound = search_tolerance(qv, bmax, metric, augmented)
                unclear.append(qi[~(kth.astype(np.float64) < fd[:, -1] - bound)])
        todo = np.concatenate(unclear) if unclear else todo[:0]
        kk = min(nb, 2 * kk)
    return out_d, out_i


def _write(out_d, out_i, qi, dist, cand, local, offset, k) -> np.ndarray:
    """Drop self and empty slots, sort by (distance, row), keep k; returns the k-th distances."""
    cand = np.asarray(cand, dtype=np.int64)
    dead = cand < 0
    if local is not None:
        dead |= cand == local[qi][:, None]
    dist = np.where(dead, np.float32(np.inf), dist).astype(np.float32, copy=False)
    gid = np.where(dead, PAD, cand + offset)
    order = np.lexsort((gid, dist), axis=1)[:, :k]
    d = np.take_along_axis(dist, order, axis=1)
    g = np.take_along_axis(gid, order, axis=1)
    w = d.shape[1]
    out_d[qi, :w] = d
    out_i[qi, :w] = g
    return out_d[qi, k - 1]


def merge_topk(a: tuple, b: tuple, k: int) -> tuple:
    """Best k of two partial lists ``(distances, ids, counters)`` by (distance, id); counters add up."""
    d = np.concatenate([a[0], b[0]], axis=1)
    i = np.concatenate([a[1], b[1]], axis=1)
    order = np.lexsort((i, d), axis=1)[:, :k]
    return (np.take_along_axis(d, order, axis=1), np.take_along_axis(i, order, axis=1),
            tuple(x + y for x, y in zip(a[2], b[2])))


def _load(ref, start: int, stop: int) -> np.ndarray:
    return ref if isinstance(ref, np.ndarray) else read_block(ref, start, stop)


def _side(x: np.ndarray, metric: str):
    """The block as the exact engine holds it (raw, prepared, norms), and its count of zero rows."""
    from spacelens.neighbors.exact import Side

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpacelensWarning)   # zero rows: counted, warned once by the client
        side = Side.of(x, metric)
    return side, int((~x.any(axis=1)).sum()) if metric == "cosine" else 0


def topk_task(qref, qspan, bref, bspan, k, metric, self_rows, extra, threads, count):
    """One task: top k of query block ``qspan`` among base block ``bspan``.

    ``qref``/``bref`` are an ``.npy`` path/URL (read here) or the block itself (scattered).
    ``count`` = (count zero base rows, count zero query rows) so each is counted once. Returns
    ``(distances, ids, (zero base rows, zero query rows, CPU seconds of this thread))``.
    """
    import faiss

    cpu = time.thread_time()
    if threads:
        faiss.omp_set_num_threads(int(threads))
    same = qspan == bspan and (qref is bref or (isinstance(qref, str) and qref == bref))
    b, zb = _side(_load(bref, *bspan), metric)
    q, zq = (b, zb) if same else _side(_load(qref, *qspan), metric)
    d, i = block_topk(q, b, bspan[0], k, metric, self_rows, extra)
    return d, i, (zb if count[0] else 0, zq if count[1] else 0, time.thread_time() - cpu)
