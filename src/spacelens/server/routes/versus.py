"""Which of the two shown spaces retrieves better, for the page's "Compare retrieval" panel.

``POST /versus`` (JSON ``{a, b, label_field[, dataset][, baseline]}``): 202 with a job of kind
"versus" (poll ``GET /jobs/{id}``, cancel with ``POST /jobs/{id}/cancel``); once done the job
holds ``result``: exactly :func:`spacelens.api.evaluate_versus` (per metric both means, the
paired difference b - a with its bootstrap 95% interval and randomization p-value; per-class
means and wins; the verdict). ``baseline`` (optional): a third space of the same dataset, a
reseeded run of ``a``; the result then also holds ``baseline`` (baseline - a, and per metric
whether b - a goes beyond it) and the verdict reads b - a against it.

``POST /versus/class`` (JSON ``{dataset, label_field, value}``): the dataset rows of one class,
so that a click on a row of the page's per-class table selects that class in both maps.

Why a job and not a plain request: R-precision and MAP@R need each query's R nearest
neighbours, R being the size of its class, so the cost grows with n x (class size). At 600
items it takes well under a second, but at 20,000 items in 20 classes it took 70 s the first
time and 18 s the next (a loaded 2-core machine): too long for a request that blocks the
server's threads, and worth a progress bar and a Cancel button.
"""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Body, Depends

from spacelens.errors import NotFoundError, SpacelensError
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
    params = {"a": a, "b": b, "label_field": label_field_param(ctx, ds, label)}
    base = spec.get("baseline")
    if base not in (None, ""):
        params["baseline"] = baseline_param(ctx, ds, a, b, str(base))
    return params


def label_field_param(ctx: ServerContext, ds: str, label: str) -> str:
    """``label`` when it is a label column of dataset ``ds`` (the one rule of spacelens.labels);
    otherwise one line with the reason and the columns that can be labels."""
    cols = {c["name"]: c for c in ctx.tables.columns(ctx.reg, ds)}
    usable = [n for n, c in cols.items() if c.get("label") and not c["is_id"]]
    if label not in cols:
        raise SpacelensError(f"Dataset {ds!r} has no column {label[:60]!r}",
                             f"Pass label_field: one of its label columns ({', '.join(usable[:10]) or 'none'})")
    if not cols[label].get("label"):
        raise SpacelensError(f"Column {cols[label]['label_reason']}",
                             f"Pass label_field: one of its label columns ({', '.join(usable[:10]) or 'none'})")
    return label


def baseline_param(ctx: ServerContext, ds: str, a: str, b: str, base: str) -> str:
    """``base`` when it can be the seed baseline of ``a`` vs ``b``: a third space of dataset ``ds``."""
    names = sorted(s.name for s in ctx.reg.spaces_of(dataset=ds))
    if base not in names and base not in {s.name for s in ctx.reg.spaces_of()}:
        raise NotFoundError(f"No space named {base[:60]!r} for the baseline",
                            f"Pick a reseeded run of {a!r} among the spaces of dataset {ds!r}: "
                            + ", ".join(names[:20]) + (" ..." if len(names) > 20 else ""))
    other = ctx.reg.space(base).dataset
    if other != ds:
        raise SpacelensError(f"Baseline {base[:60]!r} embeds dataset {other!r}, not {ds!r}",
                             f"Pick as baseline a reseeded run of {a!r}: a space of dataset {ds!r}")
    if base in (a, b):
        raise SpacelensError(f"The baseline {base!r} is one of the two compared spaces",
                             f"Pick as baseline a third space: a reseeded run of {a!r}")
    return base


@router.post("/versus", status_code=202)
def submit_versus(spec: dict = Body(...), ctx: ServerContext = Depends(context)):
    return ctx.jobs.submit("versus", versus_params(ctx, spec)).as_dict()


@router.post("/versus/class")
def class_rows(spec: dict = Body(...), ctx: ServerContext = Depends(context)):
    """The dataset rows of one class (``{dataset, label_field, value}``), for the per-class table:
    a click on a class selects its items in both maps. ``value`` as the versus result's
    ``per_class[..]["label"]`` gives it (compared by equality, so 3 finds 3.0 too)."""
    import pandas as pd

    ds = str(spec.get("dataset", ""))
    label = str(spec.get("label_field") or "")
    value = spec.get("value")
    e = ctx.tables.entry(ctx.reg, ds)
    if label not in e["table"].columns:
        raise SpacelensError(f"Dataset {ds!r} has no label column {label[:60]!r}",
                             "Pass label_field: one of its label columns")
    if value is None or isinstance(value, (dict, list)):
        raise SpacelensError("Pass value: one class of the label column", 'e.g. {"value": "cat"}')
    codes, classes = pd.factorize(e["table"][label])
    hit = [i for i, c in enumerate(classes) if c == value]
    rows = np.flatnonzero(np.isin(codes, hit)) if hit else np.zeros(0, dtype=np.int64)
    return {"dataset": ds, "label_field": label, "value": value, "n": len(rows), "rows": rows.tolist()}
