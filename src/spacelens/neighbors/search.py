"""Named search indexes over a space, and looking up one item's neighbours.

A named index is a faiss index serialised into the registry (artifact kind "index",
``name`` = the index name), built by ``spacelens embeddings load``. :func:`query` answers
"what is near this item?" from the cheapest exact source: a cached kNN graph when one has
enough neighbours, else one exact pass over the space (O(n·d), well under a second for 1M
x 512). A named HNSW/IVF index of the space is used only when no exact answer is cached
and the caller asks for it (``use_index=True``), and the result says which source answered.
"""

from __future__ import annotations

import difflib
import time

import numpy as np

from spacelens.errors import NotFoundError, SpacelensError
from spacelens.jsonable import jsonable
from spacelens.neighbors.cache import cached_graph
from spacelens.neighbors.engines import INDEX_MODELS, get_engine, is_exact
from spacelens.neighbors.exact import ExactEngine, check_k, prepare_search
from spacelens.neighbors.metrics import check_metric, faiss_metric, prepare

KIND = "index"
MODELS = INDEX_MODELS   # the engines that can be stored as a named index


def _index_record(art) -> dict:
    return {"name": art.name, "space": art.space, "model": art.params.get("model"),
            "similarity": art.params.get("similarity"),
            "params": {k: v for k, v in art.params.items() if k not in ("name", "model", "similarity")},
            **{k: art.info.get(k) for k in ("n_rows", "dim", "bytes", "seconds")},
            "created_at": art.created_at}


def build_index(reg, index_name: str, space, model: str = "exact", similarity: str = "cosine",
                **params) -> dict:
    """Build a faiss index of ``space`` and store it under ``index_name`` (replacing one of that name).

    ``model``: "exact" (flat), "hnsw" or "ivf"; ``params``: the engine's settings
    (``M``, ``ef_construction``, ``ef_search``; ``nlist``, ``nprobe``).
    """
    import faiss

    from spacelens.registry import validate_name

    validate_name(index_name, "index name")
    if model not in MODELS:
        raise SpacelensError(f"Unknown index model {model!r}", f"Use one of: {', '.join(MODELS)}")
    check_metric(similarity)
    rec = reg.space(space) if isinstance(space, str) else space
    eng = get_engine(model, **params)
    t0 = time.perf_counter()
    vec = prepare(reg.load_vectors(rec), similarity)
    if is_exact(model):
        index = faiss.IndexFlat(rec.dim, faiss_metric(similarity))
        index.add(vec)
    else:
        index = eng.build(vec, similarity, description=f"Building {model} index {index_name}")
    blob = faiss.serialize_index(index)
    seconds = time.perf_counter() - t0
    old = reg.find_artifacts(kind=KIND, name=index_name)
    art = reg.put_artifact(KIND, rec, {"name": index_name, "model": model, "similarity": similarity,
                                            **eng.params},
                           {"index": np.asarray(blob, dtype=np.uint8)},
                           info={"n_rows": rec.n_rows, "dim": rec.dim, "bytes": int(blob.size),
                                 "seconds": round(seconds, 3), "content_hash": rec.content_hash},
                           name=index_name)
    if art is None:
        raise SpacelensError(f"Space {rec.name!r} was replaced while index {index_name!r} was built from it",
                             "Build the index again")
    for o in old:
        if o.id != art.id:
            reg.delete_artifact(o)
    out = _index_record(art)
    out["replaced"] = bool(old)
    return out


def list_indexes(reg, space: str | None = None) -> list[dict]:
    """The named indexes (of one space, or all)."""
    return [_index_record(a) for a in reg.find_artifacts(kind=KIND, space=space)
            if space is None or a.space == space]


def _find_index(reg, index_name: str):
    arts = reg.find_artifacts(kind=KIND, name=index_name)
    if not arts:
        known = sorted({a.name for a in reg.find_artifacts(kind=KIND) if a.name})
        close = difflib.get_close_matches(index_name, known, n=3)
        hint = (f"Did you mean {', '.join(map(repr, close))}?" if close else
                f"Known indexes: {', '.join(known[:8])}" if known else
                "Build one with 'spacelens embeddings load INDEX_NAME SPACE'")
        raise NotFoundError(f"No index named {index_name!r}", hint)
    return arts[-1]


def delete_index(reg, index_name: str) -> dict:
    """Remove a named index; returns what it was."""
    art = _find_index(reg, index_name)
    reg.delete_artifact(art)
    return _index_record(art)


def load_index(reg, index_name: str):
    """``(faiss index, record)`` of a named index."""
    import faiss

    art = _find_index(reg, index_name)
    return faiss.deserialize_index(np.asarray(reg.load_artifact(art, "index", mmap=False))), _index_record(art)


