"""What the flagged queries do to the reported figures: each metric with them and without them.

The per-query retrieval scores are ``evaluate``'s own (:func:`spacelens.evaluate.versus.
per_query_scores`, the scores whose means are P@1, R-precision and MAP@R). Leaving a set of
queries out changes only which queries are averaged (the reference is untouched, and MAP@R,
R-precision and P@1 of a query do not depend on the other queries), so the "without" figure
is exactly ``evaluate`` over the kept queries. The difference (kept mean - full mean) is over
nested sets of the same queries, so its interval is a paired one: a percentile bootstrap over
queries (each resample recomputes both means), or, above ``spacelens.stats.BOOTSTRAP_MAX_WORK``,
its large-n limit (the delta method: the difference is a mean of per-query influence values
phi_i = [kept_i] (s_i - mean_kept) / share_kept - (s_i - mean_all), with a t interval).

At large n (an exact search of every query estimated above ``FULL_PASS_SECONDS``, and no cached
graph to read) a random sample of ``SAMPLE`` queries is scored exactly among all references:
both means and their difference are then estimates over the sample, with the same interval.
"""

from __future__ import annotations

import numpy as np

from spacelens.catalogue import VERSUS_METRICS
from spacelens.stats import BOOTSTRAP_MAX_WORK, BOOTSTRAP_RESAMPLES, t_interval

FULL_PASS_SECONDS = 60.0
SAMPLE = 20_000


