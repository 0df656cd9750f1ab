"""The analyzer's web server: a JSON + binary API over the registry, and the built page.

``create_app(home)`` returns a FastAPI app. Names in URLs are only ever looked up in the
registry's database (they never become file paths), so no request can read a file outside
the home; the one exception is opt-in: image files named by a dataset column are served
only from folders the user passed as ``image_roots``. Point data (map coordinates, colour
codes, histogram bins) travels in the binary frame of :mod:`spacelens.server.binary`.

Endpoints (all under /api):

- registry: ``/registry``, ``/datasets``, ``/datasets/{name}``, ``/experiments``, ``/spaces``,
  ``/spaces/{name}``, ``/comparisons``, ``/evaluations``, ``/maps``
- map data: ``/spaces/{name}/map?method=`` (frame: x, y float32 [+ rows bit mask]),
  ``/datasets/{name}/colors?by=COLUMN|coincidence`` (frame: uint8 code per dataset row),
  ``/comparison?a=&b=&k=`` (frame: histogram bin per dataset row; header: mean, counts)
- items: ``/datasets/{name}/items/{row}``, ``.../items/{row}/image``, ``/datasets/{name}/search?q=``,
  ``POST /datasets/{name}/export`` (body: uint32 rows; answer: CSV)
- ``/query?space=&vs=&id=|row=&k=``: the k neighbours of an item in both spaces
- jobs: ``POST /jobs`` ({kind: projection|comparison, ...}), ``/jobs``, ``/jobs/{id}``
"""

from __future__ import annotations

import io
import os
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

import numpy as np
from fastapi import Body, FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from spacelens.errors import NotFoundError, SpacelensError
from spacelens.registry import Registry, record_dict
from spacelens.server import binary
from spacelens.server.colors import IMAGE_SUFFIXES, coincidence_codes, histogram
from spacelens.server.data import (METHODS, ComparisonCache, Missing, TableCache, check_method,
                                   list_comparisons, list_evaluations, list_maps, load_map, normalise, plain,
                                   row_record)
from spacelens.server.jobs import JobManager

MAX_K = 1000
SEARCH_LIMIT = 50


def static_dir() -> Path:
    """Where the built front end lives inside the package (``make web`` fills it)."""
    return Path(str(resources.files("spacelens.server") / "static"))


def frontend_built() -> bool:
    return (static_dir() / "index.html").is_file()


def _frame(header: dict, buffers: dict) -> Response:
    return Response(binary.encode(plain(header), buffers), media_type=binary.MEDIA_TYPE,
                    headers={"Cache-Control": "no-store"})


