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
