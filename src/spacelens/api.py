"""The public Python API: the same verbs as the CLI, as plain functions.

Every function takes ``home=`` (a registry folder; default ``$SPACELENS_HOME`` or
``~/.spacelens``). A training loop can pass numpy arrays (or torch tensors) directly.

>>> import spacelens
>>> spacelens.add(emb, "items.csv", dataset_name="items", experiment_name="run1",
...               space_name="run1.val")                                # doctest: +SKIP
>>> spacelens.ls("spaces")                                              # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from spacelens import tracking
from spacelens.errors import SpacelensError
from spacelens.registry import KINDS, Registry, Space

if TYPE_CHECKING:   # display imports the notebook helpers lazily; only the annotation needs it here
    from spacelens.display import EvaluationResult

Home = str | os.PathLike | Registry | None


def _is_array(x) -> bool:
    from spacelens.scratch import is_array

    return is_array(x)


def _named_pair(a, b, names, verb: str) -> dict:
    if not (_is_array(a) and _is_array(b)):
        raise SpacelensError(f"{verb} got one array and one space name",
                             "Pass two arrays (same rows), or two registered spaces' names")
    names = tuple(names)
    if len(names) != 2 or names[0] == names[1]:
        raise SpacelensError(f"names={names!r}", "Pass two different names, e.g. names=('triplet', 'arcface')")
    return {names[0]: a, names[1]: b}


def _baseline_name(names) -> str:
    return f"{names[0]}.reseeded"


def _scratch(arrays: dict, *, labels=None, metadata=None, label_field: str = "label", home: Home = None,
             what: str = ""):
    """Arrays given directly: registered in a scratch registry (``home`` must not be given)."""
    from spacelens.scratch import register

    if home is not None:
        raise SpacelensError(f"{what} got arrays and home=",
                             "Arrays go to a scratch registry: register them with spacelens.add(...) to keep them "
                             "in a home, then pass their names")
    if what == "evaluate" and labels is None:
        raise SpacelensError("Evaluating an array needs its labels", "Pass labels=... (one per row)")
    return register(arrays, labels=labels, metadata=metadata, label_field=label_field)


def open_registry(home: Home = None) -> Registry:
    """The registry in ``home`` (created on first use)."""
    return home if isinstance(home, Registry) else Registry(home)


def add(embeddings, dataset=None, *, dataset_name: str, experiment_name: str, space_name: str,
        model_name: str | None = None, id_field: str | None = None, ids=None, params: dict | None = None,
        train_dataset: str | None = None, step: int | None = None, split: str | None = None,
        overwrite: bool = False, home: Home = None) -> Space:
    """Register an embedding space (and its dataset and experiment when they are new).

    ``embeddings``: a path (.npy, .npz, .parquet) or an array of shape (n_items, dim).
    ``dataset``: the metadata table (CSV/Parquet path or DataFrame); needed only the first
    time a dataset name is used. Rows are matched by ``ids`` (or ids stored in the file);
    without ids, row i must be dataset row i.
    """
    return tracking.add_space(open_registry(home), embeddings, dataset, dataset_name=dataset_name,
                              experiment_name=experiment_name, space_name=space_name, model_name=model_name,
                              id_field=id_field, ids=ids, params=params, train_dataset=train_dataset,
                              step=step, split=split, overwrite=overwrite)


def log_space(name: str, embeddings, *, dataset: str, experiment: str, ids=None, step: int | None = None,
              split: str | None = None, model_name: str | None = None, params: dict | None = None,
              overwrite: bool = True, run: str | None = None, replace_other_runs: bool = False,
              home: Home = None) -> Space:
    """Log a space from any training loop (no torch needed): the dataset must be registered.

    ``run``: names the training run (e.g. one per process); ``evolution`` follows one run. With
    ``replace_other_runs``, the experiment's stepped spaces of this split from other runs are
    removed in the same step (a re-run replaces the old one instead of mixing with it).
    """
    return tracking.add_space(open_registry(home), embeddings, dataset_name=dataset, experiment_name=experiment,
                              space_name=name, ids=ids, step=step, split=split, model_name=model_name,
                              params=params, overwrite=overwrite, run=run, replace_other_runs=replace_other_runs)


def ls(kind: str | None = None, *, home: Home = None):
    """Registered entities: a list of records of ``kind``, or a dict of all three kinds."""
    reg = open_registry(home)
    if kind is None:
        return {k: reg.list(k) for k in KINDS}
    return reg.list(tracking._kind(kind))


def show(name: str, kind: str | None = None, *, home: Home = None) -> dict:
    """Everything known about one dataset, experiment or space, as a dict.

    A space's ``derived`` results name, in ``other_space``, the space on the other side of a
    comparison, whichever side of the stored pair the shown space was.
    """
    reg = open_registry(home)
    out = tracking.describe(reg, name, kind)
    if out.get("kind") == "space":
        out["derived"] = _derived(reg, out["name"])
    return out


def _derived(reg: Registry, space: str) -> list[dict]:
    """The derived results of ``space``: for a comparison stored as (other, space), the other
    side is ``art.space``, and A/B settings are swapped to read from ``space``'s side."""
    out = []
    for a in reg.find_artifacts(space=space):
        params, info, other = a.params, a.info, a.other_space
        if a.other_space is not None and a.space != space:
            other = a.space
            swap = {"metric_a": "metric_b", "metric_b": "metric_a", "n_a": "n_b", "n_b": "n_a"}
            params = {swap.get(k, k): v for k, v in params.items()}
            info = {swap.get(k, k): v for k, v in info.items()}
        out.append({"kind": a.kind, "name": a.name, "other_space": other, "params": params, "info": info})
    return out


