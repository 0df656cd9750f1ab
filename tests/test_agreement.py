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


# -- through the registry and the API -------------------------------------------------------------

import warnings  # noqa: E402


import spacelens  # noqa: E402
from spacelens.compare.insight import agreement_by_group, label_composition  # noqa: E402
from spacelens.errors import SpacelensError  # noqa: E402


def _add(home, vectors, name, csv=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return spacelens.add(vectors, csv, dataset_name="items", experiment_name="exp", space_name=name, home=home)


@pytest.fixture
def spaces(home, labeled):
    """a, b (b: class 0 and 1 pulled together, noise elsewhere) and a2 (a with a little noise)."""
    rng = np.random.default_rng(3)
    a = labeled.vectors.astype(np.float64)
    b = a + 0.9 * rng.normal(size=a.shape)
    centers = np.array([a[labeled.labels == c].mean(0) for c in range(5)])
    b[labeled.labels == 1] += centers[0] - centers[1]   # class 1 moves onto class 0 in b
    a2 = a + 0.3 * rng.normal(size=a.shape)
    for x, name in ((a, "a"), (b, "b"), (a2, "a2")):
        _add(home, x.astype(np.float32), name, labeled.csv if name == "a" else None)
    return {"a": a.astype(np.float32), "b": b.astype(np.float32), "a2": a2.astype(np.float32),
            "labels": labeled.labels, "ids": labeled.table["id"].to_numpy(), "home": home}


def _brute_graph(x, k):
    return topk_dense(_unit(x.astype(np.float64)) @ _unit(x.astype(np.float64)).T, k)


def test_compare_reports_the_family_per_k(spaces):
    res = spacelens.compare("a", "b", k="3,10", home=spaces["home"])
    ga, gb = _brute_graph(spaces["a"], 10), _brute_graph(spaces["b"], 10)
    for k in (3, 10):
        over = np.mean([len(set(ga[i, :k]) & set(gb[i, :k])) / k for i in range(len(ga))])
        cur = res.info["curve"][str(k)]
        assert cur["overlap"] == pytest.approx(over, abs=1e-6)
        a64, b64 = _unit(spaces["a"].astype(np.float64)), _unit(spaces["b"].astype(np.float64))
        assert cur["cknna"] == pytest.approx(cknna_dense(a64, b64, k), abs=1e-4)
    xa, xb = _unit(spaces["a"].astype(np.float64)), _unit(spaces["b"].astype(np.float64))
    K, L = xa @ xa.T, xb @ xb.T
    ref = hsic_u_dense(K, L) / np.sqrt(hsic_u_dense(K, K) * hsic_u_dense(L, L))
    assert res.info["cka_unbiased"] == pytest.approx(ref, rel=1e-4)
    d = res.to_dict()
    assert d["overlap"] == pytest.approx(res.info["curve"]["10"]["overlap"])
    assert set(d["curve"]["10"]) >= {"mean", "overlap", "cknna"}


def test_baseline_difference_paired_over_items(spaces):
    res = spacelens.compare("a", "b", k="5,10", baseline="a2", cka=False, home=spaces["home"])
    bd = res.info["baseline_difference"]
    for k in ("5", "10"):
        d = res.per_k[int(k)].astype(np.float64) - res.baseline.per_k[int(k)].astype(np.float64)
        entry = bd[k]["jaccard"]
        assert entry["difference"] == pytest.approx(d.mean(), abs=1e-9)
        half = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
        assert entry["ci95"][0] == pytest.approx(d.mean() - half, rel=0.01)
        assert entry["ci95"][1] < 0            # b is far from a; a2 is a's near copy
        assert "beyond run-to-run noise" in bd[k]["reading"]
    # against itself: no difference, the interval holds 0
    same = spacelens.compare("a", "a2", k=10, baseline="a2", cka=False, home=spaces["home"])
    entry = same.info["baseline_difference"]["10"]["jaccard"]
    assert entry["difference"] == 0 and entry["p_value"] == 1.0


def test_by_group_equals_brute_force(spaces):
    res = spacelens.compare("a", "b", k=10, by="label", cka=False, home=spaces["home"])
    by = res.info["by"]
    labels = spaces["labels"]
    for g in by["groups"]:
        vals = res.jaccard[labels == g["group"]].astype(np.float64)
        assert g["n"] == len(vals)
        assert g["mean"] == pytest.approx(vals.mean(), abs=1e-9)
        assert g["ci95"][0] <= g["mean"] <= g["ci95"][1]
    means = [g["mean"] for g in by["groups"]]
    assert means == sorted(means)
    assert by["least"][0]["group"] in (0, 1)     # the classes that moved agree least
    with pytest.raises(SpacelensError, match="no column 'nope'"):
        spacelens.compare("a", "b", k=10, by="nope", cka=False, home=spaces["home"])


def test_agreement_by_group_hand_example():
    out = agreement_by_group([0.1, 0.3, 0.5, 0.9, 1.0], ["x", "x", "y", "y", None])
    g = {r["group"]: r for r in out["groups"]}
    assert g["x"]["mean"] == pytest.approx(0.2) and g["y"]["mean"] == pytest.approx(0.7)
    assert out["n_missing"] == 1 and out["most"][0]["group"] == "y"


def test_neighbour_changes_and_changed_items(spaces):
    res = spacelens.compare("a", "b", k=10, cka=False, home=spaces["home"])
    ga, gb = _brute_graph(spaces["a"], 10), _brute_graph(spaces["b"], 10)
    ids = spaces["ids"]
    for i in (0, 17, 299):
        ch = spacelens.neighbour_changes(res, id=ids[i], home=spaces["home"])
        assert [x["id"] for x in ch["kept"]] == [ids[j] for j in ga[i] if j in set(gb[i])]
        assert [x["id"] for x in ch["lost"]] == [ids[j] for j in ga[i] if j not in set(gb[i])]
        assert [x["id"] for x in ch["gained"]] == [ids[j] for j in gb[i] if j not in set(ga[i])]
    by_name = spacelens.neighbour_changes("a", "b", ids[5], k=4, home=spaces["home"])
    assert [x["id"] for x in by_name["kept"] + by_name["lost"]] == [ids[j] for j in ga[5, :4]
                                                                    if j in set(gb[5, :4])] + \
        [ids[j] for j in ga[5, :4] if j not in set(gb[5, :4])]
    df = spacelens.changed_items(res, columns=["label"], home=spaces["home"])
    assert list(df["jaccard"]) == sorted(df["jaccard"])
    kept = np.array([len(set(ga[i]) & set(gb[i])) for i in range(len(ga))])
    assert (df["kept"].to_numpy() == kept[df["row"].to_numpy()]).all()
    assert (df["changed"] == 10 - df["kept"]).all()
    assert (df["label"].to_numpy() == spaces["labels"][df["row"].to_numpy()]).all()
    with pytest.raises(SpacelensError, match="not among"):
        spacelens.neighbour_changes(res, id="nope", home=spaces["home"])


def test_composition_brute_force(spaces):
    out = spacelens.composition("a", "b", label_field="label", k=10, home=spaces["home"])
    labels = spaces["labels"]
    for name, x in (("composition_a", spaces["a"]), ("composition_b", spaces["b"])):
        g = _brute_graph(x, 10)
        for c in range(5):
            nl = labels[g[labels == c]].ravel()
            ref = [(nl == c2).mean() for c2 in range(5)]
            assert np.allclose(out[name][c], ref, atol=1e-6)
    top = out["pairs"][0]
    assert (top["class"], top["neighbour_class"]) == (1, 0)   # class 1 was moved onto class 0
    assert top["share_b"] > top["share_a"] + 0.2
    assert out["sentences"][0].startswith("in b, ") and "of class 1's neighbours are class 0" in out["sentences"][0]


def test_label_composition_hand_example():
    g = np.array([[1, 2], [0, 2], [0, -1]])
    comp = label_composition(g, np.array([0, 0, 1]), np.array([0, 0, 1]), 2)
    # class 0 items (0, 1): neighbour labels 0,1,0,1 -> 50/50; class 1 item 2: neighbour 0 only
    assert np.allclose(comp, [[0.5, 0.5], [1.0, 0.0]])


def test_cli_compare_by_and_json(cli, spaces):
    j = cli("compare", "a", "b", "-k", "5,10", "--baseline", "a2", "--by", "label", "--json", "--no-items",
            check=True).json()
    assert set(j["curve"]["10"]) >= {"mean", "overlap", "cknna", "overlap_chance"}
    assert j["cka_unbiased"] is not None and j["overlap"] == j["curve"]["10"]["overlap"]
    assert j["baseline_difference"]["10"]["jaccard"]["ci95"][1] < 0
    assert [g["group"] for g in j["by"]["groups"]][:1] == [j["by"]["least"][0]["group"]]
    txt = " ".join(cli("compare", "a", "b", "-k", "10", "--baseline", "a2", "--by", "label", check=True).out.split())
    assert "overlap@k" in txt and "CKNNA" in txt and "beyond run-to-run noise" in txt and "agreement by label" in txt


def test_cknna_counts_a_repeated_neighbour_once():
    a, b = _pair(seed=8)
    ga, gb = topk_dense(a @ a.T, 6), topk_dense(b @ b.T, 6)
    ka, kb = edge_kernel(a, ga, True), edge_kernel(b, gb, True)
    ref = cknna(ga, gb, ka, kb, 6)
    ga2, ka2 = np.concatenate([ga, ga[:, :1]], axis=1), np.concatenate([ka, ka[:, :1]], axis=1)
    gb2, kb2 = np.concatenate([gb, gb[:, :1]], axis=1), np.concatenate([kb, kb[:, :1]], axis=1)
    assert cknna(ga2, gb2, ka2, kb2, 7) == pytest.approx(ref, rel=1e-12)


def test_row_search_and_mutual_pairs_brute_force():
    from spacelens.compare.agreement import _mutual_pairs, _mutual_pairs_search, _sorted_rows, row_search

    rng = np.random.default_rng(11)
    n, k = 30, 6
    g = np.array([rng.choice([j for j in range(n) if j != i], size=k, replace=False) for i in range(n)])
    g[3, 2] = -1                                   # a missing neighbour
    g[4, 5] = g[4, 0]                              # a repeated one
    gs, _ = _sorted_rows(g, np.ones(g.shape), k)
    rows, vals = rng.integers(0, n, 500), rng.integers(0, n, 500)
    found = row_search(gs, rows, vals)
    for r, v, f in zip(rows, vals, found):
        ref = [c for c in range(k) if gs[r, c] == v]
        assert (f == ref[0]) if ref else f == -1, (r, v, f)
    support = gs < n
    ref = {(i * k + c, int(gs[i, c]) * k + list(gs[gs[i, c]]).index(i))
           for i in range(n) for c in range(k) if support[i, c] and i < gs[i, c] and i in set(gs[gs[i, c]])}
    for fn in (_mutual_pairs, _mutual_pairs_search):
        p, q = fn(gs, support)
        assert set(zip(p.tolist(), q.tolist())) == ref and len(p) == len(ref) > 0


def test_cknna_without_packing_equals_dense_formula(monkeypatch):
    """The path for graphs too large to pack edges into 64 bits (binary searches in sorted rows)."""
    from spacelens.compare import agreement

    monkeypatch.setattr(agreement, "_fits_pack", lambda n, k: False)
    a, b = _pair(seed=9)
    for k in (3, 8):
        ga, gb = topk_dense(a @ a.T, k), topk_dense(b @ b.T, k)
        ka, kb = edge_kernel(a, ga, True), edge_kernel(b, gb, True)
        assert cknna(ga, gb, ka, kb, k) == pytest.approx(cknna_dense(a, b, k), rel=1e-9)
        ga2, ka2 = np.concatenate([ga, ga[:, :1]], axis=1), np.concatenate([ka, ka[:, :1]], axis=1)
        gb2, kb2 = np.concatenate([gb, gb[:, :1]], axis=1), np.concatenate([kb, kb[:, :1]], axis=1)
        assert cknna(ga2, gb2, ka2, kb2, k + 1) == pytest.approx(cknna_dense(a, b, k), rel=1e-9)



def test_packed_edge_match_brute_force():
    from spacelens.compare.agreement import _columns_in

    rng = np.random.default_rng(12)
    n, k = 40, 6
    ga = rng.integers(-1, n, size=(n, k))            # missing (-1) and repeated neighbours included
    gb = np.where(rng.random((n, k)) < 0.5, ga[:, rng.permutation(k)], rng.integers(-1, n, size=(n, k)))
    in_a, in_b = ga >= 0, gb >= 0
    out = _columns_in(ga, in_a, gb, in_b)
    # brute force: the first copy of each neighbour of A's row, matched to its first column in B's row
    for i in range(n):
        for c in range(k):
            j = ga[i, c]
            first_a = j >= 0 and list(ga[i]).index(j) == c
            ref = next((d for d in range(k) if gb[i, d] == j), -1) if first_a else -1
            assert out[i, c] == ref and in_a[i, c] == first_a
        assert [in_b[i, d] for d in range(k)] == [gb[i, d] >= 0 and list(gb[i]).index(gb[i, d]) == d for d in range(k)]


# -- overlap@k by chance, with and without self ----------------------------------------------

def _random_graph(rng, n, k):
    """Each row: k distinct random other rows (self excluded), as a kNN graph of unrelated points."""
    r = rng.random((n, n))
    np.fill_diagonal(r, np.inf)
    return np.argsort(r, axis=1)[:, :k]


@pytest.mark.parametrize("include_self", [False, True])
@pytest.mark.parametrize("n, k", [(300, 10), (40, 7), (12, 5)])
def test_overlap_chance_against_simulation_and_formula(n, k, include_self):
    """The chance level the compare output prints beside overlap@k: the mean overlap@k of random
    neighbour lists, measured the way compare measures overlap (core._overlap: with self, self is
    one of the k and the other k - 1 are the graph's), and the hand-worked formula: k / (n - 1),
    or (1 + (k - 1)^2 / (n - 1)) / k with self (0.127 at n = 300, k = 10, not 9 / 299 = 0.030)."""
    from spacelens.compare.core import _overlap
    from spacelens.compare.jaccard import chance_overlap

    rng = np.random.default_rng(n * 100 + k)
    m = k - 1 if include_self else k
    values = np.concatenate([_overlap(_random_graph(rng, n, m), _random_graph(rng, n, m), k, include_self)
                             for _ in range(max(20, 12_000 // n))]).astype(np.float64)
    se = values.std() / np.sqrt(len(values))
    want = chance_overlap(n, k, include_self)
    assert abs(values.mean() - want) < 4 * se + 1e-12
    hand = (1 + (k - 1) ** 2 / (n - 1)) / k if include_self else k / (n - 1)
    assert want == pytest.approx(hand, rel=1e-12)
    if (n, k) == (300, 10):
        assert want == pytest.approx(0.1271 if include_self else 0.0334, abs=1e-4)


def test_compare_prints_the_overlap_chance_of_its_convention(spaces, cli):
    from spacelens.compare.jaccard import chance_overlap

    n = len(spaces["a"])
    for include_self in (False, True):
        res = spacelens.compare("a", "b", k="3,10", include_self=include_self, home=spaces["home"])
        for k in (3, 10):
            assert res.info["curve"][str(k)]["overlap_chance"] == pytest.approx(chance_overlap(n, k, include_self))
    j = cli("compare", "a", "b", "-k", "10", "--include-self", "--json", "--no-items", check=True).json()
    assert j["curve"]["10"]["overlap_chance"] == pytest.approx((1 + 81 / (n - 1)) / 10)


def test_cka_says_which_rows_it_was_computed_on(spaces, cli):
    """Under cosine CKA is taken on L2-normalised rows (Huh et al.'s pipeline), under l2 on the raw
    rows: the value differs, and the CLI and the report say which."""
    from spacelens.compare.cka import cka_rows, linear_cka
    from spacelens.report.content import summary

    a, b = spaces["a"].astype(np.float64), spaces["b"].astype(np.float64)
    cos = spacelens.compare("a", "b", k=10, home=spaces["home"]).info["cka"]
    raw = spacelens.compare("a", "b", k=10, metric_a="l2", metric_b="l2", home=spaces["home"]).info["cka"]
    assert cos == pytest.approx(linear_cka(_unit(a), _unit(b)), abs=1e-6)
    assert raw == pytest.approx(linear_cka(a, b), abs=1e-6) and abs(cos - raw) > 1e-4
    assert (cka_rows("cosine"), cka_rows("l2", "dot")) == ("on L2-normalised rows", "on raw rows")
    assert cka_rows("cosine", "l2") == "on A's rows L2-normalised, B's raw"
    out = " ".join(cli("compare", "a", "b", "-k", "10", check=True).out.split())
    assert "linear CKA" in out and "on L2-normalised rows" in out
    out = " ".join(cli("compare", "a", "b", "-k", "10", "-m", "l2", check=True).out.split())
    assert "on raw rows" in out and "L2-normalised" not in out
    c = {"space_a": "a", "space_b": "b", "k": 10, "settings": {"metric_a": "cosine", "metric_b": "cosine"},
         "agreement": {"curve": {}, "cknna": 0.5, "cka": 0.7, "cka_unbiased": 0.6}}
    assert "CKA on L2-normalised rows, as Huh et al., not Kornblith et al.'s raw features" in " ".join(summary(c))
