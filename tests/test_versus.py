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
