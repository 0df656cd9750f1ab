"""A stored comparison as the page draws it: ``/comparison?a=&b=&k=`` (frame: the histogram
bin of each dataset row; header: mean, counts, edges and the comparison's info)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from spacelens.server.context import ServerContext, context
from spacelens.views.frames import comparison_frame
from spacelens.server.routes.maps import frame

router = APIRouter()


@router.get("/comparison")
def comparison(a: str, b: str, k: int = 10, dataset: str | None = None, ctx: ServerContext = Depends(context)):
    ds = ctx.same_dataset(a, b)
    if dataset is not None:
        ctx.of_dataset(dataset, a, b)
    comp = ctx.comparison(a, b, k)
    return frame(*comparison_frame(ctx.reg, ds, comp))
