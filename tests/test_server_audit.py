"""The page's audit through the server: a job (POST /api/audit, progress, Cancel) whose result is
exactly spacelens.audit's, stored so that GET /api/audit reads it back (JSON, or the flagged items
as CSV), for the spaces' present content only."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from _web import local_client, wait_job

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import spacelens  # noqa: E402
from spacelens.audit import planted_problems  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture
def world(tmp_path, monkeypatch):
    monkeypatch.setenv("SPACELENS_NO_PROGRESS", "1")
    home = tmp_path / "home"
    p = planted_problems(1200, seed=2)
    rng = np.random.default_rng(1)
    b = p.vectors + 0.01 * rng.normal(size=p.vectors.shape).astype(np.float32)
    # B places 12 clean items of class c003 among c004: label errors that only B raises
    clean = np.setdiff1d(np.flatnonzero(p.labels == "c003"),
                         np.concatenate([p.label_errors, p.outliers, p.leaks, p.duplicates]))[:12]
    b[clean] = b[np.flatnonzero(p.labels == "c004")[:12]] + 0.02 * rng.normal(size=(12, b.shape[1]))
    spacelens.add(p.vectors, p.table(), dataset_name="toy", experiment_name="e", space_name="A", id_field="id",
                  home=home)
    spacelens.add(b.astype(np.float32), dataset_name="toy", experiment_name="e", space_name="B", ids=p.ids, home=home)
    return home, p, clean


def _app(home):
    from spacelens.server import create_app

    return create_app(home, jobs="thread")


def test_audit_job_equals_the_api_and_is_read_back(world):
    home, p, clean = world
    q = {"space": "A", "other": "B", "label_field": "label", "split_field": "split"}
    with local_client(_app(home)) as c:
        miss = c.get("/api/audit", params=q)
        assert miss.status_code == 404 and miss.json()["missing"] == {"kind": "audit", **q, "k": 10}
        resp = c.post("/api/audit", json={**q, "dataset": "toy"})
        assert resp.status_code == 202, resp.text
        job = wait_job(c, resp.json())
        assert job["status"] == "done" and job["kind"] == "audit", job
        assert any(s.startswith("auditing A and B") for s in job["stages"]), job["stages"]
        got = job["result"]
        ref = spacelens.audit("A", label_field="label", split_field="split", other="B", home=home).to_dict()
        assert got["answer"] == ref["answer"]
        assert [(i["kind"], i["id"]) for i in got["items"]] == [(i["kind"], i["id"]) for i in ref["items"]]
        # the planted truth is found, and B's own label errors are B's only
        leaks = {i["row"] for i in got["items"] if i["kind"] == "leak"}
        assert len(leaks & set(p.leaks.tolist())) >= 0.8 * len(p.leaks)
        only_b = set(got["versus"]["kinds"]["label_error"]["rows_only_b"])
        assert len(only_b & set(clean.tolist())) >= 6
        assert {i["row"] for i in got["other"]["items_only"] if i["kind"] == "label_error"} == only_b
        # read back: the same JSON, and the CSV of every flagged item with who flags it
        back = c.get("/api/audit", params=q)
        assert back.status_code == 200 and back.json()["answer"] == got["answer"]
        csv = c.get("/api/audit", params={**q, "format": "csv"})
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        t = pd.read_csv(io.StringIO(csv.text), keep_default_na=False)
        assert len(t) == len(got["items"]) + len(got["other"]["items_only"])
        assert t["id"].tolist()[:len(got["items"])] == [i["id"] for i in got["items"]]
        assert set(t.loc[t["flagged_by"] == "B only", "row"]) >= only_b
        both = set(got["versus"]["kinds"]["leak"]["rows_both"])
        assert set(t.loc[(t["kind"] == "leak") & (t["flagged_by"] == "both"), "row"]) == both
        # one space alone is another audit: not computed yet
        assert c.get("/api/audit", params={"space": "A", "label_field": "label"}).status_code == 404
        # A replaced: the stored audit no longer describes it
        spacelens.log_space("A", p.vectors[::-1].copy(), dataset="toy", experiment="e", home=home)
        assert c.get("/api/audit", params=q).status_code == 404


@pytest.mark.parametrize("spec, word", [
    ({"space": "A", "other": "A"}, "itself"),
    ({"space": "A", "label_field": "nope"}, "nope"),
    ({"space": "A", "split_field": "nope"}, "nope"),
    ({"space": "nope"}, "nope"),
    ({"space": "A", "k": 0}, "k must"),
])
def test_bad_audit_jobs_are_refused(world, spec, word):
    home, _, _ = world
    with local_client(_app(home)) as c:
        resp = c.post("/api/audit", json=spec)
        assert resp.status_code in (400, 404) and word in resp.json()["detail"], resp.text
        assert c.get("/api/jobs").json() == []


def test_audit_jobs_can_be_cancelled(world):
    """A queued audit never starts; a running one stops at its next progress step and stores nothing."""
    import time

    from spacelens.registry import Registry
    from spacelens.server.jobs import JobManager

    home, _, _ = world
    jm = JobManager(home, mode="thread", reap_every_s=0)
    try:
        first = jm.submit("audit", {"space": "A", "k": 10, "label_field": "label", "split_field": "split"})
        second = jm.submit("audit", {"space": "B", "k": 10})
        jm.cancel(second.id)
        assert jm.get(second.id).status == "cancelled"
        jm.cancel(first.id)
        t0 = time.time()
        while jm.get(first.id).status in ("queued", "running"):
            assert time.time() - t0 < 120
            time.sleep(0.05)
        if jm.get(first.id).status == "cancelled":
            assert Registry(home).find_artifacts(kind="audit") == []
        else:
            assert jm.get(first.id).status == "done"
    finally:
        jm.shutdown()


def test_a_split_column_with_one_split_among_the_items_is_left_out(tmp_path):
    """Spaces that embed only the val items of a train/val dataset (the demo's): the page's default
    split column cannot hold a leak, so the audit runs without it instead of failing."""
    import numpy as np
    import pandas as pd

    import spacelens
    from spacelens.server.routes.audit import audit_job_params

    h = tmp_path / "h"
    rng = np.random.default_rng(0)
    t = pd.DataFrame({"id": [f"i{i}" for i in range(120)], "label": rng.integers(0, 3, 120),
                      "split": np.where(np.arange(120) < 60, "train", "val")})
    spacelens.add(rng.normal(size=(60, 4)).astype(np.float32), t, ids=t["id"][60:].to_numpy(), dataset_name="d",
                  experiment_name="e", space_name="A", home=h)
    spacelens.add(rng.normal(size=(120, 4)).astype(np.float32), dataset_name="d", experiment_name="f",
                  space_name="W", home=h)

    class Ctx:   # the context's parts the validation reads
        reg = spacelens.open_registry(h)

        @staticmethod
        def same_dataset(a, b):
            return "d"

        @staticmethod
        def check_k(k):
            return k

        class tables:
            @staticmethod
            def columns(reg, ds):
                return [{"name": c} for c in ("id", "label", "split")]

    assert "split_field" not in audit_job_params(Ctx, {"space": "A", "split_field": "split"})
    assert audit_job_params(Ctx, {"space": "W", "split_field": "split"})["split_field"] == "split"
