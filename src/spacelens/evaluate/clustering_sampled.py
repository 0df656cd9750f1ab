"""NMI/AMI of a large space without the full evaluation's costly scoring, with a 95% interval.

Why not k-means on a sample of items, or a cheaper fit? Measured against the full figure
(bench/clustering_scale.py): the full evaluation's k-means already fits its centres on at most
256 points per cluster and keeps the best (lowest inertia) of ``n_init`` restarts, and its NMI
depends strongly on both. Fitting on 64 points per cluster, k-means on a sample of 64 items
per class, one restart, or mini-batch k-means move NMI by 0.01-0.4 (0.39 at 300k x 256, 100
weakly separated classes), 10-100x the seed-to-seed spread of the full figure, and NMI scored on
a sample of items is biased upward where classes are mixed (0.415 vs 0.360). So the estimate
(:func:`estimate`) runs the full evaluation's very restarts (:func:`~.clustering.kmeans_run`,
same seeds: same centres) and saves what the full scoring costs at scale:

- the restarts are compared by their inertia on a random sample of items (not all items);
  a restart whose sample inertia no other restart beats significantly (paired test over the
  sampled items, ``CONTENDER_Z``) could be the full evaluation's winner: each such restart is
  scored over all items (one search of all items each; usually one restart is left);
- NMI is computed over all items from the contingency table (exactly sklearn's value);
- AMI's expected mutual information (sklearn's exact sum costs ~n x clusters steps: minutes at
  1M items and 1,000 clusters) is the mean MI of ``PERMUTATIONS`` random permutations of the
  cluster ids (the definition of E[MI] under the permutation model) when that sum is too costly,
  with its Monte Carlo standard error.

The 95% interval means: where the full evaluation's value, with the same k-means settings and
seed, lies (the span over the restarts that could win, widened by 1.96 Monte Carlo standard
errors of AMI's E[MI]). It is not the seed-to-seed spread of k-means itself, which the full
figure shares (re-run with another ``seed`` to see it). Cost: the full run's fits remain (at 1M
x 256 and 1,000 classes they are most of it); its scoring (3 searches of all items, sklearn's
E[MI]) shrinks ~5x.
"""

from __future__ import annotations

import math

import numpy as np

from spacelens.evaluate.clustering import kmeans_run

PERMUTATIONS = 32
# Above this many steps (items x clusters) sklearn's exact E[MI] is replaced by permutations.
EXACT_EMI_MAX_WORK = 2e7
EPS = np.finfo("float64").eps
# A restart is out of the running when another beats its inertia on the sampled items by more
# than this many standard errors (paired over items): 99% two-sided, as three restarts are compared
# pairwise and the per-item differences are sparse (most items keep their cluster).
CONTENDER_Z = 2.576
DENSE_CELLS = 1 << 24       # contingency tables up to this many cells are counted densely


def _entropy(counts: np.ndarray, n: int) -> float:
    p = counts[counts > 0] / n
    return float(-(p * np.log(p)).sum())


def _mi(a: np.ndarray, b: np.ndarray, nb: int, ca: np.ndarray, cb: np.ndarray, n: int) -> float:
    """Mutual information (nats) of two code arrays (b < nb), marginal counts given."""
    codes = a.astype(np.int64) * nb + b
    if len(ca) * nb <= DENSE_CELLS:          # a bincount: 20x faster than sorting 1M codes
        nij = np.bincount(codes, minlength=len(ca) * nb)
        cells = np.flatnonzero(nij)
        nij = nij[cells]
    else:
        cells, nij = np.unique(codes, return_counts=True)
    i, j = cells // nb, cells % nb
    return float((nij / n * (np.log(nij * float(n)) - np.log(ca[i] * cb[j].astype(np.float64)))).sum())


def scores(labels, clusters, *, permutations: int = PERMUTATIONS, seed: int = 0) -> dict:
    """``{"NMI", "AMI", "AMI_se"}`` of one assignment over all items: NMI exactly sklearn's; AMI
    sklearn's, or with E[MI] from ``permutations`` permutations when sklearn's exact sum would cost
    more than ``EXACT_EMI_MAX_WORK`` steps (``AMI_se``: its Monte Carlo standard error, else 0)."""
    a = np.unique(np.asarray(labels), return_inverse=True)[1].ravel()
    b = np.unique(np.asarray(clusters), return_inverse=True)[1].ravel()
    n = len(a)
    ca, cb = np.bincount(a), np.bincount(b)
    if (len(ca) == len(cb) == 1) or n == 0:
        return {"NMI": 1.0, "AMI": 1.0, "AMI_se": 0.0}
    mi = _mi(a, b, len(cb), ca, cb, n)
    h = 0.5 * (_entropy(ca, n) + _entropy(cb, n))
    nmi = 0.0 if mi <= 0 else min(1.0, mi / h)
    if len(ca) == 1 or len(cb) == 1:
        return {"NMI": nmi, "AMI": 0.0, "AMI_se": 0.0}
    if n * min(len(ca), len(cb)) <= EXACT_EMI_MAX_WORK:
        from spacelens.evaluate.clustering import ami

        return {"NMI": nmi, "AMI": ami(a, b), "AMI_se": 0.0}
    rng = np.random.default_rng([seed, 17])
    null = np.array([_mi(a, rng.permutation(b), len(cb), ca, cb, n) for _ in range(permutations)])
    emi, emi_se = float(null.mean()), float(null.std(ddof=1) / math.sqrt(permutations))
    den = h - emi
    den = min(den, -EPS) if den < 0 else max(den, EPS)
    value = (mi - emi) / den
    # d AMI / d EMI = (MI - H) / (H - EMI)^2
    return {"NMI": nmi, "AMI": float(value), "AMI_se": abs(mi - h) / den**2 * emi_se}