# -- query -----------------------------------------------------------------------------------
def item_position(reg, rec, item_id) -> int:
    """Row of ``item_id`` in space ``rec``, or an error naming close ids."""
    ids = reg.space_ids(rec)
    key = str(item_id)
    hit = np.flatnonzero(ids == key)
    if len(hit):
        return int(hit[0])
    import pandas as pd

    pool = pd.Series(ids, dtype=str)
    if len(pool) > 100_000:  # difflib is slow: look only at ids sharing the first characters
        pool = pool[pool.str.startswith(key[:2])].head(100_000)
    close = difflib.get_close_matches(key, pool.tolist(), n=5, cutoff=0.6)
    problem = f"No item {key!r} in space {rec.name!r}"
    if len(ids) < reg.dataset(rec.dataset).n_rows and (reg.load_ids(rec.dataset) == key).any():
        problem += f" (dataset {rec.dataset!r} has it, but this space covers only some of its rows)"
    fix = (f"Did you mean {', '.join(map(repr, close))}?" if close else
           f"Ids look like {', '.join(repr(str(x)) for x in ids[:3])}")
    raise SpacelensError(problem, fix)


def _neighbours(reg, rec, pos: int, k: int, metric: str, use_index: bool):
    """``(rows, distances, source)`` of the k nearest rows of row ``pos`` of ``rec``."""
    g = cached_graph(reg, rec, k, metric, engine="exact") or cached_graph(reg, rec, k, metric, engine=None)
    if g is not None:
        return np.asarray(g.indices[pos]), np.asarray(g.distances[pos]), f"cached kNN graph ({g.engine})"
    vectors = reg.load_vectors(rec)
    if use_index:
        for art in reversed(reg.find_artifacts(kind=KIND, space=rec.name)):
            if art.space == rec.name and art.params.get("similarity") == metric and not is_exact(art.params.get("model")):
                index, info = load_index(reg, art.name)
                eng = get_engine(info["model"], **info["params"])
                q, b, rows, k = prepare_search(np.asarray(vectors[pos:pos + 1]), vectors, k, metric, np.array([pos]))
                idx, dist = eng.search_index(index, q, b, k, metric, rows, description="Query")
                return idx[0], dist[0], f"index {art.name!r} ({info['model']})"
    idx, dist = ExactEngine().search(np.asarray(vectors[pos:pos + 1]), vectors, k, metric, query_rows=[pos])
    return idx[0], dist[0], "exact search"


def query(reg, space, item_id, k: int = 10, vs: str | None = None, metric: str = "cosine",
          use_index: bool = False) -> dict:
    """The ``k`` nearest neighbours of item ``item_id`` in ``space`` (and in ``vs``), with metadata.

    Returns ``{"query": id, "k", "metric", "item": {metadata}, "spaces": {name: [{"id", "row",
    "distance", ...metadata}, ...]}, "sources": {name: how it was answered}}``, plus ``"shared"``
    (ids near the item in both spaces) when ``vs`` is given.
    """
    check_metric(metric)
    recs = [reg.space(space) if isinstance(space, str) else space]
    if vs is not None:
        other = reg.space(vs) if isinstance(vs, str) else vs
        if other.dataset != recs[0].dataset:
            raise SpacelensError(f"Spaces {recs[0].name!r} and {other.name!r} embed different datasets "
                                 f"({recs[0].dataset!r}, {other.dataset!r})",
                                 "Compare neighbours only between spaces of one dataset")
        recs.append(other)
    ds = reg.dataset(recs[0].dataset)
    table = reg.load_table(ds)
    meta_cols = [c for c in table.columns if c not in (ds.id_field, "id", "row", "distance")]
    key = str(item_id)
    out = {"query": key, "k": None, "metric": metric, "item": {}, "spaces": {}, "sources": {}}
    for rec in recs:
        k_rec = check_k(k, rec.n_rows, self_excluded=True)
        pos = item_position(reg, rec, key)
        idx, dist, source = _neighbours(reg, rec, pos, k_rec, metric, use_index)
        rows = reg.load_rows(rec)
        ids = reg.space_ids(rec)
        ds_rows = rows[idx]
        meta = table.iloc[ds_rows][meta_cols].to_dict("records")
        out["k"] = k_rec
        if not out["item"]:
            out["item"] = {c: jsonable(v) for c, v in table.iloc[int(rows[pos])][meta_cols].items()}
        out["spaces"][rec.name] = [
            {"id": str(ids[i]), "row": int(r), "distance": float(d), **{c: jsonable(v) for c, v in m.items()}}
            for i, r, d, m in zip(idx, ds_rows, dist, meta)]
        out["sources"][rec.name] = source
    if vs is not None:
        a, b = (out["spaces"][r.name] for r in recs)
        in_b = {n["id"] for n in b}
        out["shared"] = [n["id"] for n in a if n["id"] in in_b]
    return out
