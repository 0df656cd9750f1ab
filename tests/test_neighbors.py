"""kNN engines and the graph cache, checked against float64 brute force in numpy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import spacelens
from spacelens.errors import SpacelensError, SpacelensWarning
from spacelens.neighbors import (ExactEngine, KnnGraph, cached_graph, exact_search, get_engine, knn_graph,
                                 measure_recall, prepare)
from spacelens.registry import Registry

METRICS = ["cosine", "l2", "dot"]


def brute(queries, base, k, metric, query_rows=None):
    """Reference: float64 distances, rounded so exact ties compare equal, stable sort by row."""
    q, b = np.asarray(queries, np.float64), np.asarray(base, np.float64)
    if metric == "cosine":
        qn, bn = np.linalg.norm(q, axis=1), np.linalg.norm(b, axis=1)
        qn[qn == 0], bn[bn == 0] = 1, 1
        D = 1 - (q / qn[:, None]) @ (b / bn[:, None]).T
    elif metric == "dot":
        D = -(q @ b.T)
    else:  # exact in float64 for the small-integer test data, ~1e-15 off otherwise
        D = np.maximum((q * q).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * q @ b.T, 0)
    D = np.round(D, 9)
    if query_rows is not None:
        D[np.arange(len(q)), query_rows] = np.inf
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(D, idx, axis=1)


def tied_data(seed=0, n=240, d=6):
    """Small-integer vectors (exact float32 arithmetic, many equal distances), duplicated rows,
    a few zero rows, shuffled so duplicates are scattered."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, size=(n, d)).astype(np.float32)
    x = np.concatenate([x, x[: n // 3], x[: n // 6] * 2, np.zeros((4, d), np.float32)])
    return x[rng.permutation(len(x))]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("seed, d", [(0, 6), (1, 6), (0, 40)])   # l2 at 40: the inner-product form
def test_exact_graph_matches_brute_force_with_ties(metric, seed, d):
    x = tied_data(seed, d=d) + np.float32(3 if metric == "l2" else 0)   # l2: off the origin (centred)
    rows = np.arange(len(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpacelensWarning)
        for k in (1, 7, 25):
            idx, dist = exact_search(x, x, k, metric, query_rows=rows)
            ref_idx, ref_dist = brute(x, x, k, metric, rows)
            assert idx.dtype == np.int32 and dist.dtype == np.float32 and idx.shape == (len(x), k)
            np.testing.assert_array_equal(idx, ref_idx)
            np.testing.assert_allclose(dist, ref_dist, rtol=1e-6, atol=1e-6)
            same = (x[idx] == x[:, None, :]).all(axis=2) & x[idx].any(axis=2)   # identical non-zero rows
            assert same.any() and (metric == "dot" or (dist[same] == 0).all())  # exactly 0
            assert metric == "dot" or (dist >= 0).all()
            assert not (idx == rows[:, None]).any()                        # self excluded
            assert (np.diff(dist, axis=1) >= 0).all()                      # sorted


@pytest.mark.parametrize("metric", METRICS)
def test_external_queries_without_self_exclusion(metric):
    x = tied_data(2)
    q = np.concatenate([x[:10], np.random.default_rng(3).integers(-2, 3, (10, x.shape[1]))]).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpacelensWarning)
        idx, dist = exact_search(q, x, 9, metric)
    ref_idx, ref_dist = brute(q, x, 9, metric)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-6, atol=1e-6)


def test_hand_worked_ties_on_a_line():
    # Row 0 at 0; rows 1, 2, 4 all at squared distance 1 from it; row 3 at 4.
    x = np.array([[0.0], [1.0], [-1.0], [2.0], [1.0]], np.float32)
    idx, dist = exact_search(x, x, 4, "l2", query_rows=np.arange(5))
    assert idx[0].tolist() == [1, 2, 4, 3]
    assert dist[0].tolist() == [1.0, 1.0, 1.0, 4.0]
    # Row 1 and row 4 are the same point: each is the other's nearest, at distance 0.
    assert idx[1].tolist() == [4, 0, 3, 2] and idx[4].tolist() == [1, 0, 3, 2]
    assert dist[1].tolist() == [0.0, 1.0, 1.0, 4.0]


@pytest.mark.parametrize("extra", [0, 1])
def test_boundary_tie_beyond_the_candidates_is_resolved_by_lower_row(extra):
    # 60 copies of one point, the query elsewhere: every copy ties. With few extra candidates
    # faiss returns an arbitrary subset; the re-search must still give the 5 lowest rows.
    rng = np.random.default_rng(0)
    far = rng.normal(size=(40, 8)).astype(np.float32) * 10 - 50
    dup = np.tile(np.ones((1, 8), np.float32), (60, 1))
    base = np.concatenate([far[:20], dup, far[20:]])                   # copies at rows 20..79
    q = np.full((1, 8), 0.5, np.float32)                              # nearest to the copies by all metrics
    for metric in METRICS:
        eng = ExactEngine(extra=extra)
        idx, dist = eng.search(q, base, 5, metric)
        ref_idx, _ = brute(q, base, 5, metric)
        np.testing.assert_array_equal(idx, ref_idx)
        assert idx[0].tolist() == [20, 21, 22, 23, 24]


@pytest.mark.parametrize("metric", METRICS)
def test_large_duplicate_groups(metric):
    # 400 copies of one vector and 150 of another among 300 distinct rows: every copy's k
    # nearest are other copies (lowest rows first), and rows near a group tie with all of it.
    rng = np.random.default_rng(7)
    a, b = rng.integers(-2, 3, (2, 6)).astype(np.float32)
    x = np.concatenate([np.tile(a, (400, 1)), np.tile(b, (150, 1)),
                        rng.integers(-2, 3, (300, 6)).astype(np.float32)])[rng.permutation(850)]
    idx, dist = exact_search(x, x, 12, metric, query_rows=np.arange(len(x)))
    ref_idx, ref_dist = brute(x, x, 12, metric, np.arange(len(x)))
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_duplicates_found_by_bytes_even_on_hash_collisions(dtype, monkeypatch):
    from spacelens.neighbors import duplicates

    x = tied_data(5).astype(dtype)
    groups = duplicates.duplicate_groups(x, 3)
    reps, members = groups.reps, groups.members
    assert (np.diff(reps) > 0).all() and (members[:, 0] == reps).all()
    for g in range(len(reps)):                    # members: identical rows, ascending
        mem = members[g][members[g] >= 0]
        assert (x[mem] == x[mem[0]]).all() and (np.diff(mem) > 0).all()
    assert len(reps) == len(np.unique(x, axis=0))
    # Every row colliding: grouping must still only join identical rows, and results stay exact.
    monkeypatch.setattr(duplicates, "_row_hashes", lambda raw: np.zeros(len(raw), np.uint64))
    collided = duplicates.duplicate_groups(x, 3)
    assert collided is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpacelensWarning)
        idx, _ = exact_search(x, x, 9, "l2", query_rows=np.arange(len(x)))
    np.testing.assert_array_equal(idx, brute(x, x, 9, "l2", np.arange(len(x)))[0])


def test_first_k_orders_by_distance_then_row():
    # Reference: numpy's two-key lexsort. Signed zeros count as equal, negatives sort first.
    from spacelens.neighbors.exact import first_k

    rng = np.random.default_rng(11)
    dist = np.round(rng.normal(size=(300, 40)), 1).astype(np.float32)
    dist[rng.random(dist.shape) < 0.1] = -0.0
    dist[rng.random(dist.shape) < 0.1] = 0.0
    dist[rng.random(dist.shape) < 0.05] = np.inf
    cand = rng.integers(0, 5000, size=dist.shape)
    idx, d = first_k(cand, dist, 25)
    order = np.lexsort((cand, dist + np.float32(0)), axis=1)[:, :25]
    np.testing.assert_array_equal(idx, np.take_along_axis(cand, order, axis=1))
    np.testing.assert_array_equal(d, np.take_along_axis(dist, order, axis=1))
    assert idx.dtype == np.int32 and d.dtype == np.float32


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("bound", ["per query", "per candidate"])
def test_near_ties_are_settled_exactly_whatever_faiss_rounding(metric, bound):
    # Feed rank_near_ties faiss-like distances: the exact ones plus noise up to the tolerance,
    # candidates sorted by the noisy values. The result must be the exact order, ties by row.
    from spacelens.neighbors.exact import Side, rank_near_ties
    from spacelens.neighbors.metrics import max_norm, row_norms, search_tolerance

    rng = np.random.default_rng(3)
    base = np.concatenate([tied_data(8, n=300, d=6), rng.normal(size=(200, 6)).astype(np.float32) * 3])
    queries = base[::7]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpacelensWarning)
        q, b = Side.of(queries, metric), Side.of(base, metric)
    ref_idx, ref_dist = brute(queries, base, len(base), metric)
    if bound == "per query":
        tol = search_tolerance(q.vec, max_norm(b.vec) if metric != "cosine" else 1.0, metric)[:, None]
    else:
        tol = search_tolerance(q.vec, row_norms(b.vec)[ref_idx], metric)
    noisy = ref_dist + rng.uniform(-1, 1, ref_dist.shape) * tol
    order = np.argsort(noisy, axis=1, kind="stable")
    cand = np.take_along_axis(ref_idx, order, axis=1)
    fd = np.take_along_axis(noisy, order, axis=1)
    t = tol[:, 0] if bound == "per query" else np.take_along_axis(tol, order, axis=1)
    idx, dist = rank_near_ties(q, b, cand, fd, t, 30, metric, None)
    np.testing.assert_array_equal(idx, ref_idx[:, :30])
    np.testing.assert_allclose(dist, ref_dist[:, :30], rtol=0, atol=2 * tol.max())
    tied = np.diff(ref_dist[:, :30], axis=1) == 0
    assert tied.any() and (np.diff(dist, axis=1)[tied] == 0).all()   # exact ties: equal values
    assert (np.diff(dist, axis=1) >= 0).all()


