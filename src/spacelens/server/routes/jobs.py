"""Background jobs the page starts, polls and cancels.

- ``POST /jobs`` (JSON ``{kind: "projection", space, method[, align_to]}``,
  ``{kind: "comparison", a, b, k[, full]}`` or ``{kind: "change_groups", a, b, k[, top]}``): 202 with the job; an identical pending job is shared;
  429 when the queue is full. A comparison follows the budget rule (:mod:`spacelens.budget`): where
  it would be sampled it stores nothing (its ``result`` says so); ``full: true`` builds both kNN
  graphs and stores it whatever it costs (the page's "Compute in the background").
- ``GET /jobs``: every job this server knows; ``GET /jobs/{id}``: one job. Polling a job is
  its heartbeat: one nobody asked about for ``orphan_after_s`` (90 s) is cancelled.
- ``DELETE /jobs/{id}`` (or ``POST /jobs/{id}/cancel``): cancel it; answers the job, whose
  status becomes "cancelled" (at once when queued, at its next progress step when running).

A job: ``{id, kind, params, status: queued|running|done|failed|cancelled, stage, stages,
done, total, fraction, percent, eta_s, error, cancel_reason, created, started, finished,
elapsed_s}``.
"""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends

from spacelens.errors import NotFoundError, SpacelensError
from spacelens.server.context import ServerContext, context
from spacelens.views.data import check_method

router = APIRouter()


def job_params(ctx: ServerContext, spec: dict) -> tuple[str, dict]:
    """The job's kind and its validated parameters."""
    kind = spec.get("kind")
    if kind == "projection":
        space_name = str(spec.get("space", ""))
        ctx.reg.space(space_name)
        params = {"space": space_name, "method": check_method(str(spec.get("method", "umap")))}
        if spec.get("align_to"):
            params["align_to"] = str(spec["align_to"])
            ctx.same_dataset(space_name, params["align_to"])
    elif kind == "comparison":
        a, b = str(spec.get("a", "")), str(spec.get("b", ""))
        ctx.same_dataset(a, b)
        if a == b:
            raise SpacelensError("Compare two different spaces")
        params = {"a": a, "b": b, "k": _k_param(ctx, spec)}
        if _full_param(spec):
            params["full"] = True
    elif kind == "change_groups":
        from spacelens.server.routes.changes import change_group_params

        return kind, change_group_params(ctx, spec)
    elif kind == "answer":
        params = answer_params(ctx, spec)
    elif kind == "audit":
        from spacelens.server.routes.audit import audit_job_params

        return kind, audit_job_params(ctx, spec)
    else:
        raise SpacelensError(f"Unknown job kind {str(kind)[:40]!r}",
                             "Use 'projection', 'comparison', 'change_groups', 'answer' or 'audit'")
    if spec.get("dataset") is not None:
        ctx.of_dataset(str(spec["dataset"]), *(params.get(s) for s in ("space", "align_to", "a", "b")))
    return kind, params


def answer_params(ctx: ServerContext, spec: dict) -> dict:
    """``{kind: "answer", a, b, k[, label_field][, baseline]}``: the answer strip of the pair on screen
    (:func:`spacelens.answer`). Without ``baseline`` a reseeded run of A is proposed; ``baseline: ""``
    means none. Without ``label_field`` the label column of a stored evaluation is used, if any."""
    a, b = str(spec.get("a", "")), str(spec.get("b", ""))
    ds = ctx.same_dataset(a, b)
    if a == b:
        raise SpacelensError("Pick two different spaces to compare")
    from spacelens.server.routes.versus import baseline_param, label_field_param

    params: dict = {"a": a, "b": b, "k": _k_param(ctx, spec)}
    if spec.get("label_field"):
        params["label_field"] = label_field_param(ctx, ds, str(spec["label_field"]))
    base = spec.get("baseline")
    if base is not None:
        params["baseline"] = False if base == "" else baseline_param(ctx, ds, a, b, str(base))
    return params


def _full_param(spec: dict) -> bool:
    """``full``: the whole comparison (both kNN graphs) even where the budget would sample it."""
    full = spec.get("full", False)
    if not isinstance(full, bool):
        raise SpacelensError(f"full must be true or false, not {str(full)[:20]!r}")
    return full


def _k_param(ctx: ServerContext, spec: dict) -> int:
    try:
        k = int(spec.get("k", 10))
    except (TypeError, ValueError):
        raise SpacelensError(f"k must be a whole number, not {str(spec.get('k'))[:20]!r}") from None
    return ctx.check_k(k)


@router.post("/jobs", status_code=202)
def submit_job(spec: dict = Body(...), ctx: ServerContext = Depends(context)):
    kind, params = job_params(ctx, spec)
    return ctx.jobs.submit(kind, params).as_dict()


@router.get("/jobs")
def list_jobs(ctx: ServerContext = Depends(context)):
    return [j.as_dict() for j in ctx.jobs.list()]


def _job(ctx: ServerContext, job_id: str, seen: bool = True):
    job = ctx.jobs.get(job_id, seen=seen)
    if job is None:
        raise NotFoundError(f"No job {job_id[:40]!r}", "Jobs are kept only while the server runs")
    return job


@router.get("/jobs/{job_id}")
def get_job(job_id: str, ctx: ServerContext = Depends(context)):
    return _job(ctx, job_id).as_dict()


@router.delete("/jobs/{job_id}")
@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: str, ctx: ServerContext = Depends(context)):
    _job(ctx, job_id, seen=False)
    return ctx.jobs.cancel(job_id, "cancelled from the page").as_dict()
