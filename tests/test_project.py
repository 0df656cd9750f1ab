"""2D maps: PCA against scikit-learn, UMAP from the cached kNN graph, faithfulness against
brute force and scikit-learn, Procrustes alignment, PNG plots, and the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import spacelens
from spacelens.errors import SpacelensError
from spacelens.project import core as pcore
from spacelens.project import maps
from spacelens.project.align import procrustes
from spacelens.project.faithfulness import knn_preservation, map_knn, trustworthiness
from spacelens.project.plots import categorical_palette
from spacelens.registry import Registry


def _add(home, vectors, csv=None, name="s", dataset="items", ids=None):
    return spacelens.add(vectors, csv, dataset_name=dataset, experiment_name="e", space_name=name, ids=ids,
                         home=home)


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _brute_knn(x, k, metric):
    """k nearest rows of each row (self excluded) in float64, ties by lower row index."""
    x = np.asarray(x, np.float64)
    if metric == "cosine":
        u = _unit(x)
        d = 1 - u @ u.T
    else:
        d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return np.argsort(d, axis=1, kind="stable")[:, :k]


def _manifold_clusters(tmp_path, n=300, d=32, n_clusters=5, seed=0):
    """Well-separated clusters, each a 2-D Gaussian sheet linearly embedded in d dims (+ tiny noise)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_clusters
    centers = rng.normal(size=(n_clusters, d)) * 20
    bases = rng.normal(size=(n_clusters, 2, d))
    x = centers[labels] + np.einsum("ni,nid->nd", rng.normal(size=(n, 2)), bases[labels])
    x += 0.01 * rng.normal(size=(n, d))
    table = pd.DataFrame({"id": [f"p{i:04d}" for i in range(n)], "label": [f"c{c}" for c in labels],
                          "score": rng.random(n)})
    csv = tmp_path / "manifold.csv"
    table.to_csv(csv, index=False)
    return x.astype(np.float32), csv, labels


# -- PCA ----------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_pca_coords_equal_sklearn_up_to_sign(home, labeled, metric):
    from sklearn.decomposition import PCA

    _add(home, labeled.vectors, labeled.csv)
    p = spacelens.project("s", method="pca", metric=metric, home=home)
    x = _unit(labeled.vectors) if metric == "cosine" else labeled.vectors.astype(np.float64)
    ref = PCA(n_components=2).fit_transform(x)
    assert p.coords.shape == (300, 2) and p.coords.dtype == np.float32
    for c in range(2):
        sign = np.sign(ref[:, c] @ p.coords[:, c])
        np.testing.assert_allclose(sign * p.coords[:, c], ref[:, c], atol=1e-4 * np.abs(ref).max())
    np.testing.assert_array_equal(p.rows, np.arange(300))
    assert list(p.ids[:2]) == ["item00000", "item00001"]


# -- faithfulness ----------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_knn_preservation_matches_brute_force(home, labeled, metric):
    _add(home, labeled.vectors, labeled.csv)
    k = 7
    p = spacelens.project("s", method="pca", metric=metric, k=k, home=home)
    high = _brute_knn(labeled.vectors, k, metric)
    low = _brute_knn(p.coords, k, "l2")
    expected = np.array([len(set(h) & set(lo)) / k for h, lo in zip(high, low)])
    np.testing.assert_allclose(p.per_item, expected, atol=1e-6)
    assert p.faithfulness["knn_preservation"] == pytest.approx(expected.mean(), abs=1e-6)
    assert p.faithfulness["k"] == k