@pytest.mark.parametrize("metric, augmented", [("cosine", True), ("dot", True), ("l2", True), ("l2", False)])
@pytest.mark.parametrize("scored", [False, True])
def test_faiss_distances_stay_within_the_search_tolerance(metric, augmented, scored):
    # The bound the near-tie logic trusts, on awkward data: float64 input, mixed norms
    # (1e-3 .. 1e3), an offset far from the origin, d = 300. augmented: the exact engine's
    # search (faiss_knn; l2 as an inner product of [x, 1] and [2y, -|y|^2]); else faiss's own
    # L2 kernel, as the dask engine calls it. scored: the same forms from one numpy GEMM and
    # faiss's heap (scored_knn, the search that also hands its scores to an observer).
    import faiss

    from spacelens.neighbors.metrics import (column_mean, faiss_knn, faiss_metric, faiss_rows, faiss_target,
                                             from_faiss, max_norm, pair_distances, prepare_with_norms, row_norms,
                                             scored_knn, search_tolerance)

    rng = np.random.default_rng(5)
    x = rng.normal(size=(2000, 300)) * 10.0 ** rng.uniform(-3, 3, size=(2000, 1)) + 40.0
    vec, norms = prepare_with_norms(x, metric)
    if augmented:
        vec = faiss_rows(x, vec, metric, column_mean(x) if metric == "l2" else None)   # l2: centred
        target = faiss_target(vec, metric)
    else:
        target = vec
    if scored:
        scores, fd, cand = scored_knn(vec[:300], target, 50, metric)
        # the scores are the distances less a per-query constant: the k smallest are the candidates
        np.testing.assert_array_equal(np.sort(scores, axis=1)[:, :50],
                                      np.take_along_axis(scores, cand, axis=1))
    elif augmented:
        fd, cand = faiss_knn(vec[:300], target, 50, metric)
    else:
        raw, cand = faiss.knn(vec[:300], vec, 50, metric=faiss_metric(metric))
        fd = from_faiss(raw.astype(np.float64), metric)
    exact = pair_distances(x[:300], x, cand, metric, None if norms is None else norms[:300], norms)
    err = np.abs(fd - exact.astype(np.float64)) - np.abs(exact) * np.finfo(np.float32).eps
    assert err.max() > 0                                      # the data does make faiss round
    bound = max_norm(vec) if metric != "cosine" else 1.0
    per_query = search_tolerance(vec[:300], bound, metric, augmented)
    per_candidate = search_tolerance(vec[:300], row_norms(vec)[cand], metric, augmented)
    assert (err <= per_query[:, None]).all() and (err <= per_candidate).all()
    assert (per_candidate <= per_query[:, None] * (1 + 1e-12)).all()


