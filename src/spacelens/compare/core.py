"""Comparing two spaces of one dataset, item by item, through the registry.

The similarity of spaces A and B is the mean over items of the Jaccard index of the item's
k nearest neighbours in A and in B (self excluded). Graphs come from the kNN cache
(:func:`spacelens.neighbors.knn_graph`), so a space compared with five others is searched
once. Spaces over different row subsets of one dataset are compared on their shared items,
with neighbours searched among the shared items only: an item's neighbours in A must be
drawn from the same pool as in B, or items present in one space only would lower the score
for no fault of the space. The cached graph of a space is used when the space holds exactly
the shared items; otherwise the shared subset is searched directly (not cached: the subset
depends on the pair).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from spacelens.compare.agreement import cknna, edge_kernel, kernel_from_distances, overlap
from spacelens.compare.cka import cka_pair, linear_cka
from spacelens.compare.jaccard import chance_jaccard, chance_overlap, k_curve, summarize
from spacelens.compare.sampled import sample_rows, sampled_neighbours
from spacelens.errors import SpacelensError, SpacelensWarning
from spacelens.jsonable import jsonable
from spacelens.neighbors.engines import APPROX_DEFAULT, RECALL_ENGINES, is_exact
from spacelens.stats import mean_ci

KIND = "comparison"
DEFAULT_RECALL = 0.95   # target recall of approximate graphs (auto, --approx)
_EFFORT_PARAMS = ("nprobe", "ef_search")   # a fixed search effort: no recall target
CKA_SAMPLE_MAX = 200_000  # with --sample, CKA on at most this many random items


@dataclass
class Comparison:
    """Per-item Jaccard of two spaces on their shared items, and its summary in ``info``."""

    space_a: str
    space_b: str
    k: int
    mean: float
    ids: np.ndarray      # str ids of the compared items
    rows: np.ndarray     # int64 dataset rows of the compared items
    jaccard: np.ndarray  # float32 per item, at ``k``
    info: dict = field(default_factory=dict)
    baseline: "Comparison | None" = None
    per_k: dict = field(default_factory=dict, repr=False)  # k -> float32 per item, for every k of the curve
    overlap_k: dict = field(default_factory=dict, repr=False)  # k -> per-item overlap@k (float32)
    # The neighbours behind the values (None for a comparison loaded from the registry):
    # positions into ``pool_rows`` (dataset rows of all shared items), nearest first, self excluded;
    # row i is the item ``rows[i]``.
    graph_a: np.ndarray | None = field(default=None, repr=False)
    graph_b: np.ndarray | None = field(default=None, repr=False)
    pool_rows: np.ndarray | None = field(default=None, repr=False)
    dataset: str | None = None

    def to_dict(self, per_item: bool = False) -> dict:
        """JSON-ready summary (``per_item`` adds ids and values)."""
        d = {"space_a": self.space_a, "space_b": self.space_b, "k": self.k, "similarity": self.mean,
             **self.info}
        if self.baseline is not None:
            d["baseline"] = self.baseline.to_dict(per_item=False)
        if per_item:
            d["items"] = {"id": self.ids.tolist(), "row": self.rows.tolist(),
                          "jaccard": [round(float(x), 6) for x in self.jaccard]}
        return jsonable(d)

    def to_frame(self):
        """Per-item table: id, row (dataset row), jaccard (at ``k``), and jaccard_k<k> for the other k."""
        import pandas as pd

        cols = {"id": self.ids, "row": self.rows, "jaccard": self.jaccard}
        if self.k in self.overlap_k:
            cols["overlap"] = self.overlap_k[self.k]
        cols.update({f"jaccard_k{kk}": v for kk, v in sorted(self.per_k.items()) if kk != self.k})
        cols.update({f"overlap_k{kk}": v for kk, v in sorted(self.overlap_k.items()) if kk != self.k})
        return pd.DataFrame(cols)

    @property
    def figure(self):
        """The per-item Jaccard histogram (and k curve) as a matplotlib Figure, drawn once."""
        if self.__dict__.get("_figure") is None:
            from spacelens.display import comparison_figure

            self.__dict__["_figure"] = comparison_figure(self)
        return self.__dict__["_figure"]

    def _repr_html_(self) -> str:
        """A notebook shows the summary table beside its figure."""
        from spacelens.display import comparison_html

        return comparison_html(self)


@dataclass
class SimilarityMatrix:
    """Mean Jaccard (and linear CKA) between every pair of spaces of a dataset."""

    dataset: str
    spaces: list[str]
    k: int
    jaccard: np.ndarray         # (n, n), 1 on the diagonal
    cka: np.ndarray | None      # (n, n) or None
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        nan = lambda x: None if x is None or (isinstance(x, float) and math.isnan(x)) else x  # noqa: E731
        return {"dataset": self.dataset, "spaces": self.spaces, "k": self.k,
                "jaccard": [[nan(float(v)) for v in r] for r in self.jaccard],
                "cka": None if self.cka is None else [[nan(float(v)) for v in r] for r in self.cka],
                **self.info}


# -- inputs ------------------------------------------------------------------------------

def parse_ks(k) -> list[int]:
    """``10``, ``[1, 5, 10]`` or ``"1,5,10"`` as a sorted list of distinct positive ints."""
    items = k.replace(" ", "").split(",") if isinstance(k, str) else (list(k) if isinstance(k, Sequence) else [k])
    out = []
    for x in items:
        try:
            v = int(x)
            ok = not isinstance(x, bool) and float(x) == v
        except (TypeError, ValueError):
            ok = False
        if not ok or v < 1:
            raise SpacelensError(f"k must be positive whole numbers, got {k!r}", "Pass e.g. -k 10 or -k 1,5,10,50")
        out.append(v)
    if not out:
        raise SpacelensError("No k given", "Pass e.g. -k 10 or -k 1,5,10,50")
    return sorted(set(out))


PRIMARY_K = 10  # the headline k when the curve has it and the user marks none


def primary_k(k, ks: list[int], marked: int | None = None) -> int:
    """The k a comparison's headline (mean, histogram, baseline reading) is read at: the one the
    user ``marked``, else 10 when the curve has it, else the first k given (``-k 50,5``: 50).

    The largest k of a curve is a poor default headline: at k = 50 of a few thousand items most
    pairs of spaces look alike, and the reading against a baseline can flip (0.907 vs 0.915
    "within run-to-run variation" at k = 50, 0.394 vs 0.337 at k = 10).
    """
    if marked is not None:
        return parse_ks(marked)[0]
    if PRIMARY_K in ks:
        return PRIMARY_K
    first = k.replace(" ", "").split(",")[0] if isinstance(k, str) else (list(k)[0] if isinstance(k, Sequence) else k)
    return int(first)


@dataclass
class Alignment:
    """Items shared by two spaces: their dataset rows and their row positions in each space."""

    rows: np.ndarray   # dataset rows, ascending
    pos_a: np.ndarray  # row in space A of each shared item
    pos_b: np.ndarray
    n_a: int
    n_b: int

    @property
    def full_a(self) -> bool:
        return len(self.rows) == self.n_a

    @property
    def full_b(self) -> bool:
        return len(self.rows) == self.n_b

    @property
    def n_dropped(self) -> int:
        return (self.n_a - len(self.rows)) + (self.n_b - len(self.rows))


def align(reg, a, b) -> Alignment:
    """Shared items of spaces ``a`` and ``b`` (records); clear errors when there are none."""
    if a.dataset != b.dataset:
        raise SpacelensError(
            f"Spaces {a.name!r} (dataset {a.dataset!r}) and {b.name!r} (dataset {b.dataset!r}) embed different "
            "datasets, so their items cannot be matched",
            "Compare spaces of one dataset: register both with the same --dataset-name (rows are matched by id)")
    ra, rb = reg.load_rows(a), reg.load_rows(b)
    rows, pa, pb = np.intersect1d(ra, rb, assume_unique=True, return_indices=True)
    if rows.size == 0:
        raise SpacelensError(f"Spaces {a.name!r} and {b.name!r} share no items of dataset {a.dataset!r}",
                             "Compare spaces that embed some of the same items")
    al = Alignment(rows.astype(np.int64), pa.astype(np.int64), pb.astype(np.int64), a.n_rows, b.n_rows)
    if al.n_dropped:
        warnings.warn(
            f"{a.name} and {b.name} cover different items: comparing on the {rows.size:,} shared items, "
            f"dropping {al.n_dropped:,} ({a.n_rows - rows.size:,} only in {a.name}, "
            f"{b.n_rows - rows.size:,} only in {b.name}); neighbours are searched among shared items",
            SpacelensWarning, stacklevel=3)
    return al


def _check_ks(ks: list[int], n: int, what: str) -> None:
    if ks[-1] >= n:
        raise SpacelensError(f"k={ks[-1]} is too large for {n:,} {what}: each item has only {n - 1:,} others",
                             f"Choose k below {n:,}" if n > 1 else "Compare spaces with more items")


def _resolve_engine(engine, approx: bool, engine_params: dict | None, recall: float | None = DEFAULT_RECALL):
    """``(name, params, engine)``: ``auto`` by default, ``ivf`` with ``approx``; approximate engines
    (auto's choice included) tune their effort to ``recall`` unless a fixed effort is given."""
    from spacelens.neighbors import get_engine

    name = engine or (APPROX_DEFAULT if approx else "auto")
    if approx and (name == "auto" or is_exact(name)):
        name = APPROX_DEFAULT
    params = {k: v for k, v in (engine_params or {}).items() if v is not None}
    if (isinstance(name, str) and name in RECALL_ENGINES and recall is not None
            and not any(p in params for p in _EFFORT_PARAMS)):
        params.setdefault("recall", recall)
    eng = get_engine(name, **params)
    return eng.name, params, eng


def _graph(reg, rec, pos, full: bool, m: int, metric: str, engine_name, engine_params, eng):
    """The kNN graph of the shared items (indices are positions among them), and their vectors
    when they are a subset (else None)."""
    from spacelens.neighbors import knn_graph

    if full:  # the space holds exactly the shared items: its cached graph serves
        return knn_graph(reg, rec, m, metric, engine_name, **engine_params), None
    x = np.ascontiguousarray(reg.load_vectors(rec)[pos])
    g = eng.build_graph(x, m, metric, description=f"kNN of {rec.name} on shared items ({metric}, {eng.name}, k={m})")
    return g, x


def _side_recall(g, vectors, eng, m: int, metric: str, n_queries: int, seed: int) -> dict:
    """Recall@m of one graph: 1 for exact graphs, else what its engine measured (with its 95% CI),
    or a fresh measurement for an old approximate graph that kept none."""
    from spacelens.neighbors import measure_recall, recall_at

    if g.exact:
        return {"mean": 1.0, "ci95": [1.0, 1.0], "n_queries": 0, "engine": g.engine, "approximate": False}
    r = recall_at(g.info, m)
    if r is None:
        r = {"mean": measure_recall(vectors(), eng, m, metric, n_queries=n_queries, seed=seed, graph=g),
             "ci95": None, "n_queries": n_queries}
    out = {**r, "engine": g.engine, "approximate": True}
    target = (g.info.get("recall") or {}).get("target")
    if target is not None:
        out.update(target=target, reached=bool(g.info["recall"].get("reached")))
    return out


# -- the comparison ----------------------------------------------------------------------

def compare_spaces(reg, a: str, b: str, k=10, metric_a: str = "cosine", metric_b: str = "cosine",
                   approx: bool = False, sample: int | None = None, include_self: bool = False,
                   engine: str | None = None, engine_params: dict | None = None, seed: int = 0,
                   cka: bool = True, recall_queries: int = 1000, store: bool = True,
                   agreement: bool = True, primary: int | None = None,
                   recall: float | None = DEFAULT_RECALL) -> Comparison:
    """Per-item kNN Jaccard of spaces ``a`` and ``b`` on their shared items.

    ``k``: an int or several (``[1, 5, 10]`` / ``"1,5,10"``): the curve of mean Jaccard over
    k comes from one graph per space built for the largest k. The headline (``.k``, ``.mean``,
    ``.jaccard``, the summary in ``info``) is at the primary k (:func:`primary_k`: ``primary``
    if given, added to the curve when missing; else 10 if in the curve; else the first k).
    ``sample``: exact neighbours of that many random items only (mean with a 95%
    interval). ``engine``: "auto" (default: exact when its estimated time is short, else
    approximate), "exact", "ivf", "hnsw" or "dask", with ``engine_params`` (e.g.
    ``engine="dask", engine_params={"scheduler": ...}``); ``approx``: approximate (``ivf``).
    Approximate graphs are searched until their recall, measured against exact search on
    ``recall_queries`` random items, reaches ``recall``; that recall (with its 95% CI) is in
    ``info["recall"]``, and the mean is re-measured exactly on ``recall_queries`` random items
    (``info["exact_check"]``: estimate and 95% CI of the exact mean). Full (not sampled)
    results are stored as artifact "comparison", one per k.

    Beside the Jaccard, every k of the curve gets overlap@k (``curve[k]["overlap"]``) and,
    with ``agreement`` and full graphs, CKNNA (``curve[k]["cknna"]``; see
    :mod:`spacelens.compare.agreement`); ``cka`` adds linear and unbiased CKA. A figure that is
    undefined (CKA or CKNNA of a space without variance) is None.
    """
    from spacelens.neighbors.metrics import check_metric

    ra, rb = reg.space(a), reg.space(b)
    ks = parse_ks(k)
    kp = primary_k(k, ks, primary)
    ks = sorted(set(ks) | {kp})
    kmax = ks[-1]
    check_metric(metric_a)
    check_metric(metric_b)
    al = align(reg, ra, rb)
    n = len(al.rows)
    _check_ks(ks, n, "shared items" if al.n_dropped else "items")
    if sample is not None and approx:
        raise SpacelensError("--sample already searches exact neighbours for the sampled items",
                             "Drop --approx, or drop --sample to build approximate graphs for all items")
    if sample is not None and (isinstance(sample, bool) or int(sample) < 2):
        raise SpacelensError(f"sample={sample!r} must be at least 2 items", "Pass e.g. --sample 1000")
    engine_name, params, eng = _resolve_engine(engine if sample is None else "exact", approx, engine_params,
                                               recall)
    m = kmax - 1 if include_self else kmax  # neighbours other than self

    info: dict = {"k": kp, "k_max": kmax, "ks": ks, "metric_a": metric_a, "metric_b": metric_b,
                  "include_self": include_self,
                  "engine": engine_name, "engine_params": eng_params_of(eng), "n_items": n,
                  "n_a": al.n_a, "n_b": al.n_b, "n_dropped": al.n_dropped,
                  "chance": chance_jaccard(n, kp, include_self)}
    seconds: dict = {}
    t0 = time.perf_counter()
    if sample is not None:
        sel = sample_rows(n, int(sample), seed)
        if m == 0:
            ga = gb = np.empty((len(sel), 0), np.int64)
        else:
            xa = reg.load_vectors(ra) if al.full_a else np.ascontiguousarray(reg.load_vectors(ra)[al.pos_a])
            xb = reg.load_vectors(rb) if al.full_b else np.ascontiguousarray(reg.load_vectors(rb)[al.pos_b])
            ga, gb = sampled_neighbours(xa, xb, sel, m, metric_a, metric_b)
            del xa, xb
        seconds["neighbours"] = time.perf_counter() - t0
        item_rows = al.rows[sel]
    else:
        sel = None
        sides: dict = {}
        kernels = []
        if m == 0:
            ga = gb = np.empty((n, 0), np.int64)
        else:
            graphs = []
            for rec, pos, full, metric, side in ((ra, al.pos_a, al.full_a, metric_a, "a"),
                                                 (rb, al.pos_b, al.full_b, metric_b, "b")):
                # built for kmax even with include_self (which uses kmax - 1 others): the cached
                # graph then also serves the default convention at the same k
                g, x = _graph(reg, rec, pos, full, kmax, metric, engine_name, params, eng)
                sides[side] = _side_recall(g, (lambda r=rec, x=x: reg.load_vectors(r) if x is None else x),
                                           eng, m, metric, min(recall_queries, n), seed)
                graphs.append(np.asarray(g.indices)[:, :m])
                if agreement and m >= 2:
                    kern = kernel_from_distances(g.distances[:, :m], metric) if g.distances.shape[1] >= m else None
                    if kern is None:
                        vec = reg.load_vectors(rec) if x is None else x
                        # l2: inner products of the centred rows (translating a space moves no distance)
                        mu = vec.mean(axis=0, dtype=np.float64) if metric == "l2" else None
                        kern = edge_kernel(vec, graphs[-1], normalize=metric == "cosine", center=mu)
                    kernels.append(kern)
                del x
            ga, gb = graphs
        seconds["graphs"] = time.perf_counter() - t0
        item_rows = al.rows
        used = {s_["engine"] for s_ in sides.values()}
        approximate = any(s_["approximate"] for s_ in sides.values())
        if used:
            engine_name = next((s_["engine"] for s_ in sides.values() if s_["approximate"]), sorted(used)[0])
            info["engine"] = engine_name
            info["engine_params"] = params if approximate or engine_name == eng.name else {}
            info["graph_engines"] = {side: s_["engine"] for side, s_ in sides.items()}
        if approximate:
            ra_, rb_ = sides["a"], sides["b"]
            low = [(s_["ci95"] or [s_["mean"]])[0] for s_ in (ra_, rb_)]
            info["recall"] = {"a": ra_["mean"], "b": rb_["mean"], "k": m,
                              "ci95": {"a": ra_["ci95"], "b": rb_["ci95"]},
                              "n_queries": max(ra_["n_queries"], rb_["n_queries"]),
                              "target": ra_.get("target", rb_.get("target")),
                              "reached": all(s_.get("reached", True) for s_ in (ra_, rb_)),
                              # from the lower ends of the recall intervals: a bound that holds at 95%
                              "max_error": max_error_from_recall(low[0], low[1], kmax)}
            if not info["recall"]["reached"]:
                warnings.warn(f"An approximate graph missed its recall target {info['recall']['target']:g} (recall@{m}: "
                              f"{ra_['mean']:.3f} for {ra.name}, {rb_['mean']:.3f} for {rb.name}): the mean "
                              f"Jaccard below may be off by up to {info['recall']['max_error']:.3f}; the exact "
                              "re-measurement on a random sample is reported beside it", SpacelensWarning,
                              stacklevel=2)

    t1 = time.perf_counter()
    curve = k_curve(ga, gb, ks, include_self)
    seconds["jaccard"] = time.perf_counter() - t1
    values = curve[kp]
    info.update(summarize(values, kp, include_self))
    overlaps = {kk: _overlap(ga, gb, kk, include_self) for kk in curve}
    info["curve"] = {str(kk): {"mean": float(v.mean(dtype=np.float64)), "chance": chance_jaccard(n, kk, include_self),
                               "overlap": float(overlaps[kk].mean(dtype=np.float64)) if len(v) else float("nan"),
                               "overlap_chance": chance_overlap(n, kk, include_self)}
                     for kk, v in curve.items()}
    info["overlap"] = info["curve"][str(kp)]["overlap"]
    if sample is None and agreement and len(kernels) == 2:
        t3 = time.perf_counter()
        for kk in curve:
            mk = kk - 1 if include_self else kk
            info["curve"][str(kk)]["cknna"] = _defined(cknna(ga, gb, kernels[0], kernels[1], mk)) if mk >= 2 else None
        info["cknna"] = info["curve"][str(kp)]["cknna"]
        seconds["cknna"] = time.perf_counter() - t3
        del kernels
    if sample is None and "recall" in info and m > 0:
        mp = kp - 1 if include_self else kp
        info["exact_check"] = _exact_check(reg, ra, rb, al, values, kp, mp, metric_a, metric_b, include_self,
                                           min(recall_queries, n), seed)
    if sample is not None:
        mean, lo, hi = mean_ci(values, population=n)
        info["sample"] = {"n": int(len(sel)), "seed": seed, "ci95": [lo, hi]}
        for kk, v in curve.items():
            info["curve"][str(kk)]["ci95"] = list(mean_ci(v, population=n)[1:])
            info["curve"][str(kk)]["overlap_ci95"] = list(mean_ci(overlaps[kk], population=n)[1:])

    if cka:
        t2 = time.perf_counter()
        pa, pb = al.pos_a, al.pos_b
        if sample is not None and n > CKA_SAMPLE_MAX:
            pick = sample_rows(n, CKA_SAMPLE_MAX, seed + 1)
            pa, pb = pa[pick], pb[pick]
        va, vb = reg.load_vectors(ra), reg.load_vectors(rb)
        both = cka_pair(va, vb, None if al.full_a and len(pa) == n else pa,
                        None if al.full_b and len(pb) == n else pb,
                        normalize_x=metric_a == "cosine", normalize_y=metric_b == "cosine")
        info["cka"], info["cka_unbiased"] = _defined(both["linear"]), _defined(both["unbiased"])
        info["cka_items"] = int(len(pa))
        seconds["cka"] = time.perf_counter() - t2
    info["seconds"] = {key: round(v, 3) for key, v in seconds.items()}

    ids = reg.load_ids(ra.dataset)[item_rows]
    result = Comparison(ra.name, rb.name, kp, float(info["mean"]), ids, item_rows, values, info, per_k=curve,
                        overlap_k=overlaps, graph_a=ga, graph_b=gb, pool_rows=al.rows, dataset=ra.dataset)
    if store and sample is None:
        for kk, v in curve.items():
            per_k = {**info, "k": kk, **summarize(v, kk, include_self), "chance": chance_jaccard(n, kk, include_self),
                     "overlap": info["curve"][str(kk)]["overlap"], "cknna": info["curve"][str(kk)].get("cknna")}
            reg.put_artifact(KIND, ra, _params(kk, metric_a, metric_b, include_self, info["engine"],
                                               info["engine_params"]),
                             {"rows": item_rows, "jaccard": v, "overlap": overlaps[kk]}, info=jsonable(per_k),
                             other=rb)
    return result


def _defined(x: float) -> float | None:
    """A figure that is undefined (NaN: e.g. CKA of a space without variance) as None, as the
    CLI, the report and JSON show it ("-", null), never as a NaN number."""
    return None if x is None or not math.isfinite(x) else float(x)


def _overlap(ga: np.ndarray, gb: np.ndarray, k: int, include_self: bool) -> np.ndarray:
    """overlap@k per item; with ``include_self`` self is one of the k and always shared."""
    m = k - 1 if include_self else k
    if m == 0:
        return np.ones(ga.shape[0], np.float32)
    o = overlap(ga, gb, m)
    return ((o * m + 1) / k).astype(np.float32) if include_self else o


def _exact_check(reg, ra, rb, al, values, k, m, metric_a, metric_b, include_self, n_sample, seed) -> dict:
    """The mean Jaccard re-measured with exact neighbours on ``n_sample`` random items: an
    unbiased estimate of the exact mean with its 95% CI, to read the approximate graphs' mean against."""
    from spacelens.compare.sampled import exact_check

    xa = reg.load_vectors(ra) if al.full_a else np.ascontiguousarray(reg.load_vectors(ra)[al.pos_a])
    xb = reg.load_vectors(rb) if al.full_b else np.ascontiguousarray(reg.load_vectors(rb)[al.pos_b])
    return exact_check(xa, xb, values, k, metric_a, metric_b, include_self, n_sample, seed + 2)


def max_error_from_recall(recall_a: float, recall_b: float, k: int) -> float:
    """Bound on |approximate - exact| mean Jaccard implied by the engines' recall@k.

    One wrong neighbour in either set moves an item's Jaccard s / (2k - s) by at most
    2 / (k + 1) (the step from s = k - 1 to k), and an engine with recall r gets
    (1 - r) k neighbours wrong per item on average, so the mean moves by at most
    2k / (k + 1) * ((1 - r_a) + (1 - r_b)).
    """
    return float(min(1.0, 2 * k / (k + 1) * ((1 - recall_a) + (1 - recall_b))))


def eng_params_of(eng) -> dict:
    from spacelens.neighbors import engine_params

    return engine_params(eng)


def _params(k, metric_a, metric_b, include_self, engine_name, engine_params: dict) -> dict:
    return {"k": int(k), "metric_a": metric_a, "metric_b": metric_b, "include_self": bool(include_self),
            "engine": engine_name, "engine_params": dict(engine_params)}


def load_comparison(reg, a: str, b: str, k: int = 10, metric_a: str | None = None, metric_b: str | None = None,
                    include_self: bool | None = None) -> Comparison | None:
    """A stored comparison of ``a`` and ``b`` at ``k``, whichever way round it was computed.

    Jaccard is symmetric, so a comparison stored as (b, a) serves (a, b) with the metrics
    swapped. Among several (metrics, engines), exact and self-excluded ones come first.
    """
    found = []
    for art in reg.find_artifacts(kind=KIND, space=a):
        p = art.params
        if p.get("k") != k:
            continue
        if art.space == a and art.other_space == b:
            ma, mb, swapped = p.get("metric_a"), p.get("metric_b"), False
        elif art.space == b and art.other_space == a:
            ma, mb, swapped = p.get("metric_b"), p.get("metric_a"), True
        else:
            continue
        if (metric_a and ma != metric_a) or (metric_b and mb != metric_b):
            continue
        if include_self is not None and bool(p.get("include_self")) != include_self:
            continue
        found.append((bool(p.get("include_self")), not is_exact(p.get("engine")), ma != "cosine" or mb != "cosine",
                      -art.id, art, ma, mb, swapped))
    if not found:
        return None
    *_, art, ma, mb, swapped = min(found, key=lambda t: t[:4])
    rows = np.asarray(reg.load_artifact(art, "rows", mmap=False))
    values = np.asarray(reg.load_artifact(art, "jaccard", mmap=False))
    info = dict(art.info)
    info["metric_a"], info["metric_b"] = ma, mb
    if swapped and "n_a" in info:
        info["n_a"], info["n_b"] = info.get("n_b"), info.get("n_a")
    dataset = reg.space(a).dataset
    over = {k: np.asarray(reg.load_artifact(art, "overlap", mmap=False))} if "overlap" in art.files else {}
    return Comparison(a, b, k, float(info.get("mean", float(values.mean(dtype=np.float64)))), reg.load_ids(dataset)[rows], rows,
                      values, info, per_k={k: values}, overlap_k=over, dataset=dataset)


# -- baseline --------------------------------------------------------------------------

def _band(ab: float, aa2: float) -> str | None:
    """Where A-vs-B stands against A-vs-A2: "above", "within" (10% either way) or "below"."""
    if not (aa2 > 0 and math.isfinite(ab)):
        return None
    r = ab / aa2
    return "above" if r > 1.1 else "within" if r >= 0.9 else "below"


def baseline_verdict(ab: float, aa2: float) -> str:
    """A few words for one k of the curve: how A-vs-B reads against A-vs-A2 (A2: A reseeded)."""
    band = _band(ab, aa2)
    if band is None:
        return "no baseline (the reseeded run is at chance)"
    if band == "above":
        return "more alike than reseeding"
    if band == "within":
        return "within run-to-run variation"
    return f"beyond reseeding ({aa2 / ab:.1f}x lower)" if ab > 0 else "beyond reseeding (no shared neighbours)"


def read_baseline(ab: float, aa2: float, a: str, b: str, a2: str, k: int | None = None) -> str:
    """One line putting A-vs-B in the context of A-vs-A2 (A2: the same recipe, reseeded)."""
    at = f" at k = {k}" if k is not None else ""
    band = _band(ab, aa2)
    if band is None:
        return (f"{a} and its reseeded run {a2} share no neighbours beyond chance{at}: "
                "there is no baseline to read against")
    if band == "above":
        return (f"{a} agrees more with {b} ({ab:.3f}) than with its own reseeded run {a2} ({aa2:.3f}){at}: "
                f"the two spaces are as alike as run-to-run noise allows")
    if band == "within":
        return (f"{a} vs {b} ({ab:.3f}) is about the same as {a} vs its reseeded run {a2} ({aa2:.3f}){at}: "
                f"the difference between the spaces is within run-to-run variation")
    return (f"{a} vs {b} ({ab:.3f}) is {aa2 / ab if ab > 0 else math.inf:.1f}x lower than {a} vs its reseeded run "
            f"{a2} ({aa2:.3f}){at}: {b} differs from {a} beyond what reseeding alone does")


def compare_with_baseline(reg, a: str, b: str, baseline: str | None = None, **kwargs) -> Comparison:
    """:func:`compare_spaces`, plus A-vs-``baseline`` (a reseeded run of A) in ``.baseline``.

    ``info["baseline_reading"]`` reads A-vs-B against it at the primary k; with a k curve,
    ``info["curve"][k]`` also holds ``baseline`` (A-vs-A2 at that k) and ``reading``, since
    the reading can differ from one k to another. ``info["baseline_difference"]``: per k, the
    per-item agreement with B minus that with the baseline, with a paired 95% interval and a
    reading (:func:`~spacelens.compare.insight.baseline_difference`).
    """
    res = compare_spaces(reg, a, b, **kwargs)
    if baseline:
        kw = {**kwargs, "metric_b": kwargs.get("metric_a", "cosine")}
        base = compare_spaces(reg, a, baseline, **kw)
        res.baseline = base
        res.info["baseline_reading"] = read_baseline(res.mean, base.mean, a, b, baseline, res.k)
        for kk, point in res.info.get("curve", {}).items():
            aa2 = base.info.get("curve", {}).get(kk, {}).get("mean")
            if aa2 is not None:
                point["baseline"] = aa2
                point["reading"] = baseline_verdict(point["mean"], aa2)
        from spacelens.compare.insight import baseline_difference

        res.info["baseline_difference"] = baseline_difference(res, base)
    return res


# -- all pairs ---------------------------------------------------------------------------

def compare_all(reg, dataset: str, k: int = 10, metric: str = "cosine", approx: bool = False,
                include_self: bool = False, engine: str | None = None, engine_params: dict | None = None,
                cka: bool = True, seed: int = 0, store: bool = True,
                recall: float | None = DEFAULT_RECALL) -> SimilarityMatrix:
    """Mean Jaccard (and linear CKA) between every pair of spaces of ``dataset``.

    One cached graph per space serves all pairs of spaces that cover the same items; a pair
    over different items is compared on its shared items (searched for that pair). With
    approximate graphs, ``info["recall"]`` holds each space's measured recall. Spaces whose
    vectors were pruned (``spacelens prune``) are left out, named in ``info["pruned"]``.
    """
    reg.dataset(dataset)  # NotFoundError with the known names
    every = reg.spaces_of(dataset=dataset)
    spaces = [s for s in every if s.pruned_at is None]
    pruned = [s.name for s in every if s.pruned_at is not None]
    if len(spaces) < 2:
        gone = f" ({len(pruned)} more had their vectors pruned: {', '.join(pruned[:3])}{', …' if len(pruned) > 3 else ''})" \
            if pruned else ""
        raise SpacelensError(f"Dataset {dataset!r} has {len(spaces)} space(s) with vectors{gone}; a matrix needs at "
                             "least two", "Register more spaces of it with 'spacelens add'")
    ks = parse_ks(k)
    if len(ks) != 1:
        raise SpacelensError("compare --all takes one k", "Pass e.g. -k 10")
    k = ks[0]
    from spacelens.neighbors import knn_graph

    engine_name, params, eng = _resolve_engine(engine, approx, engine_params, recall)
    m = k - 1 if include_self else k
    names = [s.name for s in spaces]
    recalls: dict[str, dict] = {}
    n_sp = len(spaces)
    jac = np.eye(n_sp)
    ck = np.eye(n_sp) if cka else None
    rows = [reg.load_rows(s) for s in spaces]
    graphs: dict = {}
    pairs = {}
    t0 = time.perf_counter()
    for i in range(n_sp):
        for j in range(i + 1, n_sp):
            a, b = spaces[i], spaces[j]
            if len(rows[i]) == len(rows[j]) and np.array_equal(rows[i], rows[j]):
                n = len(rows[i])
                _check_ks([k], n, "items")
                for t in (i, j):
                    if t not in graphs:
                        graphs[t] = knn_graph(reg, spaces[t], k, metric, engine_name, **params)
                        if not graphs[t].exact:
                            recalls[spaces[t].name] = _side_recall(graphs[t], lambda t=t: reg.load_vectors(spaces[t]),
                                                                   eng, m, metric, 1000, seed)
                gi, gj = graphs[i], graphs[j]
                values = k_curve(np.asarray(gi.indices)[:, :m], np.asarray(gj.indices)[:, :m], [k], include_self)[k]
                used = next((g.engine for g in (gi, gj) if not g.exact), gi.engine)
                used_params = params if used == eng.name or not (gi.exact and gj.exact) else {}
                info = {"k": k, "ks": [k], "metric_a": metric, "metric_b": metric, "include_self": include_self,
                        "engine": used, "engine_params": used_params, "n_items": n, "n_a": n,
                        "n_b": n, "n_dropped": 0, "chance": chance_jaccard(n, k, include_self),
                        **summarize(values, k, include_self)}
                if cka:
                    va, vb = reg.load_vectors(a), reg.load_vectors(b)
                    info["cka"] = linear_cka(va, vb, normalize_x=metric == "cosine", normalize_y=metric == "cosine")
                if store:
                    reg.put_artifact(KIND, a, _params(k, metric, metric, include_self, used, used_params),
                                     {"rows": rows[i], "jaccard": values}, info=jsonable(info), other=b)
                mean = float(values.mean(dtype=np.float64))
            else:
                res = compare_spaces(reg, a.name, b.name, k, metric, metric, approx=approx,
                                     include_self=include_self, engine=engine, engine_params=engine_params,
                                     seed=seed, cka=cka, store=store, recall=recall)
                info, mean = res.info, res.mean
            jac[i, j] = jac[j, i] = mean
            if cka:
                v = info.get("cka")
                ck[i, j] = ck[j, i] = float("nan") if v is None else v
            pairs[f"{a.name}|{b.name}"] = {"n_items": info["n_items"], "n_dropped": info["n_dropped"]}
    used = sorted({g.engine for g in graphs.values()}) or [engine_name]
    out = {"metric": metric, "engine": "+".join(used), "include_self": include_self,
           "pairs": pairs, "seconds": round(time.perf_counter() - t0, 3)}
    if recalls:
        out["recall"] = jsonable(recalls)
    if pruned:
        out["pruned"] = pruned
    return SimilarityMatrix(dataset, names, k, jac, ck, out)
