"""Pure math of compare: per-item Jaccard, k curve, chance level, CKA, sampled interval."""

from __future__ import annotations

import numpy as np
import pytest

from spacelens.compare.cka import linear_cka
from spacelens.compare.jaccard import chance_jaccard, histogram, jaccard, k_curve, shared_counts
from spacelens.compare.sampled import sampled_jaccard
from spacelens.stats import mean_ci, t_quantile


def brute_knn(x: np.ndarray, k: int, metric: str) -> np.ndarray:
    """Reference kNN: distances in float64, compared as float32 values (how graphs store them, so
    rows equally near up to float64 rounding are ties); self excluded, ties broken by lower row."""
    x = np.asarray(x, dtype=np.float64)
    if metric == "cosine":
        nrm = np.linalg.norm(x, axis=1, keepdims=True)
        x = np.divide(x, nrm, out=np.zeros_like(x), where=nrm > 0)
        d = 1 - x @ x.T
    elif metric == "l2":
        d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    else:
        d = -(x @ x.T)
    d = d.astype(np.float32)
    n = len(x)
    out = np.empty((n, k), dtype=np.int64)
    for i in range(n):
        order = [j for j in np.lexsort((np.arange(n), d[i])) if j != i]
        out[i] = order[:k]
    return out


def set_jaccard(a, b, k, include_self=False):
    """Reference with Python sets."""
    res = []
    for i, (ra, rb) in enumerate(zip(a, b)):
        if include_self:
            sa, sb = {i, *ra[:k - 1]}, {i, *rb[:k - 1]}
        else:
            sa, sb = set(ra[:k]), set(rb[:k])
        res.append(len(sa & sb) / len(sa | sb))
    return np.array(res)


def test_hand_worked_six_points():
    # Six points on a line in space A, and in space B the same points with 2 and 3 swapped
    # (coordinates chosen so every distance is distinct: no ties).
    a = np.array([[0.0], [1.0], [3.0], [6.0], [10.0], [15.0]])
    b = np.array([[0.0], [1.0], [6.0], [3.0], [10.0], [15.0]])
    ga, gb = brute_knn(a, 2, "l2"), brute_knn(b, 2, "l2")
    # By hand, k = 2 nearest others by |xi - xj| (ties -> lower row):
    #  A positions 0:0 1:1 2:3 3:6 4:10 5:15
    #  0: 1 (1), 2 (3)                          -> {1,2}
    #  1: 0 (1), 2 (2)                          -> {0,2}
    #  2 at 3: 1 (2), then 0 and 3 tie at 3     -> {1,0}
    #  3 at 6: 2 (3), 4 (4)                     -> {2,4}
    #  4 at 10: 3 (4), 5 (5)                    -> {3,5}
    #  5 at 15: 4 (5), 3 (9)                    -> {4,3}
    assert [set(r) for r in ga] == [{1, 2}, {0, 2}, {0, 1}, {2, 4}, {3, 5}, {3, 4}]
    #  B positions 0:0 1:1 2:6 3:3 4:10 5:15
    #  0: 1 (1), 3 (3)                          -> {1,3}
    #  1: 0 (1), 3 (2)                          -> {0,3}
    #  2 at 6: 3 (3), 4 (4)                     -> {3,4}
    #  3 at 3: 1 (2), then 0 and 2 tie at 3     -> {1,0}
    #  4 at 10: 2 (4), 5 (5)                    -> {2,5}
    #  5 at 15: 4 (5), 2 (9)                    -> {4,2}
    assert [set(r) for r in gb] == [{1, 3}, {0, 3}, {3, 4}, {0, 1}, {2, 5}, {2, 4}]
    # Jaccard |A ∩ B| / |A ∪ B|: 0: {1,2}/{1,3} 1/3; 1: {0,2}/{0,3} 1/3; 2: {0,1}/{3,4} 0;
    # 3: {2,4}/{0,1} 0; 4: {3,5}/{2,5} 1/3; 5: {4,3}/{4,2} 1/3
    expected = np.array([1 / 3, 1 / 3, 0, 0, 1 / 3, 1 / 3])
    np.testing.assert_allclose(jaccard(ga, gb, 2), expected, rtol=1e-6)
    # include_self, k = 2: {self} + 1 nearest other.  nearest: A 1,0,1,2,3,4  B 1,0,3,1,2,4
    # shared: 0:{0,1}{0,1} -> 1; 1: 1; 2:{2,1} vs {2,3} -> 1/3; 3:{3,2} vs {3,1} -> 1/3;
    # 4:{4,3} vs {4,2} -> 1/3; 5:{5,4}{5,4} -> 1
    np.testing.assert_allclose(jaccard(ga, gb, 2, include_self=True), [1, 1, 1 / 3, 1 / 3, 1 / 3, 1], rtol=1e-6)