def test_l2_as_an_inner_product_ranks_like_l2():
    # [x, 1] . [2y, -|y|^2] = |x|^2 - |x - y|^2: faiss_knn's l2 distances are L2's, hand-worked
    # in 2 dimensions padded with zeros to 40 (the product form starts at 33).
    from spacelens.neighbors.metrics import faiss_knn, faiss_target

    def pad(a):
        return np.pad(np.array(a, dtype=np.float32), ((0, 0), (0, 38)))

    target = faiss_target(pad([[0, 0], [3, 4], [1, 1], [-2, 0]]), "l2")
    assert target.shape == (4, 41)
    np.testing.assert_array_equal(target[:, [0, 1, 40]], [[0, 0, 0], [6, 8, -25], [2, 2, -2], [-4, 0, -4]])
    assert faiss_target(pad([[0, 0]])[:, :32], "l2").shape == (1, 32)     # small d: faiss's L2 kernel
    fd, cand = faiss_knn(pad([[1, 0]]), target, 4, "l2")
    assert fd.tolist() == [[1.0, 1.0, 9.0, 20.0]]            # |(1, 0) - y|^2, exact in float32
    assert sorted(cand[0, :2]) == [0, 2] and cand[0, 2:].tolist() == [3, 1]


def test_blocked_equals_unblocked():
    x = tied_data(4)
    rows = np.arange(len(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpacelensWarning)
        for metric in METRICS:
            a = ExactEngine(block_size=len(x)).search(x, x, 10, metric, query_rows=rows)
            b = ExactEngine(block_size=64).search(x, x, 10, metric, query_rows=rows)
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_array_equal(a[1], b[1])


def test_cosine_zero_vectors_are_documented_behaviour():
    x = np.array([[1, 0], [0, 0], [1, 1], [0, 0], [-1, 0]], np.float32)
    with pytest.warns(SpacelensWarning, match="2 of 5 vectors are all zeros"):
        p = prepare(x, "cosine")
    assert p.dtype == np.float32 and p.flags.c_contiguous
    assert (p[[1, 3]] == 0).all()
    np.testing.assert_allclose(np.linalg.norm(p[[0, 2, 4]], axis=1), 1, rtol=1e-6)
    with pytest.warns(SpacelensWarning):
        idx, dist = exact_search(x, x, 4, "cosine", query_rows=np.arange(5))
    # A zero row is at distance 1 from everything: its neighbours are the lowest other rows.
    assert idx[1].tolist() == [0, 2, 3, 4] and dist[1].tolist() == [1, 1, 1, 1]
    assert idx[3].tolist() == [0, 1, 2, 4]
    # Row 0: row 2 at 1 - cos 45deg, then the zero rows (distance 1, lower first), then row 4 at 2.
    assert idx[0].tolist() == [2, 1, 3, 4]
    np.testing.assert_allclose(dist[0], [1 - np.sqrt(0.5), 1, 1, 2], rtol=1e-6)


def test_bad_input_gets_clear_errors():
    x = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    rows = np.arange(20)
    for k in (0, 20, 25, 2.5, True):
        with pytest.raises(SpacelensError, match="k=|whole number"):
            exact_search(x, x, k, "cosine", query_rows=rows)
    assert exact_search(x, x, 19, "l2", query_rows=rows)[0].shape == (20, 19)
    assert exact_search(x, x, 20, "l2")[0].shape == (20, 20)          # no self exclusion: all rows
    with pytest.raises(SpacelensError, match="Unknown metric 'euclidean'. Use 'l2'"):
        exact_search(x, x, 3, "euclidean")
    bad = x.copy()
    bad[7, 2] = np.nan
    with pytest.raises(SpacelensError, match="NaN or infinite values .first at row 7"):
        exact_search(bad, bad, 3, "l2")
    with pytest.raises(SpacelensError, match="Unknown kNN engine 'annoy'"):
        get_engine("annoy")
    with pytest.raises(SpacelensError, match="no parameter 'nprobe'.*M, ef_construction, ef_search"):
        get_engine("hnsw", nprobe=3)
    with pytest.raises(SpacelensError, match="dimension"):
        exact_search(x[:, :3], x, 3, "l2")


def test_dask_engine_is_resolved_lazily():
    try:
        eng = get_engine("dask")
    except SpacelensError as exc:
        assert "dask" in str(exc).lower()
    else:
        assert eng.name == "dask"


def clustered(n=1500, d=24, n_classes=15, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_classes, d)) * 4
    return (centers[rng.integers(0, n_classes, n)] + rng.normal(size=(n, d))).astype(np.float32)


