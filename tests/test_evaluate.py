"""spacelens evaluate / leaderboard without torch: hand-worked values, an independent per-query
reference written from the definitions, the kNN paths (cached, built, streamed), errors, CLI.

(Equality with pytorch-metric-learning itself is in test_evaluate_pml.py.)
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import spacelens
from spacelens.errors import SpacelensError, SpacelensWarning
from spacelens.evaluate import METRICS, retrieval_metrics, score_block
from spacelens.evaluate import core as ev_core
from spacelens.evaluate import retrieval as ev_retrieval

TOL = 1e-9


# -- an independent reference: the definitions, one query at a time, float64 -------------------

def naive(x, labels, metric, q_idx, r_idx, ref_includes_query, k=None, avg_of_avgs=False):
    x = x.astype(np.float64)
    if metric == "cosine":
        n = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(n == 0, 1, n)
    labels = np.asarray(labels)
    ref_labels = labels[r_idx]
    counts = {c: int((ref_labels == c).sum()) for c in set(labels[q_idx].tolist())}
    kk = max(counts.values()) - ref_includes_query if k is None else k
    scores = {m: [] for m in METRICS}
    per_label = {}
    for qi in q_idx:
        y = labels[qi]
        R = counts[y] - ref_includes_query
        if R <= 0:
            continue
        if metric == "l2":
            d = ((x[r_idx] - x[qi]) ** 2).sum(1)
        else:
            d = (1 - x[r_idx] @ x[qi]) if metric == "cosine" else -(x[r_idx] @ x[qi])
        d = d.astype(np.float32).astype(np.float64)      # the engine's float32 distances
        d[r_idx == qi] = np.inf                            # self excluded
        order = sorted(range(len(r_idx)), key=lambda j: (d[j], r_idx[j]))[:kk]
        rel = [ref_labels[j] == y for j in order]
        hits, ap_r, ap = 0, 0.0, 0.0
        for i, ok in enumerate(rel, 1):
            if ok:
                hits += 1
                ap += hits / i
                if i <= R:
                    ap_r += hits / i
        s = {"precision_at_1": float(rel[0]),
             "r_precision": sum(rel[:R]) / min(R, kk),
             "mean_average_precision_at_r": ap_r / R,
             "mean_average_precision": ap / R,
             "mean_reciprocal_rank": next((1 / i for i, ok in enumerate(rel, 1) if ok), 0.0)}
        for m in METRICS:
            scores[m].append(s[m])
            per_label.setdefault(y, {mm: [] for mm in METRICS})[m].append(s[m])
    if avg_of_avgs:
        return {m: float(np.mean([np.mean(v[m]) for v in per_label.values()])) for m in METRICS}
    return {m: float(np.mean(v)) if v else float("nan") for m, v in scores.items()}


def make_set(seed, n=240, d=8, n_classes=9, n_singletons=2):
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_classes + 1)
    labels = np.concatenate([rng.choice(n_classes, size=n - n_singletons, p=p / p.sum()),
                             np.arange(50, 50 + n_singletons)])
    rng.shuffle(labels)
    x = (rng.normal(size=(60, d))[labels] * 1.2 + rng.normal(size=(n, d))).astype(np.float32)
    x[5] = x[17]                                     # an exact duplicate (a tie)
    return x, labels


def register(home, x, labels, name="s", split=None, extra=None):
    table = pd.DataFrame({"id": [f"i{i}" for i in range(len(x))], "label": [f"c{c}" for c in labels]})
    if split is not None:
        table["split"] = split
    for col, values in (extra or {}).items():
        table[col] = values
    spacelens.add(x, table, dataset_name=f"d_{name}", experiment_name=f"e_{name}", space_name=name, home=home)
    return name


def close(a, b, metrics=METRICS, tol=TOL):
    for m in metrics:
        assert a[m] == pytest.approx(b[m], abs=tol), (m, a[m], b[m])


# -- pure functions ----------------------------------------------------------------------------

def test_hand_worked_example():
    # query 0, label A, R = 3: neighbours A B A A  -> P@1 1, R-prec 2/3, MAP@R (1 + 2/3)/3,
    #                                                MAP (1 + 2/3 + 3/4)/3, MRR 1
    # query 1, label B, R = 2: neighbours A A B A  -> 0, 0/2, 0, (1/3)/2, 1/3
    knn = np.array([[0, 1, 0, 0], [0, 0, 1, 0]])
    s = score_block(knn, np.array([0, 1]), np.array([3, 2]))
    assert s["precision_at_1"].tolist() == [1.0, 0.0]
    assert np.allclose(s["r_precision"], [2 / 3, 0.0])
    assert np.allclose(s["mean_average_precision_at_r"], [(1 + 2 / 3) / 3, 0.0])
    assert np.allclose(s["mean_average_precision"], [(1 + 2 / 3 + 3 / 4) / 3, (1 / 3) / 2])
    assert np.allclose(s["mean_reciprocal_rank"], [1.0, 1 / 3])
    # the same through retrieval_metrics, from indices; labels: A x4 (query 0 + 3), B x3
    ref_labels = np.array(["A", "A", "A", "A", "B", "B", "B"])
    idx = np.array([[1, 4, 2, 3], [0, 1, 5, 2]])                 # query 0 is row 0, query 1 is row 4
    # queries are rows 0 and 4 of the reference; R: A -> 3, B -> 2; k = 4 given
    res = retrieval_metrics(idx, np.array(["A", "B"]), ref_labels, ref_includes_query=True, k=4)
    assert res.metrics["mean_average_precision"] == pytest.approx(((1 + 2 / 3 + 3 / 4) / 3 + 1 / 6) / 2)
    assert res.metrics["mean_average_precision_at_r"] == pytest.approx((1 + 2 / 3) / 3 / 2)
    assert res.per_class["precision_at_1"].tolist() == [1.0, 0.0]


def test_blocks_do_not_change_results(monkeypatch):
    x, labels = make_set(1)
    rng = np.random.default_rng(0)
    idx = np.argsort(rng.random((len(x), len(x))), axis=1)[:, :60]
    full = retrieval_metrics(idx, labels, labels, ref_includes_query=True, k=60)
    monkeypatch.setattr(ev_retrieval, "BLOCK_ENTRIES", 7 * 60)     # blocks of 7 queries
    blocked = retrieval_metrics(idx, labels, labels, ref_includes_query=True, k=60)
    close(full.metrics, blocked.metrics, tol=1e-12)


# -- registered spaces against the independent reference -------------------------------------

@pytest.mark.parametrize("metric", ["cosine", "l2", "dot"])
def test_self_retrieval_matches_definitions(home, metric):
    x, labels = make_set(2)
    name = register(home, x, labels)
    res = spacelens.evaluate(name, label_field="label", metric=metric, clustering=False, home=home)
    idx = np.arange(len(x))
    close(res, naive(x, labels, metric, idx, idx, True))
    assert res["info"]["n_lone"] == 2 and res["info"]["k"] == np.bincount(labels).max() - 1
    aoa = spacelens.evaluate(name, label_field="label", metric=metric, clustering=False, avg_of_avgs=True,
                             home=home)
    close(aoa, naive(x, labels, metric, idx, idx, True, avg_of_avgs=True))


def test_splits_match_definitions(home):
    x, labels = make_set(3)
    n = len(x)
    split = np.where(np.arange(n) % 3 == 0, "val", "train")
    name = register(home, x, labels, split=split)
    q, r = np.flatnonzero(split == "val"), np.flatnonzero(split == "train")
    res = spacelens.evaluate(name, label_field="label", query_split="val", reference_split="train",
                             clustering=False, home=home)
    close(res, naive(x, labels, "cosine", q, r, False))
    res = spacelens.evaluate(name, label_field="label", query_split="val", clustering=False, home=home)
    close(res, naive(x, labels, "cosine", q, np.arange(n), True))
    assert res["info"]["knn"].startswith("exact search of the queries")   # only the queries searched
    res = spacelens.evaluate(name, label_field="label", query_split="val", reference_split="val",
                             clustering=False, home=home)
    close(res, naive(x, labels, "cosine", q, q, True))


def test_streamed_search_equals_graph_and_caches_nothing(home, monkeypatch):
    x, labels = make_set(4)
    name = register(home, x, labels)
    reg = spacelens.open_registry(home)
    graph = spacelens.evaluate(name, label_field="label", k="all", clustering=False, home=home)
    assert graph["info"]["knn"].startswith("kNN graph")
    for art in reg.find_artifacts(kind="knn_graph", space=name):
        reg.delete_artifact(art)
    monkeypatch.setattr(ev_core, "GRAPH_CACHE_MAX_ENTRIES", 0)
    monkeypatch.setattr(ev_core, "SEARCH_BLOCK_ENTRIES", 1)
    monkeypatch.setattr(ev_core, "MIN_SEARCH_BLOCK", 50)            # 5 search calls
    streamed = spacelens.evaluate(name, label_field="label", k="all", clustering=False, home=home)
    assert streamed["info"]["knn"].startswith("exact search of the queries, streamed")
    close(graph, streamed, tol=1e-12)
    assert reg.find_artifacts(kind="knn_graph", space=name) == []
    idx = np.arange(len(x))
    close(streamed, naive(x, labels, "cosine", idx, idx, True, k=len(x) - 1))


def test_reuses_a_cached_graph_with_enough_k(home):
    from spacelens.neighbors import knn_graph

    x, labels = make_set(5)
    name = register(home, x, labels)
    reg = spacelens.open_registry(home)
    need = int(np.bincount(labels).max() - 1)
    knn_graph(reg, name, need + 20, "l2")
    before = [(a.id, a.info["k_max"]) for a in reg.find_artifacts(kind="knn_graph", space=name)]
    res = spacelens.evaluate(name, label_field="label", metric="l2", clustering=False, home=home)
    assert res["info"]["knn"] == "cached kNN graph"
    assert [(a.id, a.info["k_max"]) for a in reg.find_artifacts(kind="knn_graph", space=name)] == before
    idx = np.arange(len(x))
    close(res, naive(x, labels, "l2", idx, idx, True))
    # a cached graph with too few neighbours is not used for the default k
    res = spacelens.evaluate(name, label_field="label", metric="dot", clustering=False, home=home)
    knn_graph(reg, name, 3, "cosine")
    res = spacelens.evaluate(name, label_field="label", metric="cosine", clustering=False, home=home)
    assert res["info"]["knn"] != "cached kNN graph"


def test_engine_passes_through_to_neighbors(home):
    """--engine ivf: its own cached graph; here nprobe >= nlist, so the search is exhaustive.
    Once an exact graph is stored, it serves an ivf request for a recall target too."""
    x, labels = make_set(12)
    name = register(home, x, labels)
    ivf = spacelens.evaluate(name, label_field="label", clustering=False, engine="ivf",
                             engine_params={"nprobe": 64}, home=home)
    exact = spacelens.evaluate(name, label_field="label", clustering=False, engine="exact", home=home)
    close(exact, ivf, tol=1e-12)
    reg = spacelens.open_registry(home)
    engines = sorted(a.params["engine"] for a in reg.find_artifacts(kind="knn_graph", space=name))
    assert engines == ["exact", "ivf"] and ivf["info"]["engine"] == "ivf"
    for art in reg.find_artifacts(kind="knn_graph", space=name):
        if art.params["engine"] == "ivf":
            reg.delete_artifact(art)
    again = spacelens.evaluate(name, label_field="label", clustering=False, engine="ivf", recall=0.9, home=home)
    assert again["info"]["engine"] == "exact" and again["info"]["knn"] == "cached kNN graph"
    assert [a.params["engine"] for a in reg.find_artifacts(kind="knn_graph", space=name)] == ["exact"]
    with pytest.raises(SpacelensError, match="no parameter 'scheduler'"):
        spacelens.evaluate(name, label_field="label", engine_params={"scheduler": "x"}, home=home)


@pytest.mark.slow
def test_streaming_k_all_keeps_memory_below_n_by_n(home, monkeypatch):
    """k='all' on a space whose n x n float64 matrix is 288 MB: peak Python-heap use stays far below
    (the kNN engine's own working chunks, ~40 MB, do not grow with n)."""
    import tracemalloc

    rng = np.random.default_rng(6)
    n = 6000
    labels = rng.integers(0, 4, n)
    x = (rng.normal(size=(4, 8))[labels] + rng.normal(size=(n, 8))).astype(np.float32)
    name = register(home, x, labels)
    monkeypatch.setattr(ev_core, "GRAPH_CACHE_MAX_ENTRIES", 0)
    monkeypatch.setattr(ev_core, "SEARCH_BLOCK_ENTRIES", 1 << 18)     # 131 queries per search
    monkeypatch.setattr(ev_core, "MIN_SEARCH_BLOCK", 1)
    tracemalloc.start()
    res = spacelens.evaluate(name, label_field="label", k="all", clustering=False, home=home)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert res["info"]["k"] == n - 1
    assert peak < n * n * 8 / 4, peak
    assert res["info"]["n_lone"] == 0 and res["info"]["knn"].startswith("exact search of the queries, streamed")


def test_all_lone_queries_give_nan_but_clustering(home):
    x, _ = make_set(7, n=30)
    labels = np.arange(30)                                  # every label a singleton
    name = register(home, x, labels)
    with pytest.warns(SpacelensWarning, match="undefined"):
        res = spacelens.evaluate(name, label_field="label", clusters=labels % 5, home=home)
    assert all(res[m] is None for m in METRICS)
    assert res["info"]["n_lone"] == 30
    from sklearn.metrics import normalized_mutual_info_score
    assert res["NMI"] == pytest.approx(normalized_mutual_info_score(labels, labels % 5))


def test_kmeans_clustering_is_converged_seeded_kmeans(home):
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_mutual_info_score, normalized_mutual_info_score

    from spacelens.evaluate import kmeans_assignment

    x, labels = make_set(8, n=200)
    name = register(home, x, labels, extra={"cluster": np.arange(200) % 4})
    res = spacelens.evaluate(name, label_field="label", metric="cosine", seed=3, n_init=2, home=home)
    xn = (x.astype(np.float64) / np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)).astype(np.float32)
    k = len(np.unique(labels))
    # evaluate runs k-means in the items' id order ("i0" < "i1" < "i10" ...), not the stored row order
    order = np.argsort(np.array([f"i{i}" for i in range(len(x))]), kind="stable")
    assign = np.empty(len(x), dtype=np.int64)
    assign[order] = kmeans_assignment(np.ascontiguousarray(xn[order]), k, seed=3, n_init=2)
    assert res["NMI"] == pytest.approx(normalized_mutual_info_score(labels, assign), abs=1e-12)
    assert res["AMI"] == pytest.approx(adjusted_mutual_info_score(labels, assign), abs=1e-12)
    assert f"n_clusters={k}, n_init=2, seed=3" in res["info"]["clustering"]
    # a converged k-means: Lloyd from the clusters' own means changes nothing (sklearn's Lloyd)
    means = np.stack([xn[assign == c].mean(0) for c in range(k)])
    again = KMeans(n_clusters=k, init=means, n_init=1).fit_predict(xn)
    assert (again == assign).all() and len(np.unique(assign)) == k
    assert (kmeans_assignment(xn, k, seed=3, n_init=2) == kmeans_assignment(xn, k, seed=3, n_init=2)).all()  # seeded
    # a precomputed assignment from a dataset column
    res = spacelens.evaluate(name, label_field="label", cluster_field="cluster", home=home)
    assert res["NMI"] == pytest.approx(normalized_mutual_info_score(labels, np.arange(200) % 4), abs=1e-12)


