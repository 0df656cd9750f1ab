"""spacelens evaluate == pytorch-metric-learning's AccuracyCalculator, on the same embeddings.

The reference is PML 2.9.0 itself, given a knn_func with the same distance as spacelens's
metric (CosineSimilarity / LpDistance / DotProductSimilarity). ``StableKNN`` is PML's own
``CustomKNN`` with a stable sort instead of ``torch.topk`` (whose order among exactly tied
neighbours is unspecified), so exact ties rank by lower row on both sides. Where no ties
exist, PML's unmodified CustomKNN and default FaissKNN are used too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch", reason="the PML reference tests need torch (pip install torch==2.13.0)")
pytest.importorskip("pytorch_metric_learning", reason="the PML reference tests need pytorch-metric-learning")

from pytorch_metric_learning.distances import CosineSimilarity, DotProductSimilarity, LpDistance  # noqa: E402
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator  # noqa: E402
from pytorch_metric_learning.utils.inference import CustomKNN, return_results  # noqa: E402

import spacelens  # noqa: E402
from spacelens.evaluate import METRICS, retrieval_metrics  # noqa: E402

TOL = 1e-6
CPU = torch.device("cpu")


class StableKNN:
    """PML's CustomKNN, ranking exact ties by lower reference row (a stable sort)."""

    def __init__(self, distance):
        self.distance = distance

    def __call__(self, query, k, reference, ref_includes_query=False):
        if ref_includes_query:
            k = k + 1
        mat = self.distance(query, reference)
        key = -mat if self.distance.is_inverted else mat
        d, i = torch.sort(key, dim=1, stable=True)
        return return_results(d[:, :k], i[:, :k], ref_includes_query)


def pml_distance(metric):
    return {"cosine": CosineSimilarity(), "l2": LpDistance(normalize_embeddings=False),
            "dot": DotProductSimilarity(normalize_embeddings=False)}[metric]


def pml(query, qlabels, reference=None, rlabels=None, *, metric="cosine", knn="stable", k="max_bin_count",
        ref_includes_query=False, include=METRICS, **kw):
    knn_func = (StableKNN(pml_distance(metric)) if knn == "stable" else
                CustomKNN(pml_distance(metric)) if knn == "custom" else None)
    calc = AccuracyCalculator(include=tuple(include), k=k, knn_func=knn_func, device=CPU, **kw)
    return calc.get_accuracy(query, qlabels, reference, rlabels, ref_includes_query=ref_includes_query)


# -- labeled sets ----------------------------------------------------------------------------

def unequal_set(seed, n=300, d=12, n_classes=15, n_singletons=3):
    """Unequal class sizes (p ~ 1/(c+1)) plus singleton classes; overlapping clusters."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_classes + 1)
    labels = rng.choice(n_classes, size=n - n_singletons, p=p / p.sum())
    labels = np.concatenate([labels, np.arange(100, 100 + n_singletons)])
    rng.shuffle(labels)
    centers = rng.normal(size=(labels.max() + 1, d))
    x = (centers[labels] * 1.5 + rng.normal(size=(n, d))).astype(np.float32)
    return x, labels


def duplicate_set(seed, n=280, d=10, n_classes=8):
    """Exact duplicate vectors carrying different labels: ties for every metric."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=n)
    x = (rng.normal(size=(n_classes, d))[labels] + rng.normal(size=(n, d))).astype(np.float32)
    src = rng.choice(n, size=60, replace=False)
    dst = rng.choice(np.setdiff1d(np.arange(n), src), size=60, replace=False)
    x[dst] = x[src]                                     # same vector, often another label
    x[dst[:10]] = x[src[0]]                            # one vector 11 times
    return x, labels


def integer_set(seed, n=260, d=5, n_classes=6):
    """Small-integer vectors: distances exact in float32, so many exact ties (l2, dot)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=n)
    labels[:2] = [50, 51]                               # singletons
    x = np.clip(rng.integers(-1, 2, size=(n_classes + 52, d))[labels] + rng.integers(-1, 2, size=(n, d)), -2, 2)
    return x.astype(np.float32), labels


def register(home, x, labels, name="s", split=None):
    table = pd.DataFrame({"id": [f"i{i}" for i in range(len(x))], "label": [f"c{c}" for c in labels]})
    if split is not None:
        table["split"] = split
    spacelens.add(x, table, dataset_name=f"d_{name}", experiment_name="e", space_name=name, home=home)
    return name


def ours(home, name, metric, **kw):
    res = spacelens.evaluate(name, label_field="label", metric=metric, clustering=False, home=home, **kw)
    return res


def assert_same(a: dict, b: dict, metrics=METRICS):
    for m in metrics:
        assert a[m] == pytest.approx(b[m], abs=TOL), (m, a[m], b[m])


# -- the five kNN metrics ----------------------------------------------------------------------

@pytest.mark.parametrize("metric", ["cosine", "l2", "dot"])
@pytest.mark.parametrize("make,seed", [(unequal_set, 0), (unequal_set, 1), (duplicate_set, 2)])
def test_self_retrieval_equals_pml(home, metric, make, seed):
    x, labels = make(seed)
    name = register(home, x, labels)
    res = ours(home, name, metric)
    ref = pml(x, labels, metric=metric)
    assert_same(res, ref)
    assert res["info"]["k"] == np.bincount(labels).max() - 1
    assert res["info"]["n_lone"] == int((np.bincount(labels)[labels] == 1).sum())


@pytest.mark.parametrize("metric", ["l2", "dot"])
@pytest.mark.parametrize("seed", [3, 4])
def test_exact_ties_between_distinct_vectors(home, metric, seed):
    x, labels = integer_set(seed)
    # the set really has ties between different vectors at equal distance
    d2 = ((x[:40, None, :] - x[None, :, :]) ** 2).sum(-1)
    assert any(len(np.unique(r)) < len(r) - 5 for r in d2)
    name = register(home, x, labels)
    assert_same(ours(home, name, metric), pml(x, labels, metric=metric))


@pytest.mark.parametrize("metric", ["cosine", "l2", "dot"])
def test_unmodified_pml_knn_funcs(home, metric):
    """Without ties PML's own CustomKNN (torch.topk) and, for l2, its default FaissKNN agree."""
    x, labels = unequal_set(5)
    name = register(home, x, labels)
    res = ours(home, name, metric)
    assert_same(res, pml(x, labels, metric=metric, knn="custom"))
    if metric == "l2":
        assert_same(res, pml(x, labels, knn="faiss"))


