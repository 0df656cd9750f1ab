"""Clustering quality of a labeled space: NMI and AMI of a k-means clustering against the labels.

Definitions (as pytorch-metric-learning's ``AccuracyCalculator``, which calls the same
scikit-learn functions):

- ``NMI`` = ``sklearn.metrics.normalized_mutual_info_score(labels, clusters)``: mutual
  information divided by the arithmetic mean of the two entropies.
- ``AMI`` = ``sklearn.metrics.adjusted_mutual_info_score(labels, clusters)``: mutual information
  corrected for the agreement expected by chance, (MI - E[MI]) / (mean(H) - E[MI]).

Both are computed over *all* queries, lone ones included. The clustering is k-means with as
many clusters as there are distinct labels among the queries. pytorch-metric-learning runs
faiss k-means (random init, 20 iterations, one run, at most 256 points per centroid) on the raw
embeddings; spacelens runs k-means++ seeding plus scikit-learn ``KMeans`` (Lloyd to
convergence), ``n_init`` seeded restarts keeping the lowest inertia, fitted on at most 256
points per cluster, on the vectors as the metric sees them (L2-normalised for cosine), so the
result is reproducible and usually a better clustering (higher NMI on the benchmark data).
Either can be replaced by a precomputed assignment: given the same assignment, both tools give
the same NMI/AMI.
"""

from __future__ import annotations

import numpy as np

CLUSTER_METRICS = ("NMI", "AMI")


def kmeans_plusplus(x: np.ndarray, n_clusters: int, rng: np.random.Generator,
                    n_local_trials: int | None = None) -> np.ndarray:
    """Greedy k-means++ seeding (scikit-learn's algorithm), vectorised without per-step checks.

    Each new centre is the best of ``2 + ln(k)`` candidates drawn with probability
    proportional to the squared distance to the nearest chosen centre. scikit-learn's own
    version re-validates the whole array at every step, which dominated the run time
    (minutes for 1,000 clusters on 10,000 points). Distances are float32 (only sampling
    weights; potentials are summed in float64) and laid out candidates x points, so each
    step is one wide product that BLAS threads share: 1.6-1.8x faster than float64 on two
    cores, same centres on the benchmark data.
    """
    n = len(x)
    trials = n_local_trials or 2 + int(np.log(n_clusters))
    sq = np.einsum("ij,ij->i", x, x, dtype=np.float64).astype(np.float32)
    centers = np.empty((n_clusters, x.shape[1]), dtype=x.dtype)
    first = int(rng.integers(n))
    centers[0] = x[first]
    closest = _sq_distances(x, sq, np.array([first]))[0]
    pot = closest.sum(dtype=np.float64)
    for c in range(1, n_clusters):
        cand = np.searchsorted(np.cumsum(closest, dtype=np.float64), rng.random(trials) * pot)
        cand = np.minimum(cand, n - 1)
        d = _sq_distances(x, sq, cand)                  # (trials, n)
        np.minimum(d, closest, out=d)
        pots = d.sum(axis=1, dtype=np.float64)
        best = int(np.argmin(pots))
        closest, pot = d[best].copy(), pots[best]
        centers[c] = x[cand[best]]
    return centers


def _sq_distances(x: np.ndarray, sq: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Squared distances (float32, >= 0) from ``x[rows]`` to every row: (len(rows), n)."""
    d = x[rows] @ x.T
    d *= -2
    d += sq
    d += sq[rows][:, None]
    return np.maximum(d, 0, out=d)


def kmeans_assignment(vectors: np.ndarray, n_clusters: int, *, seed: int = 0, n_init: int = 3,
                      max_iter: int = 300, max_points_per_cluster: int | None = 256) -> np.ndarray:
    """Cluster id (int64) per row: k-means, best (lowest inertia) of ``n_init`` seeded runs.

    Each run: k-means++ seeding (:func:`kmeans_plusplus`), then scikit-learn ``KMeans``
    (Lloyd, ``max_iter``, tol 1e-4) from those centres. Like faiss (which
    pytorch-metric-learning uses), centres are fitted on at most ``max_points_per_cluster``
    points per cluster (a seeded sample; None: all points); every point is then assigned to
    its nearest centre. Deterministic for a given ``seed``.
    """
    from sklearn.cluster import KMeans

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(x)
    n_clusters = max(1, min(int(n_clusters), n))
    rng = np.random.default_rng(seed)
    fit = x
    if max_points_per_cluster is not None and n > max_points_per_cluster * n_clusters:
        fit = x[np.sort(rng.choice(n, max_points_per_cluster * n_clusters, replace=False))]
    best, best_inertia = None, np.inf
    for run in range(max(1, int(n_init))):
        run_rng = np.random.default_rng([seed, run])
        init = kmeans_plusplus(fit, n_clusters, run_rng)
        km = KMeans(n_clusters=n_clusters, init=init, n_init=1, max_iter=max_iter,
                    random_state=int(run_rng.integers(2**31))).fit(fit)
        if km.inertia_ < best_inertia:
            best, best_inertia = km, km.inertia_
    return best.predict(x).astype(np.int64)


def nmi(labels, clusters) -> float:
    """Normalised mutual information (arithmetic normalisation), as scikit-learn."""
    from sklearn.metrics import normalized_mutual_info_score

    return float(normalized_mutual_info_score(np.asarray(labels), np.asarray(clusters)))


def ami(labels, clusters) -> float:
    """Adjusted mutual information (arithmetic normalisation), as scikit-learn."""
    from sklearn.metrics import adjusted_mutual_info_score

    return float(adjusted_mutual_info_score(np.asarray(labels), np.asarray(clusters)))


def clustering_metrics(labels, clusters) -> dict[str, float]:
    """``{"NMI": ..., "AMI": ...}`` of one assignment against the labels."""
    labels, clusters = np.asarray(labels), np.asarray(clusters)
    if labels.shape != clusters.shape:
        raise ValueError(f"{len(labels)} labels but {len(clusters)} cluster ids")
    return {"NMI": nmi(labels, clusters), "AMI": ami(labels, clusters)}
