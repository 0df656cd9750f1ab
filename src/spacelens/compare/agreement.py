"""The agreement family: how much two kNN graphs of the same items agree, per k.

All of these read only the two graphs (neighbour positions, nearest first, self excluded)
and, for CKNNA, the kernel values on the graph edges; nothing is n x n.

- **Jaccard** (:mod:`.jaccard`): per item |N_A ∩ N_B| / |N_A ∪ N_B|. The seed tool's and
  Embedding Comparator's figure. Harsh on partial agreement: half the neighbours shared
  gives J = 1/3.
- **overlap@k**: per item |N_A ∩ N_B| / k, the *mutual kNN* alignment of Huh et al. (2024,
  "The Platonic Representation Hypothesis"). Linear in the number of shared neighbours, so
  its mean reads directly ("on average 6 of an item's 10 neighbours are the same"); per item
  J = o / (2 - o), so the two means differ and both are reported.
- **CKNNA** (centered kernel nearest-neighbour alignment, Huh et al. 2024): CKA restricted to
  pairs that are neighbours in *both* spaces. With K = A Aᵀ and L = B Bᵀ (inner products of
  the vectors as the metric sees them: L2-normalised rows for cosine, rows less the items'
  mean for l2, whose distances do not see where the origin is) and M the mask of
  pairs (i, j) with j in both top-k lists of i,

      sim(K, L) = HSIC_u(M ⊙ K, M ⊙ L),   CKNNA = sim(K, L) / sqrt(sim(K, K) sim(L, L))

  where sim(K, K) uses K's own top-k mask and HSIC_u is the unbiased estimator of Song et al.
  (2012). Unlike overlap it weighs each shared neighbour by how similar the pair is in both
  spaces, and it is centred: it is about 0 for unrelated spaces. Prefer it when comparing
  alignment scores across models or datasets (it is the paper's headline measure); prefer
  overlap/Jaccard to explain what happened to individual items.

HSIC_u only needs sums over the non-zero entries: for S = M ⊙ K and T = M ⊙ L (zero
diagonal, the same support),

    tr(S T)   = sum over (i, j) in M with (j, i) in M of K_ij L_ji   (mutual pairs only),
    1ᵀS1      = sum of K over M,    1ᵀT1 = sum of L over M,
    1ᵀS T 1   = sum_j (column sum j of S) (row sum j of T),

where the shared edges of A and B, and the transposes of the trace term, are matched by
sorting edges packed into plain uint64 integers (no argsort, no intersection of n k keys).
So CKNNA costs a few sorts of n k integers after the kernel values on the n k edges (from
the graph's distances or one dot product per edge).
"""

from __future__ import annotations

import numpy as np

from spacelens.compare.jaccard import jaccard, shared_counts

_CHUNK_BYTES = 64 << 20


def overlap(a: np.ndarray, b: np.ndarray, k: int | None = None) -> np.ndarray:
    """Per-item overlap@k: the share of an item's k neighbours that are the same in ``a`` and ``b``.

    ``a``/``b``: (n, >= k) neighbour positions, nearest first, self excluded; negative entries
    (missing neighbours) never count as shared. Returns float32 in [0, 1].
    """
    a, b = np.asarray(a), np.asarray(b)
    k = min(a.shape[1], b.shape[1]) if k is None else int(k)
    if k < 1 or k > a.shape[1] or k > b.shape[1]:
        raise ValueError(f"need {k} neighbour columns; got {a.shape[1]} and {b.shape[1]}")
    return (shared_counts(a[:, :k], b[:, :k]) / k).astype(np.float32)


