"""The analyzer's web server: a JSON + binary API over the registry, and the built page.

``create_app(home)`` returns a FastAPI app. Names in URLs are only ever looked up in the
registry's database (they never become file paths), so no request can read a file outside
the home; the one exception is opt-in: image files named by a dataset column are served
only from under its dataset's image folder (registered with it) or a folder the user passed
as ``image_roots`` (the rule: :mod:`spacelens.views.images`). Point data (map coordinates, colour
codes, histogram bins) travels in the binary frame of :mod:`spacelens.views.binary`.

Every request passes :mod:`spacelens.server.security` first (allowed Host names and Origins,
the access token beyond loopback, body-size limits; every answer gets a Content-Security-Policy); errors are one line (:mod:`spacelens.server.errors`).
The endpoints live in :mod:`spacelens.server.routes`, one router per concern: registry
browsing, maps and colours, comparisons, items (tooltip, image, search, export), kNN query,
jobs, which space retrieves better (a job). See each module (or /api/docs) for the endpoints.
"""

from __future__ import annotations

import os
import secrets
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from spacelens.errors import NotFoundError
from spacelens.registry import Registry
from spacelens.server import errors, security
from spacelens.server.context import MAX_K, ServerContext
from spacelens.views.data import ComparisonCache, TableCache
from spacelens.server.frontend import frontend_built, static_dir  # noqa: F401 (frontend_built: re-exported)
from spacelens.server.jobs import JobManager
from spacelens.server.routes import ROUTERS

MAX_BODY = 2**20            # JSON bodies (a job request is a few hundred bytes)
MAX_EXPORT_BODY = 2**26     # an export's row list: 16 million rows as uint32


def create_app(home=None, *, jobs: str = "process", image_roots=(), static: str | os.PathLike | None = None,
               host: str = "127.0.0.1", allowed_hosts=(), token: str | bool | None = None,
               max_body: int = MAX_BODY, max_k: int = MAX_K, max_jobs: int = 8,
               orphan_after_s: float = 90.0) -> FastAPI:
    """The analyzer app for the registry in ``home``.

    ``jobs``: where missing maps/comparisons are computed ("process": one worker process,
    "thread": in this process, for tests). ``image_roots``: folders from which image files
    named in dataset columns may be served, besides each dataset's own image folder.
    ``host``: the address the server listens on; requests must name it, a loopback name, or
    one of ``allowed_hosts`` (``"*"``: any) in their Host header. ``token``: the access token
    required from every request; by default one is generated when ``host`` is not a loopback
    address (``app.state.token``), ``True`` generates one anyway, ``False`` requires none.
    ``max_body``/``max_k``/``max_jobs``: request limits; ``orphan_after_s``: a job nobody
    polled for this long is cancelled (the page polls every 0.4 s; 90 s outlasts Chrome's
    once-a-minute timers in a tab hidden for minutes).
    """
    reg = home if isinstance(home, Registry) else Registry(home)
    manager = JobManager(reg.home, mode=jobs, max_jobs=max_jobs, orphan_after_s=orphan_after_s)
    ctx = ServerContext(reg=reg, tables=TableCache(), comparisons=ComparisonCache(), jobs=manager,
                        image_roots=[Path(r).expanduser().resolve() for r in image_roots], max_k=max_k)
    if token is None:
        token = not security.is_loopback(host)
    if token is True:
        token = secrets.token_urlsafe(24)

    @asynccontextmanager
    async def lifespan(app):
        yield
        manager.shutdown()

    app = FastAPI(title="spacelens analyzer", docs_url="/api/docs", openapi_url="/api/openapi.json",
                  redoc_url=None, lifespan=lifespan)
    app.state.ctx = ctx
    app.state.registry, app.state.jobs, app.state.tables = reg, manager, ctx.tables
    app.state.token = token or None
    errors.install(app)

    # outermost last: security headers on every answer, the Host check, the token, the body limit
    app.add_middleware(security.BodyLimit, max_bytes=max_body, large_bytes=max(max_body, MAX_EXPORT_BODY),
                       large_paths=("/export", "/figures"))   # row lists: 4 bytes a row
    if token:
        app.add_middleware(security.TokenCheck, token=token)
    app.add_middleware(security.HostCheck, allowed=security.allowed_host_names(host, allowed_hosts))
    app.add_middleware(security.SecurityHeaders)

    for router in ROUTERS:
        app.include_router(router, prefix="/api")

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False)
    def api_not_found(rest: str):
        raise NotFoundError(f"No API endpoint /api/{rest[:80]}", "See /api/docs for the endpoints")

    page = Path(static) if static is not None else static_dir()
    if (page / "index.html").is_file():
        app.mount("/", StaticFiles(directory=page, html=True), name="page")
    else:
        @app.get("/", response_class=HTMLResponse, include_in_schema=False)
        def not_built():
            return HTMLResponse("<h1>spacelens</h1><p>The analyzer page is not built. Run <code>make web</code> "
                                "(or <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>) and restart "
                                "<code>spacelens ui</code>. The API is up: <a href='/api/docs'>/api/docs</a>.</p>",
                                status_code=503)
    return app
