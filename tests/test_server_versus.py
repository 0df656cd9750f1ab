"""The analyzer's "which retrieves better" endpoint: ``POST /api/versus`` runs
:func:`spacelens.api.evaluate_versus` as a job whose finished state carries the result, and
that result equals the API's call for the same spaces (the independent reference here is the
library called directly), with and without a baseline (a reseeded run of A); a space of another
dataset, an unknown label column, a space against itself, and a baseline that is unknown, of
another dataset or one of the compared spaces are refused with one line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _web import local_client, wait_job

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import spacelens  # noqa: E402
from spacelens.server import create_app  # noqa: E402

N = 240
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """Dataset d (labels in 4 classes) with a sharp space S, a blurred one W and W2 (W's recipe,
    another seed: the baseline); dataset other."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    h = tmp_path_factory.mktemp("versus") / "home"
    rng = np.random.default_rng(5)
    lab = rng.integers(0, 4, N)
    centres = rng.normal(size=(4, 8)) * 2
    table = pd.DataFrame({"id": [f"i{i:03d}" for i in range(N)], "label": [f"c{x}" for x in lab],
                          "score": rng.normal(size=N)})
    spacelens.add((centres[lab] + rng.normal(size=(N, 8))).astype(np.float32), table, dataset_name="d",
                  experiment_name="e", space_name="W", home=h)
    spacelens.add((centres[lab] + 0.3 * rng.normal(size=(N, 8))).astype(np.float32), dataset_name="d",
                  experiment_name="e", space_name="S", home=h)
    spacelens.add((centres[lab] + rng.normal(size=(N, 8))).astype(np.float32), dataset_name="d",
                  experiment_name="e", space_name="W2", home=h)
    spacelens.add(rng.normal(size=(50, 8)).astype(np.float32), pd.DataFrame({"id": [f"o{i}" for i in range(50)]}),
                  dataset_name="other", experiment_name="e", space_name="O", home=h)
    yield h
    mp.undo()


@pytest.fixture(scope="module")
def client(home):
    with local_client(create_app(home, jobs="thread")) as c:
        yield c


def test_versus_job_result_equals_the_api(client, home):
    r = client.post("/api/versus", json={"a": "W", "b": "S", "label_field": "label", "dataset": "d"})
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json())
    assert job["status"] == "done", job
    got = job["result"]
    want = spacelens.evaluate_versus("W", "S", label_field="label", home=home)
    assert got == want  # the same JSON, number for number, verdict included
    # and it says what the data were built to show: the sharp space retrieves better
    m = got["metrics"]["mean_average_precision_at_r"]
    assert m["difference"] > 0 and m["ci95"][0] > 0
    assert got["verdict"].startswith("S retrieves better than W")


def test_versus_job_with_a_baseline_equals_the_api(client, home):
    r = client.post("/api/versus", json={"a": "W", "b": "S", "label_field": "label", "dataset": "d",
                                         "baseline": "W2"})
    assert r.status_code == 202, r.text
    assert r.json()["params"]["baseline"] == "W2"
    job = wait_job(client, r.json())
    assert job["status"] == "done", job
    got = job["result"]
    want = spacelens.evaluate_versus("W", "S", label_field="label", baseline="W2", home=home)
    assert got == want
    assert got["baseline"]["space"] == "W2"
    # two runs of W's recipe differ far less than W and the sharp S: beyond seed noise, per the
    # rule written out here (B - A's interval excludes 0 and |B - A| exceeds C - A's whole interval)
    for m, x in got["metrics"].items():
        lo, hi = got["baseline"]["metrics"][m]["ci95"]
        assert got["baseline"]["beyond"][m] == ((x["ci95"][0] > 0 or x["ci95"][1] < 0)
                                                and abs(x["difference"]) > max(abs(lo), abs(hi)))
    assert got["baseline"]["beyond"]["mean_average_precision_at_r"] is True
    assert "more than two runs of W's recipe differ (W2 - W = " in got["verdict"]
    # an empty baseline is no baseline: the same job as without one
    r = client.post("/api/versus", json={"a": "W", "b": "S", "label_field": "label", "baseline": ""})
    assert "baseline" not in r.json()["params"]


