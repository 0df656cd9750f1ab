"""The kNN graph of a space, computed once and kept in the registry, shared by every consumer.

One artifact "knn_graph" per (space, metric, engine, engine settings) holds the largest k
computed so far (``info["k_max"]``); any smaller k is its first columns. A graph is built
for at least ``SHARED_K`` neighbours (when that many fit: ``SHARED_MAX_ENTRIES``), enough for
compare (k up to 50), UMAP's neighbours and the faithfulness measures, so ``compare``,
``project``, ``evaluate`` and the page reuse one graph instead of rebuilding it for each k.
Approximate graphs keep what their engine measured (``info["recall"]``: recall against exact
neighbours on a random sample of rows, its 95% interval, the target and whether it was
reached). The graph is computed in memory and then stored in one atomic step: an interrupted
build leaves no partial cache.

The ``auto`` engine (the default) first looks for any stored graph that serves: an exact one,
or an approximate one whose target recall is at least the one asked for; else it chooses
exact or approximate by the estimated cost (:mod:`~spacelens.neighbors.auto`). A request
for a named approximate engine with a recall target (ivf, hnsw; compare's default) is served by
that engine's graph, else by any stored exact graph (recall 1 meets every target); a named
exact engine, or an approximate one at a fixed effort (nprobe, ef_search), by its own graph
only (asking for one engine's graph by name is how engines are checked against each other). So a request for k <= a stored graph's k_max never
rebuilds. A larger k rebuilds once, for max(k, 50), and replaces the smaller graph, which then
serves every smaller k. What the rebuild reuses (docs/graphs.md has the measurements):

- exact engines: nothing. Neighbours 51..80 of an item can be any rows, so finding them costs
  the whole N x N x d search again; the stored top 50 does not prune it.
- IVF: the k-means centroids (stored with the graph, ``ivf_centroids``: nlist x d floats), so
  the index is not trained again; its lists are filled, the search effort is tuned and the
  recall measured afresh at the new k (the effort tuned for 50 neighbours says nothing sure
  about 80: recall at a fixed nprobe falls as k grows).
"""

from __future__ import annotations

import copy
import time

import numpy as np

from spacelens.neighbors.approx import IvfEngine
from spacelens.neighbors.auto import AutoEngine, with_exact_fallback
from spacelens.neighbors.base import Engine, KnnGraph
from spacelens.neighbors.engines import EXACT_ENGINES, engine_params, get_engine
from spacelens.neighbors.exact import check_k
from spacelens.neighbors.metrics import check_metric

KIND = "knn_graph"
SHARED_K = 50                  # graphs are built for at least this many neighbours ...
SHARED_MAX_ENTRIES = 1 << 27   # ... when n x SHARED_K stays within this (512 MB of indices + distances)
_GRAPH_INFO = ("approximate", "recall", "nprobe", "ef_search", "tuning", "fallback")


def graph_key(metric: str, engine) -> dict:
    """The artifact params of a graph: metric, engine name and its result-changing settings."""
    return {"metric": metric, "engine": engine.name, **engine_params(engine)}


def shared_k(n_rows: int, k: int) -> int:
    """The k a graph of ``n_rows`` rows is built for when ``k`` is asked: at least :data:`SHARED_K`."""
    if n_rows * SHARED_K > SHARED_MAX_ENTRIES:
        return k
    return max(k, min(SHARED_K, n_rows - 1))


def _space(reg, space):
    return reg.space(space) if isinstance(space, str) else space


def _usable(art, rec, k: int) -> bool:
    info = art.info or {}
    return (info.get("k_max", 0) >= k and info.get("n_rows", rec.n_rows) == rec.n_rows
            and info.get("content_hash", rec.content_hash) == rec.content_hash)


def _is_exact(art) -> bool:
    return art.params.get("engine") in EXACT_ENGINES and not (art.info or {}).get("approximate")


def _serves(art, recall: float | None) -> bool:
    """An exact graph serves any request; an approximate one a recall no higher than it reached."""
    if _is_exact(art):
        return True
    rec = (art.info or {}).get("recall") or {}
    if recall is None or not rec:
        return False
    return bool(rec.get("reached")) and float(rec.get("target", 0)) >= recall


