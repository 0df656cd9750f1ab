"""The analyzer under hostile or careless callers: foreign Host names (DNS rebinding), the
access token beyond loopback, oversized bodies, bad numbers, failures that must not leak
internals, spaces of another dataset, and a cache that must not outlive the data.

Each test names the request a browser (or an attacker's page) would send and checks the
status and the one-line message, and that no registry data came back.
"""

from __future__ import annotations

import asyncio
import json
import logging

import numpy as np
import pandas as pd
import pytest
from _web import LOCAL, first_answer, local_client, wait_job

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import spacelens  # noqa: E402
from spacelens import api  # noqa: E402

N = 120
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """Dataset 'items' (spaces A, B) and dataset 'pics' (spaces P, Q); A and B compared at k=5."""
    h = tmp_path_factory.mktemp("security") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    rng = np.random.default_rng(11)
    va = rng.normal(size=(N, 8)).astype(np.float32)
    table = pd.DataFrame({"id": [f"it{i:03d}" for i in range(N)], "label": rng.integers(0, 3, N)})
    spacelens.add(va, table, dataset_name="items", experiment_name="runA", space_name="A", home=h)
    spacelens.add(va + rng.normal(size=va.shape).astype(np.float32), dataset_name="items", experiment_name="runB",
                  space_name="B", home=h)
    pics = pd.DataFrame({"id": [f"p{i}" for i in range(N)]})
    spacelens.add(rng.normal(size=(N, 4)).astype(np.float32), pics, dataset_name="pics", experiment_name="runP",
                  space_name="P", home=h)
    spacelens.add(rng.normal(size=(N, 4)).astype(np.float32), dataset_name="pics", experiment_name="runQ",
                  space_name="Q", home=h)
    api.compare("A", "B", k=5, home=h)
    api.compare("P", "Q", k=5, home=h)
    yield h
    mp.undo()


UI = f"{LOCAL}:8501"   # where `spacelens ui` serves by default

def make_app(home, **kwargs):
    from spacelens.server import create_app

    return create_app(home, jobs="thread", **kwargs)


@pytest.fixture(scope="module")
def client(home):
    with local_client(make_app(home), UI) as c:
        yield c


def one_line_error(resp) -> str:
    body = resp.json()
    assert set(body) >= {"detail", "error"} and body["detail"] == body["error"], body
    assert "\n" not in body["error"] and "Traceback" not in body["error"]
    return body["error"]


# -- Host names: DNS rebinding ------------------------------------------------------------------
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8501", "127.0.0.1.evil.example",
                                  "localhost.evil.example:8501", "attacker.test"])
def test_foreign_host_is_refused(home, client, host):
    """A page at evil.example whose name now resolves to 127.0.0.1 sends 'Host: evil.example'."""
    resp = client.get("/api/registry", headers={"host": host})
    assert resp.status_code == 400
    msg = one_line_error(resp)
    assert host in msg and "--allow-host" in msg
    assert b"items" not in resp.content and b"runA" not in resp.content  # no registry data leaked
    assert client.get("/", headers={"host": host}).status_code == 400  # nor the page


@pytest.mark.parametrize("host", ["127.0.0.1:8501", "localhost:8501", "LOCALHOST", "[::1]:8501", "127.0.0.1"])
def test_loopback_names_are_served(client, host):
    resp = client.get("/api/registry", headers={"host": host})
    assert resp.status_code == 200 and [d["name"] for d in resp.json()["datasets"]] == ["items", "pics"]


def test_bind_address_and_allowed_names_are_served(home):
    app = make_app(home, host="10.1.2.3", token=False, allowed_hosts=["lab.example"])
    with local_client(app, "http://10.1.2.3:8501") as c:
        assert c.get("/api/datasets").status_code == 200
        assert c.get("/api/datasets", headers={"host": "lab.example:8501"}).status_code == 200
        assert c.get("/api/datasets", headers={"host": "10.1.2.4:8501"}).status_code == 400


def test_request_from_another_site_is_refused(client):
    """A cross-site fetch carries the attacker's Origin even when the Host is right."""
    resp = client.post("/api/jobs", json={"kind": "comparison", "a": "A", "b": "B", "k": 3},
                       headers={"origin": "http://evil.example"})
    assert resp.status_code == 403 and "other sites" in one_line_error(resp)
    assert client.get("/api/jobs").json() == []  # nothing was started
    assert client.get("/api/datasets", headers={"origin": "http://127.0.0.1:8501"}).status_code == 200


