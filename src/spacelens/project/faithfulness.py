"""How far a 2D map can be trusted: kNN preservation and trustworthiness, per item.

- **kNN preservation** of item i: the share of its k nearest neighbours in the full space
  that are also among its k nearest in the map. 1 = the map keeps i's neighbourhood.
- **Trustworthiness** (Venna & Kaski; scikit-learn's ``trustworthiness``): penalises map
  neighbours that are far in the full space, by how far (their rank there beyond k).
  Item i's share is ``1 - 2 / (k (2n - 3k - 1)) * sum_j max(0, r(i, j) - k)`` over its k map
  neighbours j, with r the rank in the full space; the mean over all items is exactly
  scikit-learn's number. scikit-learn builds the full n x n distance matrix; here ranks come
  from blocks of rows against all n, so memory stays small, and for large n the mean is taken
  over a seeded sample of items (ranks still among *all* n items, so it estimates the full
  value rather than the value on a smaller, sparser dataset).

At scale (:func:`sampled_faithfulness`) both measures come from one random sample of items:
each sampled item's exact neighbours among *all* items (an exact search of the sample only,
n_sample x N x d, never a full graph built just to score a map) and its map neighbours among
all map points (a k-d tree). The search's own product of the sample with the space (blocks of
scores against all items, :meth:`~spacelens.neighbors.exact.ExactEngine.search_prepared`'s
``on_scores``) also ranks the map neighbours for trustworthiness: one product for both
measures (a second one only when the space has identical rows). Each measure is a mean of
per-item values, so the sample mean is an unbiased estimate of the full mean, reported with
its 95% t interval (finite population correction, :func:`spacelens.stats.mean_ci`).
"""

from __future__ import annotations

import numpy as np

from spacelens.progress import progress

TRUST_SAMPLE = 2000  # items whose faithfulness is measured when n is larger
# rows x n ranking scores per block (~512 MB of float32: 134 rows at 1M items). Taller blocks
# make a faster product: at 1M x 256 on 2 idle cores, 33 rows ran at 43 GFLOP/s, 132 at 71.
_BLOCK_ELEMENTS = 1 << 27


def map_knn(coords: np.ndarray, k: int, rows: np.ndarray | None = None) -> np.ndarray:
    """The k nearest items of each point in the 2D map (self excluded), int32 (n, k); with
    ``rows``, of those points only (their neighbours still among all points).

    A k-d tree on the 2D points; when more than k items share a point, the item itself may be
    pushed out of its own result, and then the last one is dropped instead.
    """
    from scipy.spatial import cKDTree

    pts = np.asarray(coords, dtype=np.float64)
    rows = np.arange(len(pts)) if rows is None else np.asarray(rows, dtype=np.int64)
    n = len(rows)
    _, idx = cKDTree(pts).query(pts[rows], k=k + 1, workers=-1)
    idx = np.asarray(idx, dtype=np.int64).reshape(n, k + 1)
    drop = idx == rows[:, None]
    no_self = ~drop.any(axis=1)
    drop[no_self, -1] = True
    first = drop.cumsum(axis=1) == 1  # drop at most one entry per row
    drop &= first
    return idx[~drop].reshape(n, k).astype(np.int32)