def edge_kernel(x: np.ndarray, graph: np.ndarray, normalize: bool, rows: np.ndarray | None = None,
                center: np.ndarray | None = None) -> np.ndarray:
    """Inner product <x_i, x_j> (rows L2-normalised first when ``normalize``) for every edge i -> graph[i, c].

    ``x``: the vectors (item i is ``x[rows[i]]`` when ``rows`` is given); ``graph``: (n, k)
    positions among the n items; ``center``: a vector subtracted from every row first (the
    items' mean for an l2 space: the kernel then does not move with the space, as its
    distances do not). Missing neighbours (negative) get 0. float64 (n, k).
    """
    graph = np.asarray(graph)
    n, k = graph.shape
    out = np.zeros((n, k))
    if n == 0 or k == 0:
        return out
    d = x.shape[1]
    step = max(1, _CHUNK_BYTES // max(1, 8 * d * (k + 1)))
    for s in range(0, n, step):
        e = min(n, s + step)
        pos = np.arange(s, e)
        g = graph[s:e]
        ok = g >= 0
        gi = np.where(ok, g, 0)
        src = pos if rows is None else rows[pos]
        dst = gi if rows is None else rows[gi]
        xi = np.asarray(x[src], dtype=np.float64)
        xj = np.asarray(x[dst.ravel()], dtype=np.float64).reshape(e - s, k, d)
        if center is not None:
            xi, xj = xi - center, xj - center
        v = np.einsum("id,ikd->ik", xi, xj)
        if normalize:
            ni = np.sqrt(np.einsum("id,id->i", xi, xi))
            nj = np.sqrt(np.einsum("ikd,ikd->ik", xj, xj))
            den = ni[:, None] * nj
            v = np.divide(v, den, out=np.zeros_like(v), where=den > 0)
        out[s:e] = np.where(ok, v, 0.0)
    return out


def kernel_from_distances(distances: np.ndarray, metric: str) -> np.ndarray | None:
    """Edge kernel values read off a graph's distances (cosine: 1 - d; dot: -d); None for l2
    (squared distances do not give the inner product without the norms)."""
    if metric == "cosine":
        return 1.0 - np.asarray(distances, dtype=np.float64)
    if metric == "dot":
        return -np.asarray(distances, dtype=np.float64)
    return None


def _sorted_rows(graph: np.ndarray, kernel: np.ndarray, k: int):
    """The first k columns with each row sorted by neighbour, a repeated or missing neighbour
    replaced by the sentinel n (sorted last), and the kernel values in the same order (0 at
    the sentinels). A repeated neighbour is one edge of the mask, as in a 0/1 matrix."""
    g = np.asarray(graph[:, :k], dtype=np.int64)
    kv = np.asarray(kernel[:, :k], dtype=np.float64)
    n = g.shape[0]
    g = np.where(g >= 0, g, n)
    order = np.argsort(g, axis=1, kind="stable")
    g = np.take_along_axis(g, order, axis=1)
    kv = np.take_along_axis(kv, order, axis=1)
    if k > 1:
        dup = np.zeros(g.shape, dtype=bool)
        dup[:, 1:] = g[:, 1:] == g[:, :-1]
        if dup.any():
            g = np.where(dup, n, g)
            order = np.argsort(g, axis=1, kind="stable")
            g = np.take_along_axis(g, order, axis=1)
            kv = np.take_along_axis(kv, order, axis=1)
    kv = np.where(g < n, kv, 0.0)
    return g, kv


def row_search(sorted_rows: np.ndarray, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Column of ``values[e]`` in ``sorted_rows[rows[e]]`` (each row sorted ascending), or -1.

    A vectorised binary search inside each row: log2(k) gathers per query instead of a global
    sort of all edges (which dominated CKNNA at 1M items)."""
    k = sorted_rows.shape[1]
    lo = np.zeros(len(rows), dtype=np.int64)
    hi = np.full(len(rows), k, dtype=np.int64)
    while True:
        active = lo < hi
        if not active.any():
            break
        mid = (lo + hi) >> 1
        v = sorted_rows[rows, np.minimum(mid, k - 1)]
        go_right = active & (v < values)
        go_left = active & ~go_right
        lo = np.where(go_right, mid + 1, lo)
        hi = np.where(go_left, mid, hi)
    found = lo < k
    found[found] = sorted_rows[rows[found], lo[found]] == values[found]
    return np.where(found, lo, -1)


def hsic_unbiased_sparse(keys: np.ndarray, s: np.ndarray, t: np.ndarray, m: int) -> float:
    """HSIC_u(S, T) of two m x m matrices with zero diagonal and the same support.

    ``keys``: sorted int64 i * m + j of the non-zero entries (no i == j); ``s``, ``t``: the
    values of S and T there. Song et al. (2012) eq. 5, from sums over the entries only.
    """
    if m < 4:
        return float("nan")
    keys = np.asarray(keys, dtype=np.int64)
    rows, cols = keys // m, keys % m
    # tr(S T) = sum over pairs p = (i, j) whose transpose q = (j, i) is also an entry of s_p t_q
    q = np.searchsorted(keys, cols * m + rows)
    q = np.minimum(q, max(len(keys) - 1, 0))
    hit = keys[q] == cols * m + rows if len(keys) else np.zeros(0, bool)
    trace = float(s[hit] @ t[q[hit]])
    return _hsic_u(trace, rows, cols, s, t, m)


def _hsic_u(trace: float, rows, cols, s, t, m: int) -> float:
    """Song et al. (2012) eq. 5 from tr(S T) and the entries (rows, cols, s, t) of S and T."""
    if m < 4:
        return float("nan")
    col_s = np.bincount(cols, weights=s, minlength=m)
    row_t = np.bincount(rows, weights=t, minlength=m)
    total = trace + s.sum() * t.sum() / ((m - 1) * (m - 2)) - 2.0 * float(col_s @ row_t) / (m - 2)
    return float(total / (m * (m - 3)))


def _mutual_pairs(g: np.ndarray, support: np.ndarray):
    """The pairs of entries (i, c) and (j, c') of ``support`` that are each other's transpose:
    g[i, c] = j and g[j, c'] = i. Returns flat indices p, q into the (n, k) layout.

    Each edge is packed into one uint64 (unordered pair, direction, column) and the packed
    values are sorted (numpy's fast sort of plain integers, no argsort); the two halves of a
    mutual pair land side by side. Falls back to a binary search inside the sorted rows when
    the pack would not fit 64 bits (n above ~2^29 at k = 128)."""
    n, k = g.shape
    rows = np.broadcast_to(np.arange(n, dtype=np.int64)[:, None], g.shape)[support]
    cols = g[support]
    colbits = max(1, int(k - 1).bit_length())
    if not _fits_pack(n, k):
        return _mutual_pairs_search(g, support)
    column = np.broadcast_to(np.arange(k, dtype=np.uint64)[None, :], g.shape)[support]
    lo, hi = np.minimum(rows, cols).astype(np.uint64), np.maximum(rows, cols).astype(np.uint64)
    packed = (((lo * np.uint64(n) + hi) << np.uint64(colbits + 1))
              | ((rows > cols).astype(np.uint64) << np.uint64(colbits)) | column)
    packed.sort()
    pair = packed >> np.uint64(colbits + 1)
    first = np.flatnonzero(pair[1:] == pair[:-1])       # (lo -> hi, then hi -> lo): direction 0 sorts first
    mask = np.uint64((1 << colbits) - 1)
    a, b = packed[first], packed[first + 1]
    lo, hi = (a >> np.uint64(colbits + 1)) // np.uint64(n), (a >> np.uint64(colbits + 1)) % np.uint64(n)
    p = lo.astype(np.int64) * k + (a & mask).astype(np.int64)
    q = hi.astype(np.int64) * k + (b & mask).astype(np.int64)
    return p, q


def _mutual_pairs_search(g: np.ndarray, support: np.ndarray):
    """:func:`_mutual_pairs` by a binary search of i in row j for each entry (i, j), i < j."""
    n, k = g.shape
    rows = np.broadcast_to(np.arange(n, dtype=np.int64)[:, None], g.shape)[support]
    cols = g[support]
    flat = np.flatnonzero(support)
    masked = np.where(support, g, n)                    # unsupported entries sort last
    order = np.argsort(masked, axis=1, kind="stable")
    back = row_search(np.take_along_axis(masked, order, axis=1), cols, rows)
    hit = (back >= 0) & (rows < cols)
    return flat[hit], cols[hit] * k + order[cols[hit], back[hit]]


def _fits_pack(n: int, k: int) -> bool:
    """Whether an edge (pair of items, one flag bit, column) packs into one uint64."""
    return 2 * max(1, int(n - 1).bit_length()) + 1 + max(1, int(k - 1).bit_length()) <= 64


def _columns_in(ga: np.ndarray, in_a: np.ndarray, gb: np.ndarray, in_b: np.ndarray) -> np.ndarray:
    """(n, k): for each edge (i, ga[i, c]) of A, its column in B's row i, or -1 when B lacks it.

    Both edge lists packed as (i * n + j, side, column) into uint64 and sorted together: an edge
    of both lands as A's entry then B's. Rows need not be sorted. A neighbour repeated within a
    row is one edge of the mask (as in a 0/1 matrix): its later copies are cleared from
    ``in_a``/``in_b`` (in place)."""
    n, k = ga.shape
    colbits = max(1, int(k - 1).bit_length())
    column = np.arange(k, dtype=np.uint64)[None, :]
    base = np.arange(n, dtype=np.uint64)[:, None] * np.uint64(n)

    def pack(g, ok, side):
        key = ((base + np.where(ok, g, 0).astype(np.uint64)) << np.uint64(colbits + 1)) \
            | np.uint64(side << colbits) | column
        return key[ok]

    packed = np.concatenate([pack(ga, in_a, 0), pack(gb, in_b, 1)])
    packed.sort()
    mask = np.uint64((1 << colbits) - 1)
    edge = packed >> np.uint64(colbits + 1)
    same = edge[1:] == edge[:-1]
    side = (packed >> np.uint64(colbits)) & np.uint64(1)
    repeat = np.flatnonzero(same & (side[1:] == side[:-1])) + 1
    if len(repeat):           # a neighbour repeated in a row is one edge: drop the later copies
        for flags, s in ((in_a, 0), (in_b, 1)):
            r = repeat[side[repeat] == np.uint64(s)]
            flags[(edge[r] // np.uint64(n)).astype(np.int64), (packed[r] & mask).astype(np.int64)] = False
        packed = np.delete(packed, repeat)
        edge = packed >> np.uint64(colbits + 1)
        same = edge[1:] == edge[:-1]
    first = np.flatnonzero(same)
    row = (edge[first] // np.uint64(n)).astype(np.int64)
    out = np.full(ga.shape, -1, dtype=np.int64)
    out[row, (packed[first] & mask).astype(np.int64)] = (packed[first + 1] & mask).astype(np.int64)
    return out


def _hsic_u_graph(g: np.ndarray, s: np.ndarray, t: np.ndarray, support: np.ndarray, pairs=None) -> float:
    """HSIC_u(S, T) where S and T are non-zero on the entries (i, g[i, c]) with support[i, c],
    with the values s[i, c] and t[i, c] there (0 elsewhere). ``pairs``: :func:`_mutual_pairs`
    of this support or of a larger one (extra pairs add s * t = 0)."""
    n = g.shape[0]
    p, q = _mutual_pairs(g, support) if pairs is None else pairs
    sf, tf = s.ravel(), t.ravel()
    trace = float(sf[p] @ tf[q] + sf[q] @ tf[p])
    rows = np.broadcast_to(np.arange(n)[:, None], g.shape)[support]
    return _hsic_u(trace, rows, g[support], s[support], t[support], n)


def cknna(graph_a: np.ndarray, graph_b: np.ndarray, kernel_a: np.ndarray, kernel_b: np.ndarray,
          k: int | None = None) -> float:
    """CKNNA of two spaces at ``k`` from their kNN graphs and the kernel values on their edges.

    ``graph_*``: (n, >= k) neighbour positions (self excluded); ``kernel_*``: the same shape,
    <x_i, x_j> of each edge in that space (:func:`edge_kernel` or :func:`kernel_from_distances`).
    NaN when a space's own term is not positive (e.g. k too small for any mutual pair) or n < 4.

    The edges of both graphs, and the transposes of the trace term, are matched by sorting
    edges packed into plain uint64 integers (:func:`_columns_in`, :func:`_mutual_pairs`):
    no argsort or intersection of the n k edge keys (the previous way, 2.5x slower: bench/agreement.py).
    """
    n = graph_a.shape[0]
    k = min(graph_a.shape[1], graph_b.shape[1]) if k is None else int(k)
    if n < 4 or k < 1:
        return float("nan")
    if _fits_pack(n, k):      # the rows as they are: no sort within rows
        ga, gb = np.asarray(graph_a[:, :k], dtype=np.int64), np.asarray(graph_b[:, :k], dtype=np.int64)
        in_a, in_b = ga >= 0, gb >= 0
        where_b = _columns_in(ga, in_a, gb, in_b)   # column of A's edge (i, j) in B's row i, or -1
        va = np.where(in_a, np.asarray(kernel_a[:, :k], dtype=np.float64), 0.0)
        vb = np.where(in_b, np.asarray(kernel_b[:, :k], dtype=np.float64), 0.0)
    else:                     # too large to pack: binary searches inside sorted rows
        ga, va = _sorted_rows(graph_a, kernel_a, k)
        gb, vb = _sorted_rows(graph_b, kernel_b, k)
        in_a, in_b = ga < n, gb < n
        rows = np.broadcast_to(np.arange(n)[:, None], ga.shape)
        where_b = np.where(in_a, row_search(gb, rows.ravel(), ga.ravel()).reshape(ga.shape), -1)
    shared = where_b >= 0
    tb = np.where(shared, np.take_along_axis(vb, np.maximum(where_b, 0), axis=1), 0.0)  # B's values, A's layout
    pairs_a = _mutual_pairs(ga, in_a)   # the shared support's pairs are among A's (S = T = 0 off it)
    kl = _hsic_u_graph(ga, np.where(shared, va, 0.0), tb, shared, pairs_a)
    kk = _hsic_u_graph(ga, va, va, in_a, pairs_a)
    ll = _hsic_u_graph(gb, vb, vb, in_b)
    if not (kk > 0 and ll > 0):
        return float("nan")
    return float(kl / np.sqrt(kk * ll))


def agreement_curve(graph_a: np.ndarray, graph_b: np.ndarray, ks, kernel_a: np.ndarray | None = None,
                    kernel_b: np.ndarray | None = None) -> dict[int, dict]:
    """Per k: per-item ``jaccard`` and ``overlap`` (float32 arrays) and, with kernels, ``cknna``."""
    out = {}
    for k in sorted(set(int(k) for k in ks)):
        entry = {"jaccard": jaccard(graph_a, graph_b, k), "overlap": overlap(graph_a, graph_b, k)}
        if kernel_a is not None and kernel_b is not None:
            entry["cknna"] = cknna(graph_a, graph_b, kernel_a, kernel_b, k) if k >= 2 else float("nan")
        out[k] = entry
    return out