def estimate(vectors: np.ndarray, labels, n_clusters: int, *, sample: int, seed: int = 0, n_init: int = 3,
             permutations: int = PERMUTATIONS) -> dict:
    """The full evaluation's NMI/AMI (k-means as :func:`~.clustering.kmeans_assignment`) with a
    95% interval, restarts compared on ``sample`` random items: ``{"NMI", "AMI", "ci95":
    {"NMI": [lo, hi], "AMI": [lo, hi]}, "n", "runs_scored", "method"}``."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    k = max(1, min(int(n_clusters), len(x)))
    runs = [kmeans_run(x, k, seed=seed, run=r) for r in range(max(1, int(n_init)))]
    return from_runs(x, labels, runs, sample=sample, seed=seed, permutations=permutations)


def from_runs(x: np.ndarray, labels, runs: list, *, sample: int, seed: int = 0,
              permutations: int = PERMUTATIONS) -> dict:
    """:func:`estimate` from fitted restarts (faiss indexes of their centres, as
    :func:`~.clustering.kmeans_run` returns), ``x`` float32 contiguous."""
    n = len(x)
    m = min(n, max(2, int(sample)))
    sel = np.sort(np.random.default_rng([seed, 23]).choice(n, m, replace=False))
    xs = np.ascontiguousarray(x[sel])
    dists = [idx.search(xs, 1)[0][:, 0].astype(np.float64) for idx in runs]
    best = int(np.argmin([d.sum() for d in dists]))
    fpc = math.sqrt(max(n - m, 0) / max(n - 1, 1))
    contenders = []
    for r, d in enumerate(dists):
        beaten = False                       # by another restart, significantly, on the sampled items
        for o in range(len(dists)):
            diff = d - dists[o]
            se = diff.std(ddof=1) / math.sqrt(m) * fpc if m > 1 else 0.0
            beaten |= o != r and diff.mean() - CONTENDER_Z * se > 0
        if r == best or not beaten:
            contenders.append(r)
    vals = {}
    for r in contenders:
        assign = runs[r].search(x, 1)[1][:, 0]
        vals[r] = scores(labels, assign, permutations=permutations, seed=seed)
    point = vals[best]
    ci = {}
    for key in ("NMI", "AMI"):
        lo = min(v[key] - 1.96 * (v["AMI_se"] if key == "AMI" else 0.0) for v in vals.values())
        hi = max(v[key] + 1.96 * (v["AMI_se"] if key == "AMI" else 0.0) for v in vals.values())
        ci[key] = [max(lo, -1.0) if key == "AMI" else max(lo, 0.0), min(hi, 1.0)]
    return {"NMI": point["NMI"], "AMI": point["AMI"], "ci95": ci, "n": int(m), "runs_scored": len(contenders),
            "method": f"restarts compared on {m:,} random items; NMI over all items"
                      + ("; AMI's E[MI] from permutations" if point["AMI_se"] else "")}


# -- the candidates measured against it (bench/clustering_scale.py) --------------------------------

def _prediction_interval(values) -> list[float]:
    """mean +- t * s * sqrt(1 + 1/R): where one more independent draw falls, 95%."""
    from spacelens.stats import t_quantile

    v = np.asarray(values, dtype=np.float64)
    half = t_quantile(0.975, len(v) - 1) * v.std(ddof=1) * math.sqrt(1 + 1 / len(v))
    return [float(v.mean() - half), float(v.mean() + half)]


def subsample_kmeans(vectors, labels, n_clusters: int, *, sample: int, seed: int = 0, repeats: int = 3,
                     n_init: int = 3) -> dict:
    """Candidate (a): k-means fitted and scored on ``repeats`` independent random samples of
    ``sample`` items; mean and prediction interval of their NMI/AMI."""
    from spacelens.evaluate.clustering import clustering_metrics, kmeans_assignment

    x, labels = np.asarray(vectors, dtype=np.float32), np.asarray(labels)
    out = []
    for r in range(repeats):
        sel = np.sort(np.random.default_rng([seed, r, 31]).choice(len(x), min(sample, len(x)), replace=False))
        a = kmeans_assignment(x[sel], n_clusters, seed=seed * 1000 + r, n_init=n_init)
        out.append(clustering_metrics(labels[sel], a))
    return {m: float(np.mean([o[m] for o in out])) for m in ("NMI", "AMI")} | {
        "ci95": {m: _prediction_interval([o[m] for o in out]) for m in ("NMI", "AMI")}}


def fit_sample_assign_all(vectors, labels, n_clusters: int, *, points_per_cluster: int = 64, seed: int = 0,
                          repeats: int = 3) -> dict:
    """Candidate (b): one k-means restart fitted on ``points_per_cluster`` points per cluster,
    every item assigned to its nearest centre, NMI/AMI over all items; ``repeats`` fits give the
    mean and a prediction interval."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    k = max(1, min(int(n_clusters), len(x)))
    out = []
    for r in range(repeats):
        idx = kmeans_run(x, k, seed=seed * 1000 + r, max_points_per_cluster=points_per_cluster)
        out.append(scores(labels, idx.search(x, 1)[1][:, 0]))
    return {m: float(np.mean([o[m] for o in out])) for m in ("NMI", "AMI")} | {
        "ci95": {m: _prediction_interval([o[m] for o in out]) for m in ("NMI", "AMI")}}