def test_map_knn_and_preservation_by_hand():
    # points on a line: 0 at x=0, 1 at x=1, 2 at x=3, 3 at x=7; 2 nearest of each by hand
    coords = np.array([[0, 0], [1, 0], [3, 0], [7, 0]], np.float32)
    low = map_knn(coords, 2)
    assert [sorted(r) for r in low.tolist()] == [[1, 2], [0, 2], [0, 1], [1, 2]]
    high = np.array([[1, 3], [0, 2], [1, 3], [2, 0]])
    np.testing.assert_allclose(knn_preservation(high, low), [0.5, 1.0, 0.5, 0.5])


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy-ranks", "compiled-ranks"])
@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_trustworthiness_equals_sklearn(home, labeled, metric, compiled, monkeypatch):
    from sklearn.manifold import trustworthiness as sk_trust

    from spacelens.project import faithfulness

    # the rank counting used at scale (compiled, one pass) and below it (numpy) give sklearn's value
    monkeypatch.setattr(faithfulness, "_COMPILED_RANKS_MIN", 0 if compiled else 1 << 60)
    _add(home, labeled.vectors, labeled.csv)
    p = spacelens.project("s", method="pca", metric=metric, k=10, home=home)
    ref = sk_trust(labeled.vectors.astype(np.float64), p.coords.astype(np.float64), n_neighbors=10,
                   metric="cosine" if metric == "cosine" else "euclidean")
    assert p.faithfulness["trustworthiness"] == pytest.approx(ref, abs=1e-9)
    assert not p.faithfulness["trust_sampled"] and p.faithfulness["trust_items"] == 300
    assert np.nanmean(p.trust_per_item) == pytest.approx(ref, abs=1e-6)


def test_sampled_trustworthiness_keeps_ranks_among_all_items():
    rng = np.random.default_rng(3)
    x = _unit(rng.normal(size=(500, 12))).astype(np.float32)
    coords = rng.normal(size=(500, 2)).astype(np.float32)
    low = map_knn(coords, 5)
    full_mean, full, n_full = trustworthiness(x, low, "cosine", sample=None)
    mean, part, n_part = trustworthiness(x, low, "cosine", sample=120, seed=1)
    assert (n_full, n_part) == (500, 120)
    measured = ~np.isnan(part)
    assert measured.sum() == 120
    np.testing.assert_allclose(part[measured], full[measured], atol=1e-6)  # same per-item values
    assert mean == pytest.approx(full[measured].mean(), abs=1e-6)


# -- UMAP from the cached graph ----------------------------------------------------------------
def test_umap_uses_cached_graph_is_faithful_and_cached(home, tmp_path, monkeypatch):
    import umap

    x, csv, labels = _manifold_clusters(tmp_path)
    _add(home, x, csv)
    reg = Registry(home)
    seen = {}
    real_init = umap.UMAP.__init__

    def spy(self, *a, **kw):
        seen["precomputed_knn"] = kw.get("precomputed_knn")
        real_init(self, *a, **kw)

    monkeypatch.setattr(umap.UMAP, "__init__", spy)
    p = spacelens.project("s", method="umap", n_neighbors=15, k=10, home=home)

    # UMAP was handed the space's cached exact graph, self first at distance 0
    graphs = reg.find_artifacts(kind="knn_graph", space="s")
    assert len(graphs) == 1
    cached_idx = reg.load_artifact(graphs[0], "indices")
    idx, dist = seen["precomputed_knn"][:2]
    np.testing.assert_array_equal(idx[:, 0], np.arange(300))
    np.testing.assert_array_equal(idx[:, 1:], cached_idx[:, :14])
    assert (dist[:, 0] == 0).all() and (np.diff(dist, axis=1) >= 0).all()

    # faithful on well-separated 2-D sheets: far better than PCA's view and than chance (k/n)
    assert p.faithfulness["knn_preservation"] > 0.6
    assert p.faithfulness["trustworthiness"] > 0.95
    low = _brute_knn(p.coords, 10, "l2")
    assert (labels[low] == labels[:, None]).mean() > 0.99  # clusters stay apart in the map

    # a second call reads the stored map: no UMAP, same artifact
    arts = reg.find_artifacts(kind="projection", space="s")
    assert len(arts) == 1
    monkeypatch.setattr(maps, "umap_map", lambda *a, **k: pytest.fail("UMAP recomputed"))
    again = spacelens.project("s", method="umap", n_neighbors=15, k=10, home=home)
    assert again.cached
    np.testing.assert_array_equal(again.coords, p.coords)
    assert [a.id for a in reg.find_artifacts(kind="projection", space="s")] == [arts[0].id]
    assert arts[0].params["seed"] == 0 and arts[0].params["n_neighbors"] == 15