def knn_preservation(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Per row, the share of ``high``'s neighbours found in ``low`` (same k; rows hold distinct ids)."""
    k = high.shape[1]
    both = np.sort(np.concatenate([np.asarray(high, np.int64), np.asarray(low, np.int64)], axis=1), axis=1)
    return ((both[:, 1:] == both[:, :-1]).sum(axis=1) / k).astype(np.float32)


def _ranking_scores(x: np.ndarray, rows: np.ndarray, metric: str, sq_norms) -> np.ndarray:
    """A (len(rows), n) matrix ordered like the metric's distances from ``x[rows]`` to all rows."""
    s = x[rows] @ x.T
    if metric == "l2":  # |q - y|^2 = |q|^2 - 2 q.y + |y|^2; |q|^2 is constant along a row
        s *= -2
        s += sq_norms[None, :]
        return s
    np.negative(s, out=s)
    return s  # cosine (x has unit rows): 1 - cos orders like -cos; dot: distance is -q.y


def trustworthiness(x: np.ndarray, low: np.ndarray, metric: str, sample: int | None = TRUST_SAMPLE,
                    seed: int = 0) -> tuple[float, np.ndarray, int]:
    """Trustworthiness of a map whose k nearest map neighbours are ``low`` (n, k).

    ``x``: the vectors prepared for ``metric`` (see :func:`spacelens.neighbors.prepare`).
    Returns ``(mean, per_item, n_measured)``: per_item is NaN for items outside the sample;
    everything is NaN when ``k >= n / 2``, where the measure is not defined.
    ``sample=None`` (or n <= sample) measures every item: the mean then equals
    ``sklearn.manifold.trustworthiness(X, map, n_neighbors=k, metric=...)``.
    """
    n, k = low.shape
    per = np.full(n, np.nan, dtype=np.float64)
    if k >= n / 2:  # the normalisation assumes k < n / 2 (scikit-learn refuses such k too)
        return float("nan"), per.astype(np.float32), 0
    rows = sample_items(n, sample, seed)
    per[rows] = trustworthiness_rows(x, rows, low[rows], metric)
    return float(per[rows].mean()), per.astype(np.float32), len(rows)


def trustworthiness_rows(x: np.ndarray, rows: np.ndarray, low_rows: np.ndarray, metric: str) -> np.ndarray:
    """Trustworthiness of each of ``rows`` (float64), given its k map neighbours ``low_rows``;
    ranks are among all ``len(x)`` items. NaN when ``k >= n / 2``."""
    n = len(x)
    k = low_rows.shape[1]
    if k >= n / 2:
        return np.full(len(rows), np.nan)
    out = np.empty(len(rows), dtype=np.float64)
    sq = np.einsum("ij,ij->i", x, x) if metric == "l2" else None
    step = max(1, _BLOCK_ELEMENTS // n)
    with progress("Trustworthiness", total=len(rows)) as bar:
        for s in range(0, len(rows), step):
            blk = np.asarray(rows[s:s + step])
            out[s:s + len(blk)] = _block_trust(_ranking_scores(x, blk, metric, sq), blk, low_rows[s:s + step])
            bar.advance(len(blk))
    return out


def _block_trust(d: np.ndarray, items: np.ndarray, low_rows: np.ndarray) -> np.ndarray:
    """Trustworthiness of ``items`` from their scores ``d`` (len(items), n) against all items,
    ordered like the distances along each row (overwritten: self becomes +inf)."""
    n, k = d.shape[1], low_rows.shape[1]
    d[np.arange(len(items)), items] = np.inf  # an item is not its own neighbour
    dj = np.take_along_axis(d, np.asarray(low_rows, dtype=np.int64), axis=1)
    return 1.0 - 2.0 / (k * (2.0 * n - 3.0 * k - 1.0)) * rank_penalties(d, dj)


# Above this many scores in a block, ranks are counted by a compiled kernel (numba, which
# umap-learn already brings): the k numpy passes cost ~5x more at 1M items; the kernel's import
# and compilation (~1-3 s, then cached on disk) cost less than that saves.
_COMPILED_RANKS_MIN = 1 << 24


def rank_penalties(d: np.ndarray, dj: np.ndarray) -> np.ndarray:
    """Per row of scores ``d`` (b, n), ``sum_c max(0, rank_c - k)`` where rank_c = 1 + the number
    of scores strictly below the row's c-th threshold ``dj[:, c]`` (k thresholds): the
    trustworthiness penalty of an item's k map neighbours. float64 (b,)."""
    k = dj.shape[1]
    if d.size >= _COMPILED_RANKS_MIN:
        return _rank_penalties_compiled()(np.ascontiguousarray(d), np.ascontiguousarray(dj))
    penalty = np.zeros(len(d), dtype=np.float64)
    for c in range(k):  # rank of each map neighbour among all items in the full space
        rank = (d < dj[:, c:c + 1]).sum(axis=1) + 1
        penalty += np.maximum(rank - k, 0)
    return penalty


_compiled = None


def _rank_penalties_compiled():
    """The compiled kernel: the same k counts, each a branch-free loop over the row that the
    compiler vectorises, rows in parallel (5x the numpy passes on a 33 x 1M block; numba,
    compiled once, cached on disk)."""
    global _compiled
    if _compiled is None:
        import numba

        @numba.njit(parallel=True, cache=True, nogil=True)
        def penalties(d, dj):
            b, n = d.shape
            k = dj.shape[1]
            out = np.zeros(b, dtype=np.float64)
            for i in numba.prange(b):
                row = d[i]
                total = 0.0
                for c in range(k):
                    t = dj[i, c]
                    below = 0
                    for j in range(n):
                        below += row[j] < t
                    total += max(below + 1 - k, 0)
                out[i] = total
            return out

        _compiled = penalties
    return _compiled


def sample_items(n: int, sample: int | None, seed: int = 0) -> np.ndarray:
    """The items a map's faithfulness is measured on: all when ``n <= sample`` (or no sample)."""
    if sample is None or n <= sample:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))