@pytest.mark.parametrize("origin", ["null", "NULL", "file://", "data:text/html,x", "chrome-extension://abc",
                                    "http://evil.example", "http://127.0.0.1.evil.example:8501", "junk"])
def test_opaque_or_foreign_origin_is_refused(client, origin):
    """``Origin: null`` is what a sandboxed frame, a file: page or a data: URL sends: never the page."""
    resp = client.post("/api/jobs", json={"kind": "comparison", "a": "A", "b": "B", "k": 4},
                       headers={"origin": origin})
    assert resp.status_code == 403 and "other sites" in one_line_error(resp)
    assert client.get("/api/jobs").json() == []  # nothing was started


def test_any_host_still_refuses_other_origins(home):
    """--allow-host '*' serves every Host name, but a cross-site request stays refused: its Origin
    must be the server the Host header names."""
    app = make_app(home, host="0.0.0.0", token=False, allowed_hosts=["*"])
    with local_client(app, "http://lab.example:8501") as c:
        assert c.get("/api/datasets").status_code == 200
        assert c.get("/api/datasets", headers={"host": "anything.test"}).status_code == 200
        ok = c.get("/api/datasets", headers={"origin": "http://lab.example:8501"})
        assert ok.status_code == 200
        for origin in ("http://evil.example", "http://lab.example:9999", "null", "https://lab.example.evil.test"):
            resp = c.post("/api/jobs", json={"kind": "comparison", "a": "A", "b": "B", "k": 4},
                          headers={"origin": origin})
            assert resp.status_code == 403, origin
        assert c.get("/api/jobs").json() == []


def _with_websocket(app):
    """The app with a WebSocket endpoint (routed first) that greets whoever gets through."""
    from starlette.routing import WebSocketRoute

    async def hello(ws):
        await ws.accept()
        await ws.send_text("registry data")
        await ws.close()

    app.router.routes.insert(0, WebSocketRoute("/ws-test", hello))
    return app


def test_websocket_handshakes_are_checked_like_requests(home):
    """A WebSocket is not bound by the same-origin policy: a foreign Host, a foreign or null
    Origin, or a missing token closes the handshake before the endpoint sees it."""
    from starlette.websockets import WebSocketDisconnect

    WS = "ws://localhost:8501"
    app = _with_websocket(make_app(home, host="0.0.0.0"))
    token = app.state.token
    with local_client(app, "http://localhost:8501") as c:
        refused = [{"host": "evil.example"}, {"origin": "http://evil.example"}, {"origin": "null"}, {}]
        for headers in refused:
            q = "" if not headers else f"?token={token}"
            with pytest.raises(WebSocketDisconnect) as e:
                with c.websocket_connect(f"{WS}/ws-test" + q, headers=headers) as ws:
                    ws.receive_text()
            assert e.value.code == 1008, headers
        with c.websocket_connect(f"{WS}/ws-test?token={token}", headers={"origin": "http://localhost:8501"}) as ws:
            assert ws.receive_text() == "registry data"
        with c.websocket_connect(f"{WS}/ws-test", headers={"authorization": f"Bearer {token}"}) as ws:
            assert ws.receive_text() == "registry data"


def test_answers_carry_a_content_security_policy(client):
    """The page may run only the server's own script files: no inline script or handler, no
    plugins, no <base>; the API's answers may run nothing at all."""
    page = client.get("/")
    policy = dict(p.strip().split(" ", 1) for p in page.headers["content-security-policy"].split(";"))
    assert policy["script-src"].split() == ["'self'", "'unsafe-eval'"]  # regl compiles with Function()
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-inline'" not in policy["default-src"]
    assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert page.headers["x-content-type-options"] == "nosniff"
    api_policy = client.get("/api/datasets").headers["content-security-policy"]
    assert "default-src 'none'" in api_policy and "script-src" not in api_policy
    # the error answers of the checks carry it too
    assert "content-security-policy" in client.get("/api/datasets", headers={"host": "evil.example"}).headers


