"""The budget rule (spacelens.budget): a verb answers from a sample exactly when its items number
more than FULL_ALWAYS_MAX_ITEMS and its full result is estimated to take longer than the budget;
sampled answers agree with the full ones within their intervals; --full stores what later verbs
reuse; the CLI says so in its first line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import spacelens
from spacelens import budget
from spacelens.errors import SpacelensError


def _pair(home, n=400, d=8, classes=5, seed=0, noise_b=1.5):
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, classes, n)
    c = rng.normal(size=(classes, d)) * 1.2
    xa = (c[lab] + rng.normal(size=(n, d))).astype(np.float32)
    xb = (c[lab] + rng.normal(size=(n, d)) * noise_b).astype(np.float32)
    t = pd.DataFrame({"id": [f"i{i}" for i in range(n)], "label": lab})
    spacelens.add(xa, t, dataset_name="d", experiment_name="e", space_name="A", home=home)
    spacelens.add(xb, dataset_name="d", experiment_name="f", space_name="B", home=home)


@pytest.fixture
def small_rule(monkeypatch):
    """The rule's size threshold lowered so that a few hundred items count as large."""
    monkeypatch.setattr(budget, "FULL_ALWAYS_MAX_ITEMS", 100)
    monkeypatch.setattr(budget, "DEFAULT_SAMPLE", 150)


# -- the rule -----------------------------------------------------------------------------------

def test_decide_samples_exactly_when_the_estimate_exceeds_the_budget():
    n = budget.FULL_ALWAYS_MAX_ITEMS + 1
    for est in (0.0, 0.5, 59.9, 60.0, 60.1, 3600.0):
        plan = budget.decide("comparison", n, {"graphs": est})
        assert plan.sampled == (est > 60.0), est
        assert plan.sample == (budget.DEFAULT_SAMPLE if est > 60.0 else None)
        assert plan.budget == 60.0
    # at and below the size threshold nothing changes, whatever it costs
    assert not budget.decide("comparison", budget.FULL_ALWAYS_MAX_ITEMS, {"graphs": 1e9}).sampled
    # --full runs it in full, whatever it costs
    assert not budget.decide("comparison", 10**7, {"graphs": 1e9}, full=True).sampled


def test_budget_from_argument_environment_and_default(monkeypatch):
    monkeypatch.delenv(budget.BUDGET_ENV, raising=False)
    assert budget.budget_seconds() == 60.0
    monkeypatch.setenv(budget.BUDGET_ENV, "15")
    assert budget.budget_seconds() == 15.0
    assert budget.budget_seconds(5) == 5.0
    for bad in (0, -1, float("inf"), True, "x"):
        with pytest.raises(SpacelensError, match="positive number of seconds"):
            budget.budget_seconds(bad)
    monkeypatch.setenv(budget.BUDGET_ENV, "soon")
    with pytest.raises(SpacelensError, match="SPACELENS_BUDGET"):
        budget.budget_seconds()


def test_the_headline_says_what_the_answer_rests_on_and_how_to_get_the_full_one():
    plan = budget.decide("comparison", 1_000_000, {"graphs": 3000.0})
    line = plan.headline()
    assert line.startswith("Sampled answer: 2,000 random of 1,000,000 items, with 95% intervals.")
    assert "would take about 50.0 min" in line and "--full" in line
    assert budget.decide("comparison", 1_000_000, {"graphs": 1.0}).headline() is None


def test_compare_follows_the_rule_on_both_sides_of_its_estimate(small_rule, tmp_path):
    h = tmp_path / "h"
    _pair(h)
    reg = spacelens.open_registry(h)
    est = budget.plan_compare(reg, "A", "B", 50).full_seconds
    assert est > 0
    over = spacelens.compare("A", "B", budget=est * 0.99, home=h)
    under = spacelens.compare("A", "B", budget=est * 1.01, home=h)
    assert over.info["budget"]["sampled"] and over.info["sample"]["n"] == 150 and len(over.jaccard) == 150
    assert not under.info["budget"]["sampled"] and "sample" not in under.info and len(under.jaccard) == 400