@pytest.mark.parametrize("spec, status, message", [
    ({"a": "W", "b": "S", "label_field": "label", "baseline": "nope"}, 404,
     "No space named 'nope' for the baseline. Pick a reseeded run of 'W' among the spaces of dataset 'd': S, W, W2"),
    ({"a": "W", "b": "S", "label_field": "label", "baseline": "O"}, 400, "Baseline 'O' embeds dataset 'other', not 'd'"),
    ({"a": "W", "b": "S", "label_field": "label", "baseline": "W"}, 400, "baseline 'W' is one of the two compared"),
    ({"a": "W", "b": "S", "label_field": "label", "baseline": "S"}, 400, "baseline 'S' is one of the two compared"),
])
def test_bad_baselines_are_refused_with_one_line(client, spec, status, message):
    r = client.post("/api/versus", json=spec)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert message in detail and "\n" not in detail


@pytest.mark.parametrize("spec, message", [
    ({"a": "W", "b": "O", "label_field": "label"}, "embed different datasets"),
    ({"a": "W", "b": "S", "label_field": "label", "dataset": "other"}, "embeds dataset 'd', not 'other'"),
    ({"a": "W", "b": "S", "label_field": "nope"}, "no column 'nope'"),
    ({"a": "W", "b": "S", "label_field": "score"}, "holds measurements"),
    ({"a": "W", "b": "W", "label_field": "label"}, "does not retrieve better than itself"),
])
def test_bad_requests_are_refused_with_one_line(client, spec, message):
    r = client.post("/api/versus", json=spec)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert message in detail and "\n" not in detail


def test_class_rows_are_the_rows_holding_that_label(client, home):
    """``POST /api/versus/class`` (the per-class table's click): the dataset rows whose label is
    the class, against the table read back by the library."""
    table = spacelens.open_registry(home).load_table(spacelens.open_registry(home).dataset("d"))
    for value in ("c0", "c3"):
        r = client.post("/api/versus/class", json={"dataset": "d", "label_field": "label", "value": value})
        assert r.status_code == 200, r.text
        assert r.json()["rows"] == np.flatnonzero(table["label"].to_numpy() == value).tolist()
    assert client.post("/api/versus/class", json={"dataset": "d", "label_field": "label", "value": "zz"}
                       ).json()["rows"] == []
    r = client.post("/api/versus/class", json={"dataset": "d", "label_field": "nope", "value": "c0"})
    assert r.status_code == 400 and "no label column 'nope'" in r.json()["detail"]


def test_versus_job_over_different_items_says_what_was_left_out(tmp_path, monkeypatch):
    """B = A's vectors over half of A's items: the job's result is the API's, scored on the
    shared items (B - A exactly 0), with the coverage note the panel shows."""
    monkeypatch.setenv("SPACELENS_NO_PROGRESS", "1")
    h = tmp_path / "home"
    rng = np.random.default_rng(2)
    lab = rng.integers(0, 4, 120)
    x = (rng.normal(size=(4, 8))[lab] * 2 + rng.normal(size=(120, 8))).astype(np.float32)
    ids = np.array([f"i{i:03d}" for i in range(120)])
    half = np.sort(rng.permutation(120)[:60])
    spacelens.add(x, pd.DataFrame({"id": ids, "label": [f"c{v}" for v in lab]}), dataset_name="d",
                  experiment_name="e", space_name="A", home=h)
    spacelens.add(x[half], ids=ids[half], dataset_name="d", experiment_name="e", space_name="B", home=h)
    with local_client(create_app(h, jobs="thread")) as c:
        r = c.post("/api/versus", json={"a": "A", "b": "B", "label_field": "label", "dataset": "d"})
        assert r.status_code == 202, r.text
        job = wait_job(c, r.json())
    assert job["status"] == "done", job
    got = job["result"]
    assert got == spacelens.evaluate_versus("A", "B", label_field="label", home=h)
    assert got["coverage"]["note"] == ("B embeds 60 of A's 120 items: both are scored on the 60 they share; "
                                       "60 of A's queries left out")
    assert all(m["difference"] == 0 for m in got["metrics"].values())
