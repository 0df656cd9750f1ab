"""The k nearest neighbours of one item in both spaces: ``/query?space=&vs=&id=|row=&k=``.

The answer carries ``images``: ``{dataset row: url}`` of each neighbour's first image that can
be shown, and ``image_column`` (the neighbour tables' thumbnails; :mod:`spacelens.views.images`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from spacelens.errors import SpacelensError
from spacelens.server.context import ServerContext, context
from spacelens.views.data import plain
from spacelens.views.frames import with_shared
from spacelens.views.images import image_roots, query_previews

router = APIRouter()


@router.get("/query")
def query(space: str, vs: str | None = None, id: str | None = None, row: int | None = None, k: int = 10,
          metric: str = "cosine", dataset: str | None = None, ctx: ServerContext = Depends(context)):
    from spacelens import api

    ds = ctx.same_dataset(space, vs)
    if dataset is not None:
        ctx.of_dataset(dataset, space, vs)
    if id is None:
        if row is None:
            raise SpacelensError("Say which item to query", "Pass id=ITEM_ID or row=DATASET_ROW")
        id = str(ctx.check_row(ds, row)["ids"][row])
    res = api.query(space, id, k=ctx.check_k(k), vs=vs, metric=metric, home=ctx.reg)
    previews = query_previews(res, ctx.tables.entry(ctx.reg, ds), ds, image_roots(ctx.reg, ds, ctx.image_roots))
    return plain({**with_shared(res), "k": res.get("k") or k, **previews})
