"""compare through the registry, the API and the CLI, checked against brute force in float64."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import spacelens
from spacelens.api import open_registry
from spacelens.compare import compare_all, compare_spaces, load_comparison
from spacelens.compare.cka import linear_cka
from spacelens.compare.jaccard import chance_jaccard
from spacelens.errors import SpacelensError, SpacelensWarning

from test_compare_math import brute_knn, naive_cka, set_jaccard


def _add(home, vectors, name, csv=None, ids=None, dataset="items"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return spacelens.add(vectors, csv, dataset_name=dataset, experiment_name="exp", space_name=name, ids=ids,
                             home=home)


@pytest.fixture
def pair(home, labeled):
    """Spaces a, b (b = random map of a + noise) and a2 (a reseeded-like copy of a) over 300 items."""
    rng = np.random.default_rng(1)
    a = labeled.vectors
    b = (a @ rng.normal(size=(a.shape[1], 8)) + rng.normal(size=(len(a), 8))).astype(np.float32)
    a2 = (a + 0.8 * rng.normal(size=a.shape)).astype(np.float32)
    _add(home, a, "a", labeled.csv)
    _add(home, b, "b")
    _add(home, a2, "a2")
    return {"a": a, "b": b, "a2": a2, "ids": labeled.table["id"].to_numpy(), "home": home}


def test_matches_brute_force_float64_with_ties(home, tmp_path):
    rng = np.random.default_rng(2)
    n = 150
    pd.DataFrame({"id": [f"i{j}" for j in range(n)]}).to_csv(tmp_path / "t.csv", index=False)
    xa = rng.integers(-2, 3, size=(n, 4)).astype(np.float32)  # integer coordinates: many exact ties
    xb = (xa + rng.integers(-1, 2, size=xa.shape)).astype(np.float32)
    xa[7] = xa[8]  # a duplicated point
    _add(home, xa, "ta", tmp_path / "t.csv", dataset="ties")
    _add(home, xb, "tb", dataset="ties")
    reg = open_registry(home)
    for ma, mb in (("l2", "l2"), ("dot", "l2"), ("cosine", "cosine")):
        ga, gb = brute_knn(xa, 10, ma), brute_knn(xb, 10, mb)
        for inc in (False, True):
            res = compare_spaces(reg, "ta", "tb", k=10, metric_a=ma, metric_b=mb, include_self=inc, cka=False)
            ref = set_jaccard(ga, gb, 10, inc)
            np.testing.assert_allclose(res.jaccard, ref, rtol=1e-6)
            assert res.info["chance"] == pytest.approx(chance_jaccard(n, 10, inc))


def test_include_self_matches_seed_convention_and_inflates(pair):
    reg = open_registry(pair["home"])
    plain = compare_spaces(reg, "a", "b", k=10, cka=False)
    seed = compare_spaces(reg, "a", "b", k=10, include_self=True, cka=False)
    ga, gb = brute_knn(pair["a"], 10, "cosine"), brute_knn(pair["b"], 10, "cosine")
    np.testing.assert_allclose(plain.jaccard, set_jaccard(ga, gb, 10), rtol=1e-6)
    np.testing.assert_allclose(seed.jaccard, set_jaccard(ga, gb, 10, include_self=True), rtol=1e-6)
    assert seed.mean > plain.mean


def test_k_curve_equals_separate_runs_and_is_stored(pair):
    reg = open_registry(pair["home"])
    res = compare_spaces(reg, "a", "b", k="1,5,20")
    # no 10 in the curve and none marked: the headline is at the first k given
    assert res.k == 1 and res.info["k_max"] == 20 and sorted(res.per_k) == [1, 5, 20]
    np.testing.assert_array_equal(res.jaccard, res.per_k[1])
    for k in (1, 5, 20):
        single = compare_spaces(reg, "a", "b", k=k, cka=False, store=False)
        np.testing.assert_array_equal(res.per_k[k], single.jaccard)
        assert res.info["curve"][str(k)]["mean"] == pytest.approx(single.mean)
        stored = load_comparison(reg, "b", "a", k=k)  # the other way round
        assert stored is not None and stored.space_a == "b"
        np.testing.assert_array_equal(stored.jaccard, single.jaccard)
        np.testing.assert_array_equal(stored.rows, np.arange(300))
        assert stored.info["cka"] == pytest.approx(res.info["cka"])
    assert load_comparison(reg, "a", "b", k=7) is None
    # one cached graph per space, for the shared k_max (50 >= the largest k): project and evaluate reuse it
    graphs = reg.find_artifacts(kind="knn_graph")
    assert sorted(g.space for g in graphs) == ["a", "b"] and all(g.info["k_max"] == 50 for g in graphs)


def test_subsets_compare_on_shared_items(home, labeled):
    rng = np.random.default_rng(3)
    ids = labeled.table["id"].to_numpy()
    a = labeled.vectors
    b = (a @ rng.normal(size=(16, 12))).astype(np.float32) + rng.normal(size=(300, 12)).astype(np.float32)
    in_a = np.setdiff1d(np.arange(300), np.arange(0, 300, 7))  # a lacks every 7th item
    in_b = np.setdiff1d(np.arange(300), np.arange(3, 300, 5))  # b lacks every 5th (from 3)
    order = rng.permutation(len(in_b))  # ids given in shuffled order: the registry stores dataset order
    _add(home, a[in_a], "sa", labeled.csv, ids=ids[in_a])
    _add(home, b[in_b][order], "sb", ids=ids[in_b][order])
    _add(home, a, "full")
    reg = open_registry(home)
    shared = np.intersect1d(in_a, in_b)
    with pytest.warns(SpacelensWarning, match=f"{len(shared)} shared items, dropping "
                      f"{len(in_a) + len(in_b) - 2 * len(shared)}"):
        res = compare_spaces(reg, "sa", "sb", k=8)
    np.testing.assert_array_equal(res.rows, shared)
    np.testing.assert_array_equal(res.ids, ids[shared])
    ref = set_jaccard(brute_knn(a[shared], 8, "cosine"), brute_knn(b[shared], 8, "cosine"), 8)
    np.testing.assert_allclose(res.jaccard, ref, rtol=1e-6)
    assert res.info["n_dropped"] == len(in_a) + len(in_b) - 2 * len(shared)
    assert res.info["cka"] == pytest.approx(naive_cka(_norm(a[shared]), _norm(b[shared])), rel=1e-4)
    # sa covers exactly the items it shares with "full": its cached graph is used, "full" is searched on the subset
    with pytest.warns(SpacelensWarning):
        res2 = compare_spaces(reg, "full", "sa", k=8)
    assert res2.mean == pytest.approx(1.0)
    assert [g.space for g in reg.find_artifacts(kind="knn_graph")] == ["sa"]


def _norm(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_bad_input_errors(pair, tmp_path):
    reg = open_registry(pair["home"])
    with pytest.raises(SpacelensError, match="too large for 300 items"):
        compare_spaces(reg, "a", "b", k=300)
    with pytest.raises(SpacelensError, match="No space named 'nope'"):
        compare_spaces(reg, "a", "nope")
    pd.DataFrame({"id": [f"x{j}" for j in range(40)]}).to_csv(tmp_path / "o.csv", index=False)
    _add(pair["home"], np.ones((40, 3), np.float32), "other", tmp_path / "o.csv", dataset="otherset")
    with pytest.raises(SpacelensError, match="different datasets"):
        compare_spaces(reg, "a", "other")
    ids = pair["ids"]
    _add(pair["home"], pair["a"][:10], "first10", ids=ids[:10])
    _add(pair["home"], pair["a"][20:30], "mid10", ids=ids[20:30])
    with pytest.raises(SpacelensError, match="share no items"):
        compare_spaces(reg, "first10", "mid10")
    with pytest.raises(SpacelensError, match="k must be"):
        compare_spaces(reg, "a", "b", k="ten")
    with pytest.raises(SpacelensError, match="Unknown metric"):
        compare_spaces(reg, "a", "b", metric_a="manhattan")


def test_cka_in_result_equals_naive(pair):
    res = spacelens.compare("a", "b", k=5, metric_b="l2", home=pair["home"])
    assert res.info["cka"] == pytest.approx(naive_cka(_norm(pair["a"]), pair["b"].astype(np.float64)), rel=1e-5)


def test_sampled_estimate_interval_covers_exact_mean(pair):
    reg = open_registry(pair["home"])
    exact = compare_spaces(reg, "a", "b", k=10, cka=False)
    covered, trials = 0, 30
    for seed in range(trials):
        s = compare_spaces(reg, "a", "b", k=10, sample=50, seed=seed, cka=False)
        np.testing.assert_allclose(s.jaccard, exact.jaccard[s.rows], rtol=1e-6)  # sampled items are exact
        lo, hi = s.info["sample"]["ci95"]
        covered += lo <= exact.mean <= hi
    assert covered >= 0.85 * trials
    assert load_comparison(reg, "a", "b", k=10).info.get("sample") is None  # samples are not stored


def test_approx_reports_recall_and_stays_close(pair):
    reg = open_registry(pair["home"])
    exact = compare_spaces(reg, "a", "b", k=10, cka=False)
    approx = compare_spaces(reg, "a", "b", k=10, approx=True, engine_params={"nlist": 8, "nprobe": 1}, cka=False)
    r = approx.info["recall"]
    assert approx.info["engine"] == "ivf" and 0 < r["a"] <= 1 and 0 < r["b"] <= 1
    assert abs(approx.mean - exact.mean) <= r["max_error"] + 1e-9
    full = compare_spaces(reg, "a", "b", k=10, approx=True, engine_params={"nprobe": 64}, cka=False)
    assert full.info["recall"]["a"] == 1.0 and full.mean == pytest.approx(exact.mean)


def test_baseline_is_a_vs_a2(pair):
    res = spacelens.compare("a", "b", k=10, baseline="a2", cka=False, home=pair["home"])
    direct = spacelens.compare("a", "a2", k=10, cka=False, home=pair["home"])
    assert res.baseline.mean == pytest.approx(direct.mean)
    assert res.info["baseline_reading"].startswith("a vs b") or "a agrees more" in res.info["baseline_reading"]
    assert f"{direct.mean:.3f}" in res.info["baseline_reading"]


def test_compare_all_matrix_equals_pairs_and_builds_one_graph_per_space(pair):
    reg = open_registry(pair["home"])
    mat = compare_all(reg, "items", k=10)
    assert mat.spaces == ["a", "b", "a2"]
    assert len(reg.find_artifacts(kind="knn_graph")) == 3
    for i, x in enumerate(mat.spaces):
        for j, y in enumerate(mat.spaces):
            if i != j:
                ref = set_jaccard(brute_knn(pair[x], 10, "cosine"), brute_knn(pair[y], 10, "cosine"), 10).mean()
                assert mat.jaccard[i, j] == pytest.approx(ref, abs=1e-6)
                assert mat.cka[i, j] == pytest.approx(linear_cka(pair[x], pair[y], normalize_x=True,
                                                                 normalize_y=True))
    assert load_comparison(reg, "a2", "b", k=10).mean == pytest.approx(mat.jaccard[1, 2])


def test_cli_compare_prints_the_api_result(pair, cli, tmp_path):
    api_res = spacelens.compare("a", "b", k=[5, 10], home=pair["home"])
    png = tmp_path / "h.png"
    out = tmp_path / "items.parquet"
    r = cli("compare", "a", "b", "-k", "5,10", "--histogram", png, "--export", out, "--precompute",
            "-ma", "cosine", "-mb", "cosine", check=True)
    assert f"{api_res.mean:.4f}" in r.out and "k curve" in r.out and "chance level" in r.out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    assert matplotlib.image.imread(str(png)).shape[2] in (3, 4)
    df = pd.read_parquet(out)
    assert list(df.columns[:3]) == ["id", "row", "jaccard"]
    np.testing.assert_allclose(df["jaccard"], api_res.jaccard)
    np.testing.assert_allclose(df["jaccard_k5"], api_res.per_k[5])
    j = cli("compare", "a", "b", "--json", "--baseline", "a2", check=True).json()
    assert j["similarity"] == pytest.approx(spacelens.compare("a", "b", home=pair["home"]).mean)
    assert j["baseline"]["space_b"] == "a2" and "reading" not in j and j["baseline_reading"]
    assert len(j["items"]["jaccard"]) == 300 and j["items"]["id"][0] == pair["ids"][0]


def test_cli_all_heatmap_and_errors(pair, cli, tmp_path):
    hm = tmp_path / "m.png"
    j = cli("compare", "--all", "items", "--heatmap", hm, "--no-cka", "--json", check=True).json()
    mat = spacelens.compare_all("items", cka=False, home=pair["home"])
    np.testing.assert_allclose(np.array(j["jaccard"], dtype=float), mat.jaccard)
    assert hm.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = cli("compare", "a", "b", "-k", "300")
    assert bad.code == 1 and "too large" in bad.err and "Traceback" not in bad.err
