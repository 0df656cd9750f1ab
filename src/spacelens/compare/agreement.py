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
  the vectors as the metric sees them: L2-normalised rows for cosine) and M the mask of
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

so CKNNA costs O(n k) after the kernel values on the n k edges (from the graph's distances
or one dot product per edge).
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


def edge_kernel(x: np.ndarray, graph: np.ndarray, normalize: bool, rows: np.ndarray | None = None) -> np.ndarray:
    """Inner product <x_i, x_j> (rows L2-normalised first when ``normalize``) for every edge i -> graph[i, c].

    ``x``: the vectors (item i is ``x[rows[i]]`` when ``rows`` is given); ``graph``: (n, k)
    positions among the n items. Missing neighbours (negative) get 0. float64 (n, k).
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


def _sorted_edges(graph: np.ndarray, kernel: np.ndarray, k: int):
    """Edges of the first k columns as sorted int64 keys i*n + j with their kernel values."""
    g = np.asarray(graph[:, :k], dtype=np.int64)
    kv = np.asarray(kernel[:, :k], dtype=np.float64)
    n = g.shape[0]
    order = np.argsort(g, axis=1, kind="stable")
    g = np.take_along_axis(g, order, axis=1)
    kv = np.take_along_axis(kv, order, axis=1)
    keys = (np.arange(n, dtype=np.int64)[:, None] * n + g).ravel()
    keep = g.ravel() >= 0
    keep[1:] &= keys[1:] != keys[:-1]   # a repeated neighbour is one edge of the mask (as in a 0/1 matrix)
    return keys[keep], kv.ravel()[keep]


def hsic_unbiased_sparse(keys: np.ndarray, s: np.ndarray, t: np.ndarray, m: int) -> float:
    """HSIC_u(S, T) of two m x m matrices with zero diagonal and the same support.

    ``keys``: sorted int64 i * m + j of the non-zero entries (no i == j); ``s``, ``t``: the
    values of S and T there. Song et al. (2012) eq. 5, from sums over the entries only.
    """
    if m < 4:
        return float("nan")
    keys = np.asarray(keys, dtype=np.int64)
    rows, cols = keys // m, keys % m
    # tr(S T) = sum over pairs p = (i, j) whose transpose q = (j, i) is also an entry of s_p t_q;
    # matched by sorting (an intersection), not by a random-access search per pair (3x slower)
    key_t = cols * m + rows
    _, p, q = np.intersect1d(key_t, keys, assume_unique=True, return_indices=True)
    trace = float(s[p] @ t[q])
    col_s = np.bincount(cols, weights=s, minlength=m)
    row_t = np.bincount(rows, weights=t, minlength=m)
    total = trace + s.sum() * t.sum() / ((m - 1) * (m - 2)) - 2.0 * float(col_s @ row_t) / (m - 2)
    return float(total / (m * (m - 3)))


def cknna(graph_a: np.ndarray, graph_b: np.ndarray, kernel_a: np.ndarray, kernel_b: np.ndarray,
          k: int | None = None) -> float:
    """CKNNA of two spaces at ``k`` from their kNN graphs and the kernel values on their edges.

    ``graph_*``: (n, >= k) neighbour positions (self excluded); ``kernel_*``: the same shape,
    <x_i, x_j> of each edge in that space (:func:`edge_kernel` or :func:`kernel_from_distances`).
    NaN when a space's own term is not positive (e.g. k too small for any mutual pair) or n < 4.
    """
    n = graph_a.shape[0]
    k = min(graph_a.shape[1], graph_b.shape[1]) if k is None else int(k)
    ka, va = _sorted_edges(graph_a, kernel_a, k)
    kb, vb = _sorted_edges(graph_b, kernel_b, k)
    shared, ia, ib = np.intersect1d(ka, kb, assume_unique=True, return_indices=True)
    kl = hsic_unbiased_sparse(shared, va[ia], vb[ib], n)
    kk = hsic_unbiased_sparse(ka, va, va, n)
    ll = hsic_unbiased_sparse(kb, vb, vb, n)
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
