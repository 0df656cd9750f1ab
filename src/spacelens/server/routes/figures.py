"""The answer's figures for the items a page filter shows: ``POST /figures?a=&b=&k=[&label_field=][&baseline=]``,
body the shown dataset rows as little-endian uint32 (as ``POST /datasets/{name}/export`` reads
a selection); answer: :func:`spacelens.answer_subset.subset_figures` (the sentence, mean Jaccard
of the shown items with its interval beside all items', and with ``label_field`` the paired
MAP@R difference on the shown queries).

A plain request, not a job: the stored comparison is read from the context's cache and the
per-query scores from its :class:`~spacelens.answer_subset.ScoreCache`, so every filter after
the first is a lookup and a bootstrap (0.05 s at 10,000 items, 0.17 s at 40,000, 0.84 s at
1M where everything is sampled: ``bench/figures.py``). The first one scores every query of both
spaces from their stored kNN graphs (0.8 s at 10,000 items, 3 s at 40,000 in classes of 1,000;
24 s at 1M, where the answer's 2,000 sampled queries and items are searched), and a filter too
narrow for those samples searches 500 of its own (26 s at 1M on 2 cores): it runs in
the threadpool, so the server keeps answering meanwhile; the page says it is working and keeps
only the latest answer, and a second request for the same scores waits for the first instead
of computing them again. The page closes a request whose answer it no longer wants (the filter
changed again): the computation stops before its next search and answers 499.
"""

from __future__ import annotations

import anyio
import numpy as np
from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from spacelens.answer_subset import FiguresCancelled
from spacelens.errors import SpacelensError
from spacelens.server.context import ServerContext, context
from spacelens.server.rows import read_rows
from spacelens.views.data import Missing

router = APIRouter()


@router.post("/figures")
async def figures(request: Request, a: str, b: str, k: int = 10, label_field: str | None = None,
                  baseline: str | None = None, ctx: ServerContext = Depends(context)):
    ds = await run_in_threadpool(ctx.same_dataset, a, b)
    n_rows = (await run_in_threadpool(ctx.reg.dataset, ds)).n_rows
    rows = await read_rows(request, ds, n_rows)

    def gone() -> bool:     # asked from the worker thread, between searches
        return anyio.from_thread.run(request.is_disconnected)

    try:
        return await run_in_threadpool(shown_figures, ctx, ds, rows, a, b, k, label_field, baseline, gone)
    except FiguresCancelled:    # the page asked for newer figures and closed this request: nobody reads it
        return Response(status_code=499)


def shown_figures(ctx: ServerContext, ds: str, rows: np.ndarray, a: str, b: str, k: int, label_field: str | None,
                  baseline: str | None, cancelled=None) -> dict:
    from spacelens.answer_subset import subset_figures
    from spacelens.server.routes.versus import baseline_param, label_field_param

    ctx.check_k(k)
    if a == b:
        raise SpacelensError("Pick two different spaces: A and B are the same space")
    label = label_field_param(ctx, ds, label_field) if label_field else None
    base = baseline_param(ctx, ds, a, b, baseline) if baseline else None
    try:
        comp = ctx.comparison(a, b, k)
    except Missing:
        comp = None
    return subset_figures(ctx.reg, a, b, rows, k=k, label_field=label, baseline=base, comparison=comp,
                          cache=ctx.scores, cancelled=cancelled)
