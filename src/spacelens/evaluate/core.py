"""Evaluate a registered space against a label column, store the result, rank spaces.

Labels come from the space's dataset table (one column), aligned to the space's rows. The
kNN metrics (:mod:`retrieval`) are computed block by block from ranked neighbours:

- the whole space is the reference (self-retrieval, or a query split searched among all
  rows): a cached kNN graph of the space (:mod:`spacelens.neighbors`) with ``k_max >= k`` is
  reused. Otherwise, when every row is a query and the graph is small enough to keep
  (n x k <= ``GRAPH_CACHE_MAX_ENTRIES``, whichever engine), the graph is built and cached for
  later runs; else only the queries are searched (exact: block by block; an approximate
  engine: one index, one search) and scored as they come (nothing n x k is kept: ``k="all"``
  works on any size). The ``auto`` engine's approximate choice goes exact (blocked) if its
  timed tuning says exact is cheaper.
- a query split against another reference split (or against itself): the queries are
  searched among the reference rows (block by block for the exact engine).

The result is stored as artifact ``"evaluation"`` on the space: ``info`` holds the metrics (so
``spacelens show`` lists them), arrays hold the per-class values. Ranking stored results:
:mod:`spacelens.evaluate.leaderboard`.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from spacelens.errors import SpacelensError, SpacelensWarning
from spacelens.jsonable import jsonable
from spacelens.evaluate.clustering import CLUSTER_METRICS, clustering_metrics, kmeans_assignment
from spacelens.evaluate.retrieval import METRICS, RetrievalAccumulator, label_counts, resolve_k
from spacelens.neighbors.base import Engine
from spacelens.neighbors.engines import RECALL_ENGINES
from spacelens.registry import Registry, Space

ALL_METRICS = METRICS + CLUSTER_METRICS
ARTIFACT = "evaluation"
# Build (and cache) a kNN graph only when it holds at most this many entries (8 bytes each).
GRAPH_CACHE_MAX_ENTRIES = 1 << 27
# Neighbour entries (queries x k) fetched per streamed search call.
SEARCH_BLOCK_ENTRIES = 1 << 24
MIN_SEARCH_BLOCK = 256  # ...but at least this many queries per call (each call prepares the base)


def _column(reg: Registry, space: Space, field: str, what: str) -> np.ndarray:
    """The dataset column ``field`` for each row of ``space`` (only that column is read)."""
    table = reg.load_table(space.dataset, columns=[field])
    if field not in table.columns:
        cols = ", ".join(map(str, reg.table_columns(space.dataset)))
        raise SpacelensError(f"The dataset {space.dataset!r} has no column {field!r} to use as {what}",
                             f"Use one of its columns: {cols}")
    return table[field].to_numpy()[reg.load_rows(space)]


def evaluated_label_fields(reg: Registry, dataset: str) -> list[str]:
    """The label columns that stored evaluations of the dataset's spaces used, most used first:
    label columns everywhere (:mod:`spacelens.labels`)."""
    from collections import Counter

    spaces = {s.name for s in reg.spaces_of(dataset=dataset)}
    seen = Counter(a.params.get("label_field") for a in reg.find_artifacts(kind=ARTIFACT)
                   if a.space in spaces and a.params.get("label_field"))
    return [f for f, _ in seen.most_common()]


def load_labels(reg: Registry, space: Space, label_field: str) -> np.ndarray:
    """The label of each row of ``space`` (from its dataset's ``label_field`` column); a column that
    cannot be labels (a measurement, the id column) is refused with the reason (:mod:`spacelens.labels`)."""
    from spacelens import labels as label_rule

    values = _column(reg, space, label_field, "labels")
    label_rule.check(values, label_field, id_field=reg.dataset(space.dataset).id_field)
    missing = pd.isna(values)
    if missing.any():
        first = str(reg.space_ids(space)[np.flatnonzero(missing)[0]])
        raise SpacelensError(f"{int(missing.sum())} of {len(values)} items of space {space.name!r} have no "
                             f"value in column {label_field!r} (first: id {first!r})",
                             "Fill in the missing labels in the dataset, or choose a fully labelled column")
    return values



def warn_if_continuous(labels: np.ndarray, codes: np.ndarray, n_classes: int, label_field: str) -> bool:
    """Warn when a label column looks like a measurement rather than classes (e.g. ``alcohol``):
    most labels held by one item only, or a numeric column with more than one value per 5 items.
    The kNN metrics count a neighbour correct only when its label is exactly equal, so such a
    column scores nothing meaningful. Returns whether it warned."""
    n = len(codes)
    if n < 10 or n_classes == 0:
        return False
    size = np.bincount(codes, minlength=n_classes)
    singles = int((size == 1).sum())
    numeric = labels.dtype.kind in "iuf"
    if not (singles > 0.5 * n_classes or (numeric and n_classes > n / 5)):
        return False
    warnings.warn(f"Labels {label_field!r} look continuous: {n_classes:,} distinct values among {n:,} items, "
                  f"{singles:,} of them held by one item only (a neighbour counts as correct only with an equal "
                  "label). Evaluate a categorical column (a class, a category), or bin this one into a few classes "
                  "first (e.g. pandas.qcut)", SpacelensWarning, stacklevel=3)
    return True

def _select(reg: Registry, space: Space, split_field: str, query_split, reference_split):
    """``(query positions, reference positions or None for all rows, ref_includes_query)``."""
    n = space.n_rows
    if query_split is None:
        if reference_split is not None:
            raise SpacelensError("A reference split was given without a query split",
                                 "Pass --query-split too (e.g. --query-split val --reference-split train)")
        return np.arange(n), None, True
    values = _column(reg, space, split_field, "splits")
    values = np.array([str(v) for v in values]) if values.dtype == object else values.astype(str)

    def pick(val, role):
        pos = np.flatnonzero(values == str(val))
        if not len(pos):
            seen = ", ".join(sorted(set(values.tolist()))[:12])
            raise SpacelensError(f"No item of space {space.name!r} has {split_field}={val!r} ({role} split)",
                                 f"Values of {split_field!r} in this space: {seen}")
        return pos

    q = pick(query_split, "query")
    if reference_split is None:
        return q, None, True            # the whole space is the reference, queries are in it
    if str(reference_split) == str(query_split):
        return q, q, True
    return q, pick(reference_split, "reference"), False


def _graph_choice(reg: Registry, space: Space, k: int, metric: str, engine: str, params: dict,
                  all_queries: bool):
    """``(how, graph)``: a cached graph with enough k, else "build" (every row is a query and
    the graph is small enough to keep, whichever engine) or "stream" (search only the queries,
    keep nothing: a 1M x 1,100 graph is ~9 GB, too much to store just to score it once)."""
    from spacelens.neighbors import cached_graph

    graph = cached_graph(reg, space, k, metric, engine, **params)
    if graph is not None:
        return "cached", graph
    if all_queries and space.n_rows * k <= GRAPH_CACHE_MAX_ENTRIES:
        return "build", None
    return "stream", None


def _search(engine_obj, queries, base, k, metric, query_rows, description):
    return engine_obj.search(queries, base, k, metric, query_rows, description=description)


def _resolve_auto(engine: str, params: dict, n_queries: int, n_ref: int, dim: int, k: int):
    """``auto`` becomes the engine its cost estimate picks (exact, or ivf at the target recall):
    ``(name, params, instance)``; the instance carries the auto engine's exact fallback."""
    from spacelens.neighbors import get_engine

    if engine != "auto":
        return engine, params, None
    auto = get_engine("auto", **params)
    chosen = auto.choose(n_queries, n_ref, dim, k, "kNN search for evaluation")
    return chosen.name, ({"recall": auto.recall} if chosen.approximate else {}), chosen


def _neighbour_blocks(reg, space, q_pos, ref_pos, qrows_all, k, metric, engine, params, how, graph=None,
                      meta: dict | None = None):
    """Yield ``(query indices into q_pos, knn indices into the reference)`` blocks.

    ``q_pos``: space rows of the queries; ``ref_pos``: space rows of the reference (None: all);
    ``qrows_all``: the reference row each query is (self exclusion), or None. ``meta`` receives
    the recall of approximate neighbours (``meta["recall"]``).
    """
    from spacelens.neighbors import recall_at

    meta = {} if meta is None else meta
    from spacelens.neighbors import get_engine, knn_graph

    settings = {} if isinstance(engine, Engine) else params   # an instance carries its own
    if how in ("cached", "build"):
        if graph is None:
            graph = knn_graph(reg, space, k, metric, engine, **settings)
        meta["engine"] = graph.engine
        if not graph.exact:
            meta["recall"] = recall_at(graph.info, k)
        step = max(1, SEARCH_BLOCK_ENTRIES // max(k, 1))
        for s in range(0, len(q_pos), step):
            part = q_pos[s:s + step]
            # consecutive rows (all queries): a view of the graph, no copy
            rows = slice(int(part[0]), int(part[-1]) + 1) if (np.diff(part) == 1).all() else part
            yield np.arange(s, s + len(part)), np.asarray(graph.indices[rows, :k])
        return
    vectors = reg.load_vectors(space)
    base = vectors if ref_pos is None else np.ascontiguousarray(vectors[ref_pos])
    eng = get_engine(engine, **settings)
    if eng.name != "exact":                     # an index is built per call: one call
        from spacelens.neighbors.approx import ExactIsCheaper
        from spacelens.neighbors.exact import ExactEngine
        from spacelens.progress import announce

        qv = np.ascontiguousarray(vectors[q_pos])
        try:
            idx, _ = _search(eng, qv, base, k, metric, qrows_all, f"kNN for evaluation ({metric})")
        except ExactIsCheaper as why:           # the auto engine's choice, once timed: exact, in blocks below
            announce(why.message)
            eng = ExactEngine()
        else:
            meta["engine"] = eng.name
            if eng.approximate and getattr(eng, "last_info", None):
                meta["recall"] = recall_at(eng.last_info, k)
            yield np.arange(len(q_pos)), idx
            return
    meta["engine"] = "exact"
    from spacelens.progress import progress

    step = max(MIN_SEARCH_BLOCK, SEARCH_BLOCK_ENTRIES // max(k, 1))
    nblocks = -(-len(q_pos) // step)
    # one bar over all queries (percent, time left), each block's search a row under it
    with progress(f"Exact kNN for evaluation ({len(q_pos):,} queries, {metric})", total=len(q_pos)) as bar:
        for b, s in enumerate(range(0, len(q_pos), step)):
            e = min(s + step, len(q_pos))
            qv = np.ascontiguousarray(vectors[q_pos[s:e]])
            qr = qrows_all[s:e] if qrows_all is not None else None
            idx, _ = _search(eng, qv, base, k, metric, qr, f"block {b + 1}/{nblocks}")
            bar.advance(e - s)
            yield np.arange(s, e), idx


def check_settings(metric: str, k) -> bool:
    """One clear error for an unknown metric or k rule; returns whether ``k`` is a whole number."""
    from spacelens.neighbors.base import METRICS as KNN_METRICS

    if metric not in KNN_METRICS:
        raise SpacelensError(f"Unknown metric {metric!r}", f"Use one of: {', '.join(KNN_METRICS)}")
    whole = isinstance(k, (int, np.integer)) and not isinstance(k, bool)
    if not (k is None or k in ("max_bin_count", "all") or (whole and k > 0)):
        raise SpacelensError(f"k={k!r} is not valid", "Use 'max_bin_count' (default), 'all' or a positive whole number")
    return whole


def evaluate_space(reg: Registry, space: str, *, label_field: str, metric: str = "cosine",
                   k: int | str | None = None, split_field: str = "split", query_split=None,
                   reference_split=None, avg_of_avgs: bool = False, clustering: bool = True,
                   clusters=None, cluster_field: str | None = None, n_init: int = 3, seed: int = 0,
                   engine: str = "auto", engine_params: dict | None = None, store: bool = True,
                   recall: float | None = None, sample: int | None = None,
                   clustering_sample: int | None = None) -> dict:
    """Retrieval (P@1, R-precision, MAP@R, MAP, MRR) and clustering (NMI, AMI) metrics of a space.

    Definitions: :mod:`spacelens.evaluate.retrieval` and :mod:`spacelens.evaluate.clustering`
    (those of pytorch-metric-learning's ``AccuracyCalculator``). ``k``: None or
    ``"max_bin_count"`` (default; exactly enough for every query's R), ``"all"`` or an int.
    ``clusters``: a precomputed cluster id per space row (or per query) instead of k-means;
    ``cluster_field``: the same, read from a dataset column. ``sample``: score only that many
    random queries (among those with something to retrieve, drawn with ``seed``), searched
    exactly among all references: each kNN metric is then an unbiased estimate of its full
    value, with a 95% interval in ``info["sample"]["ci95"]`` (:mod:`spacelens.evaluate.sampled`).
    With ``sample``, k-means' restarts are compared on ``clustering_sample`` random items (default
    ``max(sample, 50,000)``) and NMI/AMI come with their interval too
    (:mod:`spacelens.evaluate.clustering_sampled`).
    Returns a dict: metric -> value, ``"info"`` (settings and counts) and ``"per_class"`` (one
    record per label).
    """
    t0 = time.perf_counter()
    whole = check_settings(metric, k)
    if sample is not None:
        from spacelens.evaluate.sampled import check_sample

        check_sample(sample, avg_of_avgs)
        engine, engine_params = "exact", {}
    params_engine = dict(engine_params or {})
    if recall is not None and engine in RECALL_ENGINES and not {"nprobe", "ef_search"} & set(params_engine):
        params_engine.setdefault("recall", recall)
    rec = reg.space(space)
    labels = load_labels(reg, rec, label_field)
    q_pos, ref_pos, ref_includes_query = _select(reg, rec, split_field, query_split, reference_split)
    codes, classes = pd.factorize(labels)
    codes = codes.astype(np.int32)
    n_classes = len(classes)
    warn_if_continuous(labels, codes, n_classes, label_field)
    qc = codes[q_pos]
    rc = codes if ref_pos is None else codes[ref_pos]
    n_ref = len(rc)
    counts = label_counts(qc, rc, ref_includes_query, n_classes)
    kk = resolve_k(k, counts, n_ref)
    if whole:
        if k > kk:
            warnings.warn(f"k={k} is more than the reference holds; using k={kk}", SpacelensWarning)
        if kk < counts.default_k:
            warnings.warn(f"k={kk} is below max_bin_count ({counts.default_k}): r_precision and "
                          "mean_average_precision_at_r only see the first k of R neighbours (as in "
                          "pytorch-metric-learning); use the default k for exact values", SpacelensWarning)

    # -- retrieval ------------------------------------------------------------------------
    keep = np.flatnonzero(~counts.lone)           # lone queries are not searched at all
    acc = RetrievalAccumulator(n_classes)
    how = "none"
    knn_meta: dict = {}
    sample_info = None
    t_knn = time.perf_counter()
    if len(keep) and kk > 0 and sample is not None:
        from spacelens.evaluate.sampled import sampled_scores

        how = "sample"
        def exact_blocks(qp, qrows):
            return _neighbour_blocks(reg, rec, qp, ref_pos, qrows, kk, metric, "exact", {}, "stream")

        sel, per_query = sampled_scores(exact_blocks, q_pos, ref_pos, ref_includes_query, keep, rc, qc, counts.r,
                                        int(sample), seed, acc)
        sample_info = {"n": int(len(sel)), "seed": int(seed), "population": int(len(keep)), "per_query": per_query}
    elif len(keep) and kk > 0:
        graph = None
        if ref_pos is None:
            how, graph = _graph_choice(reg, rec, kk, metric, engine, params_engine, len(q_pos) == rec.n_rows)
            if graph is not None:
                engine = graph.engine
                params_engine = dict(params_engine) if not graph.exact else {}
        else:
            how = "self-subset" if ref_includes_query else "split"
        chosen = None
        if engine == "auto":
            # a streamed approximate choice that times itself slower than exact goes exact in blocks
            engine, params_engine, chosen = _resolve_auto(engine, params_engine, len(keep), n_ref, rec.dim, kk)
        # the reference row each query is: its space row, its place in the split, or none
        qrows = q_pos[keep] if ref_pos is None else keep if ref_includes_query else None
        for sub, idx in _neighbour_blocks(reg, rec, q_pos[keep], ref_pos, qrows, kk, metric, chosen or engine,
                                          params_engine, how, graph, knn_meta):
            qi = keep[sub]
            acc.add(rc[idx], qc[qi], counts.r[qi])
        if knn_meta.get("engine") == "exact" and engine != "exact":   # the auto choice fell back to exact
            engine, params_engine = "exact", {}
    else:
        warnings.warn("No query has another item of its label in the reference: the retrieval "
                      "metrics are undefined (NaN)", SpacelensWarning)
    t_knn = time.perf_counter() - t_knn
    ret = acc.result(k=kk, n_queries=len(qc), n_lone=int(counts.lone.sum()), avg_of_avgs=avg_of_avgs)

    # -- clustering -----------------------------------------------------------------------
    cluster_info, cm, clustering_key, cluster_ci = None, {}, None, None
    t_cl = time.perf_counter()
    if clusters is not None or cluster_field is not None:
        if clusters is not None and cluster_field is not None:
            raise SpacelensError("Both clusters and cluster_field were given", "Pass only one of them")
        if cluster_field is not None:
            assign = _column(reg, rec, cluster_field, "clusters")
            if pd.isna(assign).any():
                raise SpacelensError(f"Column {cluster_field!r} has missing cluster ids",
                                     "Give every item a cluster id")
            cluster_info = f"precomputed (column {cluster_field!r})"
            clustering_key = {"method": "column", "field": cluster_field}
        else:
            assign = np.asarray(clusters)
            cluster_info = "precomputed (given assignment)"
            clustering_key = {"method": "given", "hash": _digest(assign)}
        if len(assign) == rec.n_rows:
            assign = assign[q_pos]
        elif len(assign) != len(q_pos):
            raise SpacelensError(f"The cluster assignment has {len(assign)} entries; the space has {rec.n_rows} "
                                 f"rows and {len(q_pos)} queries", "Give one cluster id per space row")
        cm = clustering_metrics(qc, pd.factorize(assign)[0])
    elif clustering:
        from spacelens.neighbors import prepare

        n_lab = len(np.unique(qc))
        x = prepare(reg.load_vectors(rec)[q_pos], metric)
        # k-means seeds and subsamples by position: run it in the items' id order, so the clusters
        # (and NMI/AMI) do not depend on the order the dataset's rows happen to be stored in
        ids = np.asarray(reg.load_ids(rec.dataset)).astype(str)[np.asarray(reg.load_rows(rec))[q_pos]]
        order = np.argsort(ids, kind="stable")
        clustering_key = {"method": "kmeans", "n_init": int(n_init), "seed": int(seed)}
        cluster_info = (f"greedy k-means++ and faiss Lloyd (n_clusters={n_lab}, n_init={n_init}, seed={seed}, "
                        "tol=1e-4, fitted on <= 256 points per cluster) on "
                        + ("L2-normalised vectors" if metric == "cosine" else "raw vectors"))
        if sample is not None:
            from spacelens.evaluate.clustering_sampled import estimate

            m = int(clustering_sample or max(int(sample), 50_000))
            est = estimate(np.ascontiguousarray(x[order]), qc[order], n_lab, sample=m, seed=seed, n_init=n_init)
            cm, cluster_ci = {k_: est[k_] for k_ in CLUSTER_METRICS}, est["ci95"]
            clustering_key["sample"] = est["n"]
            cluster_info += f"; {est['method']}"
        else:
            assign = np.empty(len(order), dtype=np.int64)
            assign[order] = kmeans_assignment(np.ascontiguousarray(x[order]), n_lab, seed=seed, n_init=n_init)
            cm = clustering_metrics(qc, assign)
    t_cl = time.perf_counter() - t_cl

    # -- result ---------------------------------------------------------------------------
    order = ["mean_average_precision_at_r", "r_precision", "precision_at_1", "mean_average_precision",
             "mean_reciprocal_rank"]
    metrics = {m: jsonable(ret.metrics[m]) for m in order}
    if sample_info is not None:
        from spacelens.evaluate.sampled import summarize_sample

        estimates = summarize_sample(sample_info.pop("per_query"), sample_info["population"])
        metrics.update({m: estimates[m]["mean"] for m in order})
        sample_info["ci95"] = {m: estimates[m]["ci95"] for m in order}
    metrics.update(cm)
    if cluster_ci is not None:
        sample_info = sample_info or {"n": 0, "seed": int(seed), "population": int(len(keep)), "ci95": {}}
        sample_info["ci95"].update(cluster_ci)
    knn_desc = {"cached": "cached kNN graph", "build": "kNN graph (built and cached)",
                "stream": f"{engine} search of the queries, streamed (no graph cached)",
                "split": "search of the reference split", "self-subset": "search within the split",
                "sample": (f"exact search of {sample_info['n']:,} random queries among all references"
                           if sample_info else ""),
                "none": "none"}[how]
    size = np.bincount(qc, minlength=n_classes)
    info = {**metrics, "k": kk, "n_queries": len(qc), "n_reference": n_ref, "n_scored": ret.n_scored,
            "n_lone": ret.n_lone, "n_classes": int((size > 0).sum()),
            "seconds": round(time.perf_counter() - t0, 3),
            "label_field": label_field, "metric": metric, "k_rule": str(k if k is not None else "max_bin_count"),
            "avg_of_avgs": bool(avg_of_avgs), "ref_includes_query": ref_includes_query,
            "split": ({"field": split_field, "query": str(query_split),
                       "reference": None if reference_split is None else str(reference_split)}
                      if query_split is not None else None),
            "knn": knn_desc, "engine": engine, "engine_params": params_engine,
            **({"recall": knn_meta["recall"]} if knn_meta.get("recall") else {}),
            **({"sample": sample_info} if sample_info else {}),
            "clustering": cluster_info, "seconds_knn": round(t_knn, 3), "seconds_clustering": round(t_cl, 3)}
    present = np.flatnonzero(size > 0)
    class_labels = np.array([str(c) for c in classes], dtype=str)
    per_class = []
    for c in present:
        row = {"label": classes[c].item() if hasattr(classes[c], "item") else classes[c],
               "n_queries": int(size[c]), "n_scored": int(ret.class_queries[c])}
        row.update({m: jsonable(float(ret.per_class[m][c])) for m in order})
        per_class.append(row)
    if store:
        params = evaluation_params(label_field, metric=metric, k=info["k_rule"], split=info["split"],
                                   avg_of_avgs=avg_of_avgs, engine=engine, engine_params=params_engine,
                                   clustering=clustering_key,
                                   sample=None if sample is None else {"n": int(sample), "seed": int(seed)})
        arrays = {"class_labels": class_labels[present], "class_queries": size[present].astype(np.int64),
                  "class_scored": ret.class_queries[present].astype(np.int64)}
        arrays.update({m: ret.per_class[m][present].astype(np.float64) for m in order})
        reg.put_artifact(ARTIFACT, rec, params, arrays, info=info, name=label_field)
    return {**metrics, "space": rec.name, "info": info, "per_class": per_class}


def stored_full_evaluation(reg: Registry, space: str, *, label_field: str, metric: str = "cosine", k=None,
                           split_field: str = "split", query_split=None, reference_split=None,
                           clustering: bool = True, n_init: int = 3, seed: int = 0) -> dict | None:
    """The newest stored *full* (not sampled) evaluation of ``space`` with these settings, whichever
    engine made it (exact ones first), in :func:`evaluate_space`'s form; None when there is none.

    This is how a full result, once stored (``evaluate --full``), is used instead of a sample."""
    from spacelens.neighbors.engines import is_exact

    rec = reg.space(space)
    split = ({"field": split_field, "query": str(query_split),
              "reference": None if reference_split is None else str(reference_split)}
             if query_split is not None else None)
    want_cl = {"method": "kmeans", "n_init": int(n_init), "seed": int(seed)} if clustering else None
    found = [a for a in reg.find_artifacts(kind=ARTIFACT, space=rec.name)
             if a.space == rec.name and "sample" not in a.params and a.params.get("label_field") == label_field
             and a.params.get("metric") == metric and a.params.get("k") == str(k if k is not None else "max_bin_count")
             and a.params.get("split") == split and not a.params.get("avg_of_avgs")
             and a.params.get("clustering") == want_cl]
    if not found:
        return None
    art = min(found, key=lambda a: (not is_exact(a.params.get("engine")), -a.id))
    info = dict(art.info)
    info["stored"] = True
    order = [m for m in METRICS]
    labels = np.asarray(reg.load_artifact(art, "class_labels", mmap=False))
    queries = np.asarray(reg.load_artifact(art, "class_queries", mmap=False))
    scored = np.asarray(reg.load_artifact(art, "class_scored", mmap=False))
    per = {m: np.asarray(reg.load_artifact(art, m, mmap=False)) for m in order if m in art.files}
    per_class = [{"label": str(lab), "n_queries": int(queries[i]), "n_scored": int(scored[i]),
                  **{m: jsonable(float(v[i])) for m, v in per.items()}} for i, lab in enumerate(labels)]
    metrics = {m: info.get(m) for m in ALL_METRICS if m in info}
    return {**metrics, "space": rec.name, "info": info, "per_class": per_class}


def evaluation_params(label_field: str, *, metric: str = "cosine", k="max_bin_count", split=None,
                      avg_of_avgs: bool = False, engine: str = "exact", engine_params: dict | None = None,
                      clustering: dict | None = None, sample: dict | None = None) -> dict:
    """The stored evaluation's key: every setting that changes its numbers.

    ``clustering``: how NMI/AMI were obtained (``{"method": "kmeans", "n_init", "seed"}``, a
    cluster ``column``, a ``given`` assignment's hash, or None when not computed).
    ``sample``: ``{"n", "seed"}`` of a sampled evaluation (absent from a full one's key).
    """
    key = {"label_field": label_field, "metric": metric, "k": str(k), "split": split,
           "avg_of_avgs": bool(avg_of_avgs), "engine": engine, "engine_params": dict(engine_params or {}),
           "clustering": clustering}
    if sample is not None:
        key["sample"] = {"n": int(sample["n"]), "seed": int(sample["seed"])}
    return key


def default_evaluation_params(label_field: str, metric: str = "cosine") -> dict:
    """The key of ``evaluate_space(space, label_field=..., metric=...)`` with every other default."""
    return evaluation_params(label_field, metric=metric,
                             clustering={"method": "kmeans", "n_init": 3, "seed": 0})


def _digest(values) -> str:
    import hashlib

    return hashlib.blake2b(np.asarray(values).astype(str).astype("U").tobytes(), digest_size=8).hexdigest()


def sort_per_class(per_class: list[dict], by: str = "mean_average_precision_at_r") -> list[dict]:
    """Worst classes first (classes without a score, i.e. lone ones, last)."""
    return sorted(per_class, key=lambda r: (r.get(by) is None, r.get(by) if r.get(by) is not None else 0.0))

