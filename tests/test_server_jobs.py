"""The analyzer's background jobs: cancel (from the page, or because nobody polls any more),
a bounded queue, and percent done with the time left.

The runs are made deterministic by holding the job at its first progress step from the
core (a hook on the manager's progress intake) while the test sends its request, then
letting it go: no sleeping on wall time, no races. "Leaves nothing" is checked against the
registry's own listing and the object files on disk.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from _web import local_client, wait_job

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import spacelens  # noqa: E402
from spacelens.registry import Registry  # noqa: E402
from spacelens.server import jobs as jobs_mod  # noqa: E402

N = 300
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """Spaces A, B, C of one dataset; nothing derived yet (no graphs, maps or comparisons)."""
    monkeypatch.setenv("SPACELENS_NO_PROGRESS", "1")
    h = tmp_path / "home"
    rng = np.random.default_rng(2)
    va = rng.normal(size=(N, 10)).astype(np.float32)
    table = pd.DataFrame({"id": [f"i{i:03d}" for i in range(N)]})
    spacelens.add(va, table, dataset_name="d", experiment_name="e", space_name="A", home=h)
    spacelens.add(va + rng.normal(size=va.shape).astype(np.float32), dataset_name="d", experiment_name="e",
                  space_name="B", home=h)
    spacelens.add(rng.normal(size=va.shape).astype(np.float32), dataset_name="d", experiment_name="e",
                  space_name="C", home=h)
    return h


class Gate:
    """Holds a thread-mode job at its first progress step from the core (not our own
    'starting'/'preparing' stages) until :meth:`release`; records every report."""

    def __init__(self, manager):
        self.reports: list[tuple[str, dict]] = []
        self.reached, self.go = threading.Event(), threading.Event()
        original = manager._update

        def update(job_id, **fields):
            self.reports.append((job_id, dict(fields)))
            stage = fields.get("stage") or ""
            if stage and stage != "starting" and not stage.startswith("preparing") and not self.reached.is_set():
                self.reached.set()
                assert self.go.wait(60), "the test never released the job"
            original(job_id, **fields)

        manager._update = update

    def wait(self):
        assert self.reached.wait(60), "the job never reached a progress step"

    def release(self):
        self.go.set()


def make_client(home, **kwargs):
    """A test client; jobs are not reaped on wall time (a loaded machine may take its time)."""
    from spacelens.server import create_app

    app = create_app(home, jobs="thread", **{"orphan_after_s": 1e9, **kwargs})
    app.state.jobs.reap_every_s = 0  # only the test calls reap()
    return local_client(app)


def stored(home) -> tuple[list, set]:
    reg = Registry(home)
    files = {p.name for p in (home / "objects").iterdir()}
    partials = list((home / "tmp").iterdir())
    assert partials == [], partials
    return [(a.kind, a.space, a.other_space) for a in reg.find_artifacts()], files


def test_cancelled_running_job_leaves_nothing(home):
    before = stored(home)
    with make_client(home) as c:
        gate = Gate(c.app.state.jobs)
        job = c.post("/api/jobs", json={"kind": "comparison", "a": "A", "b": "B", "k": 5}).json()
        gate.wait()  # the job is inside the core's kNN search now
        resp = c.delete(f"/api/jobs/{job['id']}")
        assert resp.status_code == 200
        assert resp.json()["status"] == "running" and resp.json()["stage"] == "cancelling"
        gate.release()
        done = wait_job(c, job)
        assert done["status"] == "cancelled" and done["error"] is None, done
        assert done["cancel_reason"] == "cancelled from the page"
        # nothing was stored: no comparison, no kNN graph, no new object file
        assert stored(home) == before
        miss = c.get("/api/comparison", params={"a": "A", "b": "B", "k": 5})
        assert miss.status_code == 404 and miss.json()["missing"]["kind"] == "comparison"
        # cancelling a finished job changes nothing
        assert c.post(f"/api/jobs/{job['id']}/cancel").json()["status"] == "cancelled"
        # and the same request afterwards runs to the end and stores the result
        again = wait_job(c, c.post("/api/jobs", json={"kind": "comparison", "a": "A", "b": "B", "k": 5}).json())
        assert again["status"] == "done" and again["id"] != job["id"]
    kinds = [k for k, *_ in stored(home)[0]]
    assert "comparison" in kinds


def test_queued_job_cancelled_never_runs_and_queue_is_bounded(home):
    with make_client(home, max_jobs=2) as c:
        gate = Gate(c.app.state.jobs)
        first = c.post("/api/jobs", json={"kind": "comparison", "a": "A", "b": "B", "k": 5}).json()
        gate.wait()
        second = c.post("/api/jobs", json={"kind": "projection", "space": "C", "method": "pca"})
        assert second.status_code == 202 and second.json()["status"] == "queued"
        # an identical request joins the pending job; a third different one is refused
        assert c.post("/api/jobs", json={"kind": "comparison", "a": "B", "b": "A", "k": 5}).json()["id"] == first["id"]
        full = c.post("/api/jobs", json={"kind": "projection", "space": "A", "method": "pca"})
        assert full.status_code == 429
        assert "at most 2" in full.json()["error"] and "cancel" in full.json()["error"]
        cancelled = c.delete(f"/api/jobs/{second.json()['id']}").json()
        assert cancelled["status"] == "cancelled" and cancelled["stages"] == []
        # a place is free again
        third = c.post("/api/jobs", json={"kind": "projection", "space": "A", "method": "pca"})
        assert third.status_code == 202
        gate.release()
        assert wait_job(c, first)["status"] == "done"
        assert wait_job(c, third.json())["status"] == "done"
        assert c.get(f"/api/jobs/{second.json()['id']}").json()["status"] == "cancelled"
        assert c.get("/api/spaces/C/map", params={"method": "pca"}).status_code == 404  # never computed
        assert c.get("/api/spaces/A/map", params={"method": "pca"}).status_code == 200


def test_job_nobody_polls_is_cancelled(home):
    """The page went away: after orphan_after_s on the manager's clock without a poll, the job
    is cancelled. Polling keeps it alive. (A fake clock: no waiting on wall time.)"""
    now = [1000.0]
    with make_client(home, orphan_after_s=30) as c:
        manager = c.app.state.jobs
        manager.clock = lambda: now[0]
        gate = Gate(manager)
        job = c.post("/api/jobs", json={"kind": "comparison", "a": "A", "b": "C", "k": 5}).json()
        gate.wait()
        now[0] += 20
        assert manager.reap() == []
        assert c.get(f"/api/jobs/{job['id']}").json()["status"] == "running"  # a poll: the heartbeat
        now[0] += 20  # 40 s since it was submitted, 20 s since the poll
        assert manager.reap() == []
        now[0] += 11  # 31 s since the poll
        assert manager.reap() == [job["id"]]
        gate.release()
        done = wait_job(c, job)
        assert done["status"] == "cancelled" and "nobody asked about it for 30 s" in done["cancel_reason"]
        assert c.get("/api/comparison", params={"a": "A", "b": "C", "k": 5}).status_code == 404


def test_progress_reports_percent_and_time_left(home):
    with make_client(home) as c:
        gate = Gate(c.app.state.jobs)
        gate.release()  # record only
        job = wait_job(c, c.post("/api/jobs", json={"kind": "comparison", "a": "A", "b": "B", "k": 5}).json())
    assert job["status"] == "done" and job["percent"] == 100.0 and job["eta_s"] is None
    steps = [f for _, f in gate.reports if f.get("total")]
    assert steps, gate.reports  # the core's kNN steps arrived with done/total
    assert all(0 <= f["done"] <= f["total"] for f in steps)
    assert any(f["done"] == f["total"] for f in steps)  # the last step of a bar is always sent
    assert any("kNN" in s for s in job["stages"]), job["stages"]


def test_percent_and_time_left_arithmetic():
    """A quarter done after 30 s of this stage: 25 %, 90 s left (the rate so far)."""
    job = jobs_mod.Job(id="1", kind="comparison", params={}, status="running", done=25, total=100,
                       stage_started=500.0)
    d = job.as_dict(now=530.0)
    assert d["fraction"] == 0.25 and d["percent"] == 25.0 and d["eta_s"] == 90.0
    job.total = None  # a step without a known size: neither figure is invented
    d = job.as_dict(now=530.0)
    assert d["percent"] is None and d["eta_s"] is None


def test_worker_stops_at_start_when_its_job_was_cancelled(home, monkeypatch):
    """The worker process's side: the shared cancel flag names the job, so it stops before
    opening anything (what a cancel just after submission meets)."""

    class Flag:
        value = 7

    monkeypatch.setattr(jobs_mod, "_CANCEL", Flag())
    before = stored(home)
    with pytest.raises(jobs_mod.JobCancelled):
        jobs_mod._run_in_worker("7", "comparison", {"a": "A", "b": "B", "k": 5}, str(home))
    assert stored(home) == before
    Flag.value = 8  # another job's cancel does not stop this one

    def nothing(*args, **kwargs):
        return None

    import spacelens.api

    monkeypatch.setattr(spacelens.api, "compare", nothing)
    assert jobs_mod._run_in_worker("7", "comparison", {"a": "A", "b": "B", "k": 5}, str(home)) == {"ok": True}


def test_cancel_of_a_running_job_reaches_the_worker_flag(home):
    """The server's side in process mode: cancel() sets the shared integer to the job's id."""
    manager = jobs_mod.JobManager(home, mode="process", reap_every_s=0)

    class Flag:
        value = 0

    flag = Flag()
    job = jobs_mod.Job(id="5", kind="comparison", params={"a": "A", "b": "B", "k": 5}, status="running")
    manager.jobs[job.id], manager._running, manager._cancel = job, job, flag
    assert manager.cancel("5").cancel_requested is not None
    assert flag.value == 5 and job.stage == "cancelling"
    assert manager.list() == [job]