@pytest.mark.parametrize("metric", ["l2", "dot", "cosine"])
def test_jaccard_matches_sets_on_data_with_ties(metric):
    rng = np.random.default_rng(1)
    # small integer coordinates: many exactly tied distances, and duplicated points
    xa = rng.integers(-2, 3, size=(120, 3)).astype(np.float64)
    xb = xa + rng.integers(-1, 2, size=xa.shape)
    xa[10] = xa[11]
    k = 7
    ga, gb = brute_knn(xa, k, metric), brute_knn(xb, k, metric)
    for inc in (False, True):
        np.testing.assert_allclose(jaccard(ga, gb, k, include_self=inc), set_jaccard(ga, gb, k, inc), rtol=1e-6)


def test_include_self_inflates_and_differs():
    rng = np.random.default_rng(2)
    ga = np.stack([rng.permutation(np.delete(np.arange(200), i))[:10] for i in range(200)])
    gb = np.stack([rng.permutation(np.delete(np.arange(200), i))[:10] for i in range(200)])
    plain, inc = jaccard(ga, gb, 10), jaccard(ga, gb, 10, include_self=True)
    assert inc.min() >= 1 / 19 - 1e-7  # self always shared: J >= 1 / (2k - 1)
    assert inc.mean() > plain.mean()
    np.testing.assert_allclose(inc, set_jaccard(ga, gb, 10, True), rtol=1e-6)


def test_missing_neighbours_are_not_shared():
    a = np.array([[1, 2, -1], [0, -1, -1]])
    b = np.array([[2, -1, -1], [-1, -1, -1]])
    assert shared_counts(a, b).tolist() == [1, 0]
    np.testing.assert_allclose(jaccard(a, b, 3), [1 / 2, 0.0])


def test_k_curve_equals_separate_computations():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(150, 5))
    y = x + 0.5 * rng.normal(size=x.shape)
    ga, gb = brute_knn(x, 20, "cosine"), brute_knn(y, 20, "cosine")
    curve = k_curve(ga, gb, [1, 5, 10, 20])
    for k, v in curve.items():
        # a graph built for exactly k gives the same values as the head of the k_max graph
        np.testing.assert_allclose(v, set_jaccard(brute_knn(x, k, "cosine"), brute_knn(y, k, "cosine"), k))
    means = [curve[k].mean() for k in (1, 5, 10, 20)]
    assert means[-1] > chance_jaccard(150, 20) * 3


def _random_subsets(rng, trials, n_items, m):
    """``trials`` uniform random m-subsets of range(n_items), one per row (redraw rows with repeats)."""
    out = rng.integers(0, n_items, size=(trials, m))
    while True:
        srt = np.sort(out, axis=1)
        bad = np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1))
        if not bad.size:
            return out
        out[bad] = rng.integers(0, n_items, size=(bad.size, m))


@pytest.mark.parametrize("n,k,inc", [(12, 3, False), (30, 5, False), (8, 5, False), (30, 5, True), (1000, 10, False)])
def test_chance_level_matches_simulation(n, k, inc):
    rng = np.random.default_rng(4)
    trials = 40000
    m = k - 1 if inc else k
    others = n - 1
    a, b = (_random_subsets(rng, trials, others, m) for _ in range(2))
    sim = jaccard(a, b, k, include_self=inc).mean()
    exact = chance_jaccard(n, k, include_self=inc)
    se = jaccard(a, b, k, include_self=inc).std() / np.sqrt(trials)
    assert abs(sim - exact) < 4 * se + 1e-9
    # the closed-form small-k approximation k / (2(n-1)) for sanity at large n
    if n == 1000:
        assert abs(exact - k / (2 * (n - 1))) / exact < 0.1


