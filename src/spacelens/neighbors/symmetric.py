"""The candidates of a self-graph from half the products: each pair of row blocks multiplied once.

A self-graph searches the rows against themselves, so the product of row blocks i and j is the
transpose of that of j and i: :func:`symmetric_knn` computes ``X_i X_j^T`` once for j >= i and
feeds both sides from it, half the multiply-adds of a flat search (``faiss.knn``). The rows of
block i take its rows as candidates through faiss's heaps (the selection its flat search runs);
the rows of block j take its columns, without transposing it (a transposed copy of a 4,096 x
4,096 block cost more than its product at d = 256): only scores above a row's current k-th
best can enter its list, so one comparison with those thresholds leaves a few hits per row
(about k ln(n / block) over the whole search), and the best ``k`` of them per row go into its
heap. Diagonal blocks come first, so every threshold is already that of a full list when the
first hits are counted.

The result is what :func:`~spacelens.neighbors.metrics.faiss_knn` returns for the same rows:
each row's ``k`` best candidates, sorted, with float32 distances within
:func:`~spacelens.neighbors.metrics.search_tolerance` of the exact ones (for l2 the
non-augmented bound: see :func:`symmetric_knn`). Which of several candidates tied in float32
at the k-th place is kept may differ from faiss's; the exact engine re-ranks near-ties and
searches again where the boundary is unclear, so the graph it makes from either is the same.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from spacelens.parallel import thread_map

# Rows per block: a 6,144 x 6,144 product (144 MB of float32). Larger blocks make fuller first
# lists (fewer hits on the second side) and fewer passes: at 30k x 256, k = 50, the kernel took
# 8.8 s of CPU with blocks of 2,048, 6.5 s with 4,096, 5.7 s with 6,144 and 8,192.
BLOCK = 6144
# Below this many dimensions the products are too cheap for halving them to pay much for the
# second side's selection (bench/self_graph.py, 30k rows, k = 10 and 50, CPU time: 0.57-0.78x
# faiss's from d = 64 to 768, 0.84-0.95x at d = 32, too close to call on a shared machine).
MIN_DIM = 64
# Every row's heap is held at once (12 bytes a candidate): at most 2^26 candidates (768 MB).
MAX_ENTRIES = 1 << 26
# Scores compared with the thresholds at once (a strip of rows: 1 MB of float32, in cache).
_STRIP_ELEMENTS = 1 << 18


def worth_it(n: int, d: int, k: int) -> bool:
    """Whether :func:`symmetric_knn` was measured faster than faiss's flat search for ``n`` rows
    of ``d`` dimensions and ``k`` candidates (bench/self_graph.py): from :data:`MIN_DIM`
    dimensions, with at least two blocks, and heaps within :data:`MAX_ENTRIES`."""
    return d >= MIN_DIM and n > BLOCK and n * k <= MAX_ENTRIES


def n_products(n: int, block: int | None = None) -> int:
    """How many block products :func:`symmetric_knn` computes for ``n`` rows."""
    b = -(-n // (block or BLOCK))
    return b * (b + 1) // 2


def _heaps(n: int, k: int):
    """faiss's min-heaps keeping each row's ``k`` largest scores, and their arrays."""
    import faiss

    vals = np.empty((n, k), dtype=np.float32)
    ids = np.empty((n, k), dtype=np.int64)
    heaps = faiss.float_minheap_array_t()
    heaps.k, heaps.nh = k, n
    heaps.val, heaps.ids = faiss.swig_ptr(vals), faiss.swig_ptr(ids)
    heaps.heapify()
    return heaps, vals, ids


def symmetric_forms(target: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """``(u, v)`` with ``u[i] . v[j]`` the score of rows i and j (larger is nearer), symmetric.

    cosine, dot: the rows themselves (inner products). l2: ``target`` as
    :func:`~spacelens.neighbors.metrics.faiss_target` makes it (rows ``[2y, -|y|^2]``);
    ``u = [2y, -|y|^2, 1]`` and ``v = [y, 1, -|y|^2]`` give ``2 y_i.y_j - |y_i|^2 - |y_j|^2
    = -|y_i - y_j|^2`` (every factor exact from ``target``: halving is exact).
    """
    if metric != "l2":
        return target, target
    n, d1 = target.shape
    d = d1 - 1
    u = np.empty((n, d + 2), dtype=np.float32)
    u[:, :d1] = target
    u[:, d1] = 1
    v = np.empty((n, d + 2), dtype=np.float32)
    np.multiply(target[:, :d], np.float32(0.5), out=v[:, :d])
    v[:, d] = 1
    v[:, d1] = target[:, d]
    return u, v


def symmetric_knn(target: np.ndarray, k: int, metric: str, block: int | None = None,
                  advance: Callable[[], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` best rows of ``target`` (itself included): ``(scores float32, rows int64)``,
    the scores (larger is nearer) made distances by :func:`distances`.

    ``target``: the searched rows as the exact engine hands them to faiss (cosine, dot: the
    prepared rows; l2: the centred rows augmented by :func:`faiss_target`, from 33 dims).
    Distances increase along each row. Error of the distances: cosine and dot as faiss's inner product (one
    float32 sum of d products); l2 one float32 sum of d + 2 terms of total size at most
    ``(|x| + |y|)^2`` (see :func:`symmetric_forms`), plus half an ulp of each squared norm:
    within ``search_tolerance(x, |y|, "l2", augmented=False)`` of the centred rows ``x``,
    whose ``(d/2 + 8)`` covers the ``(d + 2)/2 + 1`` this needs. ``advance()``: progress,
    called after each of the :func:`n_products` block products. ``block``: rows per block
    (default :data:`BLOCK`).
    """
    block = block or BLOCK
    u, v = symmetric_forms(target, metric)
    n = len(u)
    k = min(k, n)
    heaps, vals, ids = _heaps(n, k)
    import faiss

    starts = list(range(0, n, block))
    flat = np.empty(min(block, n) ** 2, dtype=np.float32)       # every product goes here, C-contiguous
    buf = lambda rows, cols: flat[:rows * cols].reshape(rows, cols)  # noqa: E731
    for s in starts:                       # diagonal blocks first: every list full before any hit test
        e = min(n, s + block)
        scores = np.matmul(u[s:e], v[s:e].T, out=buf(e - s, e - s))
        heaps.addn(e - s, faiss.swig_ptr(scores), s, s, e - s)
        if advance:
            advance()
    for a, s in enumerate(starts):
        e = min(n, s + block)
        for s2 in starts[a + 1:]:
            e2 = min(n, s2 + block)
            scores = np.matmul(u[s:e], v[s2:e2].T, out=buf(e - s, e2 - s2))
            heaps.addn(e2 - s2, faiss.swig_ptr(scores), s2, s, e - s)       # rows s..e: columns s2..e2
            _feed_columns(heaps, vals, scores, s, s2, k)                     # rows s2..e2: rows s..e
            if advance:
                advance()
    heaps.reorder()
    return vals, ids


