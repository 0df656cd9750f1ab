"""Where two spaces differ, for the page: ``/change-groups?a=&b=&k=``, the groups of items whose
neighbourhoods changed together (ranked, described by metadata, with their dataset rows).

An item's own neighbours kept, lost and gained come with ``/query?space=&vs=`` (``kept``,
``lost``, ``gained``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from spacelens.server.context import ServerContext, context
from spacelens.views.data import plain

router = APIRouter()


@router.get("/change-groups")
def change_groups(a: str, b: str, k: int = 10, top: int = 12, dataset: str | None = None,
                  ctx: ServerContext = Depends(context)):
    """Reads the two spaces' cached kNN graphs (built when missing, as ``compare`` would)."""
    from spacelens import api
    from spacelens.errors import SpacelensError

    ctx.same_dataset(a, b)
    if dataset is not None:
        ctx.of_dataset(dataset, a, b)
    if a == b:
        raise SpacelensError("A space does not change against itself", "Pick two different spaces")
    if not 1 <= top <= 100:
        raise SpacelensError(f"top must be between 1 and 100, not {top}", "Pass top=1..100")
    return plain(api.change_groups(a, b, k=ctx.check_k(k), top=top, home=ctx.reg))
