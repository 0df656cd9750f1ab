"""Which of two spaces retrieves better, with what confidence: ``spacelens evaluate A --vs B``.

Both spaces are scored on the same queries (items both embed, with the same labels) with
the per-query retrieval scores of :mod:`.retrieval` (P@1, R-precision, AP@R: the per-query
values whose means are precision_at_1, r_precision and MAP@R). For each metric the
difference B - A is paired over queries (:mod:`.paired`, :mod:`spacelens.stats`): a percentile-bootstrap 95%
interval and a sign-flip randomization p-value. Per class: mean of each space and who wins.
With a baseline C (a reseeded run of A) the same is done for C - A, the difference that
seeds alone make, and the verdict says whether B - A goes beyond it.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from spacelens.errors import SpacelensError
from spacelens.jsonable import jsonable
from spacelens.evaluate.core import _graph_choice, _neighbour_blocks, _select, load_labels
from spacelens.evaluate.paired import paired_difference
from spacelens.evaluate.retrieval import label_counts, resolve_k, score_block
from spacelens.formatting import format_p
from spacelens.stats import excludes_zero

from spacelens.catalogue import VERSUS_METRICS, short


def per_query_scores(reg, space: str, *, label_field: str, metric: str = "cosine", k=None,
                     split_field: str = "split", query_split=None, reference_split=None,
                     engine: str = "auto", engine_params: dict | None = None) -> dict:
    """Per-query retrieval scores of ``space``: ``{"rows", "labels", "k", "scores": {metric: array}}``.

    ``rows``: dataset row of each query; scores are NaN for lone queries (no other item of
    their label in the reference), which the summary metrics leave out too. Neighbours come
    from the cached kNN graph when there is one (as for ``evaluate``).
    """
    rec = reg.space(space)
    labels = load_labels(reg, rec, label_field)
    q_pos, ref_pos, ref_includes_query = _select(reg, rec, split_field, query_split, reference_split)
    codes, _classes = pd.factorize(labels)
    codes = codes.astype(np.int32)
    qc = codes[q_pos]
    rc = codes if ref_pos is None else codes[ref_pos]
    counts = label_counts(qc, rc, ref_includes_query, len(_classes))
    kk = resolve_k(k, counts, len(rc))
    scores = {m: np.full(len(q_pos), np.nan) for m in VERSUS_METRICS}
    keep = np.flatnonzero(~counts.lone)
    params = dict(engine_params or {})
    if len(keep) and kk > 0:
        graph = None
        if ref_pos is None:
            how, graph = _graph_choice(reg, rec, kk, metric, engine, params, len(q_pos) == rec.n_rows)
        else:
            how = "self-subset" if ref_includes_query else "split"
        qrows = q_pos[keep] if ref_pos is None else keep if ref_includes_query else None
        for sub, idx in _neighbour_blocks(reg, rec, q_pos[keep], ref_pos, qrows, kk, metric, engine, params,
                                          how, graph):
            qi = keep[sub]
            block = score_block(rc[idx], qc[qi], counts.r[qi])
            for m in VERSUS_METRICS:
                scores[m][qi] = block[m]
    return {"space": rec.name, "rows": reg.load_rows(rec)[q_pos], "labels": np.asarray(labels)[q_pos],
            "k": kk, "scores": scores, "n_lone": int(counts.lone.sum())}


def _per_class(labels, a, b) -> list[dict]:
    ok = ~(np.isnan(a) | np.isnan(b))
    codes, classes = pd.factorize(labels[ok], sort=True)
    n = np.bincount(codes, minlength=len(classes))
    ma = np.bincount(codes, weights=a[ok], minlength=len(classes)) / np.maximum(n, 1)
    mb = np.bincount(codes, weights=b[ok], minlength=len(classes)) / np.maximum(n, 1)
    rows = [{"label": c.item() if hasattr(c, "item") else c, "n": int(n[i]), "a": float(ma[i]), "b": float(mb[i]),
             "difference": float(mb[i] - ma[i])} for i, c in enumerate(classes)]
    rows.sort(key=lambda r: r["difference"])
    return rows


def _pair(sa: dict, sb: dict, seed: int) -> dict:
    """Paired comparison of two per-query score sets on the queries both have."""
    rows, ia, ib = np.intersect1d(sa["rows"], sb["rows"], assume_unique=True, return_indices=True)
    if not len(rows):
        raise SpacelensError(f"Spaces {sa['space']!r} and {sb['space']!r} share no queries",
                             "Compare spaces that embed some of the same items")
    la, lb = sa["labels"][ia], sb["labels"][ib]
    if not np.array_equal(la.astype(str), lb.astype(str)):
        raise SpacelensError("The two spaces label the shared queries differently",
                             "Compare spaces of one dataset (labels come from its table)")
    out = {"n_queries": int(len(rows)), "metrics": {}, "per_class": {}}
    for m in VERSUS_METRICS:
        a, b = sa["scores"][m][ia], sb["scores"][m][ib]
        out["metrics"][m] = paired_difference(a, b, interval="bootstrap", seed=seed)
        out["per_class"][m] = _per_class(la, a, b)
    return out


def _wins(per_class: list[dict]) -> dict:
    return {"b": sum(r["difference"] > 0 for r in per_class), "a": sum(r["difference"] < 0 for r in per_class),
            "ties": sum(r["difference"] == 0 for r in per_class), "classes": len(per_class)}


def beyond_baseline(m: dict, base: dict) -> bool:
    """Whether the difference B - A goes beyond seed noise: its 95% interval excludes 0 and
    its size exceeds the baseline's (C - A) whole 95% interval."""
    blo, bhi = base["ci95"]
    if blo is None or bhi is None or m["difference"] is None:
        return False
    return excludes_zero(m["ci95"]) and abs(m["difference"]) > max(abs(blo), abs(bhi))