@pytest.mark.parametrize("engine,params", [("hnsw", {}), ("ivf", {}), ("ivf", {"nlist": 8, "nprobe": 8})])
@pytest.mark.parametrize("metric", METRICS)
def test_approx_engines_have_high_recall_on_clustered_data(engine, params, metric):
    x = clustered()
    rows = np.arange(len(x))
    idx, dist = get_engine(engine, **params).search(x, x, 10, metric, query_rows=rows)
    assert not (idx == rows[:, None]).any() and (np.diff(dist, axis=1) >= 0).all()
    ref_idx, _ = brute(x, x, 10, metric, rows)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(idx, ref_idx)])
    assert recall >= 0.95
    # measure_recall on a sample agrees with the full count.
    g = KnnGraph(idx, dist, metric, engine)
    assert abs(measure_recall(x, engine, 10, metric, n_queries=500, graph=g, **params) - recall) < 0.03


def test_measure_recall_sees_a_weak_engine():
    x = np.random.default_rng(1).normal(size=(1500, 24)).astype(np.float32)  # no clusters to exploit
    eng = get_engine("ivf", nlist=30, nprobe=1)
    rows = np.arange(len(x))
    idx, _ = eng.search(x, x, 10, "l2", query_rows=rows)
    ref_idx, _ = brute(x, x, 10, "l2", rows)
    true_recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(idx, ref_idx)])
    assert true_recall < 0.8
    assert abs(measure_recall(x, eng, 10, "l2", n_queries=600) - true_recall) < 0.05
    assert measure_recall(x, "exact", 10, "l2", n_queries=300) == 1.0