def _load(reg, art, k: int, metric: str, engine: str) -> KnnGraph:
    idx = reg.load_artifact(art, "indices")
    dist = reg.load_artifact(art, "distances")
    info = {key: art.info[key] for key in _GRAPH_INFO if key in (art.info or {})}
    if not _is_exact(art):
        info["approximate"] = True
    g = KnnGraph(idx, dist, metric, engine, info)
    return g if g.k == k else KnnGraph(np.ascontiguousarray(idx[:, :k]), np.ascontiguousarray(dist[:, :k]),
                                       metric, engine, info)


def _find_serving(reg, rec, k: int, metric: str, recall: float | None):
    """The best stored graph for ``auto``: exact first, then the newest approximate one that serves."""
    arts = [a for a in reg.find_artifacts(kind=KIND, space=rec.name)
            if a.space == rec.name and a.params.get("metric") == metric and _usable(a, rec, k)
            and _serves(a, recall)]
    arts.sort(key=lambda a: (not _is_exact(a), -a.id))
    return arts[0] if arts else None


def _exact_serves(eng) -> bool:
    """Whether a stored exact graph answers a request to ``eng``: one for a recall target."""
    return bool(eng.approximate and getattr(eng, "recall", None) is not None)


def _find_exact(reg, rec, k: int, metric: str):
    """A stored exact graph (any exact engine) with at least ``k`` neighbours, newest first."""
    arts = [a for a in reg.find_artifacts(kind=KIND, space=rec.name)
            if a.space == rec.name and a.params.get("metric") == metric and _usable(a, rec, k) and _is_exact(a)]
    arts.sort(key=lambda a: -a.id)
    return arts[0] if arts else None


def _reuse_training(reg, eng, art, rec):
    """``eng``, or a copy of it that starts from the k-means centroids stored with ``art`` (this
    engine's graph of the same vectors, too narrow for the k asked) instead of training again.

    Sound whatever the centroids: any centroids make a valid IVF index, and the search effort
    is tuned and the recall measured on the graph this build makes. Retraining would give the
    same centroids anyway (faiss's k-means is seeded), so this only saves the training time.
    """
    if art is None or not isinstance(eng, IvfEngine) or "ivf_centroids" not in art.files:
        return eng
    info = art.info or {}
    if info.get("n_rows") != rec.n_rows or info.get("content_hash") != rec.content_hash:
        return eng
    twin = copy.copy(eng)   # the caller's engine keeps training for other vectors
    twin.centroids = np.array(reg.load_artifact(art, "ivf_centroids"), dtype=np.float32)
    return twin


def graph_available(reg, space, k: int, metric: str = "cosine", recall: float | None = None) -> bool:
    """Whether a stored graph would serve ``knn_graph(space, k, metric)`` under the auto engine
    (an exact one, or an approximate one that reached ``recall``, default 0.95): reads records
    only, loads no array (budget estimates ask this of every space)."""
    from spacelens.neighbors.auto import DEFAULT_RECALL

    rec = _space(reg, space)
    return _find_serving(reg, rec, k, check_metric(metric), DEFAULT_RECALL if recall is None else recall) is not None


def cached_graph(reg, space, k: int, metric: str = "cosine", engine: str | Engine | None = "exact",
                 **engine_params_) -> KnnGraph | None:
    """A stored graph with at least ``k`` neighbours, or None (never computes).

    ``engine=None`` accepts any engine's graph, preferring exact ones; ``"auto"`` an exact
    graph or an approximate one that reached at least the ``recall`` asked for.
    """
    rec = _space(reg, space)
    check_metric(metric)
    if engine is not None:
        eng = get_engine(engine, **engine_params_)
        if isinstance(eng, AutoEngine):
            art = _find_serving(reg, rec, k, metric, eng.recall)
            return _load(reg, art, k, metric, art.params.get("engine", "?")) if art is not None else None
        art = reg.get_artifact(KIND, rec, graph_key(metric, eng))
        if art is not None and _usable(art, rec, k):
            return _load(reg, art, k, metric, eng.name)
        art = _find_exact(reg, rec, k, metric) if _exact_serves(eng) else None
        return _load(reg, art, k, metric, art.params.get("engine", "?")) if art is not None else None
    arts = [a for a in reg.find_artifacts(kind=KIND, space=rec.name)
            if a.space == rec.name and a.params.get("metric") == metric and _usable(a, rec, k)]
    arts.sort(key=lambda a: (not _is_exact(a), -a.id))
    return _load(reg, arts[0], k, metric, arts[0].params.get("engine", "?")) if arts else None