def test_chance_level_edges():
    assert chance_jaccard(11, 10) == pytest.approx(1.0)  # all 10 other items in both sets
    assert chance_jaccard(5, 1, include_self=True) == 1.0
    with pytest.raises(ValueError):
        chance_jaccard(10, 10)


def test_histogram_levels_count_shared_neighbours():
    k = 4
    vals = np.array([s / (2 * k - s) for s in (0, 1, 1, 4, 2)], dtype=np.float32)
    h = histogram(vals, k)
    assert h["shared"] == [0, 1, 2, 3, 4]
    assert h["counts"] == [1, 2, 1, 0, 1]
    hb = histogram(np.array([0.05, 0.95, 1.0]), 50)
    assert hb["counts"][0] == 1 and hb["counts"][-1] == 2 and sum(hb["counts"]) == 3


def naive_cka(x, y):
    """HSIC with explicit N x N kernels: CKA = HSIC(K,L) / sqrt(HSIC(K,K) HSIC(L,L))."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    kx, ky = x @ x.T, y @ y.T
    hsic = lambda a, b: np.trace(a @ h @ b @ h) / (n - 1) ** 2
    return hsic(kx, ky) / np.sqrt(hsic(kx, kx) * hsic(ky, ky))


def test_linear_cka_equals_naive_hsic():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(90, 7)) + 3.0
    y = np.tanh(x @ rng.normal(size=(7, 4))) + 0.3 * rng.normal(size=(90, 4))
    ref = naive_cka(x, y)
    assert 0.05 < ref < 0.99
    # small blocks exercise the blocked sums
    assert linear_cka(x.astype(np.float32), y.astype(np.float32), block=16) == pytest.approx(ref, rel=1e-5)
    assert linear_cka(x, y, block=16, precision="float64") == pytest.approx(ref, rel=1e-10)
    # rotation + scale invariance, and 1 with itself
    q, _ = np.linalg.qr(rng.normal(size=(7, 7)))
    assert linear_cka(x, 2.5 * x @ q) == pytest.approx(1.0, abs=1e-6)
    assert linear_cka(x, 2.5 * x @ q, precision="float64") == pytest.approx(1.0, abs=1e-12)
    # rows subset and normalisation agree with the naive formula on the selected normalised rows
    rows = np.arange(0, 90, 3)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    got = linear_cka(x, y, rows_x=rows, rows_y=rows, normalize_x=True, block=7)
    assert got == pytest.approx(naive_cka(xn[rows], y[rows]), rel=1e-6)
    # different row selections of each side pair item i = (x[rx[i]], y2[ry[i]])
    perm = rng.permutation(90)
    y2 = np.empty_like(y)
    y2[perm] = y
    got = linear_cka(x, y2, rows_x=rows, rows_y=perm[rows], block=8)
    assert got == pytest.approx(naive_cka(x[rows], y[rows]), rel=1e-6)
    assert np.isnan(linear_cka(np.ones((10, 3)), y[:10]))


def test_sampled_interval_covers_exact_mean():
    rng = np.random.default_rng(6)
    n, k = 400, 10
    centers = rng.normal(size=(8, 6)) * 2
    x = centers[rng.integers(0, 8, n)] + rng.normal(size=(n, 6))
    y = x @ rng.normal(size=(6, 6)) + 0.8 * rng.normal(size=(n, 6))
    exact = jaccard(brute_knn(x, k, "cosine"), brute_knn(y, k, "cosine"), k)

    def search(q, base, kk, metric, query_rows):
        g = brute_knn(base, kk, metric)
        return g[query_rows], None

    ga, gb = brute_knn(x, k, "cosine"), brute_knn(y, k, "cosine")
    pre = {id(x): ga, id(y): gb}
    fast = lambda q, base, kk, metric, query_rows: (pre[id(base)][query_rows, :kk], None)  # noqa: E731
    covered = 0
    trials = 60
    for t in range(trials):
        rows, vals = sampled_jaccard(x, y, k, n_sample=60, seed=t, search=fast)
        np.testing.assert_allclose(vals, exact[rows])  # a sampled item's value is its exact value
        m, lo, hi = mean_ci(vals, population=n)
        covered += lo <= exact.mean() <= hi
    assert covered >= 0.85 * trials
    # the full "sample" is the exact mean with a zero-width interval
    m, lo, hi = mean_ci(exact, population=n)
    assert lo == pytest.approx(m) == pytest.approx(hi) and m == pytest.approx(exact.mean())
    # and the default search path agrees with brute force on one sample
    rows, vals = sampled_jaccard(x, y, k, n_sample=20, seed=0, search=search)
    np.testing.assert_allclose(vals, exact[rows])


def test_jaccard_matches_sets_on_many_rows(monkeypatch):
    """Thousands of rows in several vectorized steps (``_CHUNK`` rows each, made small here),
    against per-row Python sets: distinct ids per row in any order, int32 and int64, -1 padding
    for missing neighbours. (How fast the vectorized path is belongs to bench/compare.py.)"""
    import importlib

    jaccard_module = importlib.import_module("spacelens.compare.jaccard")

    monkeypatch.setattr(jaccard_module, "_CHUNK", 1024)
    rng = np.random.default_rng(7)
    n, k, n_items = 5000, 10, 50_000
    a = _random_subsets(rng, n, n_items, k)
    # b keeps a random number of a's neighbours (0..k) and draws the rest afresh, in a shuffled
    # order; a fresh draw may hit one of a's dropped ids, which the sets count like any other.
    b = a.copy()
    keep = rng.integers(0, k + 1, size=n)
    fresh = np.arange(k)[None, :] >= keep[:, None]
    b[fresh] = rng.integers(0, n_items, size=int(fresh.sum()))
    while True:  # redraw the fresh entries of rows that now repeat an id
        srt = np.sort(b, axis=1)
        bad = (srt[:, 1:] == srt[:, :-1]).any(axis=1)
        if not bad.any():
            break
        redo = fresh & bad[:, None]
        b[redo] = rng.integers(0, n_items, size=int(redo.sum()))
    b = np.take_along_axis(b, rng.permuted(np.broadcast_to(np.arange(k), b.shape), axis=1), axis=1)
    # missing neighbours: the tails of some rows, as approximate engines return them
    for x in (a, b):
        first_missing = np.where(rng.random(n) < 0.1, rng.integers(1, k, size=n), k)
        x[np.arange(k)[None, :] >= first_missing[:, None]] = -1

    def sets(x, m):
        return [{v for v in row[:m] if v >= 0} for row in x.tolist()]

    for m in (k, 4):
        pairs = list(zip(sets(a, m), sets(b, m)))
        ref = np.array([len(p & q) / len(p | q) if p | q else 1.0 for p, q in pairs])
        assert (ref == 0).any() and (ref == 1).any() and ((0 < ref) & (ref < 1)).any()  # every case occurs
        for dtype in (np.int32, np.int64):
            got = jaccard(a.astype(dtype), b.astype(dtype), m)
            assert got.shape == (n,)
            np.testing.assert_allclose(got, ref, rtol=1e-6)
            np.testing.assert_array_equal(shared_counts(a[:, :m].astype(dtype), b[:, :m].astype(dtype)),
                                          [len(p & q) for p, q in pairs])


@pytest.mark.parametrize("df", [1, 2, 3, 5, 10, 30, 200])
def test_t_quantile_matches_scipy(df):
    from scipy.stats import t

    for p in (0.9, 0.95, 0.975):
        assert t_quantile(p, df) == pytest.approx(t.ppf(p, df), rel=2e-3 if df < 10 else 1e-5)
