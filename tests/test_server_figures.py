"""``POST /api/figures`` (issue 26): the answer's figures for the shown items, body the dataset
rows as little-endian uint32. Its answer is the library's (spacelens.answer_subset.subset_figures,
called directly on the same rows, which test_subset_figures checks against brute force); the
per-query scores are computed once per space; bad requests get one line with a 4xx."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _web import local_client

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import spacelens  # noqa: E402
from spacelens.answer_subset import subset_figures  # noqa: E402
from spacelens.server import create_app  # noqa: E402

N = 240
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """Dataset d (4 labelled classes): W (blurred), S (sharp), W2 (W's recipe again), compared W-S at
    k=10; dataset other: O."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    h = tmp_path_factory.mktemp("figures") / "home"
    rng = np.random.default_rng(26)
    lab = rng.integers(0, 4, N)
    centres = rng.normal(size=(4, 8)) * 2
    table = pd.DataFrame({"id": [f"i{i:03d}" for i in range(N)], "label": [f"c{x}" for x in lab],
                          "score": rng.normal(size=N)})
    for name, noise in (("W", 1.0), ("S", 0.3), ("W2", 1.0)):
        spacelens.add((centres[lab] + noise * rng.normal(size=(N, 8))).astype(np.float32),
                      table if name == "W" else None, dataset_name="d", experiment_name=name, space_name=name,
                      home=h)
    spacelens.add(rng.normal(size=(50, 8)).astype(np.float32), pd.DataFrame({"id": [f"o{i}" for i in range(50)]}),
                  dataset_name="other", experiment_name="O", space_name="O", home=h)
    spacelens.compare("W", "S", k=10, home=h)
    yield h
    mp.undo()


@pytest.fixture(scope="module")
def app(home):
    return create_app(home, jobs="thread")


@pytest.fixture(scope="module")
def client(app):
    with local_client(app) as c:
        yield c


def post(client, rows, **params):
    body = np.asarray(rows, dtype="<u4").tobytes()
    return client.post("/api/figures", params=params, content=body,
                       headers={"Content-Type": "application/octet-stream"})


def test_the_figures_are_the_librarys(client, app, home):
    rows = np.arange(0, N, 3)
    r = post(client, rows, a="W", b="S", k=10, label_field="label")
    assert r.status_code == 200, r.text
    got = r.json()
    reg = spacelens.open_registry(home)
    assert got == subset_figures(reg, "W", "S", rows, k=10, label_field="label")
    assert got["n_items"] == len(rows) and got["agreement"]["source"] == "stored comparison"
    assert got["retrieval"]["winner"] == "B" and got["sentence"].startswith(f"On the {len(rows)} shown items B")
    # rows in any order, repeated: the same items
    again = post(client, np.concatenate([rows[::-1], rows[:5]]), a="W", b="S", k=10, label_field="label")
    assert again.json() == got
    # a baseline restricts nothing here (W2 holds every item) but is accepted; k without a stored comparison
    other = post(client, rows, a="W", b="S", k=5, label_field="label", baseline="W2").json()
    assert other["agreement"]["source"] != "stored comparison" and other["retrieval"] == got["retrieval"]
    # W's and S's per-query scores, computed once, and k = 5's all-items Jaccard sample
    assert len(app.state.ctx.scores) == 3


def test_without_a_label_column_only_agreement(client):
    got = post(client, [0, 1, 2, 3] * 10, a="W", b="S", k=10).json()
    assert got["retrieval"] is None and got["n_items"] == 4 and got["agreement"]["too_few"]


def test_no_row(client):
    got = post(client, [], a="W", b="S", k=10, label_field="label").json()
    assert got["n_items"] == 0 and got["sentence"].startswith("None of the shown items")


@pytest.mark.parametrize("rows, params, status, message", [
    ([0, N], {"a": "W", "b": "S"}, 400, f"Row {N} is not in dataset 'd'"),
    ([0], {"a": "W", "b": "O"}, 400, "embed different datasets"),
    ([0], {"a": "W", "b": "nope"}, 404, "nope"),
    ([0], {"a": "W", "b": "W"}, 400, "Pick two different spaces"),
    ([0], {"a": "W", "b": "S", "k": 0}, 400, "k must be between"),
    ([0], {"a": "W", "b": "S", "label_field": "nope"}, 400, "no column 'nope'"),
    ([0], {"a": "W", "b": "S", "label_field": "score"}, 400, "holds measurements"),
    ([0], {"a": "W", "b": "S", "label_field": "label", "baseline": "O"}, 400, "Baseline 'O' embeds dataset 'other'"),
])
def test_bad_requests_get_one_line(client, rows, params, status, message):
    r = post(client, rows, **params)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert message in detail and "\n" not in detail


def test_bad_bodies(client):
    r = client.post("/api/figures", params={"a": "W", "b": "S"}, content=b"\x01\x02\x03")
    assert r.status_code == 400 and "little-endian uint32" in r.json()["detail"]
    r = client.post("/api/figures", params={"a": "W", "b": "S"}, content=b"\0" * (4 * N + 4))
    assert r.status_code == 413 and "240 rows" in r.json()["detail"]
    r = client.post("/api/figures", params={"b": "S"}, content=b"")
    assert r.status_code == 400 and "\n" not in r.json()["detail"]   # the missing parameter, in one line


def test_a_row_list_may_exceed_the_json_body_limit(home):
    """The rows travel as 4 bytes each, like an export's: past the JSON body limit (1 MiB, 262,144
    rows; 64 bytes here) the export's larger limit applies."""
    with local_client(create_app(home, jobs="thread", max_body=64)) as c:
        r = post(c, np.arange(100), a="W", b="S", k=10)
        assert r.status_code == 200, r.text
        assert r.json()["n_items"] == 100
        r = c.post("/api/versus", json={"a": "W", "b": "S", "label_field": "label", "pad": "x" * 100})
        assert r.status_code == 413


def test_a_closed_request_stops_before_its_next_search(home, monkeypatch):
    """The page closes a request whose figures it no longer wants: the server asks the connection
    before each search and answers 499 without scoring any query."""
    from starlette.requests import Request

    async def closed(self):
        return True

    monkeypatch.setattr(Request, "is_disconnected", closed)
    app = create_app(home, jobs="thread")
    with local_client(app) as c:
        r = post(c, np.arange(0, N, 2), a="W", b="S", k=10, label_field="label")
        assert r.status_code == 499
        assert len(app.state.ctx.scores) == 0


def test_cancelled_between_agreement_and_retrieval(home):
    """Asked once per search: a request closed after its agreement stops before scoring queries."""
    from spacelens.answer_subset import FiguresCancelled, ScoreCache

    asked: list[int] = []

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) > 1       # open for the agreement, closed before the retrieval

    cache = ScoreCache()
    with pytest.raises(FiguresCancelled):
        subset_figures(spacelens.open_registry(home), "W", "S", np.arange(50), k=10, label_field="label",
                       cache=cache, cancelled=cancelled)
    assert len(asked) == 2 and len(cache) == 0
    got = subset_figures(spacelens.open_registry(home), "W", "S", np.arange(50), k=10, label_field="label",
                         cache=cache, cancelled=lambda: False)
    assert got["retrieval"]["n_queries"] > 0 and len(cache) == 2
