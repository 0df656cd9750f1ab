"""The neighbour commands through the real ``spacelens`` entry point."""

from __future__ import annotations

import numpy as np
import pytest

import spacelens


def brute_l2(x, i, k):
    d = ((x.astype(np.float64) - x[i].astype(np.float64)) ** 2).sum(1)
    d[i] = np.inf
    return np.argsort(np.round(d, 9), kind="stable")[:k]


def brute_cos(x, i, k):
    x = x.astype(np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    d = 1 - x @ x[i]
    d[i] = np.inf
    return np.argsort(np.round(d, 9), kind="stable")[:k]


@pytest.fixture
def spaces(home, labeled):
    spacelens.add(labeled.vectors, labeled.csv, dataset_name="items", experiment_name="e1", space_name="s1")
    y = labeled.vectors @ np.random.default_rng(9).normal(size=(16, 16)).astype(np.float32)
    spacelens.add(y, dataset_name="items", experiment_name="e2", space_name="s2")
    return labeled, y


def test_query_table_and_json(cli, spaces):
    lab, y = spaces
    ids = lab.table["id"].to_numpy()
    ref = brute_cos(lab.vectors, 42, 5)
    res = cli("query", "s1", "--id", "item00042", "-k", "5", "--json", check=True).json()
    assert [n["id"] for n in res["spaces"]["s1"]] == ids[ref].tolist()
    assert [n["label"] for n in res["spaces"]["s1"]] == lab.table["label"].to_numpy()[ref].tolist()

    out = cli("query", "s1", "--id", "item00042", "-k", "5", check=True).out
    assert "item00042" in out and "caption" in out and "a thing of class" in out
    for rank, i in enumerate(ref, 1):
        line = next(ln for ln in out.splitlines() if ids[i] in ln)
        assert line.split("│")[1].strip() == str(rank)        # listed at its rank


def test_query_vs_side_by_side(cli, spaces):
    lab, y = spaces
    ids = lab.table["id"].to_numpy()
    a, b = brute_l2(lab.vectors, 3, 10), brute_l2(y, 3, 10)
    shared = np.intersect1d(a, b)
    res = cli("query", "s1", "--id", "item00003", "--vs", "s2", "--metric", "l2", "--json", check=True).json()
    assert set(res["shared"]) == set(ids[shared])
    assert [n["id"] for n in res["spaces"]["s2"]] == ids[b].tolist()

    # kept / lost / gained against the brute-force lists, in each space's order
    assert res["kept"] == [x for x in ids[a] if x in set(ids[b])]
    assert res["lost"] == [x for x in ids[a] if x not in set(ids[b])]
    assert res["gained"] == [x for x in ids[b] if x not in set(ids[a])]
    assert res["jaccard"] == pytest.approx(len(shared) / len(np.union1d(a, b)))
    assert res["overlap"] == pytest.approx(len(shared) / 10)

    out = cli("query", "s1", "--id", "item00003", "--vs", "s2", "--metric", "l2", check=True).out
    flat = " ".join(out.split())
    assert "s1" in out and "s2" in out
    assert (f"{len(shared)} kept (=), {10 - len(shared)} lost (-, in s1 only), {10 - len(shared)} gained (+, in s2 "
            "only) of 10") in flat
    # Both tables on the same lines, each neighbour marked with what happened to it
    for key, mark in (("kept", "= kept"), ("lost", "- lost"), ("gained", "+ gained")):
        for x in res[key]:
            line = next(ln for ln in out.splitlines() if x in ln and "│" in ln)
            assert mark in line.split(x)[0].split("│")[-2]      # the mark cell just before the id
    if res["lost"]:
        assert f"lost: {', '.join(res['lost'])}" in flat


def test_query_errors(cli, spaces):
    r = cli("query", "s1", "--id", "item00042x")
    assert r.code == 1 and "No item 'item00042x'" in r.err and "item00042" in r.err and "Traceback" not in r.err
    r = cli("query", "s1", "--id", "item00001", "-k", "300")
    assert r.code == 1 and "Choose k between 1 and 299" in r.err
    r = cli("query", "nope", "--id", "item00001")
    assert r.code == 1 and "No space named 'nope'" in r.err


def test_knn_caches_a_graph(cli, spaces, home):
    lab, _ = spaces
    res = cli("knn", "s1", "-k", "7", "--metric", "l2", "--json", check=True).json()
    assert res["k"] == 7 and res["n_rows"] == 300 and res["engine"] == "exact"
    g = spacelens.knn("s1", k=7, metric="l2", home=home)
    assert g.indices[42].tolist() == brute_l2(lab.vectors, 42, 7).tolist()
    res = cli("knn", "s1", "-k", "5", "--engine", "ivf", "-p", "nprobe=4", "--recall", "--json", check=True).json()
    assert res["params"] == {"nprobe": 4} and 0.9 <= res["recall"] <= 1.0
    r = cli("knn", "s1", "--engine", "hnsw", "-p", "nprobe=4")
    assert r.code == 1 and "no parameter 'nprobe'" in r.err


def test_embeddings_load_ls_delete(cli, spaces):
    out = cli("embeddings", "load", "my-index", "s1", "--model", "hnsw", "--similarity", "l2", "-p", "M=8",
              check=True).out
    assert "built" in out and "my-index" in out and "hnsw" in out
    cli("embeddings", "load", "flat", "s2", check=True)
    listed = cli("embeddings", "ls", "--json", check=True).json()
    assert {(r["name"], r["space"], r["model"], r["similarity"]) for r in listed} == {
        ("my-index", "s1", "hnsw", "l2"), ("flat", "s2", "exact", "cosine")}
    assert next(r for r in listed if r["name"] == "my-index")["params"]["M"] == 8
    table = cli("embeddings", "ls", check=True).out
    assert "my-index" in table and "flat" in table and "M=8" in table
    assert "removed index my-index" in cli("embeddings", "delete", "my-index", check=True).out
    assert [r["name"] for r in cli("embeddings", "ls", "--json", check=True).json()] == ["flat"]
    r = cli("embeddings", "delete", "my-index")
    assert r.code == 1 and "No index named 'my-index'" in r.err
    r = cli("embeddings", "load", "x", "s1", "--similarity", "euclidean")
    assert r.code == 1 and "Use 'l2'" in r.err
