"""NMI/AMI at scale (evaluate --sample): the estimate of the full evaluation's k-means figure.

Proof against independent references: scores() of an assignment equal sklearn's NMI/AMI
(AMI's E[MI] from permutations within its Monte Carlo error); the estimate's 95% interval holds
the full evaluation's value (kmeans_assignment over all items, same seed) over 40 seeds; the
sampled evaluation reports NMI/AMI with intervals through the API and the CLI's --json.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_mutual_info_score, normalized_mutual_info_score

import spacelens
from spacelens.evaluate import clustering_sampled as cs
from spacelens.evaluate.clustering import clustering_metrics, kmeans_assignment
from test_evaluate import make_set, register


def _gaussian(seed, n, classes, d, scale):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    x = rng.normal(size=(classes, d))[labels] * scale + rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


@pytest.mark.parametrize("n,classes,clusters", [(3000, 40, 45), (20000, 300, 300), (5000, 2, 7), (400, 1, 3)])
def test_scores_equal_sklearn(n, classes, clusters, monkeypatch):
    rng = np.random.default_rng(n)
    labels = rng.integers(0, classes, n)
    assign = np.where(rng.random(n) < 0.6, labels, rng.integers(0, clusters, n))
    names = np.array([f"L{v}" for v in labels])            # strings and ints mixed on purpose
    ref_nmi = normalized_mutual_info_score(names, assign)
    ref_ami = adjusted_mutual_info_score(names, assign)
    got = cs.scores(names, assign)
    assert got["NMI"] == pytest.approx(ref_nmi, abs=1e-12) and got["AMI"] == pytest.approx(ref_ami, abs=1e-12)
    monkeypatch.setattr(cs, "EXACT_EMI_MAX_WORK", 0)         # E[MI] from permutations
    mc = cs.scores(names, assign)
    assert mc["NMI"] == pytest.approx(ref_nmi, abs=1e-12)
    assert abs(mc["AMI"] - ref_ami) <= max(4 * mc["AMI_se"], 1e-12), (mc, ref_ami)


def test_one_cluster_and_perfect_match_as_sklearn():
    lab = np.array([0, 0, 1, 1, 2, 2])
    assert cs.scores(lab, lab)["NMI"] == pytest.approx(1.0) and cs.scores(lab, lab)["AMI"] == pytest.approx(1.0)
    one = np.zeros(6, int)
    assert cs.scores(lab, one)["NMI"] == normalized_mutual_info_score(lab, one)
    assert cs.scores(lab, one)["AMI"] == adjusted_mutual_info_score(lab, one)
    assert cs.scores(one, one) == {"NMI": 1.0, "AMI": 1.0, "AMI_se": 0.0}


def test_interval_covers_the_full_figure_over_seeds():
    """40 seeds x (well and weakly separated): the estimate's interval holds the full value."""
    covered, total, exact = 0, 0, 0
    for sep, scale in (("well", 0.9), ("weak", 0.45)):
        x, labels = _gaussian(11, 4000, 25, 16, scale)
        for seed in range(20):
            full = clustering_metrics(labels, kmeans_assignment(x, 25, seed=seed, n_init=3))
            est = cs.estimate(x, labels, 25, sample=500, seed=seed, n_init=3)
            for m in ("NMI", "AMI"):
                lo, hi = est["ci95"][m]
                covered += lo - 1e-12 <= full[m] <= hi + 1e-12
                total += 1
                assert lo <= est[m] <= hi
            exact += abs(est["NMI"] - full["NMI"]) < 1e-12
    print("coverage", covered / total, "same value", exact)
    assert covered / total >= 0.85, covered / total
    assert exact >= 20, exact     # often the very same restart wins: the same number


def test_evaluate_sample_reports_clustering_intervals(home):
    x, labels = make_set(31, n=400)
    name = register(home, x, labels)
    full = spacelens.evaluate(name, label_field="label", home=home)
    res = spacelens.evaluate(name, label_field="label", sample=80, clustering_sample=200, home=home)
    ci = res["info"]["sample"]["ci95"]
    for m in ("NMI", "AMI"):
        lo, hi = ci[m]
        assert lo <= res[m] <= hi and lo <= full[m] + 1e-12 and full[m] - 1e-12 <= hi
    assert "compared on 200 random items" in res["info"]["clustering"]
    # the full path is unchanged: no interval, kmeans over all items
    assert "sample" not in full["info"]
    only_clusters = spacelens.evaluate(name, label_field="label", sample=80, clustering=False, home=home)
    assert "NMI" not in only_clusters["info"]["sample"]["ci95"]


def test_cli_json_and_table_show_clustering_intervals(cli, home, tmp_path):
    x, labels = make_set(32, n=300)
    np.save(tmp_path / "x.npy", x)
    table = pd.DataFrame({"id": [f"i{i}" for i in range(len(x))], "label": [f"c{c}" for c in labels]})
    table.to_csv(tmp_path / "t.csv", index=False)
    cli("add", "-e", tmp_path / "x.npy", "-d", tmp_path / "t.csv", "--dataset-name", "items",
        "--experiment-name", "e", "--space-name", "s", check=True)
    js = cli("evaluate", "s", "-l", "label", "--sample", "50", "--json", check=True).json()
    for m in ("NMI", "AMI"):
        lo, hi = js["info"]["sample"]["ci95"][m]
        assert lo <= js[m] <= hi
    out = cli("evaluate", "s", "-l", "label", "--sample", "50", check=True).out
    row = next(line for line in out.splitlines() if line.strip(" │┃|").startswith("NMI "))
    lo, hi = js["info"]["sample"]["ci95"]["NMI"]
    assert f"{lo:.4f}-{hi:.4f}" in row
