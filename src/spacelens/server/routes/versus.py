"""Which of the two shown spaces retrieves better, for the page's "Compare retrieval" panel.

``POST /versus`` (JSON ``{a, b, label_field[, dataset]}``): 202 with a job of kind "versus"
(poll ``GET /jobs/{id}``, cancel with ``POST /jobs/{id}/cancel``); once done the job holds
``result``: exactly :func:`spacelens.api.evaluate_versus` (per metric both means, the paired
difference b - a with its bootstrap 95% interval and randomization p-value; the verdict).

Why a job and not a plain request: R-precision and MAP@R need each query's R nearest
neighbours, R being the size of its class, so the cost grows with n x (class size). At 600
items it takes well under a second, but at 20,000 items in 20 classes it took 70 s the first
time and 18 s the next (a loaded 2-core machine): too long for a request that blocks the
server's threads, and worth a progress bar and a Cancel button.
"""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends

from spacelens.errors import SpacelensError
from spacelens.server.context import ServerContext, context

router = APIRouter()


def versus_params(ctx: ServerContext, spec: dict) -> dict:
    """The validated parameters of a versus job (one-line 4xx on a bad request)."""
    a, b = str(spec.get("a", "")), str(spec.get("b", ""))
    label = str(spec.get("label_field") or "")
    ds = ctx.same_dataset(a, b)
    if spec.get("dataset") is not None:
        ctx.of_dataset(str(spec["dataset"]), a, b)
    if a == b:
        raise SpacelensError("A space does not retrieve better than itself", "Pick two different spaces")
    kinds = {c["name"]: c["kind"] for c in ctx.tables.entry(ctx.reg, ds)["columns"]}
    if kinds.get(label) not in ("categorical", "numeric"):
        raise SpacelensError(f"Dataset {ds!r} has no label column {label[:60]!r}",
                             "Pass label_field: one of its categorical columns")
    return {"a": a, "b": b, "label_field": label}


@router.post("/versus", status_code=202)
def submit_versus(spec: dict = Body(...), ctx: ServerContext = Depends(context)):
    return ctx.jobs.submit("versus", versus_params(ctx, spec)).as_dict()
