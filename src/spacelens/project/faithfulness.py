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
"""

from __future__ import annotations

import numpy as np

from spacelens.progress import progress

TRUST_SAMPLE = 2000  # items whose trustworthiness is measured when n is larger
_BLOCK_ELEMENTS = 1 << 23  # rows x n distances per block (~32 MB of float32)


def map_knn(coords: np.ndarray, k: int) -> np.ndarray:
    """The k nearest items of each point in the 2D map (self excluded), int32 (n, k).

    A k-d tree on the 2D points; when more than k items share a point, the item itself may be
    pushed out of its own result, and then the last one is dropped instead.
    """
    from scipy.spatial import cKDTree

    n = len(coords)
    pts = np.asarray(coords, dtype=np.float64)
    _, idx = cKDTree(pts).query(pts, k=k + 1, workers=-1)
    idx = np.asarray(idx, dtype=np.int64).reshape(n, k + 1)
    drop = idx == np.arange(n)[:, None]
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
        return sq_norms[None, :] - 2 * s
    return -s  # cosine (x has unit rows): 1 - cos orders like -cos; dot: distance is -q.y


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
    if sample is None or n <= sample:
        rows = np.arange(n)
    else:
        rows = np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))
    sq = np.einsum("ij,ij->i", x, x) if metric == "l2" else None
    norm = 2.0 / (k * (2.0 * n - 3.0 * k - 1.0))
    step = max(1, _BLOCK_ELEMENTS // n)
    with progress("Trustworthiness", total=len(rows)) as bar:
        for s in range(0, len(rows), step):
            blk = rows[s:s + step]
            d = _ranking_scores(x, blk, metric, sq)
            d[np.arange(len(blk)), blk] = np.inf  # an item is not its own neighbour
            dj = np.take_along_axis(d, low[blk].astype(np.int64), axis=1)
            penalty = np.zeros(len(blk), dtype=np.float64)
            for c in range(k):  # rank of each map neighbour among all items in the full space
                rank = (d < dj[:, c:c + 1]).sum(axis=1) + 1
                penalty += np.maximum(rank - k, 0)
            per[blk] = 1.0 - norm * penalty
            bar.advance(len(blk))
    return float(per[rows].mean()), per.astype(np.float32), len(rows)
