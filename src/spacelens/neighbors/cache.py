"""The kNN graph of a space, computed once and kept in the registry.

One artifact "knn_graph" per (space, metric, engine, engine settings) holds the largest k
computed so far (``info["k_max"]``); any smaller k is its first columns. So comparing one
space with five others builds six graphs, not ten. The graph is computed in memory and then
stored in one atomic step: an interrupted build leaves no partial cache.
"""

from __future__ import annotations

import time

import numpy as np

from spacelens.neighbors.base import KnnGraph
from spacelens.neighbors.engines import engine_params, get_engine
from spacelens.neighbors.exact import check_k
from spacelens.neighbors.metrics import check_metric

KIND = "knn_graph"


def graph_key(metric: str, engine) -> dict:
    """The artifact params of a graph: metric, engine name and its result-changing settings."""
    return {"metric": metric, "engine": engine.name, **engine_params(engine)}


def _space(reg, space):
    return reg.space(space) if isinstance(space, str) else space


def _usable(art, rec, k: int) -> bool:
    info = art.info or {}
    return (info.get("k_max", 0) >= k and info.get("n_rows", rec.n_rows) == rec.n_rows
            and info.get("content_hash", rec.content_hash) == rec.content_hash)


def _load(reg, art, k: int, metric: str, engine: str) -> KnnGraph:
    idx = reg.load_artifact(art, "indices")
    dist = reg.load_artifact(art, "distances")
    g = KnnGraph(idx, dist, metric, engine)
    return g if g.k == k else KnnGraph(np.ascontiguousarray(idx[:, :k]), np.ascontiguousarray(dist[:, :k]),
                                       metric, engine)


def cached_graph(reg, space, k: int, metric: str = "cosine", engine: str | None = "exact",
                 **engine_params_) -> KnnGraph | None:
    """A stored graph with at least ``k`` neighbours, or None (never computes).

    ``engine=None`` accepts any engine's graph, preferring exact ones.
    """
    rec = _space(reg, space)
    check_metric(metric)
    if engine is not None:
        eng = get_engine(engine, **engine_params_)
        art = reg.get_artifact(KIND, rec.name, graph_key(metric, eng))
        return _load(reg, art, k, metric, eng.name) if art is not None and _usable(art, rec, k) else None
    arts = [a for a in reg.find_artifacts(kind=KIND, space=rec.name)
            if a.space == rec.name and a.params.get("metric") == metric and _usable(a, rec, k)]
    arts.sort(key=lambda a: (a.params.get("engine") != "exact", -a.id))
    return _load(reg, arts[0], k, metric, arts[0].params.get("engine", "?")) if arts else None


def knn_graph(reg, space, k: int, metric: str = "cosine", engine="exact", **engine_params_) -> KnnGraph:
    """The k nearest neighbours of every row of ``space`` (self excluded), cached.

    ``engine``: a name ("exact", "hnsw", "ivf", "dask") with its settings as keyword
    arguments, or an engine instance. Rows are the space's rows: map them to dataset rows
    with ``reg.load_rows(space)`` and to ids with ``reg.space_ids(space)``.
    """
    rec = _space(reg, space)
    metric = check_metric(metric)
    k = check_k(k, rec.n_rows, self_excluded=True)
    eng = get_engine(engine, **engine_params_) if isinstance(engine, str) else engine
    key = graph_key(metric, eng)
    art = reg.get_artifact(KIND, rec.name, key)
    if art is not None and _usable(art, rec, k):
        return _load(reg, art, k, metric, eng.name)

    vectors = reg.load_vectors(rec)
    t0 = time.perf_counter()
    kwargs = {"description": f"kNN graph of {rec.name} ({metric}, {eng.name}, k={k})"}
    try:
        idx, dist = eng.search(vectors, vectors, k, metric, query_rows=np.arange(rec.n_rows), **kwargs)
    except TypeError as exc:  # an engine without the description keyword
        if "description" not in str(exc):
            raise
        idx, dist = eng.search(vectors, vectors, k, metric, query_rows=np.arange(rec.n_rows))
    seconds = time.perf_counter() - t0
    idx = np.ascontiguousarray(idx, dtype=np.int32)
    dist = np.ascontiguousarray(dist, dtype=np.float32)
    reg.put_artifact(KIND, rec, key, {"indices": idx, "distances": dist},
                     info={"k_max": k, "seconds": round(seconds, 3), "n_rows": rec.n_rows,
                           "content_hash": rec.content_hash})
    return KnnGraph(idx, dist, metric, eng.name)