# -- storage, leaderboard, errors ----------------------------------------------------------------

def test_stored_with_space_and_leaderboard_ranks(home):
    x, labels = make_set(9)
    rng = np.random.default_rng(1)
    good = register(home, x, labels, name="good")
    table = pd.DataFrame({"id": [f"i{i}" for i in range(len(x))], "label": [f"c{c}" for c in labels]})
    spacelens.add(rng.normal(size=x.shape).astype(np.float32), ids=table["id"], dataset_name="d_good",
                  experiment_name="noise", space_name="noise", home=home)
    spacelens.add(x + rng.normal(size=x.shape).astype(np.float32), ids=table["id"], dataset_name="d_good",
                  experiment_name="blur", space_name="blur", home=home)
    res = {s: spacelens.evaluate(s, label_field="label", clustering=False, home=home)
           for s in ("noise", good, "blur")}
    board = spacelens.leaderboard("d_good", home=home)
    expect = sorted(res, key=lambda s: -res[s]["mean_average_precision_at_r"])
    assert [r["space"] for r in board] == expect == ["good", "blur", "noise"]
    assert [r["rank"] for r in board] == [1, 2, 3]
    by_p1 = spacelens.leaderboard("d_good", by="precision_at_1", home=home)
    assert [r["precision_at_1"] for r in by_p1] == sorted((r["precision_at_1"] for r in res.values()), reverse=True)
    shown = spacelens.show("good", home=home)["derived"]
    ev = [d for d in shown if d["kind"] == "evaluation"]
    assert len(ev) == 1 and ev[0]["info"]["mean_average_precision_at_r"] == res["good"]["mean_average_precision_at_r"]
    reg = spacelens.open_registry(home)
    art = reg.find_artifacts(kind="evaluation", space="good")[0]
    per = dict(zip(reg.load_artifact(art, "class_labels"), reg.load_artifact(art, "precision_at_1")))
    assert set(per) == {f"c{c}" for c in np.unique(labels)}
    with pytest.raises(SpacelensError, match="Cannot rank by"):
        spacelens.leaderboard("d_good", by="accuracy", home=home)