def knn_graph(reg, space, k: int, metric: str = "cosine", engine: str | Engine = "auto", k_max: int | None = None,
              **engine_params_) -> KnnGraph:
    """The k nearest neighbours of every row of ``space`` (self excluded), cached.

    ``engine``: a name ("auto", "exact", "ivf", "hnsw", "dask") with its settings as keyword
    arguments (e.g. ``recall=0.99`` for auto or ivf), or an engine instance. A graph that has
    to be built is built for ``k_max`` neighbours (default :func:`shared_k`: at least 50, so
    that other consumers reuse it) and returned cut to ``k``. Rows are the space's rows: map
    them to dataset rows with ``reg.load_rows(space)`` and to ids with ``reg.space_ids(space)``.
    """
    rec = _space(reg, space)
    metric = check_metric(metric)
    k = check_k(k, rec.n_rows, self_excluded=True)
    eng = get_engine(engine, **engine_params_)
    build_k = shared_k(rec.n_rows, k)
    if k_max is not None:
        build_k = check_k(max(k, int(k_max)), rec.n_rows, self_excluded=True)
    label = f"kNN graph of {rec.name}"
    if isinstance(eng, AutoEngine):
        art = _find_serving(reg, rec, k, metric, eng.recall)
        if art is not None:
            return _load(reg, art, k, metric, art.params.get("engine", "?"))
        eng = eng.choose(rec.n_rows, rec.n_rows, rec.dim, build_k, f"{label} ({rec.n_rows:,} x {rec.dim})")
    key = graph_key(metric, eng)
    own = reg.get_artifact(KIND, rec, key)
    if own is not None and _usable(own, rec, k):
        return _load(reg, own, k, metric, eng.name)
    art = _find_exact(reg, rec, k, metric) if _exact_serves(eng) else None   # recall 1 >= any target
    if art is not None:
        return _load(reg, art, k, metric, art.params.get("engine", "?"))

    eng = _reuse_training(reg, eng, own, rec)
    vectors = reg.load_vectors(rec)
    t0 = time.perf_counter()
    # an engine the auto engine chose may find, once tuned, that exact is cheaper: then exact runs
    eng, g = with_exact_fallback(eng, lambda e: e.build_graph(
        vectors, build_k, metric, description=f"{label} ({metric}, {e.name}, k={build_k})"))
    key = graph_key(metric, eng)
    seconds = time.perf_counter() - t0
    idx = np.ascontiguousarray(g.indices, dtype=np.int32)
    dist = np.ascontiguousarray(g.distances, dtype=np.float32)
    info = {"k_max": build_k, "seconds": round(seconds, 3), "n_rows": rec.n_rows,
            "content_hash": rec.content_hash, **{key_: g.info[key_] for key_ in _GRAPH_INFO if key_ in g.info}}
    arrays = {"indices": idx, "distances": dist}
    if getattr(eng, "last_centroids", None) is not None:
        arrays["ivf_centroids"] = np.ascontiguousarray(eng.last_centroids, dtype=np.float32)
    reg.put_artifact(KIND, rec, key, arrays, info=info)
    full = KnnGraph(idx, dist, metric, eng.name, dict(g.info))
    return full if build_k == k else KnnGraph(np.ascontiguousarray(idx[:, :k]), np.ascontiguousarray(dist[:, :k]),
                                              metric, eng.name, dict(g.info))