def create_app(home=None, *, jobs: str = "process", image_roots=(), static: str | os.PathLike | None = None) -> FastAPI:
    """The analyzer app for the registry in ``home``.

    ``jobs``: where missing maps/comparisons are computed ("process": one worker process,
    "thread": in this process, for tests). ``image_roots``: folders from which image files
    named in dataset columns may be served (none by default: only image URLs are shown).
    """
    reg = home if isinstance(home, Registry) else Registry(home)
    roots = [Path(r).expanduser().resolve() for r in image_roots]
    tables = TableCache()
    comparison_cache = ComparisonCache()
    manager = JobManager(reg.home, mode=jobs)

    def load_comparison(reg: Registry, a: str, b: str, k: int):
        return comparison_cache.get(reg, a, b, k)

    @asynccontextmanager
    async def lifespan(app):
        yield
        manager.shutdown()

    app = FastAPI(title="spacelens analyzer", docs_url="/api/docs", openapi_url="/api/openapi.json",
                  redoc_url=None, lifespan=lifespan)
    app.state.registry, app.state.jobs, app.state.tables = reg, manager, tables

    # -- errors --------------------------------------------------------------------------
    @app.exception_handler(Missing)
    def _missing(request: Request, exc: Missing):
        return JSONResponse({"detail": exc.message, "missing": exc.job}, status_code=404)

    @app.exception_handler(NotFoundError)
    def _not_found(request: Request, exc: NotFoundError):
        return JSONResponse({"detail": exc.message}, status_code=404)

    @app.exception_handler(SpacelensError)
    def _bad_request(request: Request, exc: SpacelensError):
        return JSONResponse({"detail": exc.message}, status_code=400)

    def bad(problem: str, fix: str | None = None):
        raise SpacelensError(problem, fix)

    def check_k(k: int) -> int:
        if not 1 <= k <= MAX_K:
            bad(f"k must be between 1 and {MAX_K}, not {k}")
        return k

    def same_dataset(a: str, b: str | None = None) -> str:
        ds = reg.space(a).dataset
        if b is not None and reg.space(b).dataset != ds:
            bad(f"Spaces {a!r} and {b!r} embed different datasets", "Pick two spaces of the same dataset")
        return ds

    # -- registry browsing ---------------------------------------------------------------
    def dataset_summary(d) -> dict:
        out = record_dict(d)
        out["spaces"] = [s.name for s in reg.spaces_of(dataset=d.name)]
        return out

    def space_summary(s) -> dict:
        out = record_dict(s)
        out["maps"] = sorted({m["method"] for m in list_maps(reg, s.name)
                              if m["space"] == s.name and m["method"] and not m["align_to"]})
        return out

    @app.get("/api/info")
    def info():
        import spacelens

        return {"version": spacelens.__version__, "methods": METHODS, "frontend_built": frontend_built(),
                "image_roots": [str(r) for r in roots]}

    @app.get("/api/registry")
    def registry():
        return plain({"datasets": [dataset_summary(d) for d in reg.list("datasets")],
                      "experiments": [record_dict(e) for e in reg.list("experiments")],
                      "spaces": [space_summary(s) for s in reg.list("spaces")],
                      "comparisons": list_comparisons(reg), "evaluations": list_evaluations(reg),
                      "maps": list_maps(reg)})

    @app.get("/api/datasets")
    def datasets():
        return plain([dataset_summary(d) for d in reg.list("datasets")])

    @app.get("/api/datasets/{name}")
    def dataset(name: str):
        e = tables.entry(reg, name)
        out = dataset_summary(e["record"])
        out["columns"] = e["columns"]
        return plain(out)

    @app.get("/api/experiments")
    def experiments():
        return plain([record_dict(e) for e in reg.list("experiments")])

    @app.get("/api/experiments/{name}")
    def experiment(name: str):
        out = record_dict(reg.experiment(name))
        out["spaces"] = [s.name for s in reg.spaces_of(experiment=name)]
        return plain(out)

    @app.get("/api/spaces")
    def spaces(dataset: str | None = None):
        if dataset is not None:
            reg.dataset(dataset)
        return plain([space_summary(s) for s in reg.spaces_of(dataset=dataset)])

    @app.get("/api/spaces/{name}")
    def space(name: str):
        out = space_summary(reg.space(name))
        out["evaluations"] = list_evaluations(reg, name)
        out["comparisons"] = [c for c in list_comparisons(reg) if name in (c["a"], c["b"])]
        return plain(out)

    @app.get("/api/comparisons")
    def comparisons(dataset: str | None = None):
        if dataset is not None:
            reg.dataset(dataset)
        return plain(list_comparisons(reg, dataset))

    @app.get("/api/evaluations")
    def evaluations(space: str | None = None):
        return plain(list_evaluations(reg, space))

    @app.get("/api/maps")
    def maps(space: str | None = None):
        if space is not None:
            reg.space(space)
        return plain(list_maps(reg, space))

    # -- binary map data -----------------------------------------------------------------
    @app.get("/api/spaces/{name}/map")
    def space_map(name: str, method: str = "umap", align_to: str | None = None):
        m = load_map(reg, name, method, align_to or None)
        rec = reg.space(name)
        n_dataset = reg.dataset(rec.dataset).n_rows
        x, y, transform = normalise(m.coords)
        header = {"space": name, "dataset": rec.dataset, "method": m.method, "align_to": align_to or None, "n": int(len(x)),
                  "n_dataset": int(n_dataset), "faithfulness": m.faithfulness, "transform": transform,
                  "rows": "all"}
        buffers = {"x": x, "y": y}
        rows = np.asarray(m.rows, dtype=np.int64)
        if len(rows) != n_dataset or (len(rows) and rows[-1] != n_dataset - 1):
            if len(rows) > 1 and np.any(np.diff(rows) <= 0):  # not in dataset order: send the rows
                header["rows"] = "list"
                buffers["rows"] = rows.astype(np.uint32)
            else:  # ascending: one bit per dataset row says which rows the map holds
                mask = np.zeros(n_dataset, dtype=bool)
                mask[rows] = True
                header["rows"] = "mask"
                buffers["rows_mask"] = np.packbits(mask, bitorder="little")
        return _frame(header, buffers)

    @app.get("/api/datasets/{name}/colors")
    def colors(name: str, by: str = Query(..., description="a column name, or 'coincidence'"),
               a: str | None = None, b: str | None = None, k: int = 10):
        n_rows = reg.dataset(name).n_rows
        if by == "coincidence":
            if not a or not b:
                bad("Colouring by coincidence needs two spaces", "Pass a=SPACE_A and b=SPACE_B")
            if same_dataset(a, b) != name:
                bad(f"Spaces {a!r} and {b!r} do not embed dataset {name!r}")
            comp = load_comparison(reg, a, b, check_k(k))
            codes, meta = coincidence_codes(n_rows, comp.rows, comp.jaccard)
            meta["mean"] = comp.mean
        else:
            codes, meta = tables.codes(reg, name, by)
        return _frame({"dataset": name, "by": by, **meta}, {"codes": codes})

    @app.get("/api/comparison")
    def comparison(a: str, b: str, k: int = 10):
        ds = same_dataset(a, b)
        comp = load_comparison(reg, a, b, check_k(k))
        n_rows = reg.dataset(ds).n_rows
        bins, hist = histogram(n_rows, comp.rows, comp.jaccard)
        header = {"a": a, "b": b, "k": comp.k, "dataset": ds, "mean": comp.mean, "n": int(len(comp.rows)),
                  "histogram": hist, "info": comp.info}
        return _frame(header, {"bins": bins})

    # -- items: tooltip, image, search, export -------------------------------------------
    def check_row(name: str, row: int) -> dict:
        e = tables.entry(reg, name)
        if not 0 <= row < len(e["ids"]):
            raise NotFoundError(f"Dataset {name!r} has no row {row}", f"Rows run from 0 to {len(e['ids']) - 1}")
        return e

    def image_columns(e) -> list[str]:
        return [c["name"] for c in e["columns"] if c["kind"] == "image"]

    @app.get("/api/datasets/{name}/items/{row}")
    def item(name: str, row: int, a: str | None = None, b: str | None = None, k: int = 10):
        e = check_row(name, row)
        out = {"row": row, "id": str(e["ids"][row]), "metadata": row_record(e["table"], row), "images": []}
        for col in image_columns(e):
            v = out["metadata"].get(col)
            if not isinstance(v, str) or not v:
                continue
            if v.lower().startswith(("http://", "https://", "data:image/")):
                out["images"].append({"column": col, "url": v})
            elif roots:
                out["images"].append({"column": col, "url": f"/api/datasets/{name}/items/{row}/image?column={col}"})
        if a and b:
            try:
                comp = load_comparison(reg, a, b, check_k(k))
            except Missing:
                comp = None
            if comp is not None:
                i = np.searchsorted(comp.rows, row)
                out["jaccard"] = float(comp.jaccard[i]) if i < len(comp.rows) and comp.rows[i] == row else None
        return plain(out)

    @app.get("/api/datasets/{name}/items/{row}/image")
    def item_image(name: str, row: int, column: str):
        e = check_row(name, row)
        if column not in image_columns(e):
            raise NotFoundError(f"Column {column!r} of dataset {name!r} does not hold images")
        value = e["table"][column].iloc[row]
        if not roots:
            raise NotFoundError("Image files are not served", "Start 'spacelens ui --images DIR' to show images under DIR")
        if not isinstance(value, str) or not value.lower().endswith(IMAGE_SUFFIXES):
            raise NotFoundError(f"Row {row} has no image file in column {column!r}")
        for root in roots:
            p = (root / value).resolve() if not os.path.isabs(value) else Path(value).resolve()
            if p.is_relative_to(root) and p.is_file():
                return FileResponse(p)
        raise NotFoundError(f"The image of row {row} is not under the image folders",
                            "Pass its folder with 'spacelens ui --images DIR'")

    @app.get("/api/datasets/{name}/search")
    def search(name: str, q: str, limit: int = 20):
        e = tables.entry(reg, name)
        q = q.strip()
        limit = max(1, min(limit, SEARCH_LIMIT))
        if not q:
            return []
        ids = e["ids"]
        hits: list[int] = []
        exact = np.flatnonzero(ids == q)
        hits += exact.tolist()
        ql = q.lower()
        import pandas as pd

        if "ids_lower" not in e:  # arrow strings: a prefix scan of a million ids takes milliseconds
            e["ids_lower"] = pd.Series(ids, dtype="string[pyarrow]").str.lower()
        if len(hits) < limit:
            pre = np.flatnonzero(e["ids_lower"].str.startswith(ql).to_numpy(dtype=bool, na_value=False))
            hits += [int(r) for r in pre[:limit] if r not in hits]
        text_cols = [c["name"] for c in e["columns"] if c["kind"] in ("text", "categorical", "image")
                     and not c["is_id"] and not pd.api.types.is_numeric_dtype(e["table"][c["name"]])]
        matched_in: dict[int, str] = {}
        for col in text_cols:
            if len(hits) >= limit:
                break
            s = e["table"][col].astype("string[pyarrow]")
            m = np.flatnonzero(s.str.contains(q, case=False, regex=False).to_numpy(dtype=bool, na_value=False))
            for r in m[:limit]:
                r = int(r)
                if r not in hits:
                    hits.append(r)
                    matched_in[r] = col
        out = []
        for r in hits[:limit]:
            col = matched_in.get(r)
            text = str(e["table"][col].iloc[r]) if col else None
            out.append({"row": int(r), "id": str(ids[r]), "column": col, "text": text})
        return out

    @app.post("/api/datasets/{name}/export")
    async def export(name: str, request: Request, a: str | None = None, b: str | None = None, k: int = 10):
        from starlette.concurrency import run_in_threadpool

        body = await request.body()
        return await run_in_threadpool(export_csv, name, body, a, b, k)

    def export_csv(name: str, body: bytes, a: str | None, b: str | None, k: int) -> Response:
        e = tables.entry(reg, name)
        if len(body) % 4:
            bad("The selection must be little-endian uint32 row numbers")
        rows = np.unique(np.frombuffer(body, dtype="<u4").astype(np.int64))
        if len(rows) and rows[-1] >= len(e["ids"]):
            bad(f"Row {int(rows[-1])} is not in dataset {name!r} ({len(e['ids'])} rows)")
        table = e["table"].iloc[rows].reset_index(drop=True)
        id_field = e["record"].id_field
        if id_field in table.columns:
            table = table.drop(columns=[id_field])
        table.insert(0, "id", e["ids"][rows])
        table.insert(1, "row", rows)
        if a and b:
            same_dataset(a, b)
            try:
                comp = load_comparison(reg, a, b, check_k(k))
                j = np.full(len(e["ids"]), np.nan, dtype=np.float64)
                j[comp.rows] = comp.jaccard
                table[f"jaccard_k{comp.k}"] = j[rows]
            except Missing:
                pass
        buf = io.StringIO()
        table.to_csv(buf, index=False)
        fname = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) + "-selection.csv"
        return Response(buf.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{fname}"'})

    # -- kNN query -----------------------------------------------------------------------
    @app.get("/api/query")
    def query(space: str, vs: str | None = None, id: str | None = None, row: int | None = None, k: int = 10,
              metric: str = "cosine"):
        from spacelens import api

        ds = same_dataset(space, vs)
        if id is None:
            if row is None:
                bad("Say which item to query", "Pass id=ITEM_ID or row=DATASET_ROW")
            e = check_row(ds, row)
            id = str(e["ids"][row])
        res = api.query(space, id, k=check_k(k), vs=vs, metric=metric, home=reg)
        if "shared" not in res:  # ids near the item in both spaces, in space A's order
            lists = list(res.get("spaces", {}).values())
            in_b = {str(n["id"]) for n in lists[-1]} if len(lists) > 1 else set()
            res["shared"] = [str(n["id"]) for n in lists[0] if str(n["id"]) in in_b] if in_b else []
        return plain({**res, "k": res.get("k") or k})

    # -- jobs ----------------------------------------------------------------------------
    @app.post("/api/jobs", status_code=202)
    def submit_job(spec: dict = Body(...)):
        kind = spec.get("kind")
        if kind == "projection":
            space_name = str(spec.get("space", ""))
            reg.space(space_name)
            params = {"space": space_name, "method": check_method(str(spec.get("method", "umap")))}
            if spec.get("align_to"):
                params["align_to"] = str(spec["align_to"])
                same_dataset(space_name, params["align_to"])
        elif kind == "comparison":
            a, b = str(spec.get("a", "")), str(spec.get("b", ""))
            same_dataset(a, b)
            if a == b:
                bad("Compare two different spaces")
            params = {"a": a, "b": b, "k": check_k(int(spec.get("k", 10)))}
        else:
            bad(f"Unknown job kind {kind!r}", "Use 'projection' or 'comparison'")
        return manager.submit(kind, params).as_dict()

    @app.get("/api/jobs")
    def list_jobs():
        return [j.as_dict() for j in manager.jobs.values()]

    @app.get("/api/jobs/{job_id}")
    def get_job(job_id: str):
        job = manager.get(job_id)
        if job is None:
            raise NotFoundError(f"No job {job_id!r}", "Jobs are kept only while the server runs")
        return job.as_dict()

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    def api_not_found(rest: str):
        raise NotFoundError(f"No API endpoint /api/{rest}", "See /api/docs for the endpoints")

    # -- the page ------------------------------------------------------------------------
    page = Path(static) if static is not None else static_dir()
    if (page / "index.html").is_file():
        app.mount("/", StaticFiles(directory=page, html=True), name="page")
    else:
        @app.get("/", response_class=HTMLResponse)
        def not_built():
            return HTMLResponse("<h1>spacelens</h1><p>The analyzer page is not built. Run <code>make web</code> "
                                "(or <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>) and restart "
                                "<code>spacelens ui</code>. The API is up: <a href='/api/docs'>/api/docs</a>.</p>",
                                status_code=503)

    return app
