"""evaluate A --vs B: per-query scores against the definitions, paired differences and per-class
wins by brute force, a planted winner found, a tie not called, and the CLI."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import spacelens
from spacelens.api import open_registry
from spacelens.errors import SpacelensError
from spacelens.evaluate.versus import VERSUS_METRICS, per_query_scores

from test_evaluate import naive


def _setup(home, tmp_path, n=240, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 6, size=n)
    centers = rng.normal(size=(6, 8)) * 2
    clean = centers[labels] + rng.normal(size=(n, 8))
    worse = clean + 1.6 * rng.normal(size=(n, 8))             # the same space, blurred: worse retrieval
    rerun = clean + 0.05 * rng.normal(size=(n, 8))           # a "reseeded" run of clean
    table = pd.DataFrame({"id": [f"i{i}" for i in range(n)], "label": [f"c{c}" for c in labels],
                          "split": np.where(np.arange(n) % 3 == 0, "val", "train")})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for x, name in ((clean, "clean"), (worse, "worse"), (rerun, "rerun")):
            spacelens.add(x.astype(np.float32), table if name == "clean" else None, dataset_name="d",
                          experiment_name=name, space_name=name, home=home)
    return {"clean": clean.astype(np.float32), "worse": worse.astype(np.float32),
            "rerun": rerun.astype(np.float32), "labels": np.array([f"c{c}" for c in labels]), "table": table}


def test_per_query_scores_match_the_definitions(home, tmp_path):
    s = _setup(home, tmp_path)
    reg = open_registry(home)
    n = len(s["labels"])
    for name in ("clean", "worse"):
        pq = per_query_scores(reg, name, label_field="label")
        ref = naive(s[name], s["labels"], "cosine", np.arange(n), np.arange(n), True)
        for m in VERSUS_METRICS:
            assert np.nanmean(pq["scores"][m]) == pytest.approx(ref[m], abs=1e-9)
    # a query split searched among the train items
    pq = per_query_scores(reg, "clean", label_field="label", query_split="val", reference_split="train")
    q = np.flatnonzero(s["table"]["split"] == "val")
    r = np.flatnonzero(s["table"]["split"] == "train")
    ref = naive(s["clean"], s["labels"], "cosine", q, r, False)
    assert (pq["rows"] == q).all()
    for m in VERSUS_METRICS:
        assert np.nanmean(pq["scores"][m]) == pytest.approx(ref[m], abs=1e-9)


def test_versus_paired_difference_and_wins(home, tmp_path):
    s = _setup(home, tmp_path)
    reg = open_registry(home)
    out = spacelens.evaluate_versus("worse", "clean", label_field="label", home=home)
    pa = per_query_scores(reg, "worse", label_field="label")["scores"]
    pb = per_query_scores(reg, "clean", label_field="label")["scores"]
    for m in VERSUS_METRICS:
        d = pb[m] - pa[m]
        res = out["metrics"][m]
        assert res["difference"] == pytest.approx(np.nanmean(d), abs=1e-12)
        assert res["mean_a"] == pytest.approx(np.nanmean(pa[m])) and res["mean_b"] == pytest.approx(np.nanmean(pb[m]))
        assert res["ci95"][0] < res["difference"] < res["ci95"][1]
        assert (res["b_better"], res["a_better"]) == (int((d > 0).sum()), int((d < 0).sum()))
        per = {r["label"]: r for r in out["per_class"][m]}
        for c in np.unique(s["labels"]):
            assert per[c]["difference"] == pytest.approx(np.nanmean(d[s["labels"] == c]), abs=1e-12)
        assert out["wins"][m]["b"] == sum(r["difference"] > 0 for r in out["per_class"][m])
    head = out["metrics"]["mean_average_precision_at_r"]
    assert head["ci95"][0] > 0 and head["p_value"] < 0.01       # the planted winner is found
    assert out["verdict"].startswith("clean retrieves better than worse")


def test_versus_with_a_baseline_and_no_clear_winner(home, tmp_path):
    _setup(home, tmp_path)
    out = spacelens.evaluate_versus("clean", "worse", label_field="label", baseline="rerun", home=home)
    assert "baseline" in out and out["baseline"]["space"] == "rerun"
    assert "more than two runs of clean's recipe differ" in out["verdict"]
    tie = spacelens.evaluate_versus("clean", "rerun", label_field="label", home=home)
    head = tie["metrics"]["mean_average_precision_at_r"]
    if head["ci95"][0] <= 0 <= head["ci95"][1]:
        assert tie["verdict"].startswith("no clear winner")


def test_versus_errors(home, tmp_path):
    _setup(home, tmp_path)
    with pytest.raises(SpacelensError, match="no column 'nope'"):
        spacelens.evaluate_versus("clean", "worse", label_field="nope", home=home)
    with pytest.raises(SpacelensError, match="No space named"):
        spacelens.evaluate_versus("clean", "missing", label_field="label", home=home)


def test_cli_evaluate_vs(cli, home, tmp_path):
    _setup(home, tmp_path)
    j = cli("evaluate", "worse", "--vs", "clean", "--label-field", "label", "--json", check=True).json()
    assert j["space_a"] == "worse" and j["metrics"]["precision_at_1"]["n"] == 240
    txt = cli("evaluate", "clean", "--vs", "worse", "--label-field", "label", "--baseline", "rerun", check=True).out
    assert "clean retrieves better than worse" in " ".join(txt.split())
    assert "MAP@R" in txt and "95% CI" in txt
    # the seed-noise table says, per metric, what the library's rule says of B - A against it
    beyond = spacelens.evaluate_versus("clean", "worse", label_field="label", baseline="rerun",
                                       home=home)["baseline"]["beyond"]
    cells = [[c.strip() for c in line.strip().strip("│").split("│")] for line in txt.splitlines()]
    rows = {c[0]: c[-1] for c in cells if len(c) == 5 and c[0] in ("P@1", "R-precision", "MAP@R")}
    assert rows == {short: ("beyond" if beyond[m] else "within") for m, short in
                    (("precision_at_1", "P@1"), ("r_precision", "R-precision"), ("mean_average_precision_at_r", "MAP@R"))}


# -- spaces over different items: both scored on the same queries and the same reference items --

def _half_setup(home, n=300, seed=3):
    """A over n items; B = A's own vectors over half of them; C = A's over another 200 (the
    baseline path); D = A's over the items all three share (the explicit restriction)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 8, size=n)
    x = (rng.normal(size=(8, 16))[labels] * 1.3 + rng.normal(size=(n, 16))).astype(np.float32)
    ids = np.array([f"i{i:03d}" for i in range(n)])
    table = pd.DataFrame({"id": ids, "label": [f"c{c}" for c in labels],
                          "split": np.where(rng.random(n) < 0.3, "val", "train")})
    half = np.sort(rng.permutation(n)[: n // 2])
    other = np.sort(rng.permutation(n)[:200])
    shared = np.intersect1d(half, other)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spacelens.add(x, table, dataset_name="d", experiment_name="e", space_name="A", home=home)
        for name, rows in (("B", half), ("C", other), ("D", shared)):
            spacelens.add(x[rows], dataset_name="d", experiment_name="e", space_name=name, ids=ids[rows], home=home)
    return {"x": x, "labels": np.array([f"c{c}" for c in labels]), "split": table["split"].to_numpy(),
            "half": half, "other": other, "shared": shared}


def _same_scores(out, sub_metrics, base: bool = False):
    for m in VERSUS_METRICS:
        r = out["metrics"][m]
        assert r["difference"] == 0 and r["ci95"] == [0, 0], m       # exactly, not nearly
        assert r["mean_a"] == r["mean_b"] == pytest.approx(sub_metrics[m], abs=1e-12)
        assert r["p_value"] > 0.99 and r["a_better"] == r["b_better"] == 0
        assert all(c["difference"] == 0 for c in out["per_class"][m])
        if base:
            assert out["baseline"]["metrics"][m]["difference"] == 0
            assert out["baseline"]["beyond"][m] is False
    assert out["verdict"].startswith("no clear winner")
    assert out["wins"]["mean_average_precision_at_r"]["a"] == out["wins"]["mean_average_precision_at_r"]["b"] == 0


def test_versus_of_spaces_over_different_items_scores_the_shared_ones(home):
    """B = A's vectors over half of A's items: nothing differs but coverage, so B - A is
    exactly 0 on every metric (it was +0.01, 'B retrieves better', when A was searched among
    all its 300 items), and both equal A evaluated on those items alone, against the
    definitions (test_evaluate.naive) and against evaluate() of a space holding just them."""
    s = _half_setup(home)
    out = spacelens.evaluate_versus("A", "B", label_field="label", home=home)
    half = s["half"]
    ref = naive(s["x"], s["labels"], "cosine", half, half, True)
    evaluated = spacelens.evaluate("B", label_field="label", engine="exact", clustering=False, home=home)
    for m in VERSUS_METRICS:
        assert evaluated[m] == pytest.approx(ref[m], abs=1e-9)
    _same_scores(out, ref)
    assert out["n_queries"] == len(half)
    cov = out["coverage"]
    assert cov["n_shared"] == len(half)
    assert [(c["space"], c["n_items"], c["queries_dropped"], c["reference_dropped"]) for c in cov["spaces"]] == \
        [("A", 300, 150, 150), ("B", 150, 0, 0)]
    assert cov["note"] == "B embeds 150 of A's 300 items: both are scored on the 150 they share; " \
                          "150 of A's queries left out"
    # the other way round: the same numbers, sides swapped
    back = spacelens.evaluate_versus("B", "A", label_field="label", home=home)
    _same_scores(back, ref)
    # a space inside another: the other is restricted, whichever side it is on
    inner = spacelens.evaluate_versus("B", "D", label_field="label", home=home)
    assert inner["coverage"]["n_shared"] == len(s["shared"])
    assert inner["coverage"]["note"].startswith(f"D embeds {len(s['shared'])} of B's 150 items")
    # the same coverage: nothing left out, no note
    full = spacelens.evaluate_versus("B", "B", label_field="label", home=home)
    assert full["coverage"]["note"] is None and full["n_queries"] == 150


def test_versus_with_a_baseline_over_other_items(home):
    """A vs B with baseline C, each over different items: all three are scored on the items all
    three embed (B - A and C - A exactly 0), equal to D = A restricted to them explicitly."""
    s = _half_setup(home)
    sh = s["shared"]
    out = spacelens.evaluate_versus("A", "B", label_field="label", baseline="C", home=home)
    ref = naive(s["x"], s["labels"], "cosine", sh, sh, True)
    _same_scores(out, ref, base=True)
    direct = spacelens.evaluate_versus("D", "D", label_field="label", home=home)["metrics"]
    for m in VERSUS_METRICS:
        assert out["metrics"][m]["mean_a"] == direct[m]["mean_a"]
    assert out["n_queries"] == out["baseline"]["n_queries"] == len(sh)
    assert {c["space"]: c["queries_dropped"] for c in out["coverage"]["spaces"]} == \
        {"A": 300 - len(sh), "B": 150 - len(sh), "C": 200 - len(sh)}
    assert out["coverage"]["note"].startswith(f"A, B and C share {len(sh)} items (A embeds 300, B embeds 150, "
                                              f"C embeds 200): all are scored on the {len(sh)} they share; ")


def test_versus_with_splits_over_different_items(home):
    """Query and reference splits: the shared items of each (val queries among train items)."""
    s = _half_setup(home)
    half, split = s["half"], s["split"]
    out = spacelens.evaluate_versus("A", "B", label_field="label", query_split="val", reference_split="train",
                                    home=home)
    q, r = half[split[half] == "val"], half[split[half] == "train"]
    ref = naive(s["x"], s["labels"], "cosine", q, r, False)
    _same_scores(out, ref)
    a = out["coverage"]["spaces"][0]
    assert (a["n_queries_all"], a["n_queries"]) == (int((split == "val").sum()), len(q))
    assert (a["n_reference_all"], a["n_reference"]) == (int((split == "train").sum()), len(r))
    assert f"; {a['queries_dropped']} of A's {a['n_queries_all']} queries and {a['reference_dropped']} of its " \
           f"{a['n_reference_all']} reference items left out" in out["coverage"]["note"]
    # val queries searched among all (shared) items
    out = spacelens.evaluate_versus("A", "B", label_field="label", query_split="val", home=home)
    _same_scores(out, naive(s["x"], s["labels"], "cosine", q, half, True))


def test_versus_same_coverage_keeps_the_cached_graph(home, tmp_path):
    """Spaces over the same items are not restricted: each whole space is its own reference,
    its kNN graph built and cached as evaluate() would (a second run reads it)."""
    from spacelens.neighbors import cached_graph

    _setup(home, tmp_path)
    reg = open_registry(home)
    out = spacelens.evaluate_versus("clean", "worse", label_field="label", home=home)
    assert out["coverage"]["note"] is None and out["coverage"]["n_shared"] == 240
    k = out["k"]["a"]
    for name in ("clean", "worse"):
        assert cached_graph(reg, reg.space(name), k, "cosine", "exact") is not None
    spacelens.add(np.eye(3, 8, dtype=np.float32), pd.DataFrame({"id": ["x", "y", "z"], "label": ["a", "a", "b"]}),
                  dataset_name="other", experiment_name="o", space_name="O", home=home)
    with pytest.raises(SpacelensError, match="embed different datasets"):
        spacelens.evaluate_versus("clean", "O", label_field="label", home=home)


def test_cli_evaluate_vs_says_what_was_left_out(cli, home):
    _half_setup(home)
    txt = " ".join(cli("evaluate", "A", "--vs", "B", "--label-field", "label", check=True).out.split())
    assert "B embeds 150 of A's 300 items: both are scored on the 150 they share; 150 of A's queries left out" in txt
    assert "no clear winner between A and B" in txt
    j = cli("evaluate", "A", "--vs", "B", "--label-field", "label", "--json", check=True).json()
    assert j["coverage"]["note"].startswith("B embeds 150 of A's 300 items")
    assert j["metrics"]["mean_average_precision_at_r"]["difference"] == 0
