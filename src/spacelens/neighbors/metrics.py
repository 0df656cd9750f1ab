"""Metrics: how vectors are prepared for faiss, and exact distances of chosen pairs.

Every engine searches prepared float32 vectors with faiss's inner product (cosine, dot) or
squared L2 (the exact engine: on centred rows, from 33 dimensions as an inner product of
augmented rows; :func:`faiss_rows`, :func:`faiss_target`, :func:`faiss_knn`). faiss's
float32 distances are within :func:`search_tolerance` of the exact ones;
where that could change the order (two candidates closer than twice the bound), engines
re-compute the distances in float64 from the raw vectors and round them to float32
(:func:`pair_distances`, :func:`distances_of_pairs`). So identical rows get identical
distances, and "sorted by distance, ties broken by lower row index" is a property one can
check on the stored float32 values.
"""

from __future__ import annotations

import warnings

import numpy as np

from spacelens.errors import SpacelensError, SpacelensWarning
from spacelens.neighbors.base import METRICS

# Elements per chunk when a pass over the vectors needs float64 temporaries (bounded memory).
_CHUNK_ELEMENTS = 1 << 22
# Gathered candidates per chunk in pair_distances: 2 MB of float64 stays in cache between the
# gather and the products (2-3x faster than 32 MB chunks).
_PAIR_CHUNK_ELEMENTS = 1 << 18


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        aliases = {"euclidean": "l2", "ip": "dot", "inner_product": "dot", "cos": "cosine"}
        hint = f"Use {aliases[metric]!r}" if metric in aliases else f"Use one of: {', '.join(METRICS)}"
        raise SpacelensError(f"Unknown metric {metric!r}", hint)
    return metric


def check_vectors(vectors, what: str = "vectors") -> np.ndarray:
    """A 2-D float array (memory maps stay memory maps), or a clear error."""
    if hasattr(vectors, "detach"):  # a torch tensor, without importing torch
        vectors = vectors.detach().cpu().numpy()
    a = np.asarray(vectors)
    if a.ndim != 2:
        raise SpacelensError(f"The {what} have shape {a.shape}, not (n_items, dim)",
                             "Pass a 2-D array with one row per item")
    if a.shape[1] == 0:
        raise SpacelensError(f"The {what} have dimension 0", "Pass vectors with at least one component")
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise SpacelensError(f"The {what} have dtype {a.dtype}", "Pass real-valued (float) vectors")
    return a