def rm(kind: str, name: str, *, cascade: bool = False, home: Home = None) -> list[str]:
    """Remove an entity; with ``cascade`` also what depends on it. Returns what was removed."""
    return tracking.remove(open_registry(home), kind, name, cascade)


def load_space(name: str, *, home: Home = None):
    """``(vectors, ids)``: the space's float32 matrix (memory-mapped) and its item ids."""
    reg = open_registry(home)
    rec = reg.space(name)
    return reg.load_vectors(rec), reg.space_ids(rec)


def load_dataset(name: str, *, home: Home = None):
    """The dataset's metadata table as a pandas DataFrame."""
    return open_registry(home).load_table(name)


def evaluate(space, labels=None, *, label_field: str | None = None, metric: str = "cosine", k: int | str | None = None,
             split_field: str = "split", query_split=None, reference_split=None, per_class: bool = False,
             avg_of_avgs: bool = False, clustering: bool = True, clusters=None, cluster_field: str | None = None,
             n_init: int = 3, seed: int = 0, engine: str = "auto", engine_params: dict | None = None,
             recall: float | None = None, sample: int | None = None, clustering_sample: int | None = None,
             home: Home = None) -> "EvaluationResult":
    """Retrieval and clustering metrics of a labeled space, as pytorch-metric-learning's AccuracyCalculator.

    ``space``: a registered space's name (with ``label_field``, a column of its dataset), or an
    array (n_items, dim) with ``labels`` (one per row): arrays need no registry (see
    :mod:`spacelens.scratch`).

    Returns ``{metric: value, ..., "info": {...}}`` (plus ``"per_class"``, worst class first,
    when ``per_class``) and stores it as artifact "evaluation" on the space. ``k``:
    "max_bin_count" (default), "all" or an int. ``engine``: "auto" (exact when its estimated
    time is short, else approximate at ``recall``, default 0.95; the recall is in ``info``),
    "exact", "ivf", "hnsw" or "dask". ``sample``: score that many random queries only, searched
    exactly among all references: each kNN metric is then an estimate with its 95% CI in
    ``info["sample"]["ci95"]`` (fast on any size); NMI/AMI then too, k-means' restarts compared on
    ``clustering_sample`` random items. Definitions: :mod:`spacelens.evaluate`.
    """
    from spacelens.display import EvaluationResult
    from spacelens.evaluate import evaluate_space, sort_per_class

    if _is_array(space):
        scratch = _scratch({"embeddings": space}, labels=labels, label_field=label_field or "label", home=home,
                           what="evaluate")
        home, space, label_field = scratch.reg, scratch.names[0], label_field or "label"
    elif labels is not None:
        raise SpacelensError(f"labels were given with the registered space {space!r}",
                             "Pass label_field=COLUMN for a registered space (labels= goes with an array)")
    elif label_field is None:
        raise SpacelensError(f"Evaluating space {space!r} needs its labels",
                             "Pass label_field=COLUMN (a column of its dataset)")
    res = evaluate_space(open_registry(home), space, label_field=label_field, metric=metric, k=k,
                         split_field=split_field, query_split=query_split, reference_split=reference_split,
                         avg_of_avgs=avg_of_avgs, clustering=clustering, clusters=clusters,
                         cluster_field=cluster_field, n_init=n_init, seed=seed, engine=engine,
                         engine_params=engine_params, recall=recall, sample=sample,
                         clustering_sample=clustering_sample)
    rows = res.pop("per_class")
    if per_class:
        res["per_class"] = sort_per_class(rows)
    return EvaluationResult(res, space=space, label_field=label_field)


