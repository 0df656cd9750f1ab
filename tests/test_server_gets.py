"""No GET computes or writes (#23): any web page can make a browser send a GET to the analyzer
(an ``<img src=...>`` needs no permission), so every GET endpoint only reads what is stored.
Long work (kNN graphs, comparisons, maps, change groups) goes through the job queue, a POST,
with its limits, progress and Cancel.

A fresh registry with two spaces and nothing derived: every GET route of the app is sent (the
list below must name each one, so a new route is audited too), and afterwards the registry
holds no artifact and the home no new file; the derived results answer 404 naming the job.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _web import local_client, wait_job

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import spacelens  # noqa: E402
from spacelens import api  # noqa: E402
from spacelens.registry import Registry  # noqa: E402

N = 160
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

# every GET route (its path template) -> (a request on it, the job it names when missing, or None)
MISSING_GROUPS = {"kind": "change_groups", "a": "A", "b": "B", "k": 7, "top": 12}
MISSING_AUDIT = {"kind": "audit", "space": "A", "other": "B", "label_field": "label", "k": 7}
GETS = {
    "/api/info": ("/api/info", None),
    "/api/catalogue": ("/api/catalogue", None),
    "/api/registry": ("/api/registry", None),
    "/api/datasets": ("/api/datasets", None),
    "/api/datasets/{name}": ("/api/datasets/items", None),
    "/api/experiments": ("/api/experiments", None),
    "/api/experiments/{name}": ("/api/experiments/runA", None),
    "/api/spaces": ("/api/spaces", None),
    "/api/spaces/{name}": ("/api/spaces/A", None),
    "/api/comparisons": ("/api/comparisons", None),
    "/api/evaluations": ("/api/evaluations", None),
    "/api/maps": ("/api/maps", None),
    "/api/leaderboard": ("/api/leaderboard?dataset=items", None),
    "/api/evolution": ("/api/evolution?experiment=runA", None),
    "/api/experiments-view": ("/api/experiments-view", None),
    "/api/spaces/{name}/map": ("/api/spaces/A/map?method=umap", {"kind": "projection", "space": "A",
                                                                  "method": "umap"}),
    "/api/datasets/{name}/colors": ("/api/datasets/items/colors?by=coincidence&a=A&b=B&k=7",
                                    {"kind": "comparison", "a": "A", "b": "B", "k": 7}),
    "/api/comparison": ("/api/comparison?a=A&b=B&k=7", {"kind": "comparison", "a": "A", "b": "B", "k": 7}),
    "/api/comparison/plan": ("/api/comparison/plan?a=A&b=B&k=7", None),
    "/api/datasets/{name}/items/{row}": ("/api/datasets/items/items/3?a=A&b=B&k=7", None),
    "/api/datasets/{name}/items/{row}/image": ("/api/datasets/items/items/3/image?column=label", None),
    "/api/datasets/{name}/search": ("/api/datasets/items/search?q=it00", None),
    "/api/datasets/{name}/matches": ("/api/datasets/items/matches?q=it00&spaces=A,B", None),
    "/api/query": ("/api/query?space=A&vs=B&row=3&k=7", None),
    "/api/jobs": ("/api/jobs", None),
    "/api/jobs/{job_id}": ("/api/jobs/1", None),
    "/api/change-groups": ("/api/change-groups?a=A&b=B&k=7", MISSING_GROUPS),
    "/api/audit": ("/api/audit?space=A&other=B&label_field=label&k=7", MISSING_AUDIT),
    "/api/{rest:path}": ("/api/nothing-here", None),
    "/api/openapi.json": ("/api/openapi.json", None),
    "/api/docs": ("/api/docs", None),
}
FRAMEWORK = {"/api/{rest:path}", "/api/openapi.json", "/api/docs"}  # FastAPI's own pages, the 404 catch-all


def _world(root: Path) -> Path:
    home = root / "home"
    rng = np.random.default_rng(3)
    lab = rng.integers(0, 4, N)
    va = (rng.normal(size=(4, 8))[lab] * 3 + rng.normal(size=(N, 8))).astype(np.float32)
    vb = va.copy()
    vb[:40] = vb[rng.permutation(40)]
    table = pd.DataFrame({"id": [f"it{i:04d}" for i in range(N)], "label": lab})
    spacelens.add(va, table, dataset_name="items", experiment_name="runA", space_name="A", home=home)
    spacelens.add(vb, dataset_name="items", experiment_name="runB", space_name="B", home=home)
    return home


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SPACELENS_NO_PROGRESS", "1")
    return _world(tmp_path)


def _app(home):
    from spacelens.server import create_app

    return create_app(home, jobs="thread")


def _files(home: Path) -> set[str]:
    """The home's files, but SQLite's own journal files (a reader may create them)."""
    return {str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()
            and not p.name.endswith(("-wal", "-shm", "-journal"))}


def test_every_get_route_is_audited(home):
    app = _app(home)
    routes = {path for path, ops in app.openapi()["paths"].items() if "get" in ops}
    assert routes == set(GETS) - FRAMEWORK, "a GET route was added or removed: list it in GETS (and make sure it only reads)"


def test_no_get_computes_or_writes(home):
    before = _files(home)
    with local_client(_app(home)) as c:
        for template, (path, job) in GETS.items():
            resp = c.get(path)
            assert resp.status_code < 500, (template, resp.text)
            if job is not None:
                assert resp.status_code == 404, (template, resp.status_code)
                assert resp.json()["missing"] == job, template
                assert "yet" in resp.json()["detail"], template  # "not computed yet", "no map ... yet"
        assert c.get("/api/jobs").json() == []  # nothing was started on the side either
    reg = Registry(home)
    assert reg.find_artifacts() == []  # no kNN graph, comparison or map was stored
    assert _files(home) == before


def test_change_groups_are_found_by_a_job_and_read_back(home):
    """POST starts the job (progress, Cancel); its result is exactly the library's; a GET then
    serves it, and only while both spaces hold the content it was found in."""
    with local_client(_app(home)) as c:
        resp = c.post("/api/change-groups", json={"a": "A", "b": "B", "k": 7, "dataset": "items"})
        assert resp.status_code == 202, resp.text
        job = wait_job(c, resp.json())
        assert job["status"] == "done" and job["kind"] == "change_groups", job
        assert any("changed together" in s for s in job["stages"]), job["stages"]
        ref = api.change_groups("A", "B", k=7, top=12, home=home)
        assert job["result"]["n_changed"] == ref["n_changed"] >= 30  # the 40 reshuffled items, most of them
        assert [g["rows"] for g in job["result"]["groups"]] == [g["rows"] for g in ref["groups"]]
        assert [g["description"] for g in job["result"]["groups"]] == [g["description"] for g in ref["groups"]]
        got = c.get("/api/change-groups", params={"a": "A", "b": "B", "k": 7})
        assert got.status_code == 200 and got.json() == job["result"]
        # another k or top is another result: not computed
        assert c.get("/api/change-groups", params={"a": "A", "b": "B", "k": 8}).status_code == 404
        assert c.get("/api/change-groups", params={"a": "A", "b": "B", "k": 7, "top": 3}).status_code == 404
        # the same request through the generic job endpoint joins nothing new once done: a new job
        again = c.post("/api/jobs", json={"kind": "change_groups", "a": "A", "b": "B", "k": 7}).json()
        assert wait_job(c, again)["result"] == job["result"]
        # B replaced (a training loop logged it again): the stored groups no longer describe it
        vb = np.random.default_rng(9).normal(size=(N, 8)).astype(np.float32)
        api.log_space("B", vb, dataset="items", experiment="runB", home=home)
        stale = c.get("/api/change-groups", params={"a": "A", "b": "B", "k": 7})
        assert stale.status_code == 404 and stale.json()["missing"]["kind"] == "change_groups"


@pytest.mark.parametrize("spec, word", [
    ({"a": "A", "b": "A"}, "itself"),
    ({"a": "A", "b": "B", "k": 0}, "k must"),
    ({"a": "A", "b": "B", "k": "ten"}, "whole number"),
    ({"a": "A", "b": "B", "top": 500}, "top must"),
    ({"a": "A", "b": "nope"}, "nope"),
])
def test_bad_change_group_jobs_are_refused(home, spec, word):
    with local_client(_app(home)) as c:
        resp = c.post("/api/change-groups", json=spec)
        assert resp.status_code in (400, 404) and word in resp.json()["detail"], resp.text
        assert c.get("/api/jobs").json() == []