def verdict(a: str, b: str, m: dict, wins: dict, metric: str = "mean_average_precision_at_r",
            base: dict | None = None, c: str | None = None) -> str:
    """One sentence: who retrieves better on ``metric``, by how much, how sure, and against the baseline."""
    name = short(metric)
    lo, hi = m["ci95"]
    d = m["difference"]
    if excludes_zero(m["ci95"]) and d < 0:   # state the interval of winner - loser
        lo, hi = -hi, -lo
    ci = f"95% CI {lo:+.3f} to {hi:+.3f}, {format_p(m.get('p_value'))}, {m['n']:,} queries"
    if excludes_zero(m["ci95"]):
        win, lose = (b, a) if d > 0 else (a, b)
        won = wins["b"] if d > 0 else wins["a"]
        s = (f"{win} retrieves better than {lose}: {name} {max(m['mean_a'], m['mean_b']):.3f} vs "
             f"{min(m['mean_a'], m['mean_b']):.3f}, a difference of {abs(d):.3f} ({ci}); {win} is ahead in "
             f"{won} of {wins['classes']} classes")
    else:
        s = (f"no clear winner between {a} and {b}: {name} {m['mean_a']:.3f} vs {m['mean_b']:.3f}, difference "
             f"{d:+.3f} ({ci}; the interval includes 0)")
    if base is not None:
        bd = base["difference"]
        blo, bhi = base["ci95"]
        noise = f"{c} - {a} = {bd:+.3f}, 95% CI {blo:+.3f} to {bhi:+.3f}"
        beyond = beyond_baseline(m, base)
        s += (f". That is more than two runs of {a}'s recipe differ ({noise})" if beyond else
              f". Two runs of {a}'s recipe differ by about as much ({noise}), so this may be seed noise")
    return s + "."


def evaluate_versus(reg, a: str, b: str, *, label_field: str, baseline: str | None = None,
                    metric: str = "cosine", k=None, split_field: str = "split", query_split=None,
                    reference_split=None, engine: str = "auto", engine_params: dict | None = None,
                    seed: int = 0) -> dict:
    """Paired retrieval comparison of spaces ``a`` and ``b`` on the same queries (JSON-ready dict).

    ``metrics[m]``: ``mean_a``, ``mean_b``, ``difference`` (b - a), ``ci95`` (paired percentile
    bootstrap), ``p_value`` (sign-flip randomization), counts of queries each space wins;
    ``per_class[m]``: per label means and difference, largest loss for b first; ``wins``: per
    metric the classes where each space is ahead; ``verdict``: one sentence on MAP@R.
    ``baseline``: a reseeded run of ``a``: ``baseline["metrics"]`` holds baseline - a, and
    ``baseline["beyond"][m]`` whether b - a goes beyond it (:func:`beyond_baseline`, the
    verdict's rule, per metric).
    """
    kw = dict(label_field=label_field, metric=metric, k=k, split_field=split_field, query_split=query_split,
              reference_split=reference_split, engine=engine, engine_params=engine_params)
    sa = per_query_scores(reg, a, **kw)
    sb = per_query_scores(reg, b, **kw)
    out = {"space_a": sa["space"], "space_b": sb["space"], "label_field": label_field, "metric": metric,
           "k": {"a": sa["k"], "b": sb["k"]}, **_pair(sa, sb, seed)}
    out["wins"] = {m: _wins(out["per_class"][m]) for m in VERSUS_METRICS}
    base = None
    if baseline is not None:
        sc = per_query_scores(reg, baseline, **kw)
        base = _pair(sa, sc, seed)
        out["baseline"] = {"space": sc["space"], "n_queries": base["n_queries"], "metrics": base["metrics"],
                           "beyond": {m: beyond_baseline(out["metrics"][m], base["metrics"][m])
                                      for m in VERSUS_METRICS}}
    head = "mean_average_precision_at_r"
    out["verdict"] = verdict(out["space_a"], out["space_b"], out["metrics"][head], out["wins"][head],
                             head, base["metrics"][head] if base else None, baseline)
    out["settings"] = {"query_split": query_split, "reference_split": reference_split, "split_field": split_field,
                       "engine": engine, "seed": seed,
                       "interval": out["metrics"][head].get("interval"), "test": out["metrics"][head].get("test")}
    return jsonable(out)