def evaluate_versus(a: str, b: str, *, label_field: str, baseline: str | None = None, metric: str = "cosine",
                    k: int | str | None = None, split_field: str = "split", query_split=None, reference_split=None,
                    engine: str = "auto", engine_params: dict | None = None, seed: int = 0,
                    home: Home = None) -> dict:
    """Which of ``a`` and ``b`` retrieves better, with what confidence (``evaluate A --vs B``).

    Per-query P@1, R-precision and AP@R of both spaces on the same queries; per metric the
    difference b - a with a paired bootstrap 95% interval and a sign-flip randomization
    p-value, per-class wins, and ``"verdict"``: one sentence. ``baseline``: a reseeded run of
    ``a``, to read the difference against what seeds alone change. See
    :mod:`spacelens.evaluate.versus`.
    """
    from spacelens.evaluate.versus import evaluate_versus as _versus

    return _versus(open_registry(home), a, b, label_field=label_field, baseline=baseline, metric=metric, k=k,
                   split_field=split_field, query_split=query_split, reference_split=reference_split,
                   engine=engine, engine_params=engine_params, seed=seed)


def leaderboard(dataset: str, *, by: str = "mean_average_precision_at_r", label_field: str | None = None,
                metric: str | None = None, k: int | None = None, home: Home = None) -> list[dict]:
    """The stored evaluations of the spaces of ``dataset``, ranked only among equal settings.

    One dict per space and settings (the latest evaluation), with ``group`` (rows of one group
    share ``settings``: label column, distance, k, split ...; 1 is the largest group) and
    ``rank`` within it, best ``by`` first. Filter with ``label_field``, ``metric``, ``k``.
    """
    from spacelens.evaluate import leaderboard as _leaderboard

    return _leaderboard(open_registry(home), dataset, by=by, label_field=label_field, metric=metric, k=k)


def remove_evaluations(space: str, *, label_field: str | None = None, metric: str | None = None,
                       k: int | None = None, home: Home = None) -> list[dict]:
    """Delete stored evaluations of ``space`` (all, or those with that label column, metric, k)."""
    from spacelens.evaluate import remove_evaluations as _remove

    return _remove(open_registry(home), space, label_field=label_field, metric=metric, k=k)


def superseded_evaluations(dataset: str, *, home: Home = None) -> list[dict]:
    """Evaluations hidden from the leaderboard by a later one of the same space and settings."""
    from spacelens.evaluate import superseded_evaluations as _superseded

    return _superseded(open_registry(home), dataset)


def prune_evaluations(dataset: str, *, home: Home = None) -> list[dict]:
    """Delete evaluations superseded by a later one of the same space and settings (hidden from
    the leaderboard anyway); returns what was deleted."""
    from spacelens.evaluate import prune_evaluations as _prune

    return _prune(open_registry(home), dataset)


# -- neighbours (spacelens.neighbors) -----------------------------------------------------------
def knn(space: str, k: int = 10, metric: str = "cosine", engine: str = "auto", home: Home = None, **params):
    """The kNN graph of ``space`` (a :class:`~spacelens.neighbors.KnnGraph`), cached in the registry.

    ``engine``: "auto" (exact when estimated under a minute, else ivf tuned to ``recall=0.95``),
    "exact", "hnsw", "ivf" or "dask"; ``params`` its settings (e.g. ``recall=0.99``, ``nprobe=32``).
    An approximate graph's measured recall and 95% CI are in ``graph.info["recall"]``.
    """
    from spacelens.neighbors import knn_graph

    return knn_graph(open_registry(home), space, k, metric=metric, engine=engine, **params)


