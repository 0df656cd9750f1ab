"""What the tests of the analyzer share: the headless browser, a served registry, the page's
readiness and its map helpers, HTTP clients and job polling. One copy here (the fixtures
``browser`` and ``page1440`` built on it are in conftest.py); each test file keeps its own data
(the registry it builds).

Browser tests run Debian's /usr/bin/chromium through Playwright (never a downloaded browser);
screenshots go to test-artifacts/ (page views under test-artifacts/views/). Playwright, uvicorn
and FastAPI are imported only where used, so importing this module needs none of them.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
# --enable-unsafe-swiftshader keeps software WebGL available to newer Chromiums run with --disable-gpu
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--enable-unsafe-swiftshader"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
VIEWS = ARTIFACTS / "views"
LOCAL = "http://127.0.0.1"   # how a browser on this machine names the analyzer (its Host header)


def require_page():
    """Skip the calling test module (with the reason) unless Chromium, Playwright, uvicorn and the
    built page are all here; Playwright's sync API module when they are."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
    sync = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    pytest.importorskip("uvicorn")
    from spacelens.server import frontend_built

    if not frontend_built():
        pytest.skip("the front end is not built (run: make web)", allow_module_level=True)
    return sync


# -- processes and ports ---------------------------------------------------------------------------
def free_port() -> int:
    """A localhost port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class serving:
    """The analyzer app of a registry on a free localhost port, in a thread (a context manager);
    ``app_kwargs`` go to ``create_app`` (``jobs="thread"``: jobs in this process too)."""

    def __init__(self, home, **app_kwargs):
        self.home, self.app_kwargs = home, app_kwargs

    def __enter__(self) -> str:
        import uvicorn

        from spacelens.server import create_app

        port = free_port()
        self.srv = uvicorn.Server(uvicorn.Config(create_app(self.home, **self.app_kwargs), host="127.0.0.1", port=port,
                                                log_level="warning"))
        self.thread = threading.Thread(target=self.srv.run, daemon=True)
        self.thread.start()
        for _ in range(200):
            if self.srv.started:
                break
            time.sleep(0.05)
        return f"{LOCAL}:{port}/"

    def __exit__(self, *exc):
        self.srv.should_exit = True
        self.thread.join(timeout=30)


def first_answer(url: str, tries: int = 100, **kwargs):
    """``httpx.get(url)`` once a server started in another process accepts connections
    (bounded: fails the test after ``tries`` refusals a tenth of a second apart, never hangs)."""
    import httpx

    for _ in range(tries):
        try:
            return httpx.get(url, timeout=5, **kwargs)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered at {url}")


# -- HTTP API --------------------------------------------------------------------------------------
def local_client(app, base_url: str = LOCAL, **kwargs):
    """A FastAPI TestClient that names the server as a browser on this machine does."""
    from fastapi.testclient import TestClient

    return TestClient(app, base_url=base_url, **kwargs)


def wait_job(client, job: dict, timeout: float = 120) -> dict:
    """Poll ``/api/jobs/{id}`` until the job leaves the queue; its final state."""
    t0 = time.time()
    while job["status"] in ("queued", "running"):
        assert time.time() - t0 < timeout, job
        time.sleep(0.05)
        r = client.get(f"/api/jobs/{job['id']}")
        assert r.status_code == 200, r.text
        job = r.json()
    return job


# -- the browser and its pages ---------------------------------------------------------------------
@contextmanager
def chromium():
    """Headless /usr/bin/chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@contextmanager
def open_page(browser, width: int, height: int, **context_kwargs):
    """A page in a fresh context of ``width`` x ``height``; errors thrown in the page (kept in
    ``page.errors``) fail the test when it closes."""
    ctx = browser.new_context(viewport={"width": width, "height": height}, **context_kwargs)
    page = ctx.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    try:
        yield page
    finally:
        ctx.close()
    assert not page.errors, page.errors


def shot(page, name: str):
    """Screenshot of what the window shows, as test-artifacts/views/<name>-<w>x<h>.png."""
    VIEWS.mkdir(parents=True, exist_ok=True)
    w, h = page.viewport_size["width"], page.viewport_size["height"]
    page.screenshot(path=str(VIEWS / f"{name}-{w}x{h}.png"))


# -- the analyzer page -----------------------------------------------------------------------------
def wait_ready(page, generation: int | None = None):
    """Until the page has loaded (at least its ``generation``-th load) and both maps have drawn."""
    cond = "document.body.dataset.ready" if generation is None else \
        f"Number(document.body.dataset.ready || 0) >= {generation}"
    page.wait_for_function(cond, timeout=120_000, polling=100)
    page.wait_for_function("['A','B'].every(s => window.__sl.maps[s].root.dataset.drawn === '1')",
                           timeout=120_000, polling=100)


def wait_settled(page):
    """Until the page has stopped working on its own after opening: the answer strip answered and
    the background jobs it started (UMAP for a small PCA-only pair) ended and were drawn. Tests
    that read panels a background job redraws (the Registry tab, the map) wait for this first."""
    wait_ready(page)
    page.wait_for_function("['done', 'error', undefined].includes(document.querySelector('#answer')?.dataset.state)"
                           " && window.__sl.jobsRunning() === 0", timeout=300_000, polling=200)
    wait_ready(page)


def js(page, expr: str):
    return page.evaluate(expr)


def selected_rows(page, side: str) -> set[int]:
    """Dataset rows selected in map ``side`` ("A" or "B")."""
    return set(js(page, f"(() => {{ const m = window.__sl.maps.{side}; "
                        f"return m.plot.get('selectedPoints').map(p => m.rows[p]); }})()"))


def screen_point(page, side: str, point: int) -> tuple[float, float]:
    """Where point ``point`` of map ``side`` is on the screen."""
    x, y = js(page, f"window.__sl.maps.{side}.plot.getScreenPosition({point})")
    box = page.locator(f"#map-{side.lower()} canvas").bounding_box()
    return box["x"] + x, box["y"] + y


def hover_point(page, side: str, point: int, timeout: float = 60) -> tuple[float, float, int]:
    """Hover point ``point`` of map ``side`` as a hand does (arrive with a move) until the map
    reports a hovered point; (x, y, dataset row hovered). The point's place is read again on every
    try: a late redraw (a background job's, a resize's) may move the camera under a still mouse,
    and a mouse that does not move sends no new hover."""
    end = time.monotonic() + timeout
    while True:
        x, y = screen_point(page, side, point)
        page.mouse.move(x + 4, y + 4)
        page.mouse.move(x, y, steps=3)
        try:
            page.wait_for_function(f"window.__sl.maps.{side}.plot.get('hoveredPoint') !== undefined", timeout=3_000)
            row = js(page, f"(() => {{ const m = window.__sl.maps.{side}, p = m.plot.get('hoveredPoint'); "
                           f"return p === undefined ? null : m.rows[p]; }})()")
            if row is not None:
                return x, y, int(row)
        except Exception:   # playwright's TimeoutError: move away and try again
            pass
        if time.monotonic() > end:
            raise AssertionError(f"no point hovered in map {side} near point {point} within {timeout:.0f} s")
        page.mouse.move(5, 5)


def wait_registry(page, timeout: float = 60):
    """Until the Registry tab is drawn with its experiments view and nothing is drawing it still
    (a job's ending redraws it; ``data-pending`` is on the tab until the redraw is done)."""
    page.wait_for_function("(r => r.dataset.view === '1' && r.dataset.pending === undefined)"
                           "(document.querySelector('#registry'))", timeout=timeout * 1000)