def sampled_faithfulness(vectors: np.ndarray, x: np.ndarray, coords: np.ndarray, metric: str, k: int,
                         sample: int | None = TRUST_SAMPLE, seed: int = 0) -> dict:
    """kNN preservation and trustworthiness of a map on a random sample of items, with 95% CIs.

    ``vectors``: the space as stored (searched exactly for each sampled item's k neighbours
    among all items, self excluded; the search's scores also rank the map neighbours for
    trustworthiness); ``x``: the same through :func:`spacelens.neighbors.prepare` for
    ``metric`` (the base the search reads; ranks from a product of their own when the space
    has identical rows). Returns ``{"rows", "preservation", "trust"}`` (per sampled item) and
    the summary ``{"knn_preservation", "knn_preservation_ci95", "trustworthiness",
    "trustworthiness_ci95", "n_items", "sampled"}``.
    """
    from spacelens.neighbors.exact import ExactEngine, Side, check_k
    from spacelens.neighbors.metrics import check_metric, check_vectors, row_norms
    from spacelens.stats import mean_ci

    n = len(coords)
    check_metric(metric)
    k = check_k(k, n, self_excluded=True)
    rows = sample_items(n, sample, seed)
    # The space as the exact engine searches it, from ``x`` (already prepared: no second
    # normalised copy, 1 GB at 1M x 256); the cosine norms are those prepare() divided by.
    raw = check_vectors(vectors)
    b = Side(raw, x, row_norms(raw) if metric == "cosine" else None)
    q = b.take(rows)
    low = map_knn(coords, k, rows)
    trust = np.full(len(rows), np.nan)
    seen = np.zeros(len(rows), dtype=bool)

    def count_ranks(qi: np.ndarray, scores: np.ndarray) -> None:
        # The exact search's scores of these sampled items against all n items (no duplicate
        # rows, so its searched rows are the items), ordered like the distances: the ranks
        # of their map neighbours come from the same product as their nearest items.
        trust[qi] = _block_trust(scores, rows[qi], low[qi])
        seen[qi] = True

    # One exact search of the sample whose product also ranks the map neighbours; blocks of
    # _BLOCK_ELEMENTS scores (tall enough for a fast GEMM, ~512 MB).
    engine = ExactEngine(block_size=max(1, _BLOCK_ELEMENTS // n))
    high, _ = engine.search_prepared(q, b, k, metric, rows, on_scores=count_ranks if k < n / 2 else None,
                                     description=f"Faithfulness on {len(rows):,} items ({metric})")
    if k < n / 2 and not seen.all():
        # The space has identical rows: the engine searched one row per group, whose scores
        # are not ranks among all items (each would need its group's weight), so it showed
        # none. Those ranks come from their own product, as without the engine's.
        trust[~seen] = trustworthiness_rows(x, rows[~seen], low[~seen], metric)
    pres = knn_preservation(np.asarray(high), low)
    pm, plo, phi = mean_ci(pres, population=n)
    out = {"rows": rows, "preservation": pres, "trust": trust, "knn_preservation": pm,
           "knn_preservation_ci95": [plo, phi], "n_items": int(len(rows)), "sampled": bool(len(rows) < n)}
    if np.isnan(trust).all():
        out.update(trustworthiness=None, trustworthiness_ci95=None)
    else:
        tm, tlo, thi = mean_ci(trust, population=n)
        out.update(trustworthiness=tm, trustworthiness_ci95=[tlo, thi])
    return out
