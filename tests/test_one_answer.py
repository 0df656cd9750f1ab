"""One question, one number on every surface: the Python API, the CLI's --json, the page's HTTP
API, the notebook widget's data and the report's JSON give the same mean Jaccard, the same versus
verdict and difference, and the same map faithfulness, for the same spaces and settings.

Each surface is reached through its real entry point (the CLI as a subprocess, the page through
its ASGI app, the widget through the method its front end calls, the report through its file)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import spacelens

N, K = 200, 10
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Dataset d: labels in 4 classes; A (blurred), B (sharp), A2 (A's recipe, another seed)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    root = tmp_path_factory.mktemp("one-answer")
    h = root / "home"
    rng = np.random.default_rng(11)
    lab = rng.integers(0, 4, N)
    centres = rng.normal(size=(4, 12)) * 2
    table = pd.DataFrame({"id": [f"i{i:03d}" for i in range(N)], "label": [f"c{x}" for x in lab]})
    for name, noise in (("A", 1.0), ("B", 0.4), ("A2", 1.0)):
        spacelens.add((centres[lab] + noise * rng.normal(size=(N, 12))).astype(np.float32),
                      table if name == "A" else None, dataset_name="d", experiment_name="e", space_name=name, home=h)
    yield {"home": h, "root": root}
    mp.undo()


@pytest.fixture(scope="module")
def api_answers(world):
    h = world["home"]
    return {
        "jaccard": spacelens.compare("A", "B", k=K, home=h).mean,
        "versus": spacelens.evaluate_versus("A", "B", label_field="label", baseline="A2", home=h),
        "faithfulness": spacelens.project("A", method="pca", home=h).summary()["faithfulness"],
    }


def _cli(world, *args) -> dict:
    import os
    import subprocess
    import sys

    env = {**os.environ, "SPACELENS_HOME": str(world["home"]), "SPACELENS_NO_PROGRESS": "1"}
    p = subprocess.run([sys.executable, "-m", "spacelens", *map(str, args), "--json"], capture_output=True,
                       text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_the_cli_json_gives_the_api_answers(world, api_answers):
    cmp = _cli(world, "compare", "A", "B", "-k", K)
    assert cmp["mean"] == pytest.approx(api_answers["jaccard"], abs=0)
    vs = _cli(world, "evaluate", "A", "--vs", "B", "--baseline", "A2", "--label-field", "label")
    # the answer printed first is the API's answer, on the very numbers of the versus dict beside it
    assert vs.pop("answer") == spacelens.answer("A", "B", label_field="label", baseline="A2", home=world["home"])
    assert vs == json.loads(json.dumps(api_answers["versus"]))
    proj = _cli(world, "project", "A", "--method", "pca")
    assert proj["maps"]["pca"]["faithfulness"] == json.loads(json.dumps(api_answers["faithfulness"]))


def test_the_page_api_gives_the_api_answers(world, api_answers):
    pytest.importorskip("fastapi")
    from _web import local_client, wait_job

    from spacelens.server import create_app
    from spacelens.views import binary

    with local_client(create_app(world["home"], jobs="thread")) as c:
        r = c.get("/api/comparison", params={"a": "A", "b": "B", "k": K})
        assert r.status_code == 200, r.text
        header, _ = binary.decode(r.content)
        assert header["mean"] == pytest.approx(api_answers["jaccard"], abs=0)
        r = c.get("/api/spaces/A/map", params={"method": "pca"})
        assert r.status_code == 200, r.text
        header, _ = binary.decode(r.content)
        assert header["faithfulness"] == json.loads(json.dumps(api_answers["faithfulness"]))
        r = c.post("/api/versus", json={"a": "A", "b": "B", "label_field": "label", "dataset": "d", "baseline": "A2"})
        assert r.status_code == 202, r.text
        job = wait_job(c, r.json())
        assert job["status"] == "done", job
        assert job["result"] == json.loads(json.dumps(api_answers["versus"]))


def test_the_widget_gives_the_api_answers(world, api_answers):
    pytest.importorskip("anywidget")
    w = spacelens.widget("A", "B", k=K, color="label", home=world["home"])
    header, _ = w.answer("comparison", {"a": "A", "b": "B", "k": K})
    assert header["mean"] == pytest.approx(api_answers["jaccard"], abs=0)
    header, _ = w.answer("spaces/A/map", {"method": "pca"})
    assert json.loads(json.dumps(header["faithfulness"])) == json.loads(json.dumps(api_answers["faithfulness"]))


def test_the_report_json_gives_the_api_answers(world, api_answers):
    out = world["root"] / "report.html"
    spacelens.report("A", "B", out, baseline="A2", label_field="label", k=str(K), home=world["home"])
    content = json.loads(out.with_suffix(".json").read_text())
    assert content["agreement"]["curve"][str(K)]["mean"] == pytest.approx(api_answers["jaccard"], abs=0)
    assert content["retrieval"] == json.loads(json.dumps(api_answers["versus"]))
    import html

    # the page states it as is, the spaces by their aliases (A, B, and C for the baseline A2)
    page = html.unescape(re.sub(r"<[^>]+>", "", out.read_text()))
    assert api_answers["versus"]["verdict"].replace("A2", "C") in page
    assert content["answer"]["sentences"][0]["text"] in page