def _row_chunks(n: int, d: int, width: int = 1, elements: int | None = None):
    step = max(1, (elements or _CHUNK_ELEMENTS) // max(1, d * width))
    for s in range(0, n, step):
        yield s, min(n, s + step)


def prepare(vectors, metric: str) -> np.ndarray:
    """The float32 C-contiguous matrix faiss searches for ``metric``.

    cosine: rows L2-normalised (norms in float64); a zero row has no direction and stays
    zero, so its cosine with anything is 0 and its distance 1. l2, dot: the vectors as
    float32 (no copy when they already are, e.g. a registry memory map).
    Non-finite values raise :class:`SpacelensError`.
    """
    return prepare_with_norms(vectors, metric)[0]


def prepare_with_norms(vectors, metric: str) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`prepare`, plus the float64 norms of the rows for cosine (None otherwise)."""
    check_metric(metric)
    a = check_vectors(vectors)
    n, d = a.shape
    if metric != "cosine":
        out = np.ascontiguousarray(a, dtype=np.float32)
        for s, e in _row_chunks(n, d):
            if not np.isfinite(out[s:e].sum(axis=1, dtype=np.float64)).all():
                _nonfinite(out[s:e], s)
        return out, None
    out = np.empty((n, d), dtype=np.float32)
    all_norms = np.empty(n, dtype=np.float64)
    for s, e in _row_chunks(n, d):
        x = np.asarray(a[s:e])
        norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
        if not np.isfinite(norms).all():
            _nonfinite(x, s)
        all_norms[s:e] = norms
        inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        np.multiply(x, inv.astype(np.float32)[:, None], out=out[s:e], casting="unsafe")
    n_zero = int((all_norms == 0).sum())
    if n_zero:
        warnings.warn(f"{n_zero} of {n} vectors are all zeros: under cosine they have no direction, "
                      "so their cosine with anything is 0 (distance 1) and their neighbours are the "
                      "lowest-numbered rows", SpacelensWarning, stacklevel=3)
    return out, all_norms


def _nonfinite(chunk: np.ndarray, offset: int):
    bad = np.flatnonzero(~np.isfinite(np.asarray(chunk, dtype=np.float64)).all(axis=1)) + offset
    raise SpacelensError(f"{len(bad)} vectors contain NaN or infinite values (first at row {bad[0]})",
                         "Fix or drop those rows before computing neighbours")


def faiss_metric(metric: str):
    import faiss

    return faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT


def column_mean(raw: np.ndarray) -> np.ndarray:
    """float64 mean of the rows (the centre :func:`faiss_rows` moves L2 searches to)."""
    total = np.zeros(raw.shape[1], dtype=np.float64)
    for s, e in _row_chunks(len(raw), raw.shape[1]):
        total += np.asarray(raw[s:e]).sum(axis=0, dtype=np.float64)
    return total / max(1, len(raw))


def faiss_rows(raw: np.ndarray, vec: np.ndarray, metric: str, center: np.ndarray | None) -> np.ndarray:
    """The float32 rows faiss compares: ``vec`` (cosine, dot), or for l2 ``raw - center``.

    L2 distances do not change when every vector moves by the same ``center`` (the base's
    mean), but faiss's rounding error grows with the norms (:func:`search_tolerance`):
    embeddings far from the origin (all-positive features, a shared offset) get bounds many
    times their distances, hence many near-ties to re-compute. Centred in float64, rounded
    once to float32. ``center`` None: the rows as given (``vec``).
    """
    if metric != "l2" or center is None:
        return vec
    out = np.empty(raw.shape, dtype=np.float32)
    if raw.dtype == np.float32:
        # A float32 subtraction is correctly rounded: one rounding relative to the centred
        # value, as the bound assumes, 3x faster than through float64. Any centre will do:
        # rounding the mean to float32 moves every row alike.
        return np.subtract(raw, center.astype(np.float32), out=out)
    for s, e in _row_chunks(len(raw), raw.shape[1]):
        np.subtract(np.asarray(raw[s:e], dtype=np.float64), center, out=out[s:e], casting="same_kind")
    return out


# Below this many dimensions faiss computes L2 directly (not through a GEMM), more accurately
# than any product form: the exact engine keeps faiss's L2 kernel there.
L2_AS_INNER_PRODUCT_MIN_DIM = 33


def l2_as_inner_product(metric: str, d: int) -> bool:
    """Whether :func:`faiss_knn` runs ``metric`` at dimension ``d`` as an augmented inner product."""
    return metric == "l2" and d >= L2_AS_INNER_PRODUCT_MIN_DIM


def faiss_target(rows: np.ndarray, metric: str, norms: np.ndarray | None = None,
                 out: np.ndarray | None = None) -> np.ndarray:
    """The searched rows (from :func:`faiss_rows`) as :func:`faiss_knn` hands them to faiss.

    Usually ``rows`` itself. L2 from 33 dimensions (:func:`l2_as_inner_product`): a copy with
    rows ``[2y, -|y|^2]`` (``norms``: float64 row norms of ``rows``, if known), whose inner
    product with ``[x, 1]`` is ``|x|^2 - |x - y|^2``. faiss then ranks by L2 with its
    inner-product kernel, which skips the L2 kernel's extra pass over every distance (3-7%
    faster at 50k x 128, k = 565), and the error bound loses its |x|^2 term (see
    :func:`search_tolerance`), so fewer near-ties. Both are the same float32 GEMM, equally
    accurate. ``out``: where to write the result (a slice of a larger array), else a new one.
    """
    n, d = rows.shape
    if not l2_as_inner_product(metric, d):
        if out is None:
            return rows
        out[...] = rows
        return out
    norms = row_norms(rows) if norms is None else norms
    out = np.empty((n, d + 1), dtype=np.float32) if out is None else out
    np.multiply(rows, np.float32(2), out=out[:, :d])          # exact: a power of two
    out[:, d] = -(norms * norms)
    return out


def faiss_base(raw: np.ndarray, vec: np.ndarray, metric: str, center: np.ndarray | None,
               rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The searched rows as :func:`faiss_knn` takes them, and their float64 norms (None: cosine).

    ``faiss_target(faiss_rows(...))`` for the base rows ``rows`` (None: all), built chunk by
    chunk into one array: the base is copied once (l2), or not at all (cosine, dot, or l2
    without a ``center``: faiss's own L2 on the rows as given).
    """
    if metric != "l2" or center is None:
        target = vec if rows is None else np.ascontiguousarray(vec[rows])
        return target, (row_norms(target) if metric != "cosine" else None)
    n, d = (len(raw) if rows is None else len(rows)), raw.shape[1]
    out = np.empty((n, d + l2_as_inner_product(metric, d)), dtype=np.float32)
    norms = np.empty(n, dtype=np.float64)
    for s, e in _row_chunks(n, d):
        part = faiss_rows(np.asarray(raw[s:e] if rows is None else raw[rows[s:e]]), None, metric, center)
        norms[s:e] = row_norms(part)
        faiss_target(part, metric, norms[s:e], out=out[s:e])
    return out, norms