def test_at_the_threshold_and_below_nothing_changes(tmp_path):
    """The real threshold (100,000): a small pair is compared and evaluated in full at any budget."""
    h = tmp_path / "h"
    _pair(h)
    res = spacelens.compare("A", "B", budget=1e-9, home=h)
    ev = spacelens.evaluate("A", label_field="label", clustering=False, budget=1e-9, home=h)
    assert not res.info["budget"]["sampled"] and "sample" not in res.info
    assert "full comparison: 400 items" in res.info["budget"]["reason"]
    assert not ev["info"]["budget"]["sampled"] and "sample" not in ev["info"]


# -- sampled answers agree with the full ones ---------------------------------------------------

def test_sampled_figures_cover_the_full_ones_about_95_percent_of_the_time(small_rule, tmp_path):
    """Over 40 seeds, the sampled comparison's and evaluation's 95% intervals hold the full figure
    (about 95%; at least 85% keeps the test from flaking while a broken interval still fails it)."""
    h = tmp_path / "h"
    _pair(h, n=600, classes=6)
    samples = []
    seeds = range(40)
    for seed in seeds:      # sampled first: a full run stores graphs, after which the default is full
        s = spacelens.compare("A", "B", seed=seed, cka=False, budget=1e-9, home=h)
        e = spacelens.evaluate("A", label_field="label", clustering=False, seed=seed, budget=1e-9, home=h)
        samples.append((s.info["sample"]["ci95"], e["info"]["sample"]["ci95"]))
    full_j = spacelens.compare("A", "B", full=True, cka=False, home=h).mean
    full_e = spacelens.evaluate("A", label_field="label", clustering=False, full=True, home=h)
    hits = {"jaccard": 0, "map_at_r": 0, "p_at_1": 0}
    for (lo, hi), ci in samples:
        hits["jaccard"] += lo <= full_j <= hi
        for key, m in (("map_at_r", "mean_average_precision_at_r"), ("p_at_1", "precision_at_1")):
            hits[key] += ci[m][0] <= full_e[m] <= ci[m][1]
    for key, hit in hits.items():
        assert hit / len(seeds) >= 0.85, (key, hit)


def test_sampled_paired_evaluation_scores_the_same_queries_in_both_spaces(small_rule, tmp_path):
    """The sampled evaluate --vs draws its queries by dataset row: stored in another row order, B
    still scores the same items, and each sampled query's score equals its full-run score."""
    h = tmp_path / "h"
    rng = np.random.default_rng(1)
    n = 400
    lab = rng.integers(0, 4, n)
    x = (rng.normal(size=(4, 8))[lab] + rng.normal(size=(n, 8))).astype(np.float32)
    ids = np.array([f"i{i}" for i in range(n)])
    t = pd.DataFrame({"id": ids, "label": lab})
    spacelens.add(x, t, dataset_name="d", experiment_name="e", space_name="A", home=h)
    perm = rng.permutation(n)     # B: A's own vectors, stored shuffled: every difference must be 0
    spacelens.add(x[perm], dataset_name="d", experiment_name="f", space_name="B", ids=ids[perm], home=h)
    v = spacelens.evaluate_versus("A", "B", label_field="label", budget=1e-9, home=h)
    m = v["metrics"]["mean_average_precision_at_r"]
    assert v["sample"]["n"] == 150 and m["n"] == 150
    assert m["difference"] == 0 and m["ci95"] == [0.0, 0.0]
    full = spacelens.evaluate_versus("A", "B", label_field="label", full=True, home=h)
    assert full["metrics"]["mean_average_precision_at_r"]["n"] > 150 and "sample" not in full
    assert "150 sampled queries of" in v["verdict"]