def distances(scores: np.ndarray, metric: str) -> np.ndarray:
    """float64 distances from :func:`symmetric_knn`'s scores (for some rows at a time: the
    scores take 4 bytes a candidate, the distances 8)."""
    fd = scores.astype(np.float64)
    if metric == "cosine":
        return np.subtract(1.0, fd, out=fd)
    np.negative(fd, out=fd)                # dot: -x.y; l2: the score is already -|x - y|^2
    return np.maximum(fd, 0.0, out=fd) if metric == "l2" else fd


def _feed_columns(heaps, vals: np.ndarray, scores: np.ndarray, s: int, s2: int, k: int) -> None:
    """Offer column j of ``scores`` (rows s.. of the block) to the heap of row ``s2 + j``.

    Only scores above the heap's smallest kept one (its top, ``vals[row, 0]``) can enter, and
    of those only each row's ``k`` largest: they go in as one padded (rows x width) block.
    The comparison runs in strips of rows small enough to stay in cache, in threads (numpy
    releases the GIL in both the comparison and ``nonzero``).
    """
    import faiss

    rows, cols = scores.shape
    thr = vals[s2:s2 + cols, 0].copy()

    def strip(span):
        r0, r1 = span
        part = scores[r0:r1]
        qi, cj = np.nonzero(part > thr)
        return qi + r0, cj, part[qi, cj]

    step = max(1, _STRIP_ELEMENTS // max(1, cols))
    found = thread_map(strip, [(r, min(rows, r + step)) for r in range(0, rows, step)])
    qi = np.concatenate([f[0] for f in found])
    if not len(qi):
        return
    cj = np.concatenate([f[1] for f in found])
    val = np.concatenate([f[2] for f in found])
    counts = np.bincount(cj, minlength=cols)
    width = int(min(k, counts.max()))
    if counts.max() > k:   # keep each column's k largest: sort by column, then score descending
        bits = val.view(np.uint32)
        flip = (bits >> np.uint32(31)) * np.uint32(0x7FFFFFFF) | np.uint32(0x80000000)
        key = cj.astype(np.uint64) << np.uint64(32) | (~(bits ^ flip)).astype(np.uint64)
        order = np.argsort(key)
    else:                  # every hit fits: group by column only
        order = np.argsort(cj, kind="stable")
    cj, qi, val = cj[order], qi[order], val[order]
    first = np.cumsum(counts) - counts
    pos = np.arange(len(cj)) - first[cj]
    keep = pos < k
    pad_val = np.full((cols, width), -np.inf, dtype=np.float32)
    pad_ids = np.full((cols, width), -1, dtype=np.int64)
    pad_val[cj[keep], pos[keep]] = val[keep]
    pad_ids[cj[keep], pos[keep]] = qi[keep] + s
    heaps.addn_with_ids(width, faiss.swig_ptr(pad_val), faiss.swig_ptr(pad_ids), width, s2, cols)
