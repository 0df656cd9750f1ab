"""A stored comparison as the page draws it: ``/comparison?a=&b=&k=`` (frame: the histogram
bin of each dataset row; header: mean, counts, the Jaccard value of each bin and the
comparison's info). ``baseline=C`` (a reseeded run of ``a``): the header also carries the
stored A-vs-C mean at the same k (``baseline.mean``; null with ``baseline.missing``, the job
that computes it, when not stored: a GET never computes).

``/comparison/plan?a=&b=&k=``: whether that comparison is stored, and if not what the full one
would cost here and whether the budget would sample it (:func:`spacelens.budget.plan_compare`,
read from the registry's records: an estimate, nothing computed). The page asks before it
starts a comparison by itself: one the budget would sample (hours of kNN graphs at a million
items) starts only on a click, as a ``full`` job."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from spacelens.errors import SpacelensError
from spacelens.server.context import ServerContext, context
from spacelens.views.data import Missing
from spacelens.views.frames import comparison_frame
from spacelens.server.routes.maps import frame

router = APIRouter()


@router.get("/comparison")
def comparison(a: str, b: str, k: int = 10, dataset: str | None = None, baseline: str | None = None,
               ctx: ServerContext = Depends(context)):
    ds = ctx.same_dataset(a, b)
    if dataset is not None:
        ctx.of_dataset(dataset, a, b)
    comp = ctx.comparison(a, b, k)
    base = None
    if baseline:
        ctx.same_dataset(a, baseline)
        if baseline in (a, b):
            raise SpacelensError(f"The baseline {baseline!r} is one of the two compared spaces",
                                 f"Pick as baseline a third space: a reseeded run of {a!r}")
        try:
            base = ctx.comparison(a, baseline, comp.k)
        except Missing as e:
            base = {"space": baseline, "k": comp.k, "mean": None, "missing": e.job}
    return frame(*comparison_frame(ctx.reg, ds, comp, base))


@router.get("/comparison/plan")
def comparison_plan(a: str, b: str, k: int = 10, dataset: str | None = None, ctx: ServerContext = Depends(context)):
    from spacelens.budget import plan_compare

    ctx.same_dataset(a, b)
    if dataset is not None:
        ctx.of_dataset(dataset, a, b)
    if a == b:
        raise SpacelensError("Compare two different spaces")
    try:
        ctx.comparison(a, b, k)
        stored = True
    except Missing:
        stored = False
    plan = plan_compare(ctx.reg, a, b, ctx.check_k(k)).to_dict()
    return {"a": a, "b": b, "k": k, "stored": stored, **plan, "sampled": plan["sampled"] and not stored}
