"""Point data for the two maps, as binary frames (:mod:`spacelens.views.binary`).

``/spaces/{name}/map?method=&align_to=`` (x, y float32, plus the rows the map holds when it
covers a subset) and ``/datasets/{name}/colors?by=COLUMN|coincidence&a=&b=&k=`` (a uint8
colour code per dataset row; ``by=faithfulness&space=&method=[&align_to=]``: each item's
kNN preservation on that map).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from spacelens.errors import SpacelensError
from spacelens.views import binary
from spacelens.server.context import ServerContext, context
from spacelens.views.data import plain
from spacelens.views.frames import colors_frame, map_frame

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
    return frame(*map_frame(reg, name, method, align_to))


@router.get("/datasets/{name}/colors")
def colors(name: str, by: str = Query(..., description="a column name, 'coincidence' or 'faithfulness'"),
           a: str | None = None, b: str | None = None, k: int = 10, space: str | None = None,
           method: str | None = None, align_to: str | None = None, ctx: ServerContext = Depends(context)):
    ctx.reg.dataset(name)  # NotFoundError for a bad name first
    comp = None
    if by == "faithfulness":
        if not space or not method:
            raise SpacelensError("Colouring by faithfulness needs a map", "Pass space=SPACE and method=METHOD")
        ctx.of_dataset(name, space, align_to or None)
        return frame(*colors_frame(ctx.reg, name, by, ctx.tables, map_of=(space, method, align_to or None)))
    if by == "coincidence":
        if not a or not b:
            raise SpacelensError("Colouring by coincidence needs two spaces", "Pass a=SPACE_A and b=SPACE_B")
        ctx.of_dataset(name, a, b)
        comp = ctx.comparison(a, b, k)
    return frame(*colors_frame(ctx.reg, name, by, ctx.tables, comp))