def query(space: str, id, *, k: int = 10, vs: str | None = None, metric: str = "cosine",
          home: Home = None) -> dict:
    """The ``k`` nearest neighbours of item ``id`` in ``space`` (and in ``vs``), with their metadata.

    With ``vs``: also ``"kept"`` (ids in both lists, ``space``'s order), ``"lost"`` (in ``space``'s
    list only) and ``"gained"`` (in ``vs``'s only, its order), and ``"jaccard"``/``"overlap"``
    of the two lists.
    """
    from spacelens.neighbors import query as _query

    out = _query(open_registry(home), space, id, k=k, vs=vs, metric=metric)
    if vs is not None:
        la, lb = (out["spaces"][name] for name in out["spaces"])
        ia, ib = [n["id"] for n in la], [n["id"] for n in lb]
        sa, sb = set(ia), set(ib)
        out["kept"] = [x for x in ia if x in sb]
        out["lost"] = [x for x in ia if x not in sb]
        out["gained"] = [x for x in ib if x not in sa]
        union = len(sa | sb)
        out["jaccard"] = len(out["kept"]) / union if union else 1.0
        out["overlap"] = len(out["kept"]) / out["k"] if out["k"] else 1.0
    return out


def build_index(index_name: str, space: str, *, model: str = "exact", similarity: str = "cosine",
                home: Home = None, **params) -> dict:
    """Build and store a named search index ("exact", "hnsw" or "ivf") over ``space``."""
    from spacelens.neighbors import build_index as _build_index

    return _build_index(open_registry(home), index_name, space, model=model, similarity=similarity, **params)


def list_indexes(space: str | None = None, *, home: Home = None) -> list[dict]:
    """The named search indexes (of one space, or all)."""
    from spacelens.neighbors import list_indexes as _list_indexes

    return _list_indexes(open_registry(home), space)


def delete_index(index_name: str, *, home: Home = None) -> dict:
    """Remove a named search index; returns what it was."""
    from spacelens.neighbors import delete_index as _delete_index

    return _delete_index(open_registry(home), index_name)


def compare(a, b, *, k=10, metric_a: str = "cosine", metric_b: str = "cosine", approx: bool = False,
            sample: int | None = None, include_self: bool = False, baseline: str | None = None,
            engine: str | None = None, engine_params: dict | None = None, seed: int = 0, cka: bool = True,
            by: str | None = None, primary_k: int | None = None, recall: float = 0.95, names=("A", "B"),
            metadata=None, home: Home = None):
    """Per-item kNN agreement of spaces ``a`` and ``b`` (a :class:`~spacelens.compare.Comparison`).

    ``a``, ``b``: registered spaces' names, or two arrays (n_items, dim) whose row i is the
    same item: arrays need no registry (:mod:`spacelens.scratch`); ``names`` labels them,
    ``metadata`` (a DataFrame, one row per item) gives ``by`` its columns.

    ``k``: int or list (the k curve). The headline (``.mean``, the baseline reading) is at
    ``primary_k`` if given, else k = 10 if in the curve, else the first k given. Per k: mean Jaccard,
    overlap@k and CKNNA (``info["curve"]``); linear and unbiased CKA (``info["cka"]``,
    ``info["cka_unbiased"]``). ``sample``: exact neighbours of that many random items, mean
    with a 95% interval. ``engine``: "auto" by default (exact when estimated under a minute, else
    approximate); ``approx``: approximate graphs (ivf). Approximate graphs are searched until their
    measured recall reaches ``recall``; it is reported with its 95% CI, beside the mean re-measured
    exactly on a random sample.
    ``baseline``: a reseeded run of ``a``, compared too; ``info["baseline_difference"]`` says
    per k whether A-vs-B differs beyond that run-to-run noise (paired 95% interval).
    ``by``: a dataset column; ``info["by"]`` holds the mean Jaccard (with its 95% interval)
    per value, most and least agreeing first. The neighbour lists stay on the result for
    :func:`neighbour_changes`, :func:`changed_items` and :func:`composition`.
    """
    from spacelens.compare import compare_with_baseline

    if _is_array(a) or _is_array(b):
        arrays = _named_pair(a, b, names, "compare")
        if baseline is not None:
            arrays[_baseline_name(names)] = baseline
        scratch = _scratch(arrays, metadata=metadata, home=home, what="compare")
        home, (a, b) = scratch.reg, scratch.names[:2]
        baseline = scratch.names[2] if baseline is not None else None
    reg = open_registry(home)
    res = compare_with_baseline(reg, a, b, baseline=baseline, k=k, metric_a=metric_a,
                                metric_b=metric_b, approx=approx, sample=sample, include_self=include_self,
                                engine=engine, engine_params=engine_params, seed=seed, cka=cka,
                                primary=primary_k, recall=recall)
    if by is not None:
        from spacelens.compare.insight import agreement_by_group, group_column

        groups = group_column(reg, res, by)[res.rows]
        res.info["by"] = {"column": by, "measure": "jaccard", "k": res.k,
                          **agreement_by_group(res.jaccard, groups)}
    return res


