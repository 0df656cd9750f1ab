"""evaluate --sample: exact neighbours of n random queries give every kNN metric with a 95% CI.

Proof against independent references: the point estimate equals the mean of the per-query
scores of the sampled queries computed one query at a time by the definitions
(``naive`` of test_evaluate.py); the interval covers the full exact value at about the
nominal rate over many seeds; the sample settings are part of the stored evaluation's key.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import spacelens
from spacelens.errors import SpacelensError
from spacelens.evaluate import METRICS
from spacelens.evaluate.retrieval import label_counts, score_block
from spacelens.evaluate.sampled import sample_queries, summarize_sample
from test_evaluate import close, make_set, naive, register


def _scored_positions(labels, q_idx, r_idx, ref_includes_query):
    """Positions (into q_idx) of queries with something to retrieve, as evaluate orders them."""
    codes, _ = pd.factorize(np.array([f"c{c}" for c in labels]))
    counts = label_counts(codes[q_idx], codes[r_idx], ref_includes_query, codes.max() + 1)
    return np.flatnonzero(~counts.lone)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_point_estimate_is_the_sampled_queries_exact_scores(home, metric):
    x, labels = make_set(21, n=300)
    name = register(home, x, labels)
    full = spacelens.evaluate(name, label_field="label", metric=metric, clustering=False, home=home)
    for seed in (0, 3):
        res = spacelens.evaluate(name, label_field="label", metric=metric, clustering=False, sample=60,
                                 seed=seed, home=home)
        idx = np.arange(len(x))
        keep = _scored_positions(labels, idx, idx, True)
        sel = keep[sample_queries(len(keep), 60, seed)]
        expected = naive(x, labels, metric, sel, idx, True, k=full["info"]["k"])
        close(res, expected)
        s = res["info"]["sample"]
        assert (s["n"], s["seed"], s["population"]) == (60, seed, len(keep))
        assert res["info"]["k"] == full["info"]["k"] and res["info"]["engine"] == "exact"
        for m in METRICS:
            lo, hi = s["ci95"][m]
            assert lo <= res[m] <= hi and 0 <= lo and hi <= 1
    # with the whole population drawn, the estimate is the full value and the interval collapses
    whole = spacelens.evaluate(name, label_field="label", metric=metric, clustering=False, sample=10_000,
                               home=home)
    close(whole, full, tol=1e-9)
    for m in METRICS:
        assert whole["info"]["sample"]["ci95"][m] == pytest.approx([full[m], full[m]], abs=1e-9)


def test_split_queries_sampled_against_the_reference_split(home):
    x, labels = make_set(22, n=300)
    split = np.where(np.arange(len(x)) % 3 == 0, "val", "train")
    name = register(home, x, labels, split=split)
    q, r = np.flatnonzero(split == "val"), np.flatnonzero(split == "train")
    res = spacelens.evaluate(name, label_field="label", query_split="val", reference_split="train",
                             clustering=False, sample=40, seed=5, home=home)
    full = spacelens.evaluate(name, label_field="label", query_split="val", reference_split="train",
                              clustering=False, home=home)
    keep = _scored_positions(labels, q, r, False)
    sel = q[keep[sample_queries(len(keep), 40, 5)]]
    close(res, naive(x, labels, "cosine", sel, r, False, k=full["info"]["k"]))


def test_ci_covers_the_full_value_at_about_the_nominal_rate(home):
    """400 seeds: each metric's 95% interval holds the full exact value in 92-98% of them.

    The full per-query scores are computed once (every query searched exactly); each seed
    then draws its sample with evaluate's sampler and summarises it with evaluate's interval,
    so the loop is cheap. That a sampled query's score is its full score is the test above.
    """
    rng = np.random.default_rng(7)
    n, n_classes = 1500, 30
    labels = rng.integers(0, n_classes, n)
    x = (rng.normal(size=(n_classes, 16))[labels] * 1.0 + rng.normal(size=(n, 16))).astype(np.float32)
    name = register(home, x, labels)
    full = spacelens.evaluate(name, label_field="label", clustering=False, home=home)
    reg = spacelens.open_registry(home)
    from spacelens.neighbors import knn_graph

    g = knn_graph(reg, name, full["info"]["k"], engine="exact")
    codes, _ = pd.factorize(np.array([f"c{c}" for c in labels]))
    counts = label_counts(codes, codes, True, codes.max() + 1)
    keep = np.flatnonzero(~counts.lone)
    per = score_block(codes[g.indices[keep]], codes[keep], counts.r[keep])
    for m in METRICS:   # the full per-query scores average to the full evaluation
        assert per[m].mean() == pytest.approx(full[m], abs=1e-9)
    seeds = 400
    covered = {m: 0 for m in METRICS}
    for seed in range(seeds):
        sel = sample_queries(len(keep), 80, seed)
        est = summarize_sample({m: per[m][sel] for m in METRICS}, len(keep))
        for m in METRICS:
            lo, hi = est[m]["ci95"]
            covered[m] += lo <= full[m] <= hi
    rates = {m: c / seeds for m, c in covered.items()}
    assert all(0.92 <= r <= 0.98 for r in rates.values()), rates
    assert 0.3 < full["precision_at_1"] < 0.9   # not a degenerate (all-0 or all-1) population


def test_sample_settings_are_part_of_the_stored_key(home):
    from spacelens.evaluate.core import ARTIFACT, evaluation_params

    x, labels = make_set(23, n=200)
    name = register(home, x, labels)
    spacelens.evaluate(name, label_field="label", clustering=False, home=home)
    spacelens.evaluate(name, label_field="label", clustering=False, sample=50, seed=1, home=home)
    spacelens.evaluate(name, label_field="label", clustering=False, sample=50, seed=2, home=home)
    reg = spacelens.open_registry(home)
    arts = reg.find_artifacts(kind=ARTIFACT, space=name)
    assert sorted(str(a.params.get("sample")) for a in arts) == [
        "None", "{'n': 50, 'seed': 1}", "{'n': 50, 'seed': 2}"]
    key = evaluation_params("label", k="max_bin_count", sample={"n": 50, "seed": 1})
    art = reg.get_artifact(ARTIFACT, name, key)
    assert art is not None and art.info["sample"]["n"] == 50
    assert "sample" not in evaluation_params("label")          # full evaluations keep their old key
    board = spacelens.leaderboard(f"d_{name}", home=home)
    assert len({row["group"] for row in board}) == 2             # estimates rank apart from full values


def test_clear_errors(home):
    x, labels = make_set(24, n=100)
    name = register(home, x, labels)
    for bad in (1, 0, True, 2.5):
        with pytest.raises(SpacelensError, match="at least 2"):
            spacelens.evaluate(name, label_field="label", clustering=False, sample=bad, home=home)
    with pytest.raises(SpacelensError, match="avg-of-avgs"):
        spacelens.evaluate(name, label_field="label", clustering=False, sample=20, avg_of_avgs=True, home=home)


def test_cli_sample_prints_intervals(cli, home, tmp_path):
    x, labels = make_set(25, n=200)
    np.save(tmp_path / "x.npy", x)
    table = pd.DataFrame({"id": [f"i{i}" for i in range(len(x))], "label": [f"c{c}" for c in labels]})
    table.to_csv(tmp_path / "t.csv", index=False)
    cli("add", "-e", tmp_path / "x.npy", "-d", tmp_path / "t.csv", "--dataset-name", "items",
        "--experiment-name", "e", "--space-name", "s", check=True)
    out = cli("evaluate", "s", "-l", "label", "--sample", "50", "--no-clustering", check=True).out
    assert "95% CI" in out and "estimated from 50 random queries" in out
    js = cli("evaluate", "s", "-l", "label", "--sample", "50", "--no-clustering", "--json", check=True).json()
    assert set(js["info"]["sample"]["ci95"]) == set(METRICS)
    bad = cli("evaluate", "s", "-l", "label", "--sample", "1")
    assert bad.code == 1 and "at least 2" in bad.err + bad.out