def test_built_page_has_no_inline_script():
    """What the policy forbids is not in the built page: every <script> has a src, no element
    has an on* handler attribute or a javascript: URL."""
    from html.parser import HTMLParser

    from spacelens.server.app import static_dir

    index = static_dir() / "index.html"
    if not index.is_file():
        pytest.skip("the front end is not built (run: make web)")
    found = []

    class Scan(HTMLParser):
        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "script" and not a.get("src"):
                found.append("inline <script>")
            found.extend(f"{tag} {k}=" for k in a if k.lower().startswith("on"))
            found.extend(f"{tag} {k}=javascript:" for k, v in a.items() if (v or "").strip().lower()
                         .startswith("javascript:"))

    Scan().feed(index.read_text())
    assert found == []


# -- the access token beyond loopback -------------------------------------------------------------
def test_token_required_beyond_loopback(home):
    app = make_app(home, host="0.0.0.0")
    token = app.state.token
    assert isinstance(token, str) and len(token) >= 24
    with local_client(app, "http://localhost:8501") as c:
        resp = c.get("/api/registry")
        assert resp.status_code == 401 and "token" in one_line_error(resp)
        assert b"runA" not in resp.content
        assert c.get("/api/registry", params={"token": token + "x"}).status_code == 401
        assert c.get("/api/registry", headers={"authorization": "Bearer nope"}).status_code == 401
        # given once as ?token=...: the answer sets an HttpOnly, SameSite=Strict cookie ...
        first = c.get("/api/registry", params={"token": token})
        assert first.status_code == 200 and first.json()["datasets"][0]["name"] == "items"
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and token in cookie
        # ... which later requests carry instead of the token
        assert c.get("/api/registry").status_code == 200
    with local_client(app, "http://localhost:8501") as c:  # a fresh client: no cookie
        assert c.get("/api/datasets").status_code == 401
        assert c.get("/api/datasets", headers={"authorization": f"Bearer {token}"}).status_code == 200
        # the page's own address: the token becomes a cookie and leaves the address bar
        page = c.get("/", params={"token": token, "x": "1"}, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/?x=1"
        assert token not in page.headers["location"] and "HttpOnly" in page.headers["set-cookie"]


def test_loopback_needs_no_token_unless_asked(home):
    assert make_app(home).state.token is None
    app = make_app(home, token=True)  # e.g. a machine shared with other users
    assert app.state.token
    with local_client(app, UI) as c:
        assert c.get("/api/datasets").status_code == 401


# -- sizes and numbers -------------------------------------------------------------------------------
def test_oversized_body_is_refused_with_413(client):
    big = json.dumps({"kind": "comparison", "a": "A", "b": "B", "pad": "x" * (2 * 2**20)})
    resp = client.post("/api/jobs", content=big, headers={"content-type": "application/json"})
    assert resp.status_code == 413 and "larger than 1 MiB" in one_line_error(resp)

    def chunks():  # no Content-Length: counted while streaming
        for _ in range(40):
            yield b" " * 2**16
    resp = client.post("/api/jobs", content=chunks(), headers={"content-type": "application/json"})
    assert resp.status_code == 413
    # an export names each row at most once: more than 4 bytes a dataset row is refused
    resp = client.post("/api/datasets/items/export", content=np.arange(N + 1, dtype="<u4").tobytes())
    assert resp.status_code == 413 and "items" in one_line_error(resp)
    assert client.get("/api/jobs").json() == []


def test_oversized_body_is_refused_before_it_is_read(home):
    """The declared length alone decides: the app never asks for the body."""
    app = make_app(home)
    sent, asked = [], []

    async def receive():
        asked.append(1)
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/api/jobs", "raw_path": b"/api/jobs", "root_path": "", "query_string": b"",
             "headers": [(b"host", b"127.0.0.1:8501"), (b"content-type", b"application/json"),
                         (b"content-length", str(10**9).encode())],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8501)}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413 and not asked


@pytest.mark.parametrize("path, params, word", [
    ("/api/comparison", {"a": "A", "b": "B", "k": 201}, "k must be between 1 and 200"),
    ("/api/comparison", {"a": "A", "b": "B", "k": "ten"}, "'k'"),
    ("/api/query", {"space": "A", "vs": "B", "row": 3, "k": 1000}, "k must be between 1 and 200"),
    ("/api/datasets/items/items/abc", {}, "'row'"),
    ("/api/datasets/items/colors", {"by": "coincidence", "a": "A", "b": "B", "k": -1}, "k must"),
    ("/api/datasets/items/search", {"q": "it", "limit": "many"}, "'limit'"),
])
def test_bad_numbers_are_400_with_one_line(client, path, params, word):
    resp = client.get(path, params=params)
    assert resp.status_code == 400, resp.text
    msg = one_line_error(resp)
    assert word in msg and "loc" not in resp.json()


