"""Single items and selections: tooltip records, image files, search, CSV export.

``/datasets/{name}/items/{row}?a=&b=&k=``, ``.../items/{row}/image?column=``,
``/datasets/{name}/search?q=&limit=[&spaces=A,B]`` (the first matches; only items every named
space holds), ``/datasets/{name}/matches?q=&limit=[&spaces=A,B]`` (all matches, a binary frame),
``POST /datasets/{name}/export?a=&b=&k=`` (body: little-endian uint32 row numbers; answer: CSV).
Image files are served only from the dataset's image folder and the folders the server was
started with (``image_roots``), never from a path a request names (the rule:
:mod:`spacelens.views.images`).
"""

from __future__ import annotations

import io

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from spacelens.errors import NotFoundError
from spacelens.server.context import SEARCH_LIMIT, ServerContext, context
from spacelens.server.rows import read_rows
from spacelens.server.routes.maps import frame
from spacelens.views.data import Missing, plain, row_record
from spacelens.views.images import image_columns, image_file, image_roots, row_images
from spacelens.views.search import SYNTAX, find_items

router = APIRouter()
MATCHES_LIMIT = 500   # rows of the matches' first page (all rows travel in the frame's buffer)


@router.get("/datasets/{name}/items/{row}")
def item(name: str, row: int, a: str | None = None, b: str | None = None, k: int = 10,
         ctx: ServerContext = Depends(context)):
    e = ctx.check_row(name, row)
    ctx.of_dataset(name, a, b)
    out = {"row": row, "id": str(e["ids"][row]), "metadata": row_record(e["table"], row),
           "images": row_images(e, name, row, image_roots(ctx.reg, name, ctx.image_roots))}
    if a and b:
        try:
            comp = ctx.comparison(a, b, k)
        except Missing:
            comp = None
        if comp is not None:
            i = np.searchsorted(comp.rows, row)
            out["jaccard"] = float(comp.jaccard[i]) if i < len(comp.rows) and comp.rows[i] == row else None
    return plain(out)


@router.get("/datasets/{name}/items/{row}/image")
def item_image(name: str, row: int, column: str, ctx: ServerContext = Depends(context)):
    e = ctx.check_row(name, row)
    if column not in image_columns(e["columns"]):
        raise NotFoundError(f"Column {column!r} of dataset {name!r} does not hold images")
    value = e["table"][column].iloc[row]
    path = image_file(value, image_roots(ctx.reg, name, ctx.image_roots), f"The image of row {row} in {column!r}")
    return FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})


def held_by(ctx: ServerContext, name: str, n: int, spaces: str | None, either: bool = False) -> np.ndarray | None:
    """Bool per dataset row: held by every space named in ``spaces`` (comma-separated; the items
    a query of the shown pair can answer), or with ``either`` by any of them (the items the
    two maps draw); None when none is named."""
    held = None
    for s in [x for x in (spaces or "").split(",") if x]:
        ctx.of_dataset(name, s)
        mask = np.zeros(n, dtype=bool)
        mask[ctx.reg.load_rows(s)] = True
        held = mask if held is None else (held | mask if either else held & mask)
    return held


def _find(ctx: ServerContext, name: str, q: str, spaces: str | None, limit: int | None = None, either: bool = False):
    e = ctx.tables.entry(ctx.reg, name)
    keep = held_by(ctx, name, len(e["ids"]), spaces, either)
    cache = e.setdefault("search", {})
    found = find_items(e["table"], e["ids"], q, id_field=e["record"].id_field, keep=keep, limit=limit, cache=cache)
    return e, keep, found


@router.get("/datasets/{name}/search")
def search(name: str, q: str, limit: int = 20, spaces: str | None = None, ctx: ServerContext = Depends(context)):
    """The first ``limit`` matches of ``q`` (:func:`spacelens.views.search.find_items`: the id
    exactly, ids starting with it, holding it, then each column). ``spaces``: only items every
    named space holds."""
    limit = max(1, min(limit, SEARCH_LIMIT))
    e, _, found = _find(ctx, name, q, spaces, limit)
    return [{k: h[k] for k in ("row", "id", "column", "text")} for h in found.records(e["table"], e["ids"], limit)]


@router.get("/datasets/{name}/matches")
def matches(name: str, q: str, limit: int = 50, spaces: str | None = None, either: bool = False,
            ctx: ServerContext = Depends(context)):
    """Every match of ``q``, as a frame: the header says how many and where
    (``{q, n, n_dataset, n_held, by_column, first, column, syntax}``, ``first`` the first
    ``limit`` as the search route lists them, with ``mark`` to highlight), the buffer ``rows``
    (uint32) holds all matching dataset rows, best first. ``either``: items any of ``spaces``
    holds (what the maps draw) rather than every one."""
    limit = max(0, min(limit, MATCHES_LIMIT))
    e, keep, found = _find(ctx, name, q, spaces, either=either)
    n = len(e["ids"])
    header = {"q": found.query.text, "needle": found.query.needle, "column": found.query.column,
              "n": len(found), "n_dataset": n, "n_held": n if keep is None else int(keep.sum()),
              "by_column": found.by_column(), "first": found.records(e["table"], e["ids"], limit),
              "syntax": SYNTAX}
    return frame(header, {"rows": found.rows.astype(np.uint32)})


@router.post("/datasets/{name}/export")
async def export(name: str, request: Request, a: str | None = None, b: str | None = None, k: int = 10,
                 ctx: ServerContext = Depends(context)):
    # a selection names each row at most once: 4 bytes a dataset row is the most it can need
    n_rows = (await run_in_threadpool(ctx.reg.dataset, name)).n_rows
    rows = await read_rows(request, name, n_rows, "selected rows")
    return await run_in_threadpool(export_csv, ctx, name, rows, a, b, k)


def export_csv(ctx: ServerContext, name: str, rows: np.ndarray, a: str | None, b: str | None, k: int) -> Response:
    e = ctx.tables.entry(ctx.reg, name)
    ctx.of_dataset(name, a, b)
    table = e["table"].iloc[rows].reset_index(drop=True)
    id_field = e["record"].id_field
    if id_field in table.columns:
        table = table.drop(columns=[id_field])
    table.insert(0, "id", e["ids"][rows])
    table.insert(1, "row", rows)
    if a and b:
        try:
            comp = ctx.comparison(a, b, k)
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