# -- --full is stored and reused ---------------------------------------------------------------

def test_full_results_are_stored_and_then_used_instead_of_a_sample(small_rule, tmp_path):
    h = tmp_path / "h"
    _pair(h)
    reg = spacelens.open_registry(h)
    assert budget.plan_compare(reg, "A", "B", 50).full_seconds > 0
    full = spacelens.compare("A", "B", full=True, home=h)
    # the graphs are stored: the full comparison now costs nothing, so the default is full
    assert budget.plan_compare(reg, "A", "B", 50).full_seconds == 0
    again = spacelens.compare("A", "B", budget=1e-9, home=h)
    assert not again.info["budget"]["sampled"] and again.mean == full.mean
    ev = spacelens.evaluate("A", label_field="label", full=True, home=h)
    reused = spacelens.evaluate("A", label_field="label", budget=1e-9, home=h)
    assert reused["info"].get("stored") and "sample" not in reused["info"]
    for m in ("mean_average_precision_at_r", "precision_at_1", "NMI", "AMI"):
        assert reused[m] == ev[m]
    with pytest.raises(SpacelensError, match="opposite"):
        spacelens.compare("A", "B", sample=10, full=True, home=h)


# -- the CLI -----------------------------------------------------------------------------------

def test_cli_leads_with_the_sampled_line_and_full_removes_it(cli, tmp_path):
    """101,000 items (over the real threshold) at a tiny budget: compare and evaluate answer from a
    sample and say so first; --full answers in full; --json carries the plan."""
    n = budget.FULL_ALWAYS_MAX_ITEMS + 1000
    rng = np.random.default_rng(0)
    lab = rng.integers(0, 100, n)
    c = rng.normal(size=(100, 4))
    for name, noise in (("A", 0.3), ("B", 0.6)):
        np.save(tmp_path / f"{name}.npy", (c[lab] + rng.normal(size=(n, 4)) * noise).astype(np.float32))
    pd.DataFrame({"id": [f"i{i}" for i in range(n)], "label": lab}).to_parquet(tmp_path / "t.parquet")
    cli("add", "-e", tmp_path / "A.npy", "--dataset", tmp_path / "t.parquet", "--dataset-name", "d",
        "--experiment-name", "e", "--space-name", "A", check=True)
    cli("add", "-e", tmp_path / "B.npy", "--dataset-name", "d", "--experiment-name", "f", "--space-name", "B",
        check=True)
    out = cli("compare", "A", "B", "--budget", "0.001", "--no-cka", check=True).out
    first = out.strip().splitlines()[0]
    assert first.startswith(f"Sampled answer: 2,000 random of {n:,} items, with 95% intervals.")
    assert "--full" in out
    ev = cli("evaluate", "A", "-l", "label", "--no-clustering", "--budget", "0.001", "--json", check=True).json()
    assert ev["info"]["budget"]["sampled"] and ev["info"]["sample"]["n"] == 2000
    bad = cli("compare", "A", "B", "--budget", "-3")
    assert bad.code != 0 and "positive number of seconds" in bad.err and "Traceback" not in bad.err


def test_cli_full_is_stated_in_the_plan(cli, tmp_path, home):
    _pair(home)
    full = cli("compare", "A", "B", "--full", "--json", "--no-items", check=True).json()
    assert not full["budget"]["sampled"] and full["budget"]["forced"] and "sample" not in full
    assert full["budget"]["reason"].startswith("full comparison asked for (--full)")
    out = cli("compare", "A", "B", "--full", check=True).out
    assert "Sampled answer" not in out