# -- graph cache -----------------------------------------------------------------------------
@pytest.fixture
def reg(home, labeled):
    spacelens.add(labeled.vectors, labeled.csv, dataset_name="items", experiment_name="e", space_name="s")
    return Registry(home)


def test_knn_graph_is_cached_and_reused_for_smaller_k(reg, labeled, monkeypatch):
    g8 = knn_graph(reg, "s", 8, k_max=8)
    ref_idx, ref_dist = brute(labeled.vectors, labeled.vectors, 8, "cosine", np.arange(len(labeled.vectors)))
    np.testing.assert_array_equal(g8.indices, ref_idx)
    np.testing.assert_allclose(g8.distances, ref_dist, atol=1e-6)
    arts = reg.find_artifacts(kind="knn_graph", space="s")
    assert len(arts) == 1 and arts[0].info["k_max"] == 8 and arts[0].params == {"metric": "cosine",
                                                                                 "engine": "exact"}

    def boom(*a, **kw):
        raise AssertionError("should have been loaded from the cache")

    monkeypatch.setattr(ExactEngine, "search", boom)
    g3 = knn_graph(reg, "s", 3)                       # served by the k_max = 8 graph
    monkeypatch.undo()
    direct = exact_search(labeled.vectors, labeled.vectors, 3, "cosine", query_rows=np.arange(len(labeled.vectors)))
    np.testing.assert_array_equal(g3.indices, direct[0])
    np.testing.assert_array_equal(g3.distances, direct[1])
    np.testing.assert_array_equal(g8.head(3).indices, g3.indices)
    assert cached_graph(reg, "s", 8) is not None and cached_graph(reg, "s", 9) is None
    assert cached_graph(reg, "s", 3, metric="l2") is None

    g12 = knn_graph(reg, "s", 12, k_max=12)           # larger k: recomputed, replaces the entry
    arts = reg.find_artifacts(kind="knn_graph", space="s")
    assert len(arts) == 1 and arts[0].info["k_max"] == 12
    np.testing.assert_array_equal(g12.head(8).indices, g8.indices)

    knn_graph(reg, "s", 5, metric="l2")
    knn_graph(reg, "s", 5, engine="ivf", nprobe=4)
    keys = sorted(str(a.params) for a in reg.find_artifacts(kind="knn_graph", space="s"))
    assert len(keys) == 3 and any("'nprobe': 4" in key for key in keys)