def faiss_knn(queries: np.ndarray, target: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """faiss's ``k`` best rows of ``target`` (:func:`faiss_target`) per query (:func:`faiss_rows`).

    ``(distances float64, rows int64)``, increasing; each distance within
    ``search_tolerance(queries, ..., metric, augmented)`` of the exact one, ``augmented`` being
    whether ``target`` has the extra column (l2 as an inner product).
    """
    import faiss

    n, d = queries.shape
    if not (metric == "l2" and target.shape[1] == d + 1):
        raw, cand = faiss.knn(queries, target, k, metric=faiss_metric(metric))
        return from_faiss(raw.astype(np.float64), metric), cand
    q = np.empty((n, d + 1), dtype=np.float32)
    q[:, :d] = queries
    q[:, d] = 1
    raw, cand = faiss.knn(q, target, k, metric=faiss.METRIC_INNER_PRODUCT)
    fd = row_norms(queries, squared=True)[:, None] - raw     # |x|^2 - (|x|^2 - |x - y|^2), float64
    return np.maximum(fd, 0.0, out=fd), cand


def scored_knn(queries: np.ndarray, target: np.ndarray, k: int, metric: str,
               target_norms: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`faiss_knn` through one numpy GEMM whose scores the caller gets too:
    ``(scores, distances, rows)``.

    ``scores`` (float32, queries x all of ``target``) order like the metric's distances along
    each row: faiss's own numbers in increasing form, ``-`` the inner product (cosine, dot, l2
    as an augmented inner product) or the squared L2 ``|x|^2 + |y|^2 - 2 x.y`` (faiss's BLAS
    L2; ``target_norms``: the float64 norms of ``target``, if known). faiss's heap selection
    keeps the ``k`` smallest of each row (the same kernel its flat search runs over each block
    of products), and they become distances exactly as :func:`faiss_knn` makes them, so they
    are within the same :func:`search_tolerance`. For a caller that needs the whole block of
    products as well as the nearest rows (ranks among all rows): one product serves both.
    """
    import faiss

    n, d = queries.shape
    augmented = metric == "l2" and target.shape[1] == d + 1
    if augmented:
        q = np.empty((n, d + 1), dtype=np.float32)
        q[:, :d] = queries
        q[:, d] = 1
    else:
        q = np.ascontiguousarray(queries, dtype=np.float32)
    scores = q @ target.T                                     # sgemm, float32 (n, len(target))
    if metric == "l2" and not augmented:                      # |x|^2 + |y|^2 - 2 x.y, at least 0
        tn = row_norms(target) if target_norms is None else target_norms
        scores *= np.float32(-2)
        scores += (tn * tn).astype(np.float32)[None, :]
        scores += row_norms(q, squared=True).astype(np.float32)[:, None]
        np.maximum(scores, 0, out=scores)
    else:
        np.negative(scores, out=scores)
    best = np.empty((n, k), dtype=np.float32)
    rows = np.empty((n, k), dtype=np.int64)
    heaps = faiss.float_maxheap_array_t()                     # keeps the k smallest of each row
    heaps.k, heaps.nh = k, n
    heaps.val, heaps.ids = faiss.swig_ptr(best), faiss.swig_ptr(rows)
    heaps.heapify()
    heaps.addn(scores.shape[1], faiss.swig_ptr(scores))       # ids: the column numbers
    heaps.reorder()
    fd = best.astype(np.float64)
    if metric == "cosine":
        fd += 1.0                                             # 1 - inner product
    elif augmented:                                           # |x|^2 - (|x|^2 - |x - y|^2)
        fd += row_norms(queries, squared=True)[:, None]
        np.maximum(fd, 0.0, out=fd)
    return scores, fd, rows


def from_faiss(raw: np.ndarray, metric: str) -> np.ndarray:
    """faiss's scores (inner product, or squared L2) as spacelens distances (smaller = nearer)."""
    if metric == "cosine":
        return 1.0 - raw
    if metric == "dot":
        return -raw
    return raw


def pair_distances(queries: np.ndarray, base: np.ndarray, indices: np.ndarray, metric: str,
                   query_norms: np.ndarray | None = None, base_norms: np.ndarray | None = None) -> np.ndarray:
    """Distance of ``queries[i]`` to ``base[indices[i, j]]``, computed in float64, as float32.

    Takes the raw (unprepared) vectors: cosine normalises in float64 here, so rows that are
    mathematically equally near get equal float32 distances (and the tie rule applies), not
    values split by float32 rounding of the normalised vectors. ``query_norms`` /
    ``base_norms`` (float64, from :func:`prepare_with_norms`) save recomputing norms under
    cosine. Indices < 0 (no result) get +inf. Memory stays bounded: the gathered candidate
    rows are processed in chunks.
    """
    m, kk = indices.shape
    d = base.shape[1]
    out = np.empty((m, kk), dtype=np.float32)
    missing = indices < 0
    safe = np.where(missing, 0, indices) if missing.any() else indices
    for s, e in _row_chunks(m, d, kk, _PAIR_CHUNK_ELEMENTS):
        cand = np.asarray(base[safe[s:e]], dtype=np.float64)   # (c, kk, d)
        q = np.asarray(queries[s:e], dtype=np.float64)[:, None, :]
        qn = None if query_norms is None else query_norms[s:e, None]
        cn = None if base_norms is None else base_norms[safe[s:e]]
        # A batched matrix-vector product is faster here than einsum's broadcast.
        r = None if metric == "l2" else np.matmul(cand, q.transpose(0, 2, 1))[:, :, 0]
        out[s:e] = _exact(q, cand, metric, qn, cn, r)
    if missing.any():
        out[missing] = np.inf
    return out


def distances_of_pairs(queries: np.ndarray, base: np.ndarray, qi: np.ndarray, bi: np.ndarray, metric: str,
                       query_norms: np.ndarray | None = None, base_norms: np.ndarray | None = None) -> np.ndarray:
    """:func:`pair_distances` for a flat list of pairs: ``queries[qi[t]]`` to ``base[bi[t]]``.

    For a few scattered pairs (the exact engine's near-ties) rather than whole rows.
    """
    d = base.shape[1]
    out = np.empty(len(qi), dtype=np.float32)
    for s, e in _row_chunks(len(qi), d, 2, _PAIR_CHUNK_ELEMENTS):
        cand = np.asarray(base[bi[s:e]], dtype=np.float64)     # (c, d)
        q = np.asarray(queries[qi[s:e]], dtype=np.float64)
        qn = None if query_norms is None else query_norms[qi[s:e]]
        cn = None if base_norms is None else base_norms[bi[s:e]]
        out[s:e] = _exact(q, cand, metric, qn, cn)
    return out


def _exact(q: np.ndarray, cand: np.ndarray, metric: str, qn, cn, r=None) -> np.ndarray:
    """float64 distances of ``q`` (..., d) to ``cand`` (..., d), broadcast; ``cand`` is scratch.

    ``r``: the inner products, when the caller has them already.
    """
    if metric == "l2":
        cand -= q
        return np.einsum("...d,...d->...", cand, cand)
    if r is None:
        r = np.einsum("...d,...d->...", cand, q)
    if metric == "dot":
        return -r
    if qn is None:
        qn = np.sqrt(np.einsum("...d,...d->...", q, q))
    if cn is None:
        cn = np.sqrt(np.einsum("...d,...d->...", cand, cand))
    norms = qn * cn
    norms[norms == 0] = np.inf     # a zero vector: cosine 0, distance 1
    out = 1.0 - r / norms
    # Nearly parallel rows: 1 - cos cancels to +-1e-16. |a/|a| - b/|b||^2 / 2 is the same
    # number without the cancellation: never negative, exactly 0 for identical rows.
    close = (out < 1e-6) & np.isfinite(norms)
    if close.any():
        a = np.broadcast_to(q, cand.shape)[close]
        b = cand[close]
        diff = a / np.broadcast_to(qn, out.shape)[close][:, None] - b / np.broadcast_to(cn, out.shape)[close][:, None]
        near = np.einsum("ij,ij->i", diff, diff) / 2
        near[(a == b).all(axis=1)] = 0.0
        out[close] = near
    return out


def search_tolerance(queries: np.ndarray, base_norm, metric: str, augmented: bool = False,
                     query_norms: np.ndarray | None = None) -> np.ndarray:
    """A bound on how far faiss's float32 distances may be from exact ones.

    A float32 sum of d products is off by at most d·u·sum|a_i b_i| <= (d/2)·eps·|a||b| in any
    summation order (Higham's gamma_d; FMA and blocking only do better). faiss's L2 adds two
    squared norms summed the same way, and making the float32 vectors (from float64, or
    normalised for cosine) adds a few eps: so (d/2 + 8)·eps times the scale of the terms,
    1 (cosine), |q|·|b| (dot) or (|q| + |b|)^2 (l2). ``augmented`` (l2 searched as the inner
    product of [q, 1] and [2b, -|b|^2], :func:`faiss_knn`): one sum of d + 1 terms of scale
    2|q||b| + |b|^2, the |q|^2 of the query's own norm being exact in float64, plus
    2·eps·(|q| + |b|)^2 for the float32 rows rounded from wider input or from centring
    (:func:`faiss_rows`; the norms are then the centred rows'). A worst case: typical
    errors are ~sqrt(d) times smaller. ``base_norm``: the largest norm in the base (one bound
    per query, shape (nq,)), or the candidates' own norms, shape (nq, w) (one bound per
    candidate, tighter). ``query_norms``: ``row_norms(queries)``, when the caller has them.
    """
    d = queries.shape[1]
    u = float(np.finfo(np.float32).eps)
    eps = u * (d / 2 + 8)
    bn = np.asarray(base_norm, dtype=np.float64)
    if metric == "cosine":
        return np.full(bn.shape if bn.ndim == 2 else len(queries), eps)
    qn = row_norms(queries) if query_norms is None else np.asarray(query_norms, dtype=np.float64)
    if bn.ndim == 2:
        qn = qn[:, None]
    if metric == "dot":
        return eps * (qn * bn + 1e-30)
    if augmented:
        return u * ((d + 1) / 2 + 8) * bn * (2 * qn + bn) + 2 * u * (qn + bn) ** 2 + 1e-30 * u
    return eps * ((qn + bn) ** 2 + 1e-30)


def row_norms(x: np.ndarray, squared: bool = False) -> np.ndarray:
    """float64 L2 norm (or its square) of every row, in bounded-memory chunks."""
    out = np.empty(len(x), dtype=np.float64)
    for s, e in _row_chunks(len(x), x.shape[1]):
        c = np.asarray(x[s:e])
        out[s:e] = np.einsum("ij,ij->i", c, c, dtype=np.float64)
    return out if squared else np.sqrt(out, out=out)


def max_norm(base: np.ndarray) -> float:
    return float(row_norms(base).max(initial=0.0))