def test_k_at_the_limit_passes_the_server_check(client):
    """k=200 is allowed by the server; this space's 120 items then limit it (the library's message)."""
    resp = client.get("/api/query", params={"space": "A", "vs": "B", "row": 3, "k": 200})
    assert resp.status_code == 400 and "out of range for 120 rows" in one_line_error(resp)
    res = client.get("/api/query", params={"space": "A", "vs": "B", "row": 3, "k": N - 1}).json()
    assert len(res["spaces"]["A"]) == len(res["spaces"]["B"]) == N - 1


def test_bad_job_numbers(client):
    resp = client.post("/api/jobs", json={"kind": "comparison", "a": "A", "b": "B", "k": 5000})
    assert resp.status_code == 400 and "k must" in one_line_error(resp)
    resp = client.post("/api/jobs", json={"kind": "comparison", "a": "A", "b": "B", "k": "lots"})
    assert resp.status_code == 400 and "'lots'" in one_line_error(resp)
    resp = client.post("/api/jobs", content=b"[1, 2]", headers={"content-type": "application/json"})
    assert resp.status_code == 400 and "JSON object" in one_line_error(resp)


# -- failures tell the client one line, the log everything ---------------------------------------------
def test_unexpected_endpoint_failure_is_a_generic_line(home, monkeypatch, caplog):
    import spacelens.server.routes.registry as routes

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals in /opt/spacelens/registry.sqlite")

    monkeypatch.setattr(routes, "list_maps", broken)
    with local_client(make_app(home), UI, raise_server_exceptions=False) as c, caplog.at_level(logging.ERROR):
        resp = c.get("/api/registry")
    assert resp.status_code == 500
    assert one_line_error(resp) == "internal error, see the server log"
    assert b"secret" not in resp.content and b"Traceback" not in resp.content and b".py" not in resp.content
    assert "secret internals" in caplog.text and "Traceback" in caplog.text  # the log has it all


def test_failing_job_reports_one_line_and_logs_the_traceback(home, monkeypatch, caplog):
    import spacelens.api

    def broken(*args, **kwargs):
        raise ZeroDivisionError("secret internals")

    monkeypatch.setattr(spacelens.api, "project", broken)
    with local_client(make_app(home), UI) as c, caplog.at_level(logging.ERROR):
        job = c.post("/api/jobs", json={"kind": "projection", "space": "A", "method": "pca"}).json()
        job = wait_job(c, job)
    assert job["status"] == "failed" and job["error"] == "internal error, see the server log"
    assert "secret" not in json.dumps(job) and "Traceback" not in json.dumps(job)
    assert "ZeroDivisionError: secret internals" in caplog.text and "Traceback" in caplog.text


def test_failing_job_with_a_user_error_keeps_its_message(home, monkeypatch):
    import spacelens.api

    def refused(*args, **kwargs):
        raise spacelens.SpacelensError("Space 'A' is too small for that", "Use PCA")

    monkeypatch.setattr(spacelens.api, "project", refused)
    with local_client(make_app(home), UI) as c:
        job = wait_job(c, c.post("/api/jobs", json={"kind": "projection", "space": "A", "method": "umap"}).json())
    assert job["status"] == "failed" and job["error"] == "Space 'A' is too small for that. Use PCA"


# -- dataset membership on every endpoint ---------------------------------------------------------------
@pytest.mark.parametrize("method, path, kwargs", [
    ("get", "/api/datasets/items/items/3", {"params": {"a": "P", "b": "Q", "k": 5}}),
    ("post", "/api/datasets/items/export", {"params": {"a": "P", "b": "Q", "k": 5},
                                            "content": np.array([1, 2], "<u4").tobytes()}),
    ("get", "/api/datasets/items/colors", {"params": {"by": "coincidence", "a": "P", "b": "Q", "k": 5}}),
    ("get", "/api/comparison", {"params": {"a": "P", "b": "Q", "k": 5, "dataset": "items"}}),
    ("get", "/api/query", {"params": {"space": "P", "vs": "Q", "id": "p1", "dataset": "items"}}),
    ("post", "/api/jobs", {"json": {"kind": "comparison", "a": "P", "b": "Q", "k": 5, "dataset": "items"}}),
])
def test_spaces_of_another_dataset_are_refused(client, method, path, kwargs):
    """P and Q are a valid, compared pair, but of dataset 'pics', not 'items'."""
    resp = getattr(client, method)(path, **kwargs)
    assert resp.status_code == 400, resp.text
    msg = one_line_error(resp)
    assert "'P'" in msg and "'pics'" in msg and "'items'" in msg and "/api/spaces?dataset=items" in msg