def nested_difference(scores: np.ndarray, flagged: np.ndarray, *, seed: int = 0,
                      n_resamples: int = BOOTSTRAP_RESAMPLES) -> dict:
    """Mean of ``scores`` over all units and over the unflagged ones, their difference (kept -
    all) and its 95% interval (see the module docstring). NaN scores (lone queries) are left out."""
    s = np.asarray(scores, dtype=np.float64)
    ok = ~np.isnan(s)
    s, f = s[ok], np.asarray(flagged, bool)[ok]
    n, nk = len(s), int((~f).sum())
    if n == 0 or nk == 0:
        return {"n": n, "n_kept": nk, "all": None, "kept": None, "difference": None, "ci95": [None, None],
                "interval": "nothing to compare"}
    m_all, m_kept = float(s.mean()), float(s[~f].mean())
    d = m_kept - m_all
    if n < 2 or nk == n:
        lo = hi = d
        method = "no query left out" if nk == n else "one query"
    elif n * n_resamples <= BOOTSTRAP_MAX_WORK:
        rng = np.random.default_rng(seed)
        # sorted by (flag, score): resamples drawn by position depend on the values alone
        order = np.lexsort((s, f))
        s, f = s[order], f[order]
        w = (~f).astype(np.float64)
        diffs = np.empty(n_resamples)
        step = max(1, (1 << 24) // n)
        for b0 in range(0, n_resamples, step):
            b = min(step, n_resamples - b0)
            ix = rng.integers(0, n, size=(b, n))
            ss, ww = s[ix], w[ix]
            kept = (ss * ww).sum(1) / np.maximum(ww.sum(1), 1)
            diffs[b0:b0 + b] = kept - ss.mean(1)
        lo, hi = (float(v) for v in np.quantile(diffs, [0.025, 0.975]))
        method = f"percentile bootstrap over queries ({n_resamples:,} resamples)"
    else:
        share = nk / n
        phi = np.where(~f, (s - m_kept) / share, 0.0) - (s - m_all)
        _, lo, hi = t_interval(phi)
        lo, hi = d + (lo - float(phi.mean())), d + (hi - float(phi.mean()))
        method = f"delta method, t interval (n = {n:,}: the bootstrap's large-n limit)"
    return {"n": n, "n_kept": nk, "all": m_all, "kept": m_kept, "difference": d, "ci95": [lo, hi],
            "interval": method}


def _sampled_scores(reg, rec, *, label_field, metric, split_field, query_split, reference_split, n_sample, seed):
    """Per-query scores of a random sample of the queries, searched exactly among all references
    (evaluate's streamed exact search), as :func:`per_query_scores` returns them."""
    import pandas as pd

    from spacelens.evaluate.core import _neighbour_blocks, _select, load_labels
    from spacelens.evaluate.retrieval import label_counts, resolve_k, score_block
    from spacelens.evaluate.sampled import sample_queries

    labels = load_labels(reg, rec, label_field)
    q_pos, ref_pos, ref_includes_query = _select(reg, rec, split_field, query_split, reference_split)
    codes = pd.factorize(labels)[0].astype(np.int32)
    qc = codes[q_pos]
    rc = codes if ref_pos is None else codes[ref_pos]
    counts = label_counts(qc, rc, ref_includes_query, int(codes.max()) + 1)
    kk = resolve_k(None, counts, len(rc))
    keep = np.flatnonzero(~counts.lone)
    sel = keep[sample_queries(len(keep), min(n_sample, len(keep)), seed)]
    qrows = q_pos[sel] if ref_pos is None else sel if ref_includes_query else None
    scores = {m: np.full(len(sel), np.nan) for m in VERSUS_METRICS}
    for sub, idx in _neighbour_blocks(reg, rec, q_pos[sel], ref_pos, qrows, kk, metric, "exact", {}, "stream"):
        block = score_block(rc[idx], qc[sel[sub]], counts.r[sel[sub]])
        for m in VERSUS_METRICS:
            scores[m][sub] = block[m]
    return {"rows": reg.load_rows(rec)[q_pos[sel]], "scores": scores, "population": int(len(keep)),
            "n_lone": int(counts.lone.sum())}


def effect_on_metrics(reg, space: str, flag_sets: dict[str, np.ndarray], *, label_field: str,
                      metric: str = "cosine", split_field: str = "split", query_split=None, reference_split=None,
                      engine: str = "auto", seed: int = 0, sample: int | None = None) -> dict:
    """Per flag set (name -> dataset rows flagged) and metric: the figure over all queries and
    without the flagged ones, the difference and its 95% interval. ``sample``: score that many
    random queries (None: all, unless the full pass would cost over ``FULL_PASS_SECONDS``)."""
    from spacelens.evaluate.core import _select
    from spacelens.evaluate.versus import per_query_scores
    from spacelens.neighbors import cached_graph
    from spacelens.neighbors.cost import exact_seconds

    rec = reg.space(space)
    q_pos, ref_pos, _ = _select(reg, rec, split_field, query_split, reference_split)
    n_ref = rec.n_rows if ref_pos is None else len(ref_pos)
    if sample is None and len(q_pos) > SAMPLE:
        graph = cached_graph(reg, rec, 1, metric, engine) if ref_pos is None else None
        if graph is None and exact_seconds(len(q_pos), n_ref, rec.dim) > FULL_PASS_SECONDS:
            sample = SAMPLE
    if sample is not None and sample < len(q_pos):
        sc = _sampled_scores(reg, rec, label_field=label_field, metric=metric, split_field=split_field,
                             query_split=query_split, reference_split=reference_split, n_sample=int(sample),
                             seed=seed)
        how = {"sample": int(len(sc["rows"])), "population": sc["population"],
               "note": f"estimated from {len(sc['rows']):,} random queries of {sc['population']:,}"}
    else:
        sc = per_query_scores(reg, space, label_field=label_field, metric=metric, split_field=split_field,
                              query_split=query_split, reference_split=reference_split, engine=engine)
        how = {"sample": None, "population": int(np.sum(~np.isnan(sc["scores"][VERSUS_METRICS[0]]))),
               "note": "all queries"}
    out = {"queries": how, "sets": {}}
    for name, rows in flag_sets.items():
        flagged = np.isin(sc["rows"], np.asarray(rows))
        valid = ~np.isnan(sc["scores"][VERSUS_METRICS[0]])
        entry = {"n_flagged": int((flagged & valid).sum()), "n_queries": int(valid.sum()),
                 "share": float((flagged & valid).sum() / max(valid.sum(), 1)), "metrics": {}}
        for m in VERSUS_METRICS:
            entry["metrics"][m] = nested_difference(sc["scores"][m], flagged, seed=seed)
        out["sets"][name] = entry
    return out