def test_knn_graph_validates_k_and_leaves_no_partial_cache(reg, monkeypatch):
    with pytest.raises(SpacelensError, match="Choose k between 1 and 299"):
        knn_graph(reg, "s", 300)

    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(ExactEngine, "search", interrupted)
    with pytest.raises(KeyboardInterrupt):
        knn_graph(reg, "s", 5)
    assert reg.find_artifacts(kind="knn_graph") == []


def test_knn_graph_of_a_subset_space(home, tmp_path):
    from conftest import make_labeled

    lab = make_labeled(tmp_path, n=200, d=8)
    spacelens.add(lab.vectors, lab.csv, dataset_name="d", experiment_name="e", space_name="full")
    keep = np.arange(0, 200, 3)
    sub = spacelens.add(lab.vectors[keep], dataset_name="d", experiment_name="e2", space_name="sub",
                        ids=lab.table["id"].to_numpy()[keep])
    g = spacelens.knn("sub", k=4, metric="l2")
    assert g.indices.shape == (sub.n_rows, 4) and g.indices.max() < sub.n_rows
    ref_idx, _ = brute(lab.vectors[keep], lab.vectors[keep], 4, "l2", np.arange(len(keep)))
    np.testing.assert_array_equal(g.indices, ref_idx)


# -- query and named indexes ------------------------------------------------------------------
def test_query_returns_brute_force_neighbours_with_metadata(reg, labeled, tmp_path):
    x, t = labeled.vectors, labeled.table
    res = spacelens.query("s", "item00007", k=6)
    ref_idx, ref_dist = brute(x[7:8], x, 6, "cosine", np.array([7]))
    got = res["spaces"]["s"]
    assert res["query"] == "item00007" and res["k"] == 6 and res["sources"]["s"] == "exact search"
    assert [n["row"] for n in got] == ref_idx[0].tolist()
    assert [n["id"] for n in got] == t["id"].to_numpy()[ref_idx[0]].tolist()
    np.testing.assert_allclose([n["distance"] for n in got], ref_dist[0], atol=1e-6)
    assert [n["caption"] for n in got] == t["caption"].to_numpy()[ref_idx[0]].tolist()
    assert res["item"]["label"] == t["label"][7]
    # With a cached graph, the same answer comes from it.
    knn_graph(reg, "s", 10)
    res2 = spacelens.query("s", "item00007", k=6)
    assert res2["sources"]["s"].startswith("cached kNN graph") and res2["spaces"] == res["spaces"]


def test_query_vs_marks_shared_neighbours(reg, labeled):
    rng = np.random.default_rng(5)
    y = labeled.vectors @ rng.normal(size=(16, 16)).astype(np.float32)
    spacelens.add(y, dataset_name="items", experiment_name="e2", space_name="t")
    res = spacelens.query("s", "item00011", k=8, vs="t", metric="l2")
    ref_a, _ = brute(labeled.vectors[11:12], labeled.vectors, 8, "l2", np.array([11]))
    ref_b, _ = brute(y[11:12], y, 8, "l2", np.array([11]))
    assert [n["row"] for n in res["spaces"]["t"]] == ref_b[0].tolist()
    ids = labeled.table["id"].to_numpy()
    assert set(res["shared"]) == set(ids[np.intersect1d(ref_a[0], ref_b[0])])


def test_query_unknown_id_suggests_close_ids(reg):
    with pytest.raises(SpacelensError, match="No item 'item00007x' in space 's'. Did you mean 'item00007'"):
        spacelens.query("s", "item00007x")
    with pytest.raises(SpacelensError, match="space 's'.*item00107"):
        spacelens.query("s", "item0107")


