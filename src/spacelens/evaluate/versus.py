"""Which of two spaces retrieves better, with what confidence: ``spacelens evaluate A --vs B``.

Both spaces (and the baseline) are scored on the same queries *and* the same reference items:
the items every compared space embeds (with query/reference splits, the shared ones of
each). A space that embeds more is restricted to them, so neither is searched among items the
other cannot retrieve: B = A's own vectors over half of A's items gives a difference of
exactly 0. ``coverage`` in the result says how many queries and reference items each space
lost that way (its ``note``: one sentence). Scores are the per-query retrieval scores of
:mod:`.retrieval` (P@1, R-precision, AP@R: the per-query values whose means are
precision_at_1, r_precision and MAP@R). A space whose items are all shared keeps its whole
reference, so its cached kNN graph serves. For each metric the
difference B - A is paired over queries (:mod:`.paired`, :mod:`spacelens.stats`): a percentile-bootstrap 95%
interval and a sign-flip randomization p-value. Per class: mean of each space and who wins.
With a baseline C (a reseeded run of A) the same is done for C - A, the difference that
seeds alone make, and the verdict says whether B - A goes beyond it.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from spacelens.catalogue import VERSUS_METRICS, short
from spacelens.errors import SpacelensError
from spacelens.evaluate.core import _graph_choice, _neighbour_blocks, _select, load_labels
from spacelens.evaluate.paired import paired_difference
from spacelens.evaluate.retrieval import label_counts, resolve_k, score_block
from spacelens.formatting import ci_digits, fmt_ci, format_p
from spacelens.jsonable import jsonable
from spacelens.stats import excludes_zero


def per_query_scores(reg, space: str, *, label_field: str, metric: str = "cosine", k=None,
                     split_field: str = "split", query_split=None, reference_split=None,
                     engine: str = "auto", engine_params: dict | None = None, items=None,
                     sample: int | None = None, seed: int = 0, queries=None) -> dict:
    """Per-query retrieval scores of ``space``: ``{"rows", "labels", "k", "scores": {metric: array}}``.

    ``rows``: dataset row of each query; scores are NaN for lone queries (no other item of
    their label in the reference), which the summary metrics leave out too. ``items``: dataset
    rows to keep (None: all): queries and reference items are both restricted to them, as if
    the space embedded only those. Neighbours come from the cached kNN graph when the whole
    space is the reference (as for ``evaluate``). ``n_queries_all`` / ``n_reference_all``:
    the counts before ``items`` restricted them, ``n_reference``: after. ``sample``: score only
    that many random queries (among those with something to retrieve, drawn with ``seed`` in
    dataset-row order, so every space of one dataset draws the same items), searched exactly
    among all references; only they are returned (``n_population``: how many they were drawn from).
    ``queries``: dataset rows the queries are limited to (None: all), the references left whole:
    the queries of a subset (a page filter), each still searched among every reference item.
    """
    rec = reg.space(space)
    labels = load_labels(reg, rec, label_field)
    space_rows = reg.load_rows(rec)     # dataset row of each row of the space (read once)
    q_pos, ref_pos, ref_includes_query = _select(reg, rec, split_field, query_split, reference_split)
    n_q_all, n_ref_all = len(q_pos), rec.n_rows if ref_pos is None else len(ref_pos)
    if items is not None:
        inside = np.isin(space_rows, np.asarray(items))
        if not inside.all():        # else nothing to restrict: the whole space (and its cached graph) serves
            q_pos = q_pos[inside[q_pos]]
            ref_pos = np.flatnonzero(inside) if ref_pos is None else ref_pos[inside[ref_pos]]
    codes, _classes = pd.factorize(labels)
    codes = codes.astype(np.int32)
    qc = codes[q_pos]
    rc = codes if ref_pos is None else codes[ref_pos]
    counts = label_counts(qc, rc, ref_includes_query, len(_classes))
    kk = resolve_k(k, counts, len(rc))
    scores = {m: np.full(len(q_pos), np.nan) for m in VERSUS_METRICS}
    keep = np.flatnonzero(~counts.lone)
    if queries is not None:
        keep = keep[np.isin(space_rows[q_pos[keep]], np.asarray(queries))]
    n_population = len(keep)
    params = dict(engine_params or {})
    if sample is not None and len(keep) > sample:
        from spacelens.compare.sampled import sample_rows

        by_row = np.argsort(space_rows[q_pos[keep]], kind="stable")
        keep = np.sort(keep[by_row[sample_rows(len(keep), int(sample), seed)]])
    if sample is not None:      # sampled queries are searched exactly (an exact stored graph serves too)
        engine, params = "exact", {}
    if len(keep) and kk > 0:
        graph = None
        if ref_pos is None:
            how, graph = _graph_choice(reg, rec, kk, metric, engine, params, len(q_pos) == rec.n_rows)
            if (sample is not None or queries is not None) and how == "build":   # some queries: search them, build nothing
                how, engine, params = "stream", "exact", {}
        else:
            how = "self-subset" if ref_includes_query else "split"
        # the reference row each query is (self exclusion): q_pos and ref_pos are sorted
        qrows = (q_pos[keep] if ref_pos is None else np.searchsorted(ref_pos, q_pos[keep]) if ref_includes_query
                 else None)
        for sub, idx in _neighbour_blocks(reg, rec, q_pos[keep], ref_pos, qrows, kk, metric, engine, params,
                                          how, graph):
            qi = keep[sub]
            block = score_block(rc[idx], qc[qi], counts.r[qi])
            for m in VERSUS_METRICS:
                scores[m][qi] = block[m]
    out_rows = space_rows[q_pos]
    out_labels = np.asarray(labels)[q_pos]
    if sample is not None or queries is not None:
        out_rows, out_labels = out_rows[keep], out_labels[keep]
        scores = {m: v[keep] for m, v in scores.items()}
    return {"space": rec.name, "rows": out_rows, "labels": out_labels, "n_population": int(n_population),
            "k": kk, "scores": scores, "n_lone": int(counts.lone.sum()), "n_queries_all": int(n_q_all),
            "n_reference": int(len(rc)), "n_reference_all": int(n_ref_all)}


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
            base: dict | None = None, c: str | None = None, population: int | None = None) -> str:
    """One sentence: who retrieves better on ``metric``, by how much, how sure, and against the baseline.

    Numbers have 3 decimals, or as many more as its interval needs to show that it excludes 0
    (:func:`spacelens.formatting.ci_digits`, as every table prints it)."""
    name = short(metric)
    lo, hi = m["ci95"]
    d = m["difference"]
    if excludes_zero(m["ci95"]) and d < 0:   # state the interval of winner - loser
        lo, hi = -hi, -lo
    n = ci_digits((lo, hi))
    queries = f"{m['n']:,} sampled queries of {population:,}" if population else f"{m['n']:,} queries"
    ci = f"95% CI {fmt_ci((lo, hi), sign=True)}, {format_p(m.get('p_value'))}, {queries}"
    if excludes_zero(m["ci95"]):
        win, lose = (b, a) if d > 0 else (a, b)
        won = wins["b"] if d > 0 else wins["a"]
        s = (f"{win} retrieves better than {lose}: {name} {max(m['mean_a'], m['mean_b']):.{n}f} vs "
             f"{min(m['mean_a'], m['mean_b']):.{n}f}, a difference of {abs(d):.{n}f} ({ci}); {win} is ahead in "
             f"{won} of {wins['classes']} classes")
    else:
        s = (f"no clear winner between {a} and {b}: {name} {m['mean_a']:.3f} vs {m['mean_b']:.3f}, difference "
             f"{d:+.3f} ({ci}; the interval includes 0)")
    if base is not None:
        bd = base["difference"]
        bn = ci_digits(base["ci95"])
        noise = f"{c} - {a} = {bd:+.{bn}f}, 95% CI {fmt_ci(base['ci95'], sign=True)}"
        beyond = beyond_baseline(m, base)
        s += (f". That is more than two runs of {a}'s recipe differ ({noise})" if beyond else
              f". Two runs of {a}'s recipe differ by about as much ({noise}), so this may be seed noise")
    return s + "."


def shared_items(reg, names: list[str]) -> tuple[np.ndarray, list]:
    """``(dataset rows every space of names embeds, their records)``; clear errors when they are
    of different datasets or share nothing."""
    recs = [reg.space(n) for n in names]
    for r in recs[1:]:
        if r.dataset != recs[0].dataset:
            raise SpacelensError(
                f"Spaces {recs[0].name!r} (dataset {recs[0].dataset!r}) and {r.name!r} (dataset {r.dataset!r}) "
                "embed different datasets, so their items cannot be matched",
                "Compare spaces of one dataset: register both with the same --dataset-name (rows are matched by id)")
    shared = reg.load_rows(recs[0])
    for r in recs[1:]:
        shared = np.intersect1d(shared, reg.load_rows(r), assume_unique=True)
    if not len(shared):
        raise SpacelensError(f"Spaces {' and '.join(repr(r.name) for r in recs)} share no items of dataset "
                             f"{recs[0].dataset!r}", "Compare spaces that embed some of the same items")
    return shared, recs


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def coverage_note(cov: dict) -> str | None:
    """One sentence on the items left out because not every space embeds them (None: none was):
    "B embeds 150 of A's 300 items: both are scored on the 150 they share; 150 of A's queries
    left out"."""
    sp, n = cov["spaces"], cov["n_shared"]
    if all(s["n_items"] == n for s in sp):
        return None
    names = [s["space"] for s in sp]
    full = [s for s in sp if s["n_items"] > n]
    if len(sp) == 2 and len(full) == 1:
        sub = sp[1] if full[0] is sp[0] else sp[0]
        head = f"{sub['space']} embeds {n:,} of {full[0]['space']}'s {full[0]['n_items']:,} items"
    else:
        head = (f"{_and(names)} share {n:,} items ("
                + ", ".join(f"{s['space']} embeds {s['n_items']:,}" for s in sp) + ")")
    head += f": {'both' if len(sp) == 2 else 'all'} are scored on the {n:,} they share"
    split = cov["split"]
    parts = []
    for s in full:
        q, r = s["queries_dropped"], s["reference_dropped"]
        qs = f"{q:,} of {s['space']}'s {s['n_queries_all']:,} queries" if split else f"{q:,} of {s['space']}'s queries"
        rs = f"{r:,} of {s['space']}'s {s['n_reference_all']:,} reference items"
        if q and (split and r):
            parts.append(qs + f" and {r:,} of its {s['n_reference_all']:,} reference items")
        elif q or (split and r):
            parts.append(qs if q else rs)
    if not parts:
        return head + "; no query or reference item left out"
    return head + "; " + _and(parts) + " left out"