def test_nmi_ami_wait_for_full_when_k_means_alone_exceeds_the_budget(small_rule, tmp_path):
    """k-means' fits cannot be sampled honestly: when they alone exceed the budget the sampled
    evaluation leaves NMI/AMI out and its first line says so; within it they come with intervals."""
    plan = budget.decide("evaluation", 10**6, {"search": 600.0, "k-means": 300.0}, deferrable=250.0)
    assert plan.sampled and plan.deferred == ["NMI", "AMI"] and "NMI and AMI are left out" in plan.headline()
    assert budget.decide("evaluation", 10**6, {"search": 600.0}, deferrable=30.0).deferred == []
    h = tmp_path / "h"
    _pair(h)
    ev = spacelens.evaluate("A", label_field="label", budget=1e-9, home=h)
    assert ev["info"]["budget"]["deferred"] == ["NMI", "AMI"] and "NMI" not in ev and "AMI" not in ev
    assert "sample" in ev["info"]
    reg = spacelens.open_registry(h)
    plan = budget.plan_evaluate(reg, "A", label_field="label")
    ok = spacelens.evaluate("A", label_field="label", budget=(plan.full_seconds + plan.deferrable) / 2, home=h)
    if plan.deferrable < plan.full_seconds / 2:      # sampled, fits within the budget: NMI/AMI estimated
        assert ok["info"]["budget"]["sampled"] and ok["info"]["budget"]["deferred"] == []
        assert set(ok["info"]["sample"]["ci95"]) >= {"NMI", "AMI"}


def test_a_large_report_leaves_the_audit_to_its_verb_until_one_is_stored(small_rule, tmp_path):
    """The audit builds both spaces' kNN graphs: above the threshold the report does not run it
    unasked (it says how), and shows a stored one once the audit verb has run."""
    h = tmp_path / "h"
    _pair(h)
    out = spacelens.report("A", "B", tmp_path / "r.html", label_field="label", baseline=False, budget=1e-9, home=h)
    assert "spacelens audit A -l label --vs B" in out["audit"]["skipped"]
    assert "Not audited here" in (tmp_path / "r.html").read_text()
    audited = spacelens.audit("A", label_field="label", other="B", home=h)
    again = spacelens.report("A", "B", tmp_path / "r2.html", label_field="label", baseline=False, budget=1e-9,
                             home=h)
    assert again["audit"]["answer"] == audited.answer


def test_evolution_shares_one_budget_and_says_which_figures_are_sampled(small_rule, tmp_path):
    h = tmp_path / "h"
    _pair(h)
    x, ids = spacelens.load_space("A", home=h)
    for step in range(3):
        spacelens.log_space(f"run.e{step}", np.asarray(x) + step * 0.1, dataset="d", experiment="run", ids=ids,
                            step=step, split="val", home=h)
    ev = spacelens.evolution("run", budget=1e-6, home=h)
    # 2 comparisons to the previous epoch and 2 to the last (the last against itself is 1 by definition)
    assert ev.info["sampled"]["figures"] == 4
    assert ev.info["sampled"]["line"].startswith("4 figures are sampled (150 random items or queries each")
    assert "budget shared by the whole evolution" in ev.info["sampled"]["line"]
    assert "sampled" not in spacelens.evolution("run", full=True, home=h).info


def test_sampled_paired_evaluation_on_spaces_over_different_items(small_rule, tmp_path):
    """B holds A's own vectors for half of A's items: sampled over the shared items, every paired
    difference is exactly 0 and the queries come from the shared items only."""
    h = tmp_path / "h"
    _pair(h, n=600)
    x, ids = spacelens.load_space("A", home=h)
    half = np.arange(0, 600, 2)
    spacelens.add(np.asarray(x)[half], dataset_name="d", experiment_name="g", space_name="H", ids=ids[half], home=h)
    v = spacelens.evaluate_versus("A", "H", label_field="label", budget=1e-9, home=h)
    m = v["metrics"]["mean_average_precision_at_r"]
    assert v["sample"]["n"] == 150 and v["sample"]["population"] <= 300
    assert m["difference"] == 0 and m["ci95"] == [0.0, 0.0]
    assert v["coverage"]["n_shared"] == 300