def _comparison(a, b, k, metric_a, metric_b, reg):
    from spacelens.compare import Comparison, compare_spaces

    if isinstance(a, Comparison):
        return a
    return compare_spaces(reg, a, b, k=k, metric_a=metric_a, metric_b=metric_b, cka=False, agreement=False,
                          store=False)


def neighbour_changes(a, b: str | None = None, id=None, *, k: int = 10, metric_a: str = "cosine",
                      metric_b: str = "cosine", home: Home = None) -> dict:
    """Item ``id``'s k neighbours kept, lost (in ``a`` only) and gained (in ``b`` only), with ids.

    ``a``: a space name (then ``b`` too) or a :class:`~spacelens.compare.Comparison` from
    :func:`compare`. Returns ``{"id", "k", "kept", "lost", "gained"}``, each list of
    ``{"id", "row"}`` nearest first (kept and lost in ``a``'s order, gained in ``b``'s).
    """
    from spacelens.compare.insight import neighbour_changes as _changes

    reg = open_registry(home)
    res = _comparison(a, b, k, metric_a, metric_b, reg)
    out = _changes(res, id, k)
    ids = reg.load_ids(res.dataset)
    for key in ("kept", "lost", "gained"):
        out[key] = [{"id": str(ids[r]), "row": r} for r in out[key]]
    return out


def changed_items(a, b: str | None = None, *, k: int = 10, columns: list[str] | str | None = None,
                  groups: dict | None = None, metric_a: str = "cosine", metric_b: str = "cosine",
                  home: Home = None):
    """Per item (pandas DataFrame): id, row, jaccard, overlap, kept and changed neighbour counts,
    least agreeing (most changed) first; ``columns``: dataset columns to add (``"all"``: every
    column but the id). ``groups``: a :func:`change_groups` result, adds the column ``group``
    (its rank, empty for items in none). Export with ``.to_csv`` / ``.to_parquet``."""
    from spacelens.compare.insight import changed_items as _changed

    reg = open_registry(home)
    res = _comparison(a, b, k, metric_a, metric_b, reg)
    df = _changed(res, k if k in res.per_k else None)
    if columns:
        table = _describable_table(reg, res, None if columns == "all" else columns)
        rows = df["row"].to_numpy()
        for c in ([] if table is None else table.columns):
            if c not in df.columns:
                df[c] = table[c].to_numpy()[rows]
    if groups is not None:
        import pandas as pd

        rank = {}
        for g in groups.get("groups", []):
            rank.update({r: g["rank"] for r in g["rows"]})
        df["group"] = pd.array([rank.get(int(r)) for r in df["row"]], dtype="Int64")
    return df


def _describable_table(reg, res, columns):
    """The dataset's metadata (indexed by dataset row) to describe items by; the id column left out."""
    ds = reg.dataset(res.dataset)
    cols = [c for c in reg.table_columns(ds.name) if c not in (ds.id_field, "id")]
    if columns is not None:
        columns = [columns] if isinstance(columns, str) else list(columns)
        missing = [c for c in columns if c not in cols]
        if missing:
            from spacelens.errors import SpacelensError

            raise SpacelensError(f"The dataset {ds.name!r} has no column {', '.join(map(repr, missing))}",
                                 f"Use some of: {', '.join(map(str, cols)) or '(none)'}")
        cols = columns
    return reg.load_table(ds.name, columns=cols) if cols else None