@pytest.mark.parametrize("metric", ["cosine", "l2", "dot"])
@pytest.mark.parametrize("make,seed", [(unequal_set, 6), (duplicate_set, 7)])
def test_query_reference_split_equals_pml(home, metric, make, seed):
    x, labels = make(seed)
    n = len(x)
    split = np.where(np.arange(n) < n // 3, "val", "train")
    labels = labels.copy()
    labels[0] = 999                      # a query label absent from the reference: lone
    labels[-1] = 998                     # a reference-only label
    name = register(home, x, labels, split=split)
    q, r = split == "val", split == "train"
    res = ours(home, name, metric, query_split="val", reference_split="train")
    ref = pml(x[q], labels[q], x[r], labels[r], metric=metric)
    assert_same(res, ref)
    assert res["info"]["n_lone"] >= 1 and res["info"]["ref_includes_query"] is False
    # queries from one split searched among the whole space (PML: reference starts with the queries)
    res = ours(home, name, metric, query_split="val")
    ref = pml(x[q], labels[q], x, labels, metric=metric, ref_includes_query=True)
    assert_same(res, ref)
    # query split == reference split: self retrieval inside the split
    res = ours(home, name, metric, query_split="train", reference_split="train")
    assert_same(res, pml(x[r], labels[r], metric=metric))


def test_avg_of_avgs_and_per_class_equal_pml(home):
    x, labels = unequal_set(8)
    name = register(home, x, labels)
    res = ours(home, name, "cosine", avg_of_avgs=True, per_class=True)
    assert_same(res, pml(x, labels, avg_of_avgs=True))
    per = pml(x, labels, return_per_class=True)
    scored = sorted((r for r in res["per_class"] if r["n_scored"]), key=lambda r: int(r["label"][1:]))
    for m in METRICS:
        assert np.allclose([r[m] for r in scored], per[m], atol=TOL, rtol=0), m


@pytest.mark.parametrize("k", [5, "all", 40])
def test_other_k_equal_pml(home, k):
    """An integer k below max_bin_count (truncated R) and k='all' (PML's k=None)."""
    x, labels = unequal_set(9)
    name = register(home, x, labels)
    if k != "all":                                         # both below max_bin_count (78) here
        with pytest.warns(spacelens.SpacelensWarning, match="below max_bin_count"):
            res = ours(home, name, "l2", k=k)
    else:
        res = ours(home, name, "l2", k=k)
    assert_same(res, pml(x, labels, metric="l2", k=None if k == "all" else k))


def test_pure_functions_equal_pml_on_given_neighbours():
    """retrieval_metrics over PML's own kNN indices gives PML's numbers (no registry involved)."""
    x, labels = duplicate_set(10)
    knn = StableKNN(pml_distance("cosine"))
    k = np.bincount(labels).max() - 1
    _, idx = knn(torch.from_numpy(x), int(k), torch.from_numpy(x), True)
    res = retrieval_metrics(idx.numpy(), labels, labels, ref_includes_query=True)
    assert res.k == k
    assert_same(res.metrics, pml(x, labels))


# -- NMI / AMI --------------------------------------------------------------------------------

def test_nmi_ami_equal_pml_given_same_assignment(home):
    x, labels = unequal_set(11)
    rng = np.random.default_rng(0)
    assign = np.where(rng.random(len(x)) < 0.7, labels, rng.integers(0, 5, len(x)))  # noisy clusters
    name = register(home, x, labels)
    res = spacelens.evaluate(name, label_field="label", clusters=assign, home=home)
    calc = AccuracyCalculator(include=("NMI", "AMI"), device=CPU,
                              kmeans_func=lambda emb, n: torch.as_tensor(assign))
    ref = calc.get_accuracy(x, labels)
    assert res["NMI"] == pytest.approx(ref["NMI"], abs=1e-12)
    assert res["AMI"] == pytest.approx(ref["AMI"], abs=1e-12)
    assert "precomputed" in res["info"]["clustering"]
    # split: clustering is over the queries only, lone ones included
    split = np.where(np.arange(len(x)) % 3 == 0, "val", "train")
    name = register(home, x, labels, name="s2", split=split)
    res = spacelens.evaluate(name, label_field="label", clusters=assign, query_split="val",
                             reference_split="train", home=home)
    q = split == "val"
    calc = AccuracyCalculator(include=("NMI", "AMI"), device=CPU,
                              kmeans_func=lambda emb, n: torch.as_tensor(assign[q]))
    ref = calc.get_accuracy(x[q], labels[q], x[~q], labels[~q])
    assert res["NMI"] == pytest.approx(ref["NMI"], abs=1e-12)
    assert res["AMI"] == pytest.approx(ref["AMI"], abs=1e-12)
