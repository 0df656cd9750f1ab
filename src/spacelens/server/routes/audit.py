"""Can the evaluation be trusted? The audit of the shown space(s), for the page's "Audit" panel.

- ``POST /audit`` (JSON ``{space[, other][, label_field][, split_field][, k][, dataset]}``): 202 with
  a job of kind "audit" (poll ``GET /jobs/{id}``, cancel with ``POST /jobs/{id}/cancel``); once
  done the job holds ``result``: exactly :func:`spacelens.api.audit`'s ``to_dict()`` (with
  ``other``: which flags both spaces raise and which only one). The audit is also stored in the
  registry (artifact "audit").
- ``GET /audit?space=&other=&label_field=&split_field=&k=[&format=csv]``: that stored result (JSON,
  or its flagged items as CSV: kind, id, row, score, reason, evidence, partner, label, suggested
  label, and with ``other`` which space flags each), for the spaces' present content; before a
  job computed it, a 404 whose ``missing`` names the job to start. A GET never computes: an audit
  reads (and, when missing, builds) the kNN graph and scores every query, long work for the job
  queue, with its limits, progress and Cancel.
"""

from __future__ import annotations

import io

from fastapi import APIRouter, Body, Depends
from fastapi.responses import Response

from spacelens.errors import SpacelensError
from spacelens.server.context import ServerContext, context
from spacelens.views.data import Missing, plain

router = APIRouter()
KIND = "audit"
CSV_COLUMNS = ["kind", "id", "row", "score", "reason", "evidence", "partner_id", "partner_row", "label",
               "suggested_label"]


def audit_job_params(ctx: ServerContext, spec: dict) -> dict:
    """The validated parameters of an audit job (one-line 4xx on a bad request)."""
    from spacelens.server.routes.changes import _int
    from spacelens.server.routes.versus import label_field_param

    space = str(spec.get("space", ""))
    other = spec.get("other")
    other = None if other in (None, "") else str(other)
    ds = ctx.same_dataset(space, other)
    if spec.get("dataset") is not None:
        ctx.of_dataset(str(spec["dataset"]), space, other)
    if other == space:
        raise SpacelensError("The second space is the audited space itself", "Pick another space, or none")
    params: dict = {"space": space, "k": ctx.check_k(_int(spec, "k", 10))}
    if other:
        params["other"] = other
    if spec.get("label_field"):
        params["label_field"] = label_field_param(ctx, ds, str(spec["label_field"]))
    if spec.get("split_field"):
        split = str(spec["split_field"])
        cols = [c["name"] for c in ctx.tables.columns(ctx.reg, ds)]
        if split not in cols:
            raise SpacelensError(f"Dataset {ds!r} has no column {split[:60]!r}",
                                 f"Pass split_field: one of its columns ({', '.join(cols[:10])})")
        from spacelens.audit.core import holds_splits

        # one split among A's items (spaces of the val split only): no leak to look for, so the
        # audit runs without it, as the report does
        if holds_splits(ctx.reg, space, split):
            params["split_field"] = split
    return params


@router.post("/audit", status_code=202)
def submit_audit(spec: dict = Body(...), ctx: ServerContext = Depends(context)):
    return ctx.jobs.submit(KIND, audit_job_params(ctx, spec)).as_dict()


@router.get("/audit")
def stored(space: str, other: str | None = None, label_field: str | None = None, split_field: str | None = None,
           k: int = 10, dataset: str | None = None, format: str = "json", ctx: ServerContext = Depends(context)):
    """The audit a finished job stored for these spaces as they are now (``format=csv``: its
    flagged items); 404 (``missing``: the job to start) when none has."""
    from spacelens.audit.store import default_params, stored_audit

    if format not in ("json", "csv"):
        raise SpacelensError(f"format must be 'json' or 'csv', not {format[:20]!r}")
    params = audit_job_params(ctx, {"space": space, "other": other, "label_field": label_field,
                                    "split_field": split_field, "k": k, "dataset": dataset})
    key = default_params(params.get("label_field"), params.get("split_field"), k=params["k"])
    res = stored_audit(ctx.reg, params["space"], key, other=params.get("other"))
    if res is None:
        vs = f" against {other!r}" if params.get("other") else ""
        raise Missing(f"The audit of {space!r}{vs} is not computed yet",
                      "Start it from the page (Audit), or POST /api/audit; 'spacelens audit "
                      f"{space}' prints it", {"kind": KIND, **params})
    d = res.to_dict()
    return plain(d) if format == "json" else _csv(d, space)


def flagged_table(d: dict):
    """One row per flagged item: the audited space's, then (two spaces) those only the other flags;
    ``flagged_by`` says which space flags it (both, or one of them)."""
    import pandas as pd

    t = pd.DataFrame(d["items"], columns=CSV_COLUMNS)
    vs = d.get("versus")
    if vs:
        both = {(kind, r) for kind, v in vs["kinds"].items() for r in v["rows_both"]}
        t["flagged_by"] = ["both" if (kd, r) in both else f"{d['space']} only" for kd, r in zip(t["kind"], t["row"])]
        o = d["other"]
        tb = pd.DataFrame(o.get("items_only") or [], columns=CSV_COLUMNS)
        tb["flagged_by"] = f"{o['space']} only"
        t = pd.concat([t, tb], ignore_index=True)
    return t


def _csv(d: dict, space: str) -> Response:
    buf = io.StringIO()
    flagged_table(d).to_csv(buf, index=False)
    fname = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in space) + "-audit.csv"
    return Response(buf.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{fname}"'})
