"""One graph serves every consumer: a request for k <= a stored graph's k_max never rebuilds, in
compare, project (PCA and UMAP), evaluate or a named approximate engine with a recall target;
a larger k rebuilds once and replaces the smaller graph. Checked by making every engine's graph
build fail. (A named engine at a fixed effort, e.g. nprobe=4, still gets its own graph: that is
how engines are measured against exact search.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import spacelens
from spacelens.neighbors import approx, exact, knn_graph
from spacelens.registry import Registry


def _space(home, name, x, labels):
    table = pd.DataFrame({"id": [f"i{i}" for i in range(len(x))], "label": labels})
    spacelens.add(x, table, dataset_name="items", experiment_name=name, space_name=name, home=home)


def _graphs(reg):
    return sorted((a.space, a.id, a.params["engine"], a.info["k_max"]) for a in reg.find_artifacts(kind="knn_graph"))


def test_no_consumer_rebuilds_a_graph_that_holds_enough_neighbours(home, monkeypatch):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 400)
    x = (rng.normal(size=(4, 16))[labels] * 2 + rng.normal(size=(400, 16))).astype(np.float32)
    _space(home, "a", x, labels)
    _space(home, "b", x + rng.normal(scale=0.5, size=x.shape).astype(np.float32), labels)
    spacelens.compare("a", "b", k=10, home=home)        # builds both shared graphs (k_max 50)
    reg = Registry(home)
    stored = _graphs(reg)
    assert [(s, e, k) for s, _, e, k in stored] == [("a", "exact", 50), ("b", "exact", 50)]

    def refuse(*a, **k):
        pytest.fail("a kNN graph was rebuilt")

    for cls in (exact.ExactEngine, approx.IvfEngine, approx.HnswEngine):
        monkeypatch.setattr(cls, "build_graph", refuse)
    brute = np.argsort(np.where(np.eye(400, dtype=bool), np.inf,
                                1 - (lambda u: u @ u.T)(x / np.linalg.norm(x, axis=1, keepdims=True))),
                       axis=1, kind="stable")
    res = spacelens.compare("a", "b", k="1,5,20,50", home=home)
    assert res.info["engine"] == "exact"
    ivf = spacelens.compare("a", "b", k=20, engine="ivf", home=home)   # the exact graph serves ivf requests
    assert ivf.info["engine"] == "exact" and "recall" not in ivf.info
    g = knn_graph(reg, "a", 30, engine="hnsw", recall=0.9)
    assert g.exact and np.array_equal(g.indices, brute[:, :30])
    spacelens.project("a", method="umap", n_neighbors=40, k=10, trust_sample=50, home=home)
    spacelens.project("a", method="pca", k=10, trust_sample=50, home=home)
    with pytest.warns(spacelens.SpacelensWarning, match="below max_bin_count"):
        ev = spacelens.evaluate("a", label_field="label", k=45, clustering=False, home=home)
    assert ev["info"]["knn"] == "cached kNN graph"
    assert _graphs(reg) == stored

    # a larger k: one rebuild for it, replacing the smaller graph
    monkeypatch.undo()
    g60 = knn_graph(reg, "a", 60)
    after = _graphs(reg)
    assert [(s, e, k) for s, _, e, k in after] == [("a", "exact", 60), ("b", "exact", 50)]
    assert np.array_equal(g60.indices, brute[:, :60])


def test_a_larger_k_reuses_the_ivf_centroids_and_equals_a_fresh_build(home, tmp_path, monkeypatch):
    """IVF graph at k_max 10, then k 20 asked: the rebuild (for 50) starts from the stored
    k-means centroids (no training), and gives the very graph a fresh build gives (same ids,
    same distances), whose recall against brute force is what it reports."""
    import faiss

    trained = []

    class CountingIVF(faiss.IndexIVFFlat):
        def train(self, x):
            trained.append(len(x))
            return super().train(x)

    monkeypatch.setattr(faiss, "IndexIVFFlat", CountingIVF)
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 20, 3000)
    x = (rng.normal(size=(20, 16))[labels] * 1.5 + rng.normal(size=(3000, 16))).astype(np.float32)
    _space(home, "s", x, labels)
    reg = Registry(home)
    knn_graph(reg, "s", 10, engine="ivf", recall=0.95, k_max=10)
    assert len(trained) == 1
    first = reg.find_artifacts(kind="knn_graph", space="s")[0]
    centroids = np.array(reg.load_artifact(first, "ivf_centroids"))
    assert centroids.shape == (approx.IvfEngine.default_nlist(3000), 16)

    g = knn_graph(reg, "s", 20, engine="ivf", recall=0.95)
    assert len(trained) == 1                                   # no k-means this time
    (art,) = reg.find_artifacts(kind="knn_graph", space="s")   # replaced the k_max 10 graph
    assert art.info["k_max"] == 50 and art.info["recall"]["reached"]
    np.testing.assert_array_equal(reg.load_artifact(art, "ivf_centroids"), centroids)

    home2 = tmp_path / "fresh"
    _space(home2, "s", x, labels)
    fresh = knn_graph(Registry(home2), "s", 20, engine="ivf", recall=0.95)
    assert len(trained) == 2
    np.testing.assert_array_equal(g.indices, fresh.indices)
    np.testing.assert_array_equal(g.distances, fresh.distances)

    # brute force: the true 50 nearest by cosine (float64); a returned row counts when it is
    # within the true 50th distance (ties are not misses)
    u = x.astype(np.float64) / np.linalg.norm(x, axis=1, keepdims=True)
    d = 1 - u @ u.T
    np.fill_diagonal(d, np.inf)
    kth = np.sort(d, axis=1)[:, 49]
    ids = np.asarray(reg.load_artifact(art, "indices"), dtype=np.int64)
    recall = (np.take_along_axis(d, ids, axis=1) <= kth[:, None] + 1e-6).mean()
    lo, hi = art.info["recall"]["ci95"]
    assert recall >= 0.95 - 0.02 and lo - 0.01 <= recall <= hi + 0.01, (recall, art.info["recall"])