def change_groups(a, b: str | None = None, *, k: int = 10, columns=None, max_overlap: float = 0.5,
                  min_similarity: float = 0.15, min_size: int = 5, top: int = 10, metric_a: str = "cosine",
                  metric_b: str = "cosine", baseline: str | None = None, home: Home = None) -> dict:
    """Groups of items whose neighbourhoods changed together from ``a`` to ``b``, ranked by how far
    their change exceeds what is usual (the same items between ``a`` and ``baseline``, a reseeded
    run of ``a``, when given; else the rest of their class) and described by the dataset's
    metadata ("82% label=7 (vs 10% overall)", "ink 30–41 (vs 12–60 overall)") and in words
    ("reshuffled within label=7").

    ``a``: a space name (then ``b`` too) or a :class:`~spacelens.compare.Comparison`. ``columns``:
    the metadata columns to describe groups by (default all but the id). Items that kept at most
    ``max_overlap`` of their k neighbours are clustered (DBSCAN) by the lost and gained
    neighbours they share; see :mod:`spacelens.compare.groups`. JSON-ready dict; each group has
    ``rows``, ``ids``, ``mean_jaccard``, ``score``, ``features`` and ``description``.
    """
    from spacelens.compare.groups import change_groups as _groups, groups_to_dict

    reg = open_registry(home)
    res = _comparison(a, b, k, metric_a, metric_b, reg)
    table = _describable_table(reg, res, columns)
    base = None
    if baseline is not None:
        if isinstance(a, str) and baseline == a:
            from spacelens.errors import SpacelensError

            raise SpacelensError(f"The baseline space {baseline!r} is space A itself",
                                 "Pass a reseeded run of A (same recipe, another seed) as the baseline")
        base = _comparison(res.space_a, baseline, k, metric_a, metric_b, reg)
    from spacelens.evaluate.core import evaluated_label_fields

    out = _groups(res, table, k=k if k in res.per_k else None, max_overlap=max_overlap,
                  min_similarity=min_similarity, min_size=min_size, top=top, baseline=base,
                  label_columns=evaluated_label_fields(reg, res.dataset))
    out.update({"space_a": res.space_a, "space_b": res.space_b, "baseline": baseline})
    return groups_to_dict(out)


def composition(a, b: str | None = None, *, label_field: str, k: int = 10, top: int = 10,
                metric_a: str = "cosine", metric_b: str = "cosine", home: Home = None) -> dict:
    """Per class: the labels of its items' k neighbours in ``a`` and in ``b``, and the class
    pairs whose mixing differs most ("in B, 31% of class 7's neighbours are class 1, against 4%
    in A"). JSON-ready dict (see :func:`spacelens.compare.insight.composition_shift`)."""
    from spacelens.compare.insight import composition_shift, composition_to_dict, group_column

    reg = open_registry(home)
    res = _comparison(a, b, k, metric_a, metric_b, reg)
    labels = group_column(reg, res, label_field)
    out = composition_to_dict(composition_shift(res, labels, k=k, top=top))
    out["label_field"] = label_field
    return out


def compare_all(dataset: str, *, k: int = 10, metric: str = "cosine", approx: bool = False,
                include_self: bool = False, engine: str | None = None, engine_params: dict | None = None,
                cka: bool = True, recall: float = 0.95, home: Home = None):
    """Similarity matrix (mean kNN Jaccard, linear CKA) among all spaces of ``dataset``."""
    from spacelens.compare import compare_all as _compare_all

    return _compare_all(open_registry(home), dataset, k=k, metric=metric, approx=approx, include_self=include_self,
                        engine=engine, engine_params=engine_params, cka=cka, recall=recall)


# -- maps (spacelens.project) -------------------------------------------------------------------
def project(space, *, method: str = "umap", seed: int = 0, n_neighbors: int = 15, metric: str = "cosine",
            k: int = 10, trust_sample: int | None = 2000, align_to: str | None = None, recompute: bool = False,
            plot=None, color: str | None = None, vs: str | None = None, layout: str = "auto", home: Home = None):
    """A 2D map of ``space`` with its faithfulness, cached in the registry (artifact "projection").

    ``method``: "pca", "umap" (from the space's cached kNN graph), "pca-umap" (PCA to 50 dims,
    then UMAP), or "all" (returns ``{method: Projection}``). A :class:`~spacelens.project.Projection`
    has ``coords`` (float32 (n_rows, 2), space row order), ``rows``, ``ids``, ``faithfulness``
    (mean kNN preservation and trustworthiness at ``k``; trustworthiness over ``trust_sample``
    items when the space is larger) and ``per_item`` (kNN preservation of each row).
    ``align_to``: rotate/reflect/scale/shift onto that space's map (Procrustes on shared ids).
    ``plot``: also write a PNG there, coloured by the dataset column ``color`` or by
    ``color="coincidence"`` (per-item kNN Jaccard of a stored comparison with ``vs``).
    ``layout`` (UMAP): "auto" lays out maps of 200,000 items or more from a PCA start with
    parallel epochs (fast, not bit-for-bit reproducible); "seeded" keeps them reproducible.
    """
    from spacelens.display import as_projection_result
    from spacelens.project.core import METHODS, project as _project
    from spacelens.project.plots import check_plot_path, plot_projections, space_coloring

    if _is_array(space):  # an array: mapped in a scratch registry (spacelens.scratch)
        scratch = _scratch({"embeddings": space}, home=home, what="project")
        home, space = scratch.reg, scratch.names[0]
    reg = open_registry(home)
    if plot is not None:  # a bad path, column or missing comparison fails before any map is made
        check_plot_path(plot)
        coloring = space_coloring(reg, space, color, vs, k)
    settings = dict(seed=seed, n_neighbors=n_neighbors, metric=metric, k=k, trust_sample=trust_sample,
                    align_to=align_to, recompute=recompute, layout=layout)
    methods = METHODS if method == "all" else (method,)
    maps = {m: as_projection_result(_project(reg, space, m, **settings)) for m in methods}
    if plot is not None:
        plot_projections(list(maps.values()), plot, coloring)
    return maps if method == "all" else maps[method]