def test_pca_umap_switches_to_ivf_on_large_spaces_and_stays_faithful(tmp_path):
    assert maps.pca_umap_engine(20_000) == "exact" and maps.pca_umap_engine(20_001) == "ivf"
    assert pcore.projection_params("pca-umap", n=50_000)["graph"] == "ivf"
    assert pcore.projection_params("pca-umap", n=500)["graph"] == "exact"
    x, _, _ = _manifold_clusters(tmp_path)
    xu = _unit(x).astype(np.float32)
    coords = maps.pca_umap_map(xu, 15, 0, engine="ivf")
    pres = knn_preservation(_brute_knn(x, 10, "cosine"), map_knn(coords, 10))
    assert pres.mean() > 0.6


def test_other_faithfulness_settings_reuse_coordinates(home, labeled, monkeypatch):
    _add(home, labeled.vectors, labeled.csv)
    p10 = spacelens.project("s", method="pca", k=10, home=home)
    monkeypatch.setattr(pcore, "compute_map", lambda *a, **k: pytest.fail("map recomputed"))
    p5 = spacelens.project("s", method="pca", k=5, home=home)
    np.testing.assert_array_equal(p5.coords, p10.coords)
    assert p5.faithfulness["k"] == 5 and not p5.cached
    assert len(Registry(home).find_artifacts(kind="projection", space="s")) == 2


def test_too_few_items_for_umap_is_a_clear_error(home, tmp_path):
    from conftest import make_labeled

    lab = make_labeled(tmp_path, n=12, d=8)
    _add(home, lab.vectors, lab.csv)
    with pytest.raises(SpacelensError, match=r"12 items, too few for UMAP with n_neighbors=15.*--n-neighbors 11"):
        spacelens.project("s", method="umap", k=5, home=home)
    p = spacelens.project("s", method="pca", k=7, home=home)  # trustworthiness needs k < n/2
    assert p.faithfulness["trustworthiness"] is None and np.isnan(p.trust_per_item).all()
    assert 0 < p.faithfulness["knn_preservation"] <= 1
    with pytest.raises(SpacelensError, match="needs at least 13"):
        spacelens.project("s", method="pca", k=12, home=home)
    with pytest.raises(SpacelensError, match="Unknown map method"):
        spacelens.project("s", method="tsne", k=5, home=home)
    with pytest.raises(SpacelensError, match="need a distance"):
        spacelens.project("s", method="umap", metric="dot", n_neighbors=5, k=5, home=home)


# -- alignment ---------------------------------------------------------------------------------
@pytest.mark.parametrize("reflect", [False, True])
def test_procrustes_recovers_rotation_scale_shift(reflect):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 2))
    a = 0.7
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    if reflect:
        rot = rot @ np.diag([1.0, -1.0])
    y = 2.5 * x @ rot + np.array([3.0, -1.0])
    sim = procrustes(x, y)
    assert sim.scale == pytest.approx(2.5, abs=1e-12)
    np.testing.assert_allclose(sim.rotation, rot, atol=1e-12)
    np.testing.assert_allclose(sim.translation, [3.0, -1.0], atol=1e-12)
    assert sim.rms < 1e-12
    np.testing.assert_allclose(sim.apply(x), y, atol=1e-5)


def test_align_to_maps_a_scaled_rotated_copy_onto_the_original(home, labeled):
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    _add(home, labeled.vectors, labeled.csv, name="a")
    _add(home, (3.0 * labeled.vectors @ q).astype(np.float32), name="b")
    # PCA (l2) of a rotated, scaled copy is the same map scaled, up to sign flips
    pa = spacelens.project("a", method="pca", metric="l2", home=home)
    pb = spacelens.project("b", method="pca", metric="l2", align_to="a", home=home)
    np.testing.assert_allclose(pb.coords, pa.coords, atol=1e-3 * np.abs(pa.coords).max())
    assert pb.info["aligned"]["scale"] == pytest.approx(1 / 3, rel=1e-4)
    assert pb.info["aligned"]["n_shared"] == 300
    assert pb.params["align_to"] == "a" and pb.aligned_to == "a"
    np.testing.assert_allclose(pb.per_item, spacelens.project("b", method="pca", metric="l2", home=home).per_item)
    art = Registry(home).get_artifact("projection", "b", pb.params, other="a")
    assert art is not None and art.other_space == "a"
    assert spacelens.project("b", method="pca", metric="l2", align_to="a", home=home).cached


