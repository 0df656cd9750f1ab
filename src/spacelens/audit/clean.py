"""The leaderboard's "clean" column: each evaluation's MAP@R with the queries the audit flags as
leaked (a near-duplicate in the reference split) or as likely label errors left out.

The figure is the audit's own (its effect set ``"clean"``, :mod:`.effect`): the same per-query
scores, averaged without the flagged queries, with the paired 95% interval of the change. It is
shown only where the audit scored exactly the evaluation's queries the way the evaluation did:
its figure over all queries must equal the leaderboard's (to 1e-9); otherwise (another k, a
sampled estimate, another engine) the column stays empty and says why. A stored audit of the
space by the same label column, distance and split is read; given ``run_audit`` one is run (and
stored) where none fits.
"""

from __future__ import annotations

from spacelens.audit.store import stored_audits

SET = "clean"
LEFT_OUT = "leaked queries and likely label errors"
TOLERANCE = 1e-9


def _split(info: dict) -> dict | None:
    sp = info.get("split")
    if not sp:
        return None
    return {"field": sp.get("field", "split"), "query": sp.get("query"), "reference": sp.get("reference")}


def _figure(audit, metric: str, reported) -> dict | None:
    eff = (audit["effect"] or {}).get("sets", {}).get(SET)
    m = (eff or {}).get("metrics", {}).get(metric)
    if not m or m.get("all") is None or reported is None or abs(m["all"] - reported) > TOLERANCE:
        return None
    return {"value": m["kept"], "difference": m["difference"], "ci95": m["ci95"], "left_out": eff["n_flagged"],
            "share": eff["share"], "n_queries": eff["n_queries"], "left_out_what": LEFT_OUT}


def _fits(audit, metric: str, split: dict | None) -> bool:
    sp = audit["splits"]
    if audit["metric"] != metric or (split is None) != (sp is None):
        return False
    return split is None or (sp["field"] == split["field"] and sp["query"] == str(split["query"]))


def clean_figures(reg, rows: list[dict], *, by: str, run_audit=None) -> list[dict]:
    """``rows`` (leaderboard rows) each with ``clean``: ``{value, difference, ci95, left_out,
    share, audit: "stored" | "computed"}`` or ``{value: None, note}``. ``run_audit(space, **kw)``
    (:func:`spacelens.api.audit`, which stores it) audits a space that has no fitting audit; None:
    only stored audits are read."""
    from spacelens.catalogue import VERSUS_METRICS
    from spacelens.evaluate.core import ARTIFACT

    metric = by if by in VERSUS_METRICS else "mean_average_precision_at_r"
    out = []
    for r in rows:
        info = next((a.info for a in reg.find_artifacts(kind=ARTIFACT, space=r["space"])
                     if a.id == r["evaluation_id"]), {})
        split = _split(info)
        fits = [a for a in stored_audits(reg, r["space"], label_field=r["label_field"])
                if _fits(a, r["metric"], split)]
        got, source = None, "stored"
        for a in fits:
            got = _figure(a, metric, r.get(metric))
            if got:
                break
        if got is None and run_audit is not None and not fits:
            kw = dict(split_field=split["field"], query_split=split["query"],
                      reference_split=split["reference"]) if split else {}
            a = run_audit(r["space"], label_field=r["label_field"], metric=r["metric"], **kw)
            got, source = _figure(a, metric, r.get(metric)), "computed"
        if got is not None:
            clean = {**got, "metric": metric, "audit": source}
        elif fits or run_audit is not None:
            clean = {"value": None, "metric": metric,
                     "note": "the audit scored the queries otherwise (another k, engine or a sample)"}
        else:
            clean = {"value": None, "metric": metric, "note": "no stored audit: run 'spacelens audit' or pass --clean"}
        out.append({**r, "clean": clean})
    return out


__all__ = ["LEFT_OUT", "clean_figures"]
