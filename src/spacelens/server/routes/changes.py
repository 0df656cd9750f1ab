"""Where two spaces differ, for the page: the groups of items whose neighbourhoods changed
together (ranked, described by metadata, with their dataset rows).

- ``POST /change-groups`` (JSON ``{a, b[, k][, top][, dataset][, baseline]}``; ``baseline``: a
  reseeded run of ``a`` whose change from ``a`` the groups are ranked against): 202 with a job of kind
  "change_groups" (poll ``GET /jobs/{id}``, cancel with ``POST /jobs/{id}/cancel``); once done
  the job holds ``result``: exactly :func:`spacelens.api.change_groups`.
- ``GET /change-groups?a=&b=&k=&top=[&baseline=]``: that result once a job computed it (for the spaces'
  present content); before, a 404 whose ``missing`` names the job to start. A GET never
  computes: finding the groups reads (and, when missing, builds and stores) both spaces' kNN
  graphs, which is long work for the job queue, with its limits, progress and Cancel, and not
  something any web page could set off with an ``<img>`` tag.

An item's own neighbours kept, lost and gained come with ``/query?space=&vs=`` (``kept``,
``lost``, ``gained``).
"""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends

from spacelens.errors import SpacelensError
from spacelens.server.context import ServerContext, context
from spacelens.views.data import Missing, plain

router = APIRouter()
KIND = "change_groups"


def _int(spec: dict, name: str, default: int) -> int:
    v = spec.get(name, default)
    try:
        if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
            raise ValueError
        return int(v)
    except (TypeError, ValueError):
        raise SpacelensError(f"{name} must be a whole number, not {str(v)[:20]!r}") from None


def change_group_params(ctx: ServerContext, spec: dict) -> dict:
    """The validated parameters of a change-groups job (one-line 4xx on a bad request), with the
    content hashes of both spaces: a result is served only for the content it was found in."""
    a, b = str(spec.get("a", "")), str(spec.get("b", ""))
    ctx.same_dataset(a, b)
    if spec.get("dataset") is not None:
        ctx.of_dataset(str(spec["dataset"]), a, b)
    if a == b:
        raise SpacelensError("A space does not change against itself", "Pick two different spaces")
    k = ctx.check_k(_int(spec, "k", 10))
    top = _int(spec, "top", 12)
    if not 1 <= top <= 100:
        raise SpacelensError(f"top must be between 1 and 100, not {top}", "Pass top=1..100")
    out = {"a": a, "b": b, "k": k, "top": top,
           "content_a": ctx.reg.space(a).content_hash, "content_b": ctx.reg.space(b).content_hash}
    base = spec.get("baseline")
    if base not in (None, ""):
        base = str(base)
        ctx.same_dataset(a, base)
        if base == a:
            raise SpacelensError("The baseline space is space A itself",
                                 "Pick a reseeded run of A (same recipe, another seed) as the baseline")
        out.update({"baseline": base, "content_baseline": ctx.reg.space(base).content_hash})
    return out


@router.post("/change-groups", status_code=202)
def submit_change_groups(spec: dict = Body(...), ctx: ServerContext = Depends(context)):
    return ctx.jobs.submit(KIND, change_group_params(ctx, spec)).as_dict()


@router.get("/change-groups")
def change_groups(a: str, b: str, k: int = 10, top: int = 12, dataset: str | None = None,
                  baseline: str | None = None, ctx: ServerContext = Depends(context)):
    """The groups a finished job found for these spaces as they are now; 404 (``missing``: the
    job to start) when none has."""
    spec = {"a": a, "b": b, "k": k, "top": top, "dataset": dataset, "baseline": baseline}
    params = change_group_params(ctx, spec)
    for job in reversed(ctx.jobs.list()):
        if job.kind == KIND and job.status == "done" and job.result is not None and job.params == params:
            return plain(job.result)
    raise Missing(f"The groups of items that changed together from {a!r} to {b!r} at k={k} are not computed yet",
                  "Start them from the page (Find groups), or POST /api/change-groups; 'spacelens compare "
                  f"{a} {b} -k {k} --groups' prints them",
                  {"kind": KIND, "a": a, "b": b, "k": k, "top": top, **({"baseline": baseline} if baseline else {})})