# -- plots ---------------------------------------------------------------------------------------
def _png_size(path):
    from PIL import Image

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        return im.size, np.asarray(im.convert("RGB"))


def test_plot_png_categorical_many_classes_and_numeric(home, tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    table = pd.DataFrame({"id": [f"i{i}" for i in range(n)], "cls": [f"class{c}" for c in rng.integers(0, 70, n)],
                          "value": rng.random(n)})
    csv = tmp_path / "t.csv"
    table.to_csv(csv, index=False)
    _add(home, rng.normal(size=(n, 8)).astype(np.float32), csv)
    out = tmp_path / "cls.png"
    spacelens.project("s", method="pca", plot=out, color="cls", home=home)
    (w, h), img = _png_size(out)
    assert w > 500 and h > 500
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 40  # many distinct class colours drawn
    out2 = tmp_path / "num.png"
    spacelens.project("s", method="pca", plot=out2, color="value", home=home)
    _png_size(out2)
    pal = categorical_palette(100)
    assert len({tuple(np.round(c, 3)) for c in pal}) == 100
    n_maps = len(Registry(home).find_artifacts(kind="projection"))
    with pytest.raises(SpacelensError, match="no column 'nope'"):
        spacelens.project("s", method="umap", plot=tmp_path / "x.png", color="nope", home=home)
    with pytest.raises(SpacelensError, match="does not end in .png"):
        spacelens.project("s", method="umap", plot=tmp_path / "x.jpg", color="cls", home=home)
    assert len(Registry(home).find_artifacts(kind="projection")) == n_maps  # refused before any map was made


def test_coincidence_needs_a_stored_comparison(home, labeled, tmp_path):
    _add(home, labeled.vectors, labeled.csv, name="a")
    _add(home, labeled.vectors[:, ::-1].copy(), name="b")
    with pytest.raises(SpacelensError, match="spacelens compare a b"):
        spacelens.project("a", method="pca", plot=tmp_path / "c.png", color="coincidence", vs="b", home=home)
    compare = pytest.importorskip("spacelens.compare")
    if not hasattr(compare, "load_comparison"):
        pytest.skip("spacelens.compare.load_comparison not available yet")
    cmp = spacelens.compare("a", "b", k=10, home=home)
    out = tmp_path / "c.png"
    p = spacelens.project("a", method="pca", plot=out, color="coincidence", vs="b", home=home)
    _png_size(out)
    from spacelens.project.plots import coincidence_coloring

    col = coincidence_coloring(Registry(home), p, "b", 10)
    np.testing.assert_allclose(col.values, np.asarray(cmp.jaccard, float))


# -- CLI -----------------------------------------------------------------------------------------
def test_cli_project_all_json_table_plot_and_errors(home, tmp_path, cli):
    x, csv, _ = _manifold_clusters(tmp_path)
    _add(home, x, csv)
    res = cli("project", "s", "--method", "all", "--json", check=True)
    out = res.json()
    assert set(out["maps"]) == {"pca", "umap", "pca-umap"}
    reg = Registry(home)
    for m, summary in out["maps"].items():
        p = pcore.project(reg, "s", m)  # the stored map, read back
        assert p.cached
        assert summary["faithfulness"]["knn_preservation"] == pytest.approx(p.per_item.mean(), abs=1e-6)
    assert out["maps"]["umap"]["faithfulness"]["knn_preservation"] > out["maps"]["pca"]["faithfulness"][
        "knn_preservation"]

    png = tmp_path / "all.png"
    res = cli("project", "s", "--method", "all", "--plot", png, "--color", "label", check=True)
    assert "kNN preservation@10" in res.out and "PCA → UMAP" in res.out and "stored" in res.out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    res = cli("project", "s", "--method", "umap", "--n-neighbors", "400")
    assert res.code == 1 and "too few for UMAP" in res.err and "Traceback" not in res.err
    res = cli("project", "nosuch")
    assert res.code == 1 and "No space named 'nosuch'" in res.err
