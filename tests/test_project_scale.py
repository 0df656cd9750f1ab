"""Maps at scale: faithfulness from a random sample of items (never a graph built only to score a
map), UMAP from the shared cached graph, and the sampled estimate's CI against brute force."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import spacelens
from spacelens.stats import mean_ci
from spacelens.neighbors import cache as ncache
from spacelens.project.faithfulness import sample_items, sampled_faithfulness
from spacelens.registry import Registry
from test_project import _add, _brute_knn, _manifold_clusters, _unit


def _brute_faithfulness(x, coords, k, metric):
    """Per-item kNN preservation and trustworthiness from full float64 distance matrices."""
    n = len(x)
    high = _brute_knn(x, k, metric)
    low = _brute_knn(coords, k, "l2")
    pres = np.array([len(set(h) & set(lo)) / k for h, lo in zip(high, low)])
    xf = _unit(x) if metric == "cosine" else np.asarray(x, np.float64)
    d = 1 - xf @ xf.T if metric == "cosine" else ((xf[:, None] - xf[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    rank = np.empty((n, n), np.int64)
    rank[np.arange(n)[:, None], np.argsort(d, axis=1, kind="stable")] = np.arange(1, n + 1)
    penalty = np.maximum(np.take_along_axis(rank, low, axis=1) - k, 0).sum(1)
    trust = 1 - 2.0 / (k * (2.0 * n - 3.0 * k - 1.0)) * penalty
    return pres, trust


def _add_plain(home, x, name="s"):
    table = pd.DataFrame({"id": [f"i{i}" for i in range(len(x))]})
    return _add(home, x, table, name=name)


def _clustered(n=900, d=12, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 6, n)
    return (rng.normal(size=(6, d))[labels] * 1.5 + rng.normal(size=(n, d))).astype(np.float32)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_pca_faithfulness_from_a_sample_builds_no_graph(home, monkeypatch, metric):
    from sklearn.manifold import trustworthiness as sk_trust

    x = _clustered()
    _add_plain(home, x)
    monkeypatch.setattr(ncache, "knn_graph", lambda *a, **k: pytest.fail("a kNN graph was built"))
    p = spacelens.project("s", method="pca", metric=metric, k=10, trust_sample=150, home=home)
    reg = Registry(home)
    assert reg.find_artifacts(kind="knn_graph", space="s") == []
    pres, trust = _brute_faithfulness(x, p.coords, 10, metric)
    assert trust.mean() == pytest.approx(sk_trust(x.astype(np.float64), p.coords.astype(np.float64), n_neighbors=10,
                                                  metric="cosine" if metric == "cosine" else "euclidean"), abs=1e-9)
    rows = sample_items(len(x), 150)
    f = p.faithfulness
    assert f["n_items"] == 150 and f["sampled"] and f["per_item"] == "sampled items only"
    # the sampled items' values are their exact full-space values; the rest are not claimed
    np.testing.assert_allclose(p.per_item[rows], pres[rows], atol=1e-6)
    np.testing.assert_allclose(p.trust_per_item[rows], trust[rows], atol=1e-6)
    assert np.isnan(np.delete(p.per_item, rows)).all() and np.isnan(np.delete(p.trust_per_item, rows)).all()
    assert f["knn_preservation"] == pytest.approx(pres[rows].mean(), abs=1e-6)
    assert f["trustworthiness"] == pytest.approx(trust[rows].mean(), abs=1e-6)
    assert f["knn_preservation_ci95"] == pytest.approx(list(mean_ci(pres[rows], population=len(x))[1:]), abs=1e-6)
    assert f["trustworthiness_ci95"][0] < f["trustworthiness"] < f["trustworthiness_ci95"][1]


def test_sampled_faithfulness_ci_covers_the_full_value_at_about_the_nominal_rate():
    """300 seeds: the 95% intervals of both measures hold the brute-force full mean about 95% of the time."""
    x = _clustered(n=700, seed=1)
    rng = np.random.default_rng(2)
    coords = (x[:, :2] + 0.8 * rng.normal(size=(len(x), 2))).astype(np.float32)   # a lossy map
    pres, trust = _brute_faithfulness(x, coords, 10, "l2")
    one = sampled_faithfulness(x, x, coords, "l2", 10, sample=60, seed=4)     # the estimator, end to end
    np.testing.assert_allclose(one["preservation"], pres[one["rows"]], atol=1e-6)
    np.testing.assert_allclose(one["trust"], trust[one["rows"]], atol=1e-9)
    hits = np.zeros(2)
    seeds = 300
    for seed in range(seeds):
        rows = sample_items(len(x), 60, seed)
        for j, (values, full) in enumerate(((pres, pres.mean()), (trust, trust.mean()))):
            _, lo, hi = mean_ci(values[rows], population=len(x))
            hits[j] += lo <= full <= hi
    rates = hits / seeds
    assert ((0.91 <= rates) & (rates <= 0.985)).all(), rates
    assert pres.std() > 0.05 and trust.std() > 0.01   # values that vary from item to item


def test_umap_reuses_the_shared_graph_compare_built(home, tmp_path, monkeypatch):
    import umap

    x, csv, _ = _manifold_clusters(tmp_path)
    _add(home, x, csv)
    _add(home, x[:, ::-1].copy(), csv, name="t")
    spacelens.compare("s", "t", k=10, home=home)         # builds the shared graphs (k_max 50)
    reg = Registry(home)
    before = [(a.id, a.info["k_max"]) for a in reg.find_artifacts(kind="knn_graph", space="s")]
    assert [k for _, k in before] == [50]
    seen = {}
    real_init = umap.UMAP.__init__

    def spy(self, *a, **kw):
        seen["knn"] = kw.get("precomputed_knn")
        real_init(self, *a, **kw)

    monkeypatch.setattr(umap.UMAP, "__init__", spy)
    monkeypatch.setattr(ncache.AutoEngine, "build_graph", lambda *a, **k: pytest.fail("graph rebuilt"))
    p = spacelens.project("s", method="umap", n_neighbors=30, k=10, trust_sample=100, home=home)
    assert [(a.id, a.info["k_max"]) for a in reg.find_artifacts(kind="knn_graph", space="s")] == before
    np.testing.assert_array_equal(seen["knn"][0][:, 1:], reg.load_artifact(reg.find_artifacts(
        kind="knn_graph", space="s")[0], "indices")[:, :29])
    # per-item preservation of every item from the exact shared graph: the exact full values
    pres = np.array([len(set(h) & set(lo)) / 10 for h, lo in zip(_brute_knn(x, 10, "cosine"),
                                                                  _brute_knn(p.coords, 10, "l2"))])
    np.testing.assert_allclose(p.per_item, pres, atol=1e-6)
    assert p.faithfulness["knn_preservation"] == pytest.approx(pres.mean(), abs=1e-6)
    assert p.faithfulness["per_item"] == "exact kNN graph" and p.faithfulness["n_items"] == 100


def test_pca_uses_a_stored_graph_for_every_item(home):
    x = _clustered(n=400, seed=3)
    _add_plain(home, x)
    reg = Registry(home)
    from spacelens.neighbors import knn_graph

    knn_graph(reg, "s", 10, "cosine", engine="exact")
    p = spacelens.project("s", method="pca", k=10, trust_sample=50, home=home)
    pres, _ = _brute_faithfulness(x, p.coords, 10, "cosine")
    np.testing.assert_allclose(p.per_item, pres, atol=1e-6)
    assert p.faithfulness["knn_preservation_items"] == 400 and p.faithfulness["n_items"] == 50
    assert len(reg.find_artifacts(kind="knn_graph", space="s")) == 1


def test_cli_prints_ci_and_sample_size(home, cli, tmp_path):
    x = _clustered(n=500, seed=5)
    np.save(tmp_path / "x.npy", x)
    pd.DataFrame({"id": [f"i{i}" for i in range(len(x))]}).to_csv(tmp_path / "t.csv", index=False)
    cli("add", "-e", tmp_path / "x.npy", "-d", tmp_path / "t.csv", "--dataset-name", "items", "--experiment-name", "e", "--space-name", "s",
        check=True)
    out = cli("project", "s", "--method", "pca", "--sample", "120", check=True).out
    assert "estimated on 120 random items of 500" in out and "95% CI" in out
    js = cli("project", "s", "--method", "pca", "--sample", "120", "--json", check=True).json()
    f = js["maps"]["pca"]["faithfulness"]
    assert f["n_items"] == 120 and f["knn_preservation_ci95"][0] <= f["knn_preservation"] <= f["knn_preservation_ci95"][1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_rank_penalties_equal_a_brute_force_count(monkeypatch, dtype):
    """The one-pass kernel used at scale and the numpy passes used below it both equal ranks
    counted one by one, with ties everywhere (scores on a coarse grid, repeated thresholds)."""
    from spacelens.project import faithfulness as fa

    rng = np.random.default_rng(3)
    d = rng.integers(0, 40, size=(37, 500)).astype(dtype)     # many equal scores
    d[np.arange(37), rng.integers(0, 500, 37)] = np.inf           # self, as trustworthiness sets it
    cols = np.stack([rng.choice(500, 7, replace=False) for _ in range(37)])
    dj = np.take_along_axis(d, cols, axis=1)
    dj[:, 3] = dj[:, 2]                                           # two map neighbours tied in score
    dj[dj == np.inf] = 5
    k = dj.shape[1]
    want = np.array([sum(max(0, int((row < t).sum()) + 1 - k) for t in ts) for row, ts in zip(d, dj)], float)
    monkeypatch.setattr(fa, "_COMPILED_RANKS_MIN", 1 << 60)
    np.testing.assert_array_equal(fa.rank_penalties(d, dj), want)
    monkeypatch.setattr(fa, "_COMPILED_RANKS_MIN", 0)
    np.testing.assert_array_equal(fa.rank_penalties(d, dj), want)


def _awkward_space(metric, n=1200, d=40, seed=3, duplicates=False):
    """Clusters with near-ties the float32 product cannot separate (rows 1e-6 apart), copies
    of one row scaled by 2..21 (equal cosine distances), a zero row; with ``duplicates``,
    also 30 identical rows."""
    x = _clustered(n, d, seed)
    x[10:30] = x[5] * np.arange(2, 22, dtype=np.float32)[:, None]
    x[40:60] = x[7] + np.float32(1e-6) * np.random.default_rng(seed).normal(size=(20, d)).astype(np.float32)
    x[100] = 0.0
    if duplicates:
        x[200:230] = x[3]
    if metric == "l2":
        x += np.float32(20.0)          # off the origin: the search centres, the old ranks do not
    return x


def _integer_space(n=1200, d=40, seed=3):
    """Small integers, mirrored (rows and their negatives: the column mean is exactly 0, then
    exactly 20 after the offset) and a zero row: every float32 product, the centring and the
    augmented l2 rows are exact, so any two ways of ranking l2 distances agree bit for bit,
    ties (many) included."""
    a = np.random.default_rng(seed).integers(-3, 4, size=(n // 2, d)).astype(np.float32)
    return np.concatenate([a, -a, np.zeros((1, d), np.float32)]) + np.float32(20)


def _spy_neighbours(monkeypatch):
    """Record the exact neighbours sampled_faithfulness finds (the first argument of knn_preservation)."""
    from spacelens.project import faithfulness as F

    seen = []
    real = F.knn_preservation
    monkeypatch.setattr(F, "knn_preservation", lambda high, low: seen.append(np.array(high)) or real(high, low))
    return seen


@pytest.mark.parametrize("metric", ["cosine", "l2", "dot"])
@pytest.mark.parametrize("sample", [None, 300])
def test_one_product_faithfulness_equals_two_products(monkeypatch, metric, sample):
    """The sampled items' exact neighbours and their map neighbours' ranks come from one
    product (the exact search's scores, seen block by block): the neighbours must be
    exact_search's to the last row, the per-item trustworthiness the separate product's (13
    blocks of 97 items: block boundaries), on near-ties, scaled copies and a zero row.
    l2: the search centres the rows (and ranks as an augmented inner product), the separate
    product does not, so at float32 near-ties their ranks may differ (the centred ones are
    closer to float64's); on exactly representable integer data with many exact ties they
    must agree. (cosine, dot: the same float32 GEMM of the same rows, bit for bit.)"""
    import warnings

    from spacelens.neighbors import exact_search, prepare
    from spacelens.project import faithfulness as F

    x = _awkward_space(metric) if metric != "l2" else _integer_space()
    n, k = len(x), 10
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # the zero row's warning
        px = prepare(x, metric)
        coords = np.random.default_rng(0).normal(size=(n, 2)) + x[:, :2]
        monkeypatch.setattr(F, "_BLOCK_ELEMENTS", 97 * n)    # both paths: same blocks, same GEMM roundings
        two_products = F.trustworthiness_rows
        monkeypatch.setattr(F, "trustworthiness_rows", lambda *a: pytest.fail("a second product"))
        found = _spy_neighbours(monkeypatch)
        est = sampled_faithfulness(x, px, coords, metric, k, sample=sample)
        rows = est["rows"]
        assert len(rows) == (n if sample is None else sample)
        ref, _ = exact_search(np.ascontiguousarray(x[rows]), x, k, metric, query_rows=rows)
    np.testing.assert_array_equal(found[0], ref)
    low = F.map_knn(coords, k, rows)
    np.testing.assert_array_equal(est["preservation"], F.knn_preservation(ref, low))
    np.testing.assert_array_equal(est["trust"], two_products(px, rows, low, metric))
    assert est["trust"].std() > 0 and not np.isnan(est["trust"]).any()


@pytest.mark.parametrize("metric", ["cosine", "l2", "dot"])
def test_one_product_trustworthiness_is_scikit_learns(monkeypatch, metric):
    """Every item measured (sample=None): the mean is sklearn.manifold.trustworthiness (dot as a
    precomputed distance, shifted to be non-negative: the ranks are the same), the neighbours
    float64 brute force's; 5 blocks of 130."""
    from sklearn.manifold import trustworthiness as sk_trust

    from spacelens.neighbors import prepare
    from spacelens.project import faithfulness as F

    x = _clustered(n=650, d=40, seed=6)
    rng = np.random.default_rng(1)
    coords = x[:, :2] + rng.normal(size=(len(x), 2))
    monkeypatch.setattr(F, "_BLOCK_ELEMENTS", 130 * len(x))
    est = sampled_faithfulness(x, prepare(x, metric), coords, metric, 10, sample=None)
    xd = x.astype(np.float64)
    if metric == "dot":
        g = -(xd @ xd.T)
        ref = sk_trust(g - g.min(), coords, n_neighbors=10, metric="precomputed")
    else:
        ref = sk_trust(xd, coords, n_neighbors=10, metric="cosine" if metric == "cosine" else "euclidean")
        pres, trust = _brute_faithfulness(xd, coords, 10, metric)
        np.testing.assert_allclose(est["preservation"], pres, atol=1e-6)
        np.testing.assert_allclose(est["trust"], trust, atol=1e-12)
    assert est["trustworthiness"] == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("metric", ["cosine", "l2", "dot"])
def test_faithfulness_with_identical_rows_keeps_two_products(monkeypatch, metric):
    """With identical rows the exact engine searches one row per group, so its scores are no
    ranks among all items: trustworthiness then comes from its own product (today's path), and
    both measures are still the separate computations'."""
    import warnings

    from spacelens.neighbors import exact_search, prepare
    from spacelens.project import faithfulness as F

    x = _awkward_space(metric, duplicates=True)
    n, k = len(x), 10
    calls = []
    real = F.trustworthiness_rows
    monkeypatch.setattr(F, "trustworthiness_rows", lambda *a: calls.append(len(a[1])) or real(*a))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        px = prepare(x, metric)
        coords = np.random.default_rng(0).normal(size=(n, 2))
        est = sampled_faithfulness(x, px, coords, metric, k, sample=400, seed=1)
        rows = est["rows"]
        ref, _ = exact_search(np.ascontiguousarray(x[rows]), x, k, metric, query_rows=rows)
    assert calls == [400]                   # every sampled item ranked by the second product
    low = F.map_knn(coords, k, rows)
    np.testing.assert_array_equal(est["preservation"], F.knn_preservation(ref, low))
    np.testing.assert_array_equal(est["trust"], real(px, rows, low, metric))


@pytest.fixture
def recorded_umap(monkeypatch):
    """umap.UMAP, recording the keyword arguments spacelens hands it."""
    import umap

    original, calls = umap.UMAP, []

    def make(**kw):
        calls.append(kw)
        return original(**kw)

    monkeypatch.setattr(umap, "UMAP", make)
    return calls


def test_large_umap_maps_use_umaps_fast_mode_and_say_so(home, monkeypatch, recorded_umap, caplog):
    """From LARGE_UMAP items (lowered here) a UMAP map starts from PCA and runs its epochs in
    parallel (umap-learn's unseeded mode), says so in one line, and is stored under those
    settings; the map still separates the clusters (trustworthiness against scikit-learn's)."""
    import logging

    from sklearn.manifold import trustworthiness as sk_trust

    from spacelens.project import maps

    monkeypatch.setattr(maps, "LARGE_UMAP", 500)
    x = _clustered(n=900)
    _add_plain(home, x)
    with caplog.at_level(logging.INFO, logger="spacelens"):
        m = spacelens.project("s", method="umap", home=home)
    assert recorded_umap[-1]["init"] == "pca"
    assert recorded_umap[-1]["random_state"] is None and recorded_umap[-1]["n_jobs"] == -1
    assert m.params["init"] == "pca" and m.params["layout"] == "parallel"
    assert any("epochs in parallel" in r.getMessage() and "--layout seeded" in r.getMessage() for r in caplog.records)
    assert sk_trust(_unit(x), m.coords, n_neighbors=10, metric="euclidean") > 0.9
    # stored under its settings: asked again, it is loaded, not recomputed
    monkeypatch.setattr(maps, "umap_map", lambda *a, **k: pytest.fail("UMAP recomputed"))
    assert spacelens.project("s", method="umap", home=home).cached


def test_seeded_layout_stays_reproducible_at_any_size(home, monkeypatch, recorded_umap):
    """layout="seeded" keeps umap's seeded, single-threaded epochs (from PCA when large): two
    fresh computations give the same coordinates to the bit; below LARGE_UMAP the default is
    that too, with umap's spectral start, and its stored key is the one maps had before."""
    from spacelens.project import maps

    x = _clustered(n=600)
    _add_plain(home, x)
    small = spacelens.project("s", method="umap", home=home)
    assert recorded_umap[-1]["init"] == "spectral" and recorded_umap[-1]["random_state"] == 0
    assert "layout" not in small.params and "init" not in small.params
    monkeypatch.setattr(maps, "LARGE_UMAP", 500)
    first = spacelens.project("s", method="umap", layout="seeded", recompute=True, home=home)
    again = spacelens.project("s", method="umap", layout="seeded", recompute=True, home=home)
    assert recorded_umap[-1]["init"] == "pca" and recorded_umap[-1]["random_state"] == 0
    assert first.params["init"] == "pca" and "layout" not in first.params
    assert np.array_equal(first.coords, again.coords)


def test_unknown_layout_is_one_clear_error(cli, home):
    x = _clustered(n=300)
    _add_plain(home, x)
    r = cli("project", "s", "--layout", "fastest")
    assert r.code != 0 and "Unknown UMAP layout 'fastest'" in r.err and "seeded" in r.err
    assert "Traceback" not in r.err