def test_clear_errors(home):
    x, labels = make_set(10, n=40)
    missing = np.array([f"c{c}" for c in labels], dtype=object)
    missing[7] = None
    table = pd.DataFrame({"id": [f"i{i}" for i in range(40)], "label": missing, "split": "train"})
    spacelens.add(x, table, dataset_name="d", experiment_name="e", space_name="s", home=home)
    with pytest.raises(SpacelensError, match="1 of 40 items .* no value in column 'label'.*id 'i7'"):
        spacelens.evaluate("s", label_field="label", home=home)
    with pytest.raises(SpacelensError, match="no column 'nope'.*Use one of its columns: id, label, split"):
        spacelens.evaluate("s", label_field="nope", home=home)
    table["label"] = "c1"
    spacelens.add(x, table, dataset_name="d2", experiment_name="e", space_name="s2", home=home)
    with pytest.raises(SpacelensError, match="split=.val..*Values of 'split' in this space: train"):
        spacelens.evaluate("s2", label_field="label", query_split="val", home=home)
    with pytest.raises(SpacelensError, match="reference split was given without a query split"):
        spacelens.evaluate("s2", label_field="label", reference_split="train", home=home)
    with pytest.raises(SpacelensError, match="k=0 is not valid"):
        spacelens.evaluate("s2", label_field="label", k=0, home=home)
    with pytest.raises(SpacelensError, match="Unknown metric"):
        spacelens.evaluate("s2", label_field="label", metric="hamming", home=home)