# -- the answer (spacelens.answer) --------------------------------------------------------------
AUTO_RETRIEVAL_MAX_ITEMS = 200_000   # above, answer() runs evaluate_versus only when labels are asked for


def answer(a: str, b: str, *, label_field: str | None = None, baseline: str | bool | None = None, k: int = 10,
           metric: str = "cosine", seed: int = 0, comparison=None, versus: dict | None = None,
           baseline_source: str | None = None, home: Home = None) -> dict:
    """The answer first: up to three short sentences on spaces ``a`` (A) and ``b`` (B), each
    with the figures it rests on (JSON-ready dict; see :func:`spacelens.answer.build_answer`):

    - which retrieves better: the paired difference of MAP@R with its 95% CI and p (from
      :func:`evaluate_versus`), and whether it goes beyond seed noise when there is a baseline;
      only with labels: ``label_field``, or the label column of a stored evaluation of A (or B);
    - how alike the neighbourhoods are: mean kNN Jaccard at ``k`` beside chance and beside the
      baseline's (A vs its reseeded run), from :func:`compare`;
    - where they differ most: the classes whose MAP@R changed most (with labels) or the items
      that kept fewest neighbours, each with the dataset ``rows`` and ``ids`` to select them.

    ``baseline``: a reseeded run of ``a``; None proposes one (a space of the same dataset, split
    and step whose experiment's parameters equal A's but the seed; ``baseline_source`` says
    "proposed"), False uses none. ``comparison`` / ``versus``: results of :func:`compare` and
    :func:`evaluate_versus` already computed for this pair (and baseline), reused as they are;
    ``baseline_source`` then says how their baseline was chosen ("given" or "proposed").
    """
    from spacelens.answer import build_answer, choose_label_field, propose_baseline

    reg = open_registry(home)
    source = None
    if comparison is not None:
        baseline = comparison.baseline.space_b if comparison.baseline is not None else None
        source = (baseline_source or "given") if baseline else None
    elif baseline is None:
        baseline = propose_baseline(reg, a, exclude=(b,))
        source = "proposed" if baseline else None
    elif baseline is False:
        baseline = None
    else:
        source = "given"
    label_source = "given" if label_field is not None else None
    if versus is not None:
        label_field, label_source = versus["label_field"], label_source or "given"
    elif label_field is None:
        label_field = choose_label_field(reg, a, b)
        label_source = "stored evaluation" if label_field else None
    if comparison is None:
        comparison = compare(a, b, k=k, metric_a=metric, metric_b=metric, baseline=baseline, seed=seed, home=reg)
    skipped = None
    n = max(reg.space(a).n_rows, reg.space(b).n_rows)
    if versus is None and label_field is not None and label_source != "given" and (
            n > AUTO_RETRIEVAL_MAX_ITEMS or (comparison.info or {}).get("sample")):
        # labels found, not asked for: a full paired evaluation of this size is not run unasked
        skipped = (f"which retrieves better was not computed unasked at {n:,} items: run "
                   f"'spacelens evaluate {a} --vs {b} --label-field {label_field}'")
        label_field = None
    if versus is None and label_field is not None:
        versus = evaluate_versus(a, b, label_field=label_field, baseline=baseline, metric=metric, seed=seed,
                                 home=reg)
    out = build_answer(reg, comparison, versus, baseline_source=source, label_source=label_source)
    if skipped:
        out["retrieval_skipped"] = skipped
    return out