def test_named_index_build_list_delete(reg, labeled):
    import faiss

    rec = spacelens.build_index("flat", "s", similarity="l2")
    assert rec["model"] == "exact" and rec["n_rows"] == 300 and not rec["replaced"]
    spacelens.build_index("graph", "s", model="hnsw", M=8)
    assert [r["name"] for r in spacelens.list_indexes()] == ["flat", "graph"]
    assert spacelens.build_index("flat", "s", similarity="l2")["replaced"]
    assert len(spacelens.list_indexes()) == 2
    # The stored index is a real faiss index over the space.
    from spacelens.neighbors import load_index

    index, info = load_index(reg, "flat")
    D, I = index.search(labeled.vectors[:5], 2)
    assert isinstance(index, faiss.Index) and index.ntotal == 300 and (I[:, 0] == np.arange(5)).all()
    assert spacelens.delete_index("flat")["space"] == "s"
    assert [r["name"] for r in spacelens.list_indexes()] == ["graph"]
    with pytest.raises(SpacelensError, match="No index named 'flat'"):
        spacelens.delete_index("flat")
    with pytest.raises(SpacelensError, match="Unknown index model"):
        spacelens.build_index("x", "s", model="annoy")


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("d", [8, 40])
def test_faiss_base_is_the_target_built_in_chunks(metric, d, monkeypatch):
    # One copy of the base, chunk by chunk, equal to centring then augmenting the whole of it.
    import spacelens.neighbors.metrics as me

    rng = np.random.default_rng(1)
    raw = rng.normal(size=(301, d)) + 3.0                          # float64 input, off the origin
    vec, _ = me.prepare_with_norms(raw, metric)
    center = me.column_mean(raw) if metric == "l2" else None
    rows = rng.permutation(301)[:200]
    monkeypatch.setattr(me, "_CHUNK_ELEMENTS", 7 * d)              # chunks of 7 rows
    for sel in (None, rows):
        target, norms = me.faiss_base(raw, vec, metric, center, sel)
        r = slice(None) if sel is None else sel
        whole = me.faiss_rows(raw[r], vec[r], metric, center)
        np.testing.assert_array_equal(target, me.faiss_target(whole, metric))
        if metric == "cosine":
            assert norms is None
        else:
            np.testing.assert_array_equal(norms, me.row_norms(whole))


@pytest.mark.parametrize("d", [6, 40])
def test_l2_without_the_centred_copy_is_exact_too(d, monkeypatch):
    # Past _L2_COPY_MAX_BYTES the exact engine searches the rows as given with faiss's L2.
    import spacelens.neighbors.exact as ex

    monkeypatch.setattr(ex, "_L2_COPY_MAX_BYTES", 0)
    x = tied_data(0, d=d) + np.float32(3)
    rows = np.arange(len(x))
    idx, dist = exact_search(x, x, 25, "l2", query_rows=rows)
    ref_idx, ref_dist = brute(x, x, 25, "l2", rows)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-6, atol=1e-6)


def _distinct_tied_data(seed, d):
    """tied_data without identical rows: equal distances everywhere, scaled copies (equal
    cosine), one zero row, but no duplicates (so the engine searches every row itself)."""
    x = np.unique(tied_data(seed, n=400, d=d), axis=0)
    return x[np.random.default_rng(seed).permutation(len(x))]


