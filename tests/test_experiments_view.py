"""The Registry tab as an experiments view (#24 item 7): the leaderboard route serves exactly
``spacelens.leaderboard``, training curves are read from stored results only (a GET computes
nothing) and equal what ``spacelens.evolution`` computed and stored, and two runs of one recipe
say which params differ (the seed), found by comparing the params, not by name.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _web import local_client

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import spacelens  # noqa: E402
from spacelens import api  # noqa: E402
from spacelens.jsonable import jsonable  # noqa: E402
from spacelens.registry import Registry  # noqa: E402
from spacelens.views.experiments import flat_params, param_differences, run_pairs, stored_curve  # noqa: E402

N = 120
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
VECS: dict[str, np.ndarray] = {}  # the vectors each space was logged with (brute-force references)
RECIPE = {"lr": 0.001, "loss": {"name": "triplet", "margin": 0.1}, "seed": 0, "sizes": [64, 32]}


def _world(home: Path) -> dict:
    vecs = {}
    rng = np.random.default_rng(5)
    lab = rng.integers(0, 4, N)
    centers = rng.normal(size=(4, 8)) * 2
    table = pd.DataFrame({"id": [f"x{i:03d}" for i in range(N)], "label": lab})
    spacelens.add(centers[lab] + rng.normal(size=(N, 8)), table, dataset_name="items", experiment_name="raw",
                  space_name="raw", home=home)
    runs = {"rec": RECIPE, "rec-seed1": {**RECIPE, "seed": 1},
            "other": {**RECIPE, "lr": 0.01, "loss": {"name": "arcface", "scale": 64}}}
    for exp, params in runs.items():
        # epochs logged out of order, with two-digit epochs: the curve follows the step, not the name
        for step in (10, 2, 1):
            name = f"{exp}.epoch_{step}.val"
            vecs[name] = centers[lab] + 3.0 / step * rng.normal(size=(N, 8))
            api.log_space(name, vecs[name], dataset="items", experiment=exp, step=step, split="val", params=params,
                          run=f"{exp}-run", home=home)
    return vecs


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SPACELENS_NO_PROGRESS", "1")
    home = tmp_path / "home"
    VECS.clear()
    VECS.update(_world(home))
    return home


def _client(home):
    from spacelens.server import create_app

    return local_client(create_app(home, jobs="thread"))


def test_flat_params_and_differences_by_hand():
    assert flat_params({"a": 1, "b": {"c": 2, "d": {"e": [1, 2]}}, "f": {}}) == {"a": 1, "b.c": 2, "b.d.e": [1, 2],
                                                                             "f": {}}
    assert param_differences({"seed": 0, "opt": {"lr": 1e-3}}, {"seed": 1, "opt": {"lr": 1e-3}}) == \
        [{"key": "seed", "a": 0, "b": 1}]
    # a key on one side only differs; lists compare by value
    assert param_differences({"x": [1, 2]}, {"x": [1, 2], "y": None}) == [{"key": "y", "a": None, "b": None}]
    assert param_differences({"x": [1, 2]}, {"x": [2, 1]}) == [{"key": "x", "a": [1, 2], "b": [2, 1]}]


def test_two_runs_of_one_recipe_differ_in_the_seed_only(home):
    pairs = run_pairs(Registry(home))
    # rec vs rec-seed1: the seed; "other" has other keys (loss.scale, no loss.margin): not the same recipe
    assert pairs == [{"a": "rec", "b": "rec-seed1", "differ": [{"key": "seed", "a": 0, "b": 1}], "n_same": 4}]


def test_leaderboard_route_is_the_library_leaderboard(home):
    for s in ("rec.epoch_1.val", "rec.epoch_10.val", "other.epoch_10.val", "raw"):
        api.evaluate(s, label_field="label", home=home)
    api.evaluate("raw", label_field="label", metric="l2", home=home)  # a second settings group
    ref = jsonable(spacelens.leaderboard("items", home=home))
    assert {r["group"] for r in ref} == {1, 2} and len(ref) == 5
    with _client(home) as c:
        got = c.get("/api/leaderboard", params={"dataset": "items"})
        assert got.status_code == 200 and got.json() == ref
        by = c.get("/api/leaderboard", params={"dataset": "items", "by": "precision_at_1", "metric": "cosine"})
        assert by.json() == jsonable(spacelens.leaderboard("items", by="precision_at_1", metric="cosine", home=home))
        bad = c.get("/api/leaderboard", params={"dataset": "nope"})
        assert bad.status_code == 404 and "nope" in bad.json()["detail"]
        view = c.get("/api/experiments-view").json()
        assert view["leaderboards"]["items"] == ref


def _files(home: Path) -> set[str]:
    return {str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()
            and not p.name.endswith(("-wal", "-shm", "-journal"))}


def test_training_curve_is_read_from_stored_results_and_equals_evolution(home):
    reg = Registry(home)
    before = _files(home)
    with _client(home) as c:
        empty = c.get("/api/evolution", params={"experiment": "rec"}).json()
    # nothing stored yet: every figure is a gap, and the GET computed nothing
    assert empty["steps"] == [1, 2, 10] and empty["spaces"] == ["rec.epoch_1.val", "rec.epoch_2.val", "rec.epoch_10.val"]
    assert empty["jaccard_prev"] == [None, None, None] and empty["metric_values"] == [None, None, None]
    assert empty["missing"] == {"jaccard_prev": 2, "metric": 3}
    assert empty["command"].startswith("spacelens evolution rec --split val -k 10")
    assert reg.find_artifacts() == [] and _files(home) == before

    ev = spacelens.evolution("rec", k=7, label_field="label", home=home)  # computes and stores them
    with _client(home) as c:
        curve = c.get("/api/evolution", params={"experiment": "rec"}).json()
        view = c.get("/api/experiments-view").json()
    assert curve["k"] == 7 and curve["steps"] == [e.step for e in ev.epochs]
    assert curve["missing"] == {"jaccard_prev": 0, "metric": 0}
    for got, e in zip(curve["jaccard_prev"], ev.epochs):
        assert (got is None and e.jaccard_prev is None) or math.isclose(got, e.jaccard_prev, abs_tol=1e-12)
    for got, e in zip(curve["metric_values"], ev.epochs):
        assert math.isclose(got, e.metrics["mean_average_precision_at_r"], abs_tol=1e-12)
    assert curve["settings"]["label_field"] == "label" and "--label-field label" in curve["command"]
    assert [c for c in view["curves"] if c["experiment"] == "rec"] == [curve]
    # the reseeded run has no stored figures: gaps, not numbers from another experiment
    seed1 = next(c for c in view["curves"] if c["experiment"] == "rec-seed1")
    assert seed1["missing"] == {"jaccard_prev": 2, "metric": 3}
    assert view["run_pairs"][0]["differ"] == [{"key": "seed", "a": 0, "b": 1}]
    assert "seed" in view["varying_params"] and "loss.name" in view["varying_params"]
    # against brute force: the mean per-item Jaccard of epochs 1 and 2's 7 cosine neighbours
    sets = [_knn(VECS[f"rec.epoch_{s}.val"], 7) for s in (1, 2)]
    ref = np.mean([len(x & y) / len(x | y) for x, y in zip(*sets)])
    assert math.isclose(stored_curve(reg, "rec", k=7)["jaccard_prev"][1], ref, abs_tol=1e-6)


def _knn(x: np.ndarray, k: int) -> list[set]:
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    return [set(np.argsort(-row, kind="stable")[:k].tolist()) for row in sim]


def test_unknown_experiment_is_a_clear_error(home):
    with _client(home) as c:
        r = c.get("/api/evolution", params={"experiment": "raw"})
        assert r.status_code == 400 and "step" in r.json()["detail"]
        r = c.get("/api/evolution", params={"experiment": "nope"})
        assert r.status_code == 404 and "nope" in r.json()["detail"]
