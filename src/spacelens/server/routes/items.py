"""Single items and selections: tooltip records, image files, search, CSV export.

``/datasets/{name}/items/{row}?a=&b=&k=``, ``.../items/{row}/image?column=``,
``/datasets/{name}/search?q=&limit=[&spaces=A,B]`` (only items every named space holds), ``POST /datasets/{name}/export?a=&b=&k=`` (body:
little-endian uint32 row numbers; answer: CSV). Image files are served only from the
dataset's image folder and the folders the server was started with (``image_roots``), never
from a path a request names (the rule: :mod:`spacelens.views.images`).
"""

from __future__ import annotations

import io

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from spacelens.errors import NotFoundError, SpacelensError
from spacelens.server.context import SEARCH_LIMIT, ServerContext, context
from spacelens.views.data import Missing, plain, row_record
from spacelens.views.images import image_columns, image_file, image_roots, row_images

router = APIRouter()


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


@router.get("/datasets/{name}/search")
def search(name: str, q: str, limit: int = 20, spaces: str | None = None, ctx: ServerContext = Depends(context)):
    """Items whose id is ``q``, starts with it, holds it, then whose text holds it, at most
    ``limit``. ``spaces`` (comma-separated names of the dataset's spaces): only items every one
    of them holds (the items a query of the shown pair can answer)."""
    import pandas as pd

    e = ctx.tables.entry(ctx.reg, name)
    q = q.strip()
    limit = max(1, min(limit, SEARCH_LIMIT))
    held = None
    for s in [x for x in (spaces or "").split(",") if x]:
        ctx.of_dataset(name, s)
        rows = ctx.reg.load_rows(s)
        mask = np.zeros(len(e["ids"]), dtype=bool)
        mask[rows] = True
        held = mask if held is None else held & mask
    if not q:
        return []
    ids = e["ids"]

    def within(found: np.ndarray) -> np.ndarray:
        return found if held is None else found[held[found]]

    hits: list[int] = within(np.flatnonzero(ids == q)).tolist()
    ql = q.lower()
    if "ids_lower" not in e:  # arrow strings: a prefix scan of a million ids takes milliseconds
        e["ids_lower"] = pd.Series(ids, dtype="string[pyarrow]").str.lower()
    if len(hits) < limit:
        pre = within(np.flatnonzero(e["ids_lower"].str.startswith(ql).to_numpy(dtype=bool, na_value=False)))
        hits += [int(r) for r in pre[:limit] if r not in hits]
    if len(hits) < limit:  # then anywhere in the id: "7" finds "007"
        sub = within(np.flatnonzero(e["ids_lower"].str.contains(ql, regex=False).to_numpy(dtype=bool, na_value=False)))
        hits += [int(r) for r in sub[:limit] if r not in hits]
    text_cols = [c["name"] for c in e["columns"] if c["kind"] in ("text", "categorical", "image")
                 and not c["is_id"] and not pd.api.types.is_numeric_dtype(e["table"][c["name"]])]
    matched_in: dict[int, str] = {}
    for col in text_cols:
        if len(hits) >= limit:
            break
        s = e["table"][col].astype("string[pyarrow]")
        m = within(np.flatnonzero(s.str.contains(q, case=False, regex=False).to_numpy(dtype=bool, na_value=False)))
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


@router.post("/datasets/{name}/export")
async def export(name: str, request: Request, a: str | None = None, b: str | None = None, k: int = 10,
                 ctx: ServerContext = Depends(context)):
    # a selection names each row at most once: 4 bytes a dataset row is the most it can need
    n_rows = (await run_in_threadpool(ctx.reg.dataset, name)).n_rows
    limit = 4 * max(n_rows, 1)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"The selection is larger than dataset {name!r} ({n_rows} rows, "
                                f"{limit} bytes as uint32)")
        chunks.append(chunk)
    return await run_in_threadpool(export_csv, ctx, name, b"".join(chunks), a, b, k)


def export_csv(ctx: ServerContext, name: str, body: bytes, a: str | None, b: str | None, k: int) -> Response:
    e = ctx.tables.entry(ctx.reg, name)
    ctx.of_dataset(name, a, b)
    if len(body) % 4:
        raise SpacelensError("The selection must be little-endian uint32 row numbers")
    rows = np.unique(np.frombuffer(body, dtype="<u4").astype(np.int64))
    if len(rows) and rows[-1] >= len(e["ids"]):
        raise SpacelensError(f"Row {int(rows[-1])} is not in dataset {name!r} ({len(e['ids'])} rows)")
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
