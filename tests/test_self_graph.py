"""The symmetric self-graph kernel (half the products), checked against float64 brute force."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import spacelens.neighbors.symmetric as symmetric
from spacelens.errors import SpacelensWarning
from spacelens.neighbors import ExactEngine
from spacelens.neighbors.duplicates import duplicate_groups
from spacelens.neighbors.metrics import column_mean, faiss_base, faiss_rows, prepare, row_norms, search_tolerance
from test_neighbors import brute, tied_data

METRICS = ["cosine", "l2", "dot"]


def exact_distances(raw, metric):
    """float64 distances between all rows of ``raw`` (cosine of zero rows: 1)."""
    x = np.asarray(raw, np.float64)
    if metric == "cosine":
        nrm = np.linalg.norm(x, axis=1)
        nrm[nrm == 0] = 1
        return 1 - (x / nrm[:, None]) @ (x / nrm[:, None]).T
    if metric == "dot":
        return -(x @ x.T)
    sq = (x * x).sum(1)
    return np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0)


def awkward(kind, n, d, rng):
    if kind == "gaussian":
        return rng.standard_normal((n, d)).astype(np.float32)
    if kind == "ties":            # small integers: many exactly equal distances, duplicates, zero rows
        x = rng.integers(-2, 3, size=(n, d)).astype(np.float32)
        x[: n // 5] = x[n // 5: 2 * (n // 5)]
        x[-3:] = 0
        return x[rng.permutation(n)]
    if kind == "constant_columns":  # zero variance in most dimensions, offset from the origin
        x = np.full((n, d), 5.0, np.float32)
        x[:, :3] = rng.integers(0, 3, size=(n, 3))
        return x
    raise ValueError(kind)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("kind", ["gaussian", "ties", "constant_columns"])
@pytest.mark.parametrize("n, block", [(203, 16), (97, 97), (130, 50)])   # n not a multiple of the block
def test_candidates_are_the_true_nearest_within_the_bound(metric, kind, n, block):
    rng = np.random.default_rng(n + block)
    d = 40                                                   # l2 from 33 dims: the augmented form
    raw = awkward(kind, n, d, rng) + np.float32(2 if metric == "l2" else 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpacelensWarning)
        vec = prepare(raw, metric)
    center = column_mean(raw) if metric == "l2" else None
    target, norms = faiss_base(raw, vec, metric, center)
    kk = 23
    scores, cand = symmetric.symmetric_knn(target, kk, metric, block=block)
    fd = symmetric.distances(scores, metric)
    assert fd.shape == cand.shape == (n, kk) and (np.diff(fd, axis=1) >= 0).all()
    assert ((cand >= 0) & (cand < n)).all()
    assert all(len(set(row)) == kk for row in cand)          # no row offered twice
    x = faiss_rows(raw, vec, metric, center)                 # what the bound is stated for
    bound = search_tolerance(x, row_norms(x).max() if metric != "cosine" else 1.0, metric, augmented=False)
    true = exact_distances(raw, metric)
    got = np.take_along_axis(true, cand, axis=1)
    assert (np.abs(fd - got) <= bound[:, None]).all()         # each distance within the bound
    kth = np.sort(true, axis=1)[:, kk - 1]
    assert (got <= kth[:, None] + 2 * bound[:, None]).all()  # nothing nearer was left out


def _graphs(x, k, metric, monkeypatch, block):
    monkeypatch.setattr(symmetric, "BLOCK", block)
    rows = np.arange(len(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpacelensWarning)
        sym = ExactEngine(symmetric=True).build_graph(x, k, metric)
        flat = ExactEngine(symmetric=False).build_graph(x, k, metric)
    return sym, flat, brute(x, x, k, metric, rows)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("seed, d", [(0, 6), (1, 40), (2, 70)])
def test_engine_graph_is_brute_force_with_ties_and_duplicates(metric, seed, d, monkeypatch):
    # tied_data: duplicated rows (groups: candidates of each group), zero rows, exact ties
    x = tied_data(seed, d=d) + np.float32(3 if metric == "l2" else 0)
    for k in (1, 7, 25):
        sym, flat, (ref_idx, ref_dist) = _graphs(x, k, metric, monkeypatch, block=37)
        np.testing.assert_array_equal(sym.indices, ref_idx)
        np.testing.assert_array_equal(sym.indices, flat.indices)
        np.testing.assert_allclose(sym.distances, ref_dist, rtol=1e-6, atol=1e-6)
        same = (x[sym.indices] == x[:, None, :]).all(axis=2) & x[sym.indices].any(axis=2)
        assert metric == "dot" or (sym.distances[same] == 0).all()   # identical rows: exactly 0


@pytest.mark.parametrize("metric", METRICS)
def test_engine_graph_of_distinct_rows_and_zero_variance(metric, monkeypatch):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((301, 48)).astype(np.float32)      # no duplicates: no groups
    for k in (3, 30):
        sym, flat, (ref_idx, ref_dist) = _graphs(x, k, metric, monkeypatch, block=64)
        np.testing.assert_array_equal(sym.indices, ref_idx)
        np.testing.assert_array_equal(sym.indices, flat.indices)
        np.testing.assert_allclose(sym.distances, ref_dist, rtol=1e-5, atol=1e-5)
    same = np.tile(rng.standard_normal(48).astype(np.float32), (90, 1))   # every row the same
    sym, flat, (ref_idx, _) = _graphs(same, 5, metric, monkeypatch, block=16)
    np.testing.assert_array_equal(sym.indices, ref_idx)                  # lowest other rows
    assert metric == "dot" or (sym.distances == 0).all()


def test_duplicate_groups_know_every_rows_group():
    x = tied_data(3, d=5)
    g = duplicate_groups(x, 4)
    assert g.of_row.shape == (len(x),)
    np.testing.assert_array_equal(x[g.reps[g.of_row]], x)                # each row is its group's vector
    assert (g.reps[g.of_row] <= np.arange(len(x))).all()                 # the lowest row represents


def test_the_engine_takes_the_symmetric_path_by_its_rule(monkeypatch):
    calls = []
    real = symmetric.symmetric_knn
    monkeypatch.setattr("spacelens.neighbors.exact.symmetric_knn",
                        lambda *a, **kw: calls.append(a[0].shape) or real(*a, **kw))
    monkeypatch.setattr(symmetric, "BLOCK", 32)
    rng = np.random.default_rng(1)
    wide = rng.standard_normal((100, symmetric.MIN_DIM)).astype(np.float32)
    ExactEngine().build_graph(wide, 5, "cosine")
    assert len(calls) == 1                                         # self-graph, d >= MIN_DIM, n > block
    narrow = rng.standard_normal((100, symmetric.MIN_DIM - 1)).astype(np.float32)
    ExactEngine().build_graph(narrow, 5, "cosine")
    ExactEngine().search(wide[:50], wide, 5, "cosine")             # not a self-graph
    ExactEngine(symmetric=False).build_graph(wide, 5, "cosine")
    ExactEngine(symmetric=True).build_graph(wide[:, :20], 5, "l2")  # l2 below 33 dims: faiss's L2
    assert len(calls) == 1
    monkeypatch.setattr("spacelens.neighbors.exact._L2_COPY_MAX_BYTES", 0)   # no centred, augmented copy
    far = wide[:, :40] + np.float32(50)
    g = ExactEngine(symmetric=True).build_graph(far, 5, "l2")
    assert len(calls) == 1
    np.testing.assert_array_equal(g.indices, brute(far, far, 5, "l2", np.arange(len(far)))[0])
    assert symmetric.worth_it(10_000, 256, 59) and not symmetric.worth_it(10_000, 32, 59)