# -- the CLI through its real entry point ------------------------------------------------------

def test_cli_evaluate_show_leaderboard(cli, home, tmp_path):
    x, labels = make_set(11)
    split = np.where(np.arange(len(x)) % 4 == 0, "val", "train")
    table = pd.DataFrame({"id": [f"i{i}" for i in range(len(x))], "label": [f"c{c}" for c in labels],
                          "split": split})
    table.to_csv(tmp_path / "items.csv", index=False)
    np.save(tmp_path / "a.npy", x)
    cli("add", "-e", tmp_path / "a.npy", "-d", tmp_path / "items.csv", "--dataset-name", "items",
        "--experiment-name", "e", "--space-name", "a", check=True)
    out = cli("evaluate", "a", "--label-field", "label", "--metric", "l2", "--per-class", "--no-clustering",
              "--json", check=True).json()
    idx = np.arange(len(x))
    close(out, naive(x, labels, "l2", idx, idx, True))
    worst = [r["mean_average_precision_at_r"] for r in out["per_class"] if r["mean_average_precision_at_r"] is not None]
    assert worst == sorted(worst) and len(worst) == len(np.unique(labels)) - 2
    assert out["per_class"][-1]["mean_average_precision_at_r"] is None        # lone labels last
    out = cli("evaluate", "a", "-l", "label", "--query-split", "val", "--reference-split", "train", "-k", "all",
              "--cluster-field", "label", "--json", check=True).json()
    q, r = np.flatnonzero(split == "val"), np.flatnonzero(split == "train")
    close(out, naive(x, labels, "cosine", q, r, False, k=len(r)))
    assert out["NMI"] == pytest.approx(1.0) and out["info"]["k"] == len(r)
    human = cli("evaluate", "a", "-l", "label", "--no-clustering", check=True).out
    assert "mean_average_precision_at_r" in human and "lone" in human
    shown = cli("show", "a", "--json", check=True).json()
    assert sum(d["kind"] == "evaluation" for d in shown["derived"]) == 3
    board = cli("leaderboard", "items", "--json", check=True).json()
    # three different settings (l2; a val-vs-train split at k = all; cosine on all items): never
    # ranked together, each its own group of one
    assert len(board) == 3 and sorted(r["group"] for r in board) == [1, 2, 3]
    assert all(r["rank"] == 1 for r in board)
    assert {(r["metric"], r["split"]) for r in board} == {("l2", None), ("cosine", "val vs train"), ("cosine", None)}
    bad = cli("evaluate", "a", "--label-field", "nope")
    assert bad.code == 1 and "no column 'nope'" in bad.err and len(bad.err.strip().splitlines()) == 1
    bad = cli("evaluate", "a", "--label-field", "label", "-k", "some")
    assert bad.code == 1 and "-k 'some' is not valid" in bad.err
    assert math.isfinite(out["AMI"])
