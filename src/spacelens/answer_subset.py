"""The answer's figures for a subset of items: the items a page filter shows (a brushed chart,
a search), as one sentence with its figures and intervals.

The same figures as :mod:`spacelens.answer`, restricted, never computed another way:

- agreement: the mean per-item kNN Jaccard of the subset's items, read from the stored
  comparison (exact; the interval is a t interval over the shown items, which treats items as
  independent: neighbours share neighbours, so it is a little narrow). Without a stored
  comparison (at scale the answer's comparison is sampled, and not stored), up to
  :data:`SUBSET_SAMPLE` of the subset's items go through the sampled-Jaccard path
  (:mod:`spacelens.compare.sampled`: exact neighbours among *all* shared items, t interval with
  the finite population correction, so a subset no larger than the sample is exact). The
  all-items mean stands beside it, from the sampled comparison's
  :data:`~spacelens.budget.DEFAULT_SAMPLE` items, searched once and kept in the cache.
- retrieval (with a label column): the per-query scores of ``evaluate_versus``
  (:func:`spacelens.evaluate.versus.per_query_scores`: the same shared items, the same budget
  rule, the same sample) restricted to the subset's *queries*; each query is still searched
  among all reference items, as in the full evaluation (restricting the reference would change
  what each query can retrieve, so the subset's figures would not be those of the answer).
  The paired difference B - A uses :func:`~spacelens.evaluate.paired.paired_difference`
  exactly as ``evaluate_versus`` does (the same percentile-bootstrap interval; no p-value). When the answer's
  retrieval was sampled, the sampled queries that fall in the subset count, and the figure says
  how many ("312 of the 2,000 sampled queries"); when they are fewer than half of what a sample
  of the subset would give (a filter keeping 1% of a million items holds ~20 of 2,000),
  :data:`SUBSET_SAMPLE` queries are drawn among the subset's own instead ("500 queries sampled
  of the 9,870 shown", or "all 320 shown queries"), searched exactly among all references, so a
  narrow filter at scale still gets an interval.

Fewer than :data:`MIN_UNITS` queries (or items) give the means but no interval: the sentence
says they are too few. Per-query scores cost a search of every query; :class:`ScoreCache`
keeps the latest few so that the next filter of the same pair is a lookup.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from spacelens.budget import DEFAULT_SAMPLE
from spacelens.catalogue import PRIMARY_METRIC, short
from spacelens.errors import SpacelensError, SpacelensWarning
from spacelens.formatting import ci_digits, fmt, fmt_ci
from spacelens.jsonable import jsonable
from spacelens.stats import excludes_zero, mean_ci

MIN_UNITS = 20      # fewer queries (items) than this: means, but no interval
# queries drawn among a narrow filter's own (when the answer's sample holds too few of them): a
# quarter of the answer's 2,000, so each new filter costs a quarter of its search (about 7 s at
# 1M x 256 in classes of 1,000), for an interval about twice as wide
SUBSET_SAMPLE = 500
AGREEMENT_INTERVAL = "t interval over the shown items"
SAMPLED_INTERVAL = "t interval over the sampled items, finite population correction"


class FiguresCancelled(Exception):
    """The figures are no longer wanted (the page asked for newer ones and closed this request)."""


def _stop_if(cancelled: Callable[[], bool] | None) -> None:
    if cancelled is not None and cancelled():
        raise FiguresCancelled()


class ScoreCache:
    """The latest ``size`` per-query score sets (thread-safe; one computation per key at a time,
    so two filters in quick succession wait for one search instead of running two)."""

    def __init__(self, size: int = 8):
        self.size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, dict] = OrderedDict()
        self._busy: dict[tuple, threading.Lock] = {}

    def get(self, key: tuple, compute: Callable[[], dict]) -> dict:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            lock = self._busy.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._entries:
                    return self._entries[key]
            try:
                value = compute()
                with self._lock:
                    self._entries[key] = value
                    while len(self._entries) > self.size:
                        self._entries.popitem(last=False)
            finally:
                with self._lock:
                    self._busy.pop(key, None)
        return value

    def __len__(self) -> int:
        return len(self._entries)


# -- the rows ---------------------------------------------------------------------------------------

def subset_rows(reg, a: str, b: str, rows) -> np.ndarray:
    """``rows`` as sorted unique int64 dataset rows of the dataset both spaces embed; one clear
    error for rows out of range or spaces of different datasets."""
    ra, rb = reg.space(a), reg.space(b)
    if ra.dataset != rb.dataset:
        raise SpacelensError(f"Spaces {a!r} (dataset {ra.dataset!r}) and {b!r} (dataset {rb.dataset!r}) embed "
                             "different datasets", "Pick two spaces of the same dataset")
    n = reg.dataset(ra.dataset).n_rows
    r = np.asarray(rows)
    if r.size and (r.dtype.kind not in "iu" or r.ndim != 1):
        raise SpacelensError("rows must be a list of whole dataset row numbers", "Pass e.g. rows=[0, 5, 17]")
    r = np.unique(r.astype(np.int64))
    if r.size and (r[0] < 0 or r[-1] >= n):
        bad = int(r[0] if r[0] < 0 else r[-1])
        raise SpacelensError(f"Row {bad} is not in dataset {ra.dataset!r} ({n:,} rows)",
                             f"Pass dataset rows from 0 to {n - 1}")
    return r


# -- agreement --------------------------------------------------------------------------------------

def subset_jaccard(reg, a: str, b: str, rows: np.ndarray, *, k: int = 10, metric: str = "cosine",
                   n_sample: int = SUBSET_SAMPLE, n_all: int = DEFAULT_SAMPLE, seed: int = 0,
                   cache: ScoreCache | None = None) -> dict:
    """Per-item Jaccard of ``n_all`` random shared items (the sampled comparison's items, drawn
    as it draws them) and of the subset's items, each searched exactly among all shared items:
    ``{"rows", "jaccard", "n_items", "all_rows", "all_jaccard", "n_all"}``.

    The subset's items are those of the all-items sample inside it when they are at least half
    of ``min(n_sample, subset size)`` (a random sample of the items is one of the subset too;
    a wide filter costs no search), else up to ``n_sample`` random items of the subset, searched.
    The all-items values are the same for every subset: ``cache`` keeps them."""
    from spacelens.compare.core import align
    from spacelens.compare.jaccard import jaccard
    from spacelens.compare.sampled import sample_rows, sampled_neighbours

    ra, rb = reg.space(a), reg.space(b)
    with warnings.catch_warnings():     # spaces over different items: said by n_items, not warned
        warnings.simplefilter("ignore", SpacelensWarning)
        al = align(reg, ra, rb)
    n = len(al.rows)
    if k >= n:
        raise SpacelensError(f"k={k} is too large for {n:,} shared items", f"Choose k below {n:,}")
    pos = np.flatnonzero(np.isin(al.rows, rows))
    every = sample_rows(n, n_all, seed)          # the sampled comparison's items (compare_spaces)
    held = np.isin(every, pos)
    reuse = held.sum() >= min(n_sample, len(pos)) / 2
    pick = every[held] if reuse else pos if len(pos) <= n_sample else pos[sample_rows(len(pos), n_sample, seed)]
    vectors: list = []

    def search(items: np.ndarray) -> np.ndarray:
        if not len(items):
            return np.zeros(0, np.float32)
        if not vectors:
            vectors.append(reg.load_vectors(ra) if al.full_a else np.ascontiguousarray(reg.load_vectors(ra)[al.pos_a]))
            vectors.append(reg.load_vectors(rb) if al.full_b else np.ascontiguousarray(reg.load_vectors(rb)[al.pos_b]))
        ia, ib = sampled_neighbours(vectors[0], vectors[1], items, k, metric, metric)
        return jaccard(ia, ib, k)

    key = ("jaccard of all items' sample", str(reg.home), ra.name, ra.content_hash, rb.name, rb.content_hash,
           int(k), metric, int(n_all), int(seed))
    everyone = search(every) if cache is None else cache.get(key, lambda: {"values": search(every)})["values"]
    mine = everyone[held] if reuse else search(pick)
    return {"rows": al.rows[pick], "jaccard": mine, "n_items": int(len(pos)),
            "all_rows": al.rows[every], "all_jaccard": everyone, "n_all": int(n)}


def _agreement(reg, a, b, rows, k, metric, comparison, n_sample, n_all, seed, cache) -> dict:
    if comparison is None:
        from spacelens.compare.core import load_comparison

        comparison = load_comparison(reg, a, b, k, metric, metric, include_self=False)
    if comparison is not None:
        inside = np.isin(comparison.rows, rows)
        v = np.asarray(comparison.jaccard, dtype=np.float64)[inside]
        out = {"source": "stored comparison", "sampled": False, "n_items": int(inside.sum()), "n": int(v.size),
               "interval": AGREEMENT_INTERVAL,
               "all_items": {"mean": float(comparison.mean), "ci95": None, "n_items": int(len(comparison.rows)),
                             "sampled": False}}
        info = getattr(comparison, "info", None) or {}
        if info.get("recall"):
            out["recall"] = info["recall"]     # approximate neighbours: what the figure rests on
        if info.get("sample"):                 # a sampled comparison handed in (not a stored one)
            out["all_items"]["ci95"] = info["sample"]["ci95"]
        pop = None
    else:
        s = subset_jaccard(reg, a, b, rows, k=k, metric=metric, n_sample=n_sample, n_all=n_all, seed=seed,
                           cache=cache)
        v = np.asarray(s["jaccard"], dtype=np.float64)
        _, alo, ahi = mean_ci(s["all_jaccard"], population=s["n_all"])
        sampled = v.size < s["n_items"]
        out = {"source": "sampled" if sampled else "exact neighbours of every shown item", "sampled": sampled,
               "n_items": s["n_items"], "n": int(v.size),
               "interval": SAMPLED_INTERVAL if sampled else AGREEMENT_INTERVAL,
               "all_items": {"mean": float(np.mean(s["all_jaccard"], dtype=np.float64)),
                             "ci95": [alo, ahi] if len(s["all_jaccard"]) < s["n_all"] else None,
                             "n_items": s["n_all"], "n": int(len(s["all_jaccard"])),
                             "sampled": len(s["all_jaccard"]) < s["n_all"]}}
        if sampled:
            out["note"] = (f"sampled: {v.size:,} random of the {s['n_items']:,} shown items, each searched "
                           "exactly among all items")
        pop = s["n_items"] if sampled else None     # every shown item measured: as from a stored comparison
    out["k"] = int(k)
    out["mean"] = float(v.mean()) if v.size else None
    out["too_few"] = bool(v.size < MIN_UNITS)
    if v.size >= MIN_UNITS:
        _, lo, hi = mean_ci(v, population=pop)
        out["ci95"] = [lo, hi]
    else:
        out["ci95"] = None
    return out


# -- retrieval --------------------------------------------------------------------------------------

def _restriction_key(shared: np.ndarray | None) -> str | None:
    return None if shared is None else hashlib.blake2b(np.ascontiguousarray(shared).tobytes(), digest_size=16).hexdigest()


def _scores(reg, name: str, rec, shared: np.ndarray, label_field: str, metric: str, sample, seed, cache,
            queries: np.ndarray | None = None) -> dict:
    from spacelens.evaluate.versus import per_query_scores

    items = None if rec.n_rows == len(shared) else shared
    compute = lambda: per_query_scores(reg, name, label_field=label_field, metric=metric, items=items,  # noqa: E731
                                       sample=sample, seed=seed, queries=queries)
    if cache is None:
        return compute()
    key = (str(reg.home), name, rec.content_hash, rec.dataset, label_field, metric, sample, seed,
           _restriction_key(items), _restriction_key(queries))
    return cache.get(key, compute)


def _retrieval(reg, a, b, rows, label_field, baseline, metric, seed, sample, full, budget, cache,
               cancelled=None) -> dict:
    from spacelens.evaluate.paired import paired_difference
    from spacelens.evaluate.versus import shared_items

    names = [a, b] + ([baseline] if baseline else [])
    plan = None
    if sample is None:
        from spacelens.budget import plan_evaluate

        plan = plan_evaluate(reg, a, label_field=label_field, metric=metric, clustering=False, full=full,
                             budget=budget, verb="paired evaluation", spaces=tuple(names))
        sample = plan.sample if plan.sampled else None
    shared, recs = shared_items(reg, names)
    sa, sb = (_scores(reg, n, r, shared, label_field, metric, sample, seed, cache) for n, r in zip(names[:2], recs))
    pair_rows, ia, ib = np.intersect1d(sa["rows"], sb["rows"], assume_unique=True, return_indices=True)
    inside = np.isin(pair_rows, rows)
    from_shown = False
    if sample is not None:
        # the answer's sample holds few of a narrow filter's queries (a 1% filter: ~1% of them):
        # draw the sample from the shown queries instead, each still searched among all references
        mine = np.intersect1d(shared, rows, assume_unique=True)
        draw = min(int(sample), SUBSET_SAMPLE)
        if inside.sum() < min(draw, len(mine)) / 2:
            _stop_if(cancelled)     # a new search: not for figures nobody waits for
            sa, sb = (_scores(reg, n, r, shared, label_field, metric, draw, seed, cache, queries=mine)
                      for n, r in zip(names[:2], recs))
            pair_rows, ia, ib = np.intersect1d(sa["rows"], sb["rows"], assume_unique=True, return_indices=True)
            inside = np.ones(len(pair_rows), bool)
            from_shown = True
    sa_v = sa["scores"][PRIMARY_METRIC][ia][inside]
    sb_v = sb["scores"][PRIMARY_METRIC][ib][inside]
    ok = ~(np.isnan(sa_v) | np.isnan(sb_v))
    n_q = int(ok.sum())
    out = {"metric": PRIMARY_METRIC, "label_field": label_field, "n_queries": n_q,
           "n_reference": int(sa["n_reference"]),
           "reference": (f"queries restricted to the shown items; each searched among all {sa['n_reference']:,} "
                         "reference items, as in the full evaluation"),
           "mean_a": float(sa_v[ok].mean()) if n_q else None, "mean_b": float(sb_v[ok].mean()) if n_q else None,
           "sample": None, "too_few": n_q < MIN_UNITS, "winner": None}
    out["difference"] = (out["mean_b"] - out["mean_a"]) if n_q else None
    if sample is not None:
        # from_shown: drawn among the shown queries (population: those with something to
        # retrieve); else the answer's own sample, n_in_subset of its n queries shown
        out["sample"] = {"n_in_subset": n_q, "n": int(len(pair_rows)), "population": int(sa["n_population"]),
                         "seed": int(seed), "from_shown": from_shown}
    if plan is not None and plan.sampled:     # what the sample rests on, what the full scores would cost
        out["budget"] = plan.to_dict()
    if n_q >= MIN_UNITS:
        # the interval only: the sign-flip p (9,999 resamples) would double a filter's wait, and the
        # sentence, like the page, reads the interval
        m = paired_difference(sa_v, sb_v, interval="bootstrap", seed=seed, test=False)
        out.update({"mean_a": m["mean_a"], "mean_b": m["mean_b"], "difference": m["difference"],
                    "ci95": m["ci95"], "interval": m["interval"]})
        if excludes_zero(m["ci95"]):
            out["winner"] = "B" if m["difference"] > 0 else "A"
    else:
        out.update({"ci95": None, "interval": None})
    return out


# -- the sentence ---------------------------------------------------------------------------------

def _queries_words(r: dict) -> str:
    s = r["sample"]
    if s and s["from_shown"]:
        if s["n"] >= s["population"]:
            return f"all {r['n_queries']:,} shown queries"
        return f"{r['n_queries']:,} queries sampled of the {s['population']:,} shown"
    if s:
        return f"{r['n_queries']:,} of the {s['n']:,} sampled queries"
    return f"{r['n_queries']:,} queries"


def _sentence(n_items: int, ag: dict, r: dict | None) -> str:
    head = f"On the {n_items:,} shown item{'s' if n_items != 1 else ''}"
    if not n_items:
        return "None of the shown items is held by both A and B: no figure for them."
    parts = []
    if r is not None:
        name = short(r["metric"])
        if not r["n_queries"]:
            parts.append(f"no query with something to retrieve by {r['label_field']}")
        elif r["too_few"]:
            parts.append(f"{name} {fmt(r['mean_a'], 3)} (A) vs {fmt(r['mean_b'], 3)} (B) from only "
                         f"{_queries_words(r)}: too few for an interval (at least {MIN_UNITS})")
        else:
            ci = r["ci95"]
            n = ci_digits(ci)
            rests = f"95% CI {fmt_ci(ci, 3, sign=True)}, {_queries_words(r)}"     # p: in the figures
            if r["winner"]:
                win, lose = ("B", "A") if r["winner"] == "B" else ("A", "B")
                hi, lo = (r["mean_b"], r["mean_a"]) if win == "B" else (r["mean_a"], r["mean_b"])
                parts.append(f"{win} retrieves better than {lose}: {name} {fmt(hi, n)} vs {fmt(lo, n)}, "
                             f"B − A = {fmt(r['difference'], n, sign=True)} ({rests})")
            else:
                parts.append(f"no clear winner: {name} {fmt(r['mean_a'], n)} (A) vs {fmt(r['mean_b'], n)} (B), "
                             f"B − A = {fmt(r['difference'], n, sign=True)} ({rests}; the interval includes 0)")
    all_ = ag["all_items"]
    whole = f"all items {fmt(all_['mean'], 3)}"
    if all_.get("ci95"):
        whole += f", 95% CI {fmt_ci(all_['ci95'], 3)}"
    rec = ag.get("recall")
    if rec and rec.get("a") is not None:      # approximate graphs: what the per-item values rest on
        whole += f"; approximate neighbours, recall@{rec.get('k', ag['k'])} {fmt(rec['a'], 2)} (A), {fmt(rec['b'], 2)} (B)"
    if ag["mean"] is None:
        parts.append("no shown item has a Jaccard")
    elif ag["too_few"]:
        parts.append(f"mean kNN Jaccard {fmt(ag['mean'], 3)} from only {ag['n']:,} items, too few "
                     f"for an interval ({whole})")
    else:
        of = f", {ag['n']:,} sampled of {ag['n_items']:,} shown" if ag["sampled"] else ""
        parts.append(f"mean kNN Jaccard {fmt(ag['mean'], 3)} (95% CI {fmt_ci(ag['ci95'], 3)}{of}; {whole})")
    text = "; ".join(parts)
    sep = " " if r is not None and r.get("winner") else ", "
    return f"{head}{sep}{text}."


def subset_figures(reg, a: str, b: str, rows, *, k: int = 10, label_field: str | None = None,
                   baseline: str | None = None, metric: str = "cosine", seed: int = 0, full: bool = False,
                   budget: float | None = None, sample: int | None = None, n_sample: int = SUBSET_SAMPLE,
                   n_all: int = DEFAULT_SAMPLE,
                   comparison=None, cache: ScoreCache | None = None,
                   cancelled: Callable[[], bool] | None = None) -> dict:
    """The answer's figures for the dataset ``rows`` (JSON-ready): ``n_rows`` (rows given),
    ``n_items`` (those both spaces hold), ``agreement`` (mean kNN Jaccard at ``k`` over them with
    its 95% interval, ``all_items`` beside it, ``source``: stored comparison or sampled),
    ``retrieval`` (with ``label_field``: MAP@R of A and B on the subset's queries, the paired
    difference B - A with its bootstrap 95% CI, ``n_queries``, ``sample`` when the answer's
    retrieval is sampled), and ``sentence``: the answer first.

    Settings as :func:`spacelens.api.answer` uses them (``baseline``: the answer's seed baseline,
    which restricts the shared items as in ``evaluate_versus``; ``full``, ``budget``, ``seed``);
    ``sample`` forces a sampled retrieval of that many queries. Without a stored comparison,
    ``n_sample`` and ``n_all`` size the agreement's samples (:func:`subset_jaccard`).
    ``comparison``: the stored comparison already read (the server's cache); ``cache``: a
    :class:`ScoreCache`; ``cancelled``: asked before each search, :class:`FiguresCancelled`
    when it says True (the server: the page closed the request)."""
    reg.space(a)
    reg.space(b)
    if baseline:
        reg.space(baseline)
    rows = subset_rows(reg, a, b, rows)
    _stop_if(cancelled)
    ag = _agreement(reg, a, b, rows, k, metric, comparison, n_sample, n_all, seed, cache)
    r = None
    if label_field is not None and ag["n_items"]:
        _stop_if(cancelled)
        r = _retrieval(reg, a, b, rows, label_field, baseline, metric, seed, sample, full, budget, cache, cancelled)
    out = {"space_a": a, "space_b": b, "k": int(k), "label_field": label_field, "baseline": baseline,
           "n_rows": int(len(rows)), "n_items": ag["n_items"], "min_units": MIN_UNITS,
           "agreement": ag, "retrieval": r, "sentence": _sentence(ag["n_items"], ag, r)}
    return jsonable(out)
