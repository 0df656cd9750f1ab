"""The page's server side at scale (issue 28, item 2): above the budget rule's size, where the full
comparison would take longer than the budget, the pair's plan says so (GET, nothing computed), the
answer job answers from a sample and says so first, a comparison job within the budget stores
nothing, and only a ``full`` job stores the per-item comparison, equal to brute-force kNN Jaccard.

The rule's size threshold and sample are lowered (FULL_ALWAYS_MAX_ITEMS = 100, DEFAULT_SAMPLE =
150) and the budget set to a microsecond, so that 400 items count as large; jobs run in threads,
in this process, where those settings hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _spaces import brute_jaccard
from _web import local_client, wait_job

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import spacelens  # noqa: E402
from spacelens import budget  # noqa: E402
from spacelens.registry import Registry  # noqa: E402


N, K = 400, 7
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture
def world(tmp_path, monkeypatch):
    monkeypatch.setenv("SPACELENS_NO_PROGRESS", "1")
    monkeypatch.setenv(budget.BUDGET_ENV, "0.000001")
    monkeypatch.setattr(budget, "FULL_ALWAYS_MAX_ITEMS", 100)
    monkeypatch.setattr(budget, "DEFAULT_SAMPLE", 150)
    home = tmp_path / "home"
    rng = np.random.default_rng(5)
    lab = rng.integers(0, 4, N)
    xa = (rng.normal(size=(4, 6))[lab] * 2 + rng.normal(size=(N, 6))).astype(np.float32)
    xb = (xa + rng.normal(size=(N, 6)) * 1.5).astype(np.float32)
    t = pd.DataFrame({"id": [f"i{i:03d}" for i in range(N)], "label": lab})
    spacelens.add(xa, t, dataset_name="d", experiment_name="ea", space_name="A", home=home)
    spacelens.add(xb, dataset_name="d", experiment_name="eb", space_name="B", home=home)
    return home, xa, xb


def _client(home):
    from spacelens.server import create_app

    return local_client(create_app(home, jobs="thread"))


def test_the_plan_is_read_not_computed_and_the_answer_says_it_is_sampled(world):
    home, *_ = world
    with _client(home) as c:
        plan = c.get("/api/comparison/plan", params={"a": "A", "b": "B", "k": K}).json()
        assert plan["sampled"] and not plan["stored"] and plan["n_items"] == N and plan["sample"] == 150
        assert plan["reason"].startswith("sampled: the full comparison would take") and set(plan["parts"]) == {"kNN graph of A", "kNN graph of B"}
        assert plan["headline"].startswith("Sampled answer: 150 random of 400 items")
        assert Registry(home).find_artifacts() == []    # the estimate stored nothing
        assert c.get("/api/jobs").json() == []          # and started nothing
        ans = wait_job(c, c.post("/api/jobs", json={"kind": "answer", "a": "A", "b": "B", "k": K}).json())
        assert ans["status"] == "done", ans
        res = ans["result"]
        assert res["sampled"].startswith("Sampled answer: 150 random of 400 items, with 95% intervals.")
        assert [p["verb"] for p in res["budget"]] == ["comparison"] and res["budget"][0]["sampled"]
        # the sampled answer stored no comparison: the page's histogram still offers the full one
        assert c.get("/api/comparison", params={"a": "A", "b": "B", "k": K}).status_code == 404
        assert [j["kind"] for j in c.get("/api/jobs").json()] == ["answer"]


def test_only_a_full_comparison_job_stores_the_per_item_agreement(world):
    home, xa, xb = world
    with _client(home) as c:
        within = wait_job(c, c.post("/api/jobs", json={"kind": "comparison", "a": "A", "b": "B", "k": K}).json())
        assert within["status"] == "done" and within["result"]["sampled"], within
        assert within["result"]["budget"]["sample"] == 150
        assert c.get("/api/comparison", params={"a": "A", "b": "B", "k": K}).status_code == 404
        # a full job is another job (never merged with a sampled one), and it stores the comparison
        first = c.post("/api/jobs", json={"kind": "comparison", "a": "A", "b": "B", "k": K, "full": True}).json()
        assert first["params"] == {"a": "A", "b": "B", "k": K, "full": True}
        assert first["id"] != within["id"]
        full = wait_job(c, first)
        assert full["status"] == "done" and "result" not in full, full
        plan = c.get("/api/comparison/plan", params={"a": "A", "b": "B", "k": K}).json()
        assert plan["stored"] and not plan["sampled"] and set(plan["parts"].values()) == {0}   # the graphs are stored
        # the colours the page fills in: every item's Jaccard, as brute force gives it
        got = c.get("/api/datasets/d/items/3", params={"a": "A", "b": "B", "k": K}).json()["jaccard"]
        want = brute_jaccard(xa, xb, K)
        assert got == pytest.approx(want[3], abs=1e-6)
        comp = spacelens.compare("A", "B", k=K, home=home)   # reads the stored graphs: in full now
        assert not comp.info["budget"]["sampled"] and len(comp.jaccard) == N
        np.testing.assert_allclose(comp.jaccard[np.argsort(comp.rows)], want, atol=1e-6)
        # and the answer is no longer sampled
        ans = wait_job(c, c.post("/api/jobs", json={"kind": "answer", "a": "A", "b": "B", "k": K}).json())
        assert ans["status"] == "done" and "sampled" not in ans["result"], ans


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_full_must_be_true_or_false(world, bad):
    home, *_ = world
    with _client(home) as c:
        r = c.post("/api/jobs", json={"kind": "comparison", "a": "A", "b": "B", "k": K, "full": bad})
        assert r.status_code == 400 and "full must be true or false" in r.json()["detail"]


def test_the_worker_estimates_at_the_servers_gemm_speed(monkeypatch):
    """The cost the page shows before a job (the server's plan) and the one the job's budget rule uses
    (the worker's) rest on one GEMM measurement: the worker process starts with the server's."""
    import spacelens.progress
    from spacelens.neighbors import cost
    from spacelens.server import jobs as jobs_mod

    monkeypatch.delenv("SPACELENS_GFLOPS", raising=False)
    for name in ("_QUEUE", "_CANCEL"):
        monkeypatch.setattr(jobs_mod, name, None)
    monkeypatch.setattr(cost, "_speed", None)
    monkeypatch.setattr(spacelens.progress, "set_progress", lambda on: None)
    jobs_mod._init_worker(None, None, 1.5e11)
    assert cost.gemm_speed() == 1.5e11
    assert cost.exact_seconds(10**5, 10**5, 16) == pytest.approx(cost.EXACT_OVERHEAD * 2 * 10**10 * 16 / 1.5e11)