def test_map_aligned_to_a_space_of_another_dataset_is_refused(client):
    resp = client.get("/api/spaces/A/map", params={"method": "pca", "align_to": "P"})
    assert resp.status_code == 400 and "different datasets" in one_line_error(resp)


# -- caches follow content, not row ids -------------------------------------------------------------------
def test_comparison_cache_is_not_stale_after_overwrite(tmp_path, monkeypatch):
    """Overwrite B, recompute: the page must show the new comparison. SQLite hands the deleted
    artifact's id to the new one, so a cache keyed on artifact ids served the old values."""
    monkeypatch.setenv("SPACELENS_NO_PROGRESS", "1")
    h = tmp_path / "home"
    rng = np.random.default_rng(5)
    va = rng.normal(size=(N, 6)).astype(np.float32)
    table = pd.DataFrame({"id": [f"i{i}" for i in range(N)]})
    spacelens.add(va, table, dataset_name="d", experiment_name="e", space_name="A", home=h)
    spacelens.add(va + 0.01 * rng.normal(size=va.shape).astype(np.float32), dataset_name="d",
                  experiment_name="e", space_name="B", home=h)
    old = api.compare("A", "B", k=5, home=h)
    with local_client(make_app(h), UI) as c:
        first = c.get("/api/comparison", params={"a": "A", "b": "B", "k": 5})
        assert first.status_code == 200
        from spacelens.views import binary

        assert binary.decode(first.content)[0]["mean"] == pytest.approx(old.mean)
        # B replaced by unrelated vectors, then compared again
        spacelens.add(rng.normal(size=va.shape).astype(np.float32), dataset_name="d", experiment_name="e",
                      space_name="B", overwrite=True, home=h)
        new = api.compare("A", "B", k=5, home=h)
        assert abs(new.mean - old.mean) > 0.3  # really different numbers
        head = binary.decode(c.get("/api/comparison", params={"a": "A", "b": "B", "k": 5}).content)[0]
        assert head["mean"] == pytest.approx(new.mean)
        item = c.get("/api/datasets/d/items/7", params={"a": "A", "b": "B", "k": 5}).json()
        assert item["jaccard"] == pytest.approx(float(new.jaccard[np.flatnonzero(new.rows == 7)[0]]))


@pytest.mark.slow
def test_ui_command_prints_the_address_with_its_token(home):
    """`spacelens ui --token` (as beyond loopback): the printed address carries the token, which
    opens the page; without it the API answers 401."""
    import os
    import subprocess
    import sys
    from urllib.parse import parse_qs, urlsplit

    import httpx

    from spacelens.server import frontend_built

    if not frontend_built():
        pytest.skip("the front end is not built (make web)")
    env = {**os.environ, "SPACELENS_NO_PROGRESS": "1", "COLUMNS": "300"}
    p = subprocess.Popen([sys.executable, "-m", "spacelens", "ui", "--home", str(home), "--port", "0", "--no-browser",
                          "--token"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = p.stdout.readline()
        url = line.split()[2]
        parts = urlsplit(url)
        token = parse_qs(parts.query)["token"][0]
        assert parts.hostname == "127.0.0.1" and len(token) >= 24, line
        base = f"http://{parts.netloc}"
        r = first_answer(base + "/api/datasets")
        assert r.status_code == 401
        with httpx.Client(base_url=base, timeout=5) as c:
            page = c.get(url.replace(base, ""), follow_redirects=True)
            assert page.status_code == 200 and "<canvas" in page.text and token not in str(page.url)
            assert [d["name"] for d in c.get("/api/datasets").json()] == ["items", "pics"]  # the cookie
        assert httpx.get(base + "/api/datasets", headers={"host": "evil.example"}, timeout=5).status_code == 400
    finally:
        p.terminate()
        p.wait(timeout=20)