def _observed_search(x, queries, k, metric, rows, engine):
    """An exact search with a scores observer: its result, and what the observer saw per query."""
    from spacelens.neighbors.exact import prepare_search

    q, b, qrows, k = prepare_search(queries, x, k, metric, rows)
    seen = np.zeros(len(q), dtype=int)
    scores = np.full((len(q), len(x)), np.nan)

    def observe(qi, block):
        assert block.dtype == np.float32 and block.shape == (len(qi), len(x))
        seen[qi] += 1
        scores[qi] = block

    return engine.search_prepared(q, b, k, metric, qrows, on_scores=observe), seen, scores


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("d, copy", [(6, True), (40, True), (40, False)])   # l2 at 40: augmented / as given
@pytest.mark.parametrize("extra", [None, 0])                                # 0: boundary re-searches
def test_scores_observer_sees_every_query_once_and_changes_no_neighbour(metric, d, copy, extra, monkeypatch):
    # One GEMM per block serves the observer and the candidates (faiss's heap selection on
    # the same scores): the neighbours must be the plain search's to the last row, on data
    # full of exact ties, across several blocks (64 queries) and the boundary re-searches.
    import spacelens.neighbors.exact as ex

    if not copy:
        monkeypatch.setattr(ex, "_L2_COPY_MAX_BYTES", 0)
    x = _distinct_tied_data(1, d) + np.float32(3 if metric == "l2" else 0)
    rows = np.arange(len(x))
    calls = []
    real_block = ex.ExactEngine._block
    monkeypatch.setattr(ex.ExactEngine, "_block", lambda self, qs, qi, kk, *a: calls.append(kk) or
                        real_block(self, qs, qi, kk, *a))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpacelensWarning)
        for queries, qrows in ((x, rows), (x[::3] + np.float32(0.5), None)):   # self excluded; external
            for k in (1, 9):
                engine = ExactEngine(block_size=64, extra=extra)
                calls.clear()
                (idx, dist), seen, scores = _observed_search(x, queries, k, metric, qrows, engine)
                plain = engine.search(queries, x, k, metric, query_rows=qrows)
                np.testing.assert_array_equal(idx, plain[0])
                np.testing.assert_array_equal(idx, brute(queries, x, k, metric, qrows)[0])
                # faiss's kernels and numpy's GEMM round differently: distances kept as the
                # search gave them (no near-tie) agree within its error bound, not bit for bit
                ref = brute(queries, x, len(x), metric)[1]
                scale = 1 if metric == "cosine" else float(np.abs(ref).max())
                np.testing.assert_allclose(dist, plain[1], rtol=0, atol=1e-5 * scale)
                assert (seen == 1).all()                           # every query once, re-searched or not
                assert len(calls) > -(-len(queries) // 64) or extra is None   # extra 0: re-searches happened
                # The scores order like float64 distances along each row: a constant apart, to rounding.
                ref = np.take_along_axis(ref, np.argsort(brute(queries, x, len(x), metric)[0], axis=1), axis=1)
                gap = scores - ref
                assert (gap.max(axis=1) - gap.min(axis=1) <= 1e-5 * scale).all()
                ties = ref[:, :, None] == ref[:, None, :20]        # exact ties: equal scores on exact data
                if metric == "dot" or (metric == "l2" and not copy):
                    assert ties.sum() > ties.shape[0] * 20 and (scores[:, :, None] == scores[:, None, :20])[ties].all()


@pytest.mark.parametrize("metric", METRICS)
def test_scores_observer_is_not_shown_groups_of_identical_rows(metric):
    # With duplicates faiss searches one row per group: those scores are no ranks among all
    # rows, so the observer is never called; the neighbours are still exact.
    x = tied_data(2)
    rows = np.arange(len(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpacelensWarning)
        (idx, _), seen, _ = _observed_search(x, x, 7, metric, rows, ExactEngine(block_size=64))
    assert (seen == 0).all()
    np.testing.assert_array_equal(idx, brute(x, x, 7, metric, rows)[0])


@pytest.mark.parametrize("engine", ["exact", "hnsw"])
def test_rows_closer_than_float32_resolution_tie_by_lower_row(engine):
    """As the exact engine's docstring says: near-ties are re-computed in float64 but ordered by
    the float32-rounded value, then by row. Row 0 is 1 + 2^-26 from the query, row 1 exactly 1
    (squared l2, exact in float64): float64 puts row 1 first, float32 rounds both to 1.0, so the
    lower row 0 comes first and both report 1.0, the rule every engine shares."""
    rng = np.random.default_rng(0)
    far = (rng.normal(size=(60, 2)) * 0.1 + 5).astype(np.float32)
    base = np.concatenate([np.array([[1, 2.0 ** -13], [1, 0]], np.float32), far])
    d64 = ((base.astype(np.float64) - 0) ** 2).sum(1)
    assert d64[0] > d64[1] and np.float32(d64[0]) == np.float32(d64[1])
    q = np.zeros((1, 2), np.float32)
    eng = get_engine(engine) if engine == "exact" else get_engine(engine, ef_search=64)
    idx, dist = eng.search(q, base, 3, "l2")
    assert idx[0, :2].tolist() == [0, 1] and dist[0, 0] == dist[0, 1] == np.float32(1.0)
