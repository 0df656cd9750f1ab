"""The agreement family against references written here: overlap@k by brute force, CKNNA against a
dense implementation of Huh et al.'s formula, unbiased CKA against the debiased-HSIC formula."""

from __future__ import annotations

import numpy as np
import pytest

from spacelens.compare.agreement import (agreement_curve, cknna, edge_kernel, hsic_unbiased_sparse,
                                         kernel_from_distances, overlap)
from spacelens.compare.cka import cka_pair, linear_cka, unbiased_cka


def hsic_u_dense(K: np.ndarray, L: np.ndarray) -> float:
    """Song et al. (2012) eq. 5, written out on dense m x m matrices."""
    m = K.shape[0]
    K, L = K.copy(), L.copy()
    np.fill_diagonal(K, 0)
    np.fill_diagonal(L, 0)
    one = np.ones(m)
    val = np.trace(K @ L) + (one @ K @ one) * (one @ L @ one) / ((m - 1) * (m - 2)) - 2 / (m - 2) * (one @ K @ L @ one)
    return val / (m * (m - 3))


def topk_dense(K: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest off-diagonal entries per row (the paper: diagonal set to -inf)."""
    Kh = K.copy()
    np.fill_diagonal(Kh, -np.inf)
    return np.argsort(-Kh, axis=1, kind="stable")[:, :k]


def cknna_dense(A: np.ndarray, B: np.ndarray, k: int) -> float:
    """CKNNA as in platonic-rep (unbiased, distance-aware), with n x n masks."""
    n = len(A)
    K, L = A @ A.T, B @ B.T

    def sim(K, L):
        mk = np.zeros((n, n))
        ml = np.zeros((n, n))
        np.put_along_axis(mk, topk_dense(K, k), 1, axis=1)
        np.put_along_axis(ml, topk_dense(L, k), 1, axis=1)
        mask = mk * ml
        return hsic_u_dense(mask * K, mask * L)

    return sim(K, L) / np.sqrt(sim(K, K) * sim(L, L))


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _pair(n=60, d=8, noise=0.6, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, d))
    b = a @ rng.normal(size=(d, d + 3)) + noise * rng.normal(size=(n, d + 3))
    return _unit(a), _unit(b)


def test_overlap_brute_force():
    rng = np.random.default_rng(1)
    n, kmax = 40, 7
    a = np.array([rng.permutation([j for j in range(n) if j != i])[:kmax] for i in range(n)])
    b = np.array([rng.permutation([j for j in range(n) if j != i])[:kmax] for i in range(n)])
    b[:10] = a[:10]  # some identical rows
    for k in (1, 3, 7):
        ref = np.array([len(set(a[i, :k]) & set(b[i, :k])) / k for i in range(n)])
        assert np.allclose(overlap(a, b, k), ref)
        # per item J = o / (2 - o)
        cur = agreement_curve(a, b, [k])[k]
        assert np.allclose(cur["jaccard"], ref / (2 - ref), atol=1e-6)
    # missing neighbours never count
    a2 = a.copy()
    a2[0, :] = -1
    b2 = b.copy()
    b2[0, :] = -1
    assert overlap(a2, b2, 7)[0] == 0


def test_sparse_hsic_equals_dense_on_asymmetric_support():
    rng = np.random.default_rng(2)
    m = 25
    support = (rng.random((m, m)) < 0.3)
    np.fill_diagonal(support, False)
    S = np.where(support, rng.normal(size=(m, m)), 0.0)
    T = np.where(support, rng.normal(size=(m, m)), 0.0)
    i, j = np.nonzero(support)
    keys = i * m + j  # row-major: already sorted
    assert hsic_unbiased_sparse(keys, S[i, j], T[i, j], m) == pytest.approx(hsic_u_dense(S, T), rel=1e-10)


@pytest.mark.parametrize("k", [2, 5, 10])
@pytest.mark.parametrize("seed", [0, 1])
def test_cknna_equals_dense_formula(k, seed):
    a, b = _pair(seed=seed)
    ga, gb = topk_dense(a @ a.T, k), topk_dense(b @ b.T, k)
    ka, kb = edge_kernel(a, ga, normalize=True), edge_kernel(b, gb, normalize=True)
    assert cknna(ga, gb, ka, kb, k) == pytest.approx(cknna_dense(a, b, k), rel=1e-9, abs=1e-12)


def test_cknna_prefix_of_larger_graph_and_from_distances():
    a, b = _pair(seed=3)
    ga, gb = topk_dense(a @ a.T, 12), topk_dense(b @ b.T, 12)
    # the cosine distances of a graph give the same kernel values
    da = 1 - np.take_along_axis(a @ a.T, ga, axis=1)
    db = 1 - np.take_along_axis(b @ b.T, gb, axis=1)
    ka, kb = kernel_from_distances(da, "cosine"), kernel_from_distances(db, "cosine")
    curve = agreement_curve(ga, gb, [4, 12], ka, kb)
    for k in (4, 12):
        assert curve[k]["cknna"] == pytest.approx(cknna_dense(a, b, k), rel=1e-9)
    # identical spaces align perfectly; a rotation does not change it
    rot = np.linalg.qr(np.random.default_rng(0).normal(size=(8, 8)))[0]
    gr = topk_dense((a @ rot) @ (a @ rot).T, 12)
    assert cknna(ga, gr, ka, edge_kernel(a @ rot, gr, True), 12) == pytest.approx(1.0, abs=1e-9)


def test_cknna_near_zero_for_unrelated_spaces():
    rng = np.random.default_rng(5)
    a, b = _unit(rng.normal(size=(400, 6))), _unit(rng.normal(size=(400, 6)))
    ga, gb = topk_dense(a @ a.T, 10), topk_dense(b @ b.T, 10)
    v = cknna(ga, gb, edge_kernel(a, ga, True), edge_kernel(b, gb, True))
    assert abs(v) < 0.1
    related = cknna_dense(*_pair(n=400, seed=5), 10)
    assert related > 0.3


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_unbiased_cka_equals_debiased_hsic(precision):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(90, 6)) + 5.0          # not centred: HSIC_u must not care
    y = x @ rng.normal(size=(6, 9)) + rng.normal(size=(90, 9))
    K, L = x @ x.T, y @ y.T
    ref = hsic_u_dense(K, L) / np.sqrt(hsic_u_dense(K, K) * hsic_u_dense(L, L))
    tol = 1e-9 if precision == "float64" else 1e-5
    assert unbiased_cka(x, y, precision=precision, block=17) == pytest.approx(ref, rel=tol)
    # with row selection and normalisation (how compare calls it)
    rows = rng.permutation(90)[:50]
    xn, yn = _unit(x[rows]), _unit(y[rows])
    ref2 = hsic_u_dense(xn @ xn.T, yn @ yn.T) / np.sqrt(hsic_u_dense(xn @ xn.T, xn @ xn.T)
                                                       * hsic_u_dense(yn @ yn.T, yn @ yn.T))
    got = cka_pair(x, y, rows, rows, True, True, block=16, precision=precision)
    assert got["unbiased"] == pytest.approx(ref2, rel=tol)
    assert got["linear"] == pytest.approx(linear_cka(x, y, rows, rows, True, True), rel=1e-6)


def test_unbiased_cka_removes_the_high_dimension_bias():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 500)), rng.normal(size=(30, 500))
    both = cka_pair(x, y)
    assert both["linear"] > 0.8          # the biased estimator calls unrelated spaces similar
    assert abs(both["unbiased"]) < 0.15  # the debiased one does not
