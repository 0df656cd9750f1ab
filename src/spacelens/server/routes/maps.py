"""Point data for the two maps, as binary frames (:mod:`spacelens.server.binary`).

``/spaces/{name}/map?method=&align_to=`` (x, y float32, plus the rows the map holds when it
covers a subset) and ``/datasets/{name}/colors?by=COLUMN|coincidence&a=&b=&k=`` (a uint8
colour code per dataset row).
"""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from spacelens.errors import SpacelensError
from spacelens.server import binary
from spacelens.server.colors import coincidence_codes
from spacelens.server.context import ServerContext, context
from spacelens.server.data import load_map, normalise, plain

router = APIRouter()


def frame(header: dict, buffers: dict) -> Response:
    return Response(binary.encode(plain(header), buffers), media_type=binary.MEDIA_TYPE,
                    headers={"Cache-Control": "no-store"})


@router.get("/spaces/{name}/map")
def space_map(name: str, method: str = "umap", align_to: str | None = None, ctx: ServerContext = Depends(context)):
    reg = ctx.reg
    align_to = align_to or None
    if align_to is not None:
        ctx.same_dataset(name, align_to)
    m = load_map(reg, name, method, align_to)
    rec = reg.space(name)
    n_dataset = reg.dataset(rec.dataset).n_rows
    x, y, transform = normalise(m.coords)
    header = {"space": name, "dataset": rec.dataset, "method": m.method, "align_to": align_to, "n": int(len(x)),
              "n_dataset": int(n_dataset), "faithfulness": m.faithfulness, "transform": transform, "rows": "all"}
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
    return frame(header, buffers)


@router.get("/datasets/{name}/colors")
def colors(name: str, by: str = Query(..., description="a column name, or 'coincidence'"),
           a: str | None = None, b: str | None = None, k: int = 10, ctx: ServerContext = Depends(context)):
    n_rows = ctx.reg.dataset(name).n_rows
    if by == "coincidence":
        if not a or not b:
            raise SpacelensError("Colouring by coincidence needs two spaces", "Pass a=SPACE_A and b=SPACE_B")
        ctx.of_dataset(name, a, b)
        comp = ctx.comparison(a, b, k)
        codes, meta = coincidence_codes(n_rows, comp.rows, comp.jaccard)
        meta["mean"] = comp.mean
    else:
        codes, meta = ctx.tables.codes(ctx.reg, name, by)
    return frame({"dataset": name, "by": by, **meta}, {"codes": codes})