def _coverage(scores: list[dict], n_shared: int, split: bool) -> dict:
    spaces = [{"space": s["space"], "n_items": s["n_items"], "n_queries_all": s["n_queries_all"],
               "n_queries": int(len(s["rows"])), "queries_dropped": s["n_queries_all"] - int(len(s["rows"])),
               "n_reference_all": s["n_reference_all"], "n_reference": s["n_reference"],
               "reference_dropped": s["n_reference_all"] - s["n_reference"]} for s in scores]
    cov = {"n_shared": int(n_shared), "split": split, "spaces": spaces}
    cov["note"] = coverage_note(cov)
    return cov


def evaluate_versus(reg, a: str, b: str, *, label_field: str, baseline: str | None = None,
                    metric: str = "cosine", k=None, split_field: str = "split", query_split=None,
                    reference_split=None, engine: str = "auto", engine_params: dict | None = None,
                    seed: int = 0, sample: int | None = None) -> dict:
    """Paired retrieval comparison of spaces ``a`` and ``b`` on the same queries and the same
    reference items (JSON-ready dict): the items every compared space embeds (:func:`shared_items`).

    ``metrics[m]``: ``mean_a``, ``mean_b``, ``difference`` (b - a), ``ci95`` (paired percentile
    bootstrap), ``p_value`` (sign-flip randomization), counts of queries each space wins;
    ``per_class[m]``: per label means and difference, largest loss for b first; ``wins``: per
    metric the classes where each space is ahead; ``verdict``: one sentence on MAP@R.
    ``baseline``: a reseeded run of ``a``: ``baseline["metrics"]`` holds baseline - a, and
    ``baseline["beyond"][m]`` whether b - a goes beyond it (:func:`beyond_baseline`, the
    verdict's rule, per metric). ``coverage``: ``n_shared`` items, per space (a, b, baseline)
    its ``n_items`` and the queries and reference items it had and lost to the restriction,
    and ``note``, one sentence saying so (None when every space embeds the same items).
    ``sample``: the same random queries (that many) scored in every space, each searched exactly
    among all references: the means and differences are estimates of the full ones, their
    intervals bootstrap intervals over the sampled queries (``sample``: ``{"n", "population", "seed"}``).
    """
    names = [a, b] + ([baseline] if baseline is not None else [])
    shared, recs = shared_items(reg, names)
    kw = dict(label_field=label_field, metric=metric, k=k, split_field=split_field, query_split=query_split,
              reference_split=reference_split, engine=engine, engine_params=engine_params)
    scores = []
    for name, rec in zip(names, recs):
        sc_ = per_query_scores(reg, name, items=None if rec.n_rows == len(shared) else shared, sample=sample,
                               seed=seed, **kw)
        sc_["n_items"] = int(rec.n_rows)
        if not len(sc_["rows"]) or not sc_["n_reference"]:
            what = "query" if not len(sc_["rows"]) else "reference"
            raise SpacelensError(f"The {len(shared):,} items that {_and(names)} share hold no {what} item"
                                 + (f" ({split_field}={query_split if what == 'query' else reference_split})"
                                    if query_split is not None else ""),
                                 "Compare spaces that embed some of the same queries and reference items")
        scores.append(sc_)
    sa, sb = scores[0], scores[1]
    out = {"space_a": sa["space"], "space_b": sb["space"], "label_field": label_field, "metric": metric,
           "k": {"a": sa["k"], "b": sb["k"]}, **_pair(sa, sb, seed)}
    out["coverage"] = _coverage(scores, len(shared), query_split is not None)
    if sample is not None:
        out["sample"] = {"n": out["n_queries"], "population": sa["n_population"], "seed": int(seed),
                         "note": (f"{out['n_queries']:,} random queries of {sa['n_population']:,}, searched exactly "
                                  "among all references: estimates of the full figures")}
    out["wins"] = {m: _wins(out["per_class"][m]) for m in VERSUS_METRICS}
    base = None
    if baseline is not None:
        sc = scores[2]
        base = _pair(sa, sc, seed)
        out["baseline"] = {"space": sc["space"], "n_queries": base["n_queries"], "metrics": base["metrics"],
                           "beyond": {m: beyond_baseline(out["metrics"][m], base["metrics"][m])
                                      for m in VERSUS_METRICS}}
    head = "mean_average_precision_at_r"
    out["verdict"] = verdict(out["space_a"], out["space_b"], out["metrics"][head], out["wins"][head],
                             head, base["metrics"][head] if base else None, baseline,
                             population=sa["n_population"] if sample is not None else None)
    out["settings"] = {"query_split": query_split, "reference_split": reference_split, "split_field": split_field,
                       "engine": engine, "seed": seed,
                       "interval": out["metrics"][head].get("interval"), "test": out["metrics"][head].get("test")}
    return jsonable(out)


