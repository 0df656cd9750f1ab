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

from spacelens import tracking
from spacelens.registry import KINDS, Registry, Space

Home = str | os.PathLike | Registry | None


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
              overwrite: bool = True, home: Home = None) -> Space:
    """Log a space from any training loop (no torch needed): the dataset must be registered."""
    return add(embeddings, dataset_name=dataset, experiment_name=experiment, space_name=name, ids=ids,
               step=step, split=split, model_name=model_name, params=params, overwrite=overwrite, home=home)


def ls(kind: str | None = None, *, home: Home = None):
    """Registered entities: a list of records of ``kind``, or a dict of all three kinds."""
    reg = open_registry(home)
    if kind is None:
        return {k: reg.list(k) for k in KINDS}
    return reg.list(tracking._kind(kind))


def show(name: str, kind: str | None = None, *, home: Home = None) -> dict:
    """Everything known about one dataset, experiment or space, as a dict."""
    return tracking.describe(open_registry(home), name, kind)


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


def evaluate(space: str, *, label_field: str, metric: str = "cosine", k: int | str | None = None,
             split_field: str = "split", query_split=None, reference_split=None, per_class: bool = False,
             avg_of_avgs: bool = False, clustering: bool = True, clusters=None, cluster_field: str | None = None,
             n_init: int = 3, seed: int = 0, engine: str = "auto", engine_params: dict | None = None,
             recall: float | None = None, home: Home = None) -> dict:
    """Retrieval and clustering metrics of a labeled space, as pytorch-metric-learning's AccuracyCalculator.

    Returns ``{metric: value, ..., "info": {...}}`` (plus ``"per_class"``, worst class first,
    when ``per_class``) and stores it as artifact "evaluation" on the space. ``k``:
    "max_bin_count" (default), "all" or an int. ``engine``: "auto" (exact when its estimated
    time is short, else approximate at ``recall``, default 0.95; the recall is in ``info``),
    "exact", "ivf", "hnsw" or "dask". Definitions: :mod:`spacelens.evaluate`.
    """
    from spacelens.evaluate import evaluate_space, sort_per_class

    res = evaluate_space(open_registry(home), space, label_field=label_field, metric=metric, k=k,
                         split_field=split_field, query_split=query_split, reference_split=reference_split,
                         avg_of_avgs=avg_of_avgs, clustering=clustering, clusters=clusters,
                         cluster_field=cluster_field, n_init=n_init, seed=seed, engine=engine,
                         engine_params=engine_params, recall=recall)
    rows = res.pop("per_class")
    if per_class:
        res["per_class"] = sort_per_class(rows)
    return res


def leaderboard(dataset: str, *, by: str = "mean_average_precision_at_r", label_field: str | None = None,
                metric: str | None = None, home: Home = None) -> list[dict]:
    """Every stored evaluation of the spaces of ``dataset``, best ``by`` first (one dict per row)."""
    from spacelens.evaluate import leaderboard as _leaderboard

    return _leaderboard(open_registry(home), dataset, by=by, label_field=label_field, metric=metric)


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
    """The ``k`` nearest neighbours of item ``id`` in ``space`` (and in ``vs``), with their metadata."""
    from spacelens.neighbors import query as _query

    return _query(open_registry(home), space, id, k=k, vs=vs, metric=metric)


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


def compare(a: str, b: str, *, k=10, metric_a: str = "cosine", metric_b: str = "cosine", approx: bool = False,
            sample: int | None = None, include_self: bool = False, baseline: str | None = None,
            engine: str | None = None, engine_params: dict | None = None, seed: int = 0, cka: bool = True,
            recall: float = 0.95, home: Home = None):
    """Per-item kNN Jaccard of spaces ``a`` and ``b`` (a :class:`~spacelens.compare.Comparison`).

    ``k``: int or list (the k curve; the largest is the headline). ``sample``: exact
    neighbours of that many random items, mean with a 95% interval. ``engine``: "auto" by
    default (exact when estimated under a minute, else approximate); ``approx``: approximate
    graphs (ivf). Approximate graphs are searched until their measured recall reaches
    ``recall``; it is reported with its 95% CI, beside the mean re-measured exactly on a random
    sample. ``baseline``: a reseeded run of ``a``, compared too.
    """
    from spacelens.compare import compare_with_baseline

    return compare_with_baseline(open_registry(home), a, b, baseline=baseline, k=k, metric_a=metric_a,
                                 metric_b=metric_b, approx=approx, sample=sample, include_self=include_self,
                                 engine=engine, engine_params=engine_params, seed=seed, cka=cka, recall=recall)


def compare_all(dataset: str, *, k: int = 10, metric: str = "cosine", approx: bool = False,
                include_self: bool = False, engine: str | None = None, engine_params: dict | None = None,
                cka: bool = True, recall: float = 0.95, home: Home = None):
    """Similarity matrix (mean kNN Jaccard, linear CKA) among all spaces of ``dataset``."""
    from spacelens.compare import compare_all as _compare_all

    return _compare_all(open_registry(home), dataset, k=k, metric=metric, approx=approx, include_self=include_self,
                        engine=engine, engine_params=engine_params, cka=cka, recall=recall)


# -- maps (spacelens.project) -------------------------------------------------------------------
def project(space: str, *, method: str = "umap", seed: int = 0, n_neighbors: int = 15, metric: str = "cosine",
            k: int = 10, trust_sample: int | None = 2000, align_to: str | None = None, recompute: bool = False,
            plot=None, color: str | None = None, vs: str | None = None, home: Home = None):
    """A 2D map of ``space`` with its faithfulness, cached in the registry (artifact "projection").

    ``method``: "pca", "umap" (from the space's cached kNN graph), "pca-umap" (PCA to 50 dims,
    then UMAP), or "all" (returns ``{method: Projection}``). A :class:`~spacelens.project.Projection`
    has ``coords`` (float32 (n_rows, 2), space row order), ``rows``, ``ids``, ``faithfulness``
    (mean kNN preservation and trustworthiness at ``k``; trustworthiness over ``trust_sample``
    items when the space is larger) and ``per_item`` (kNN preservation of each row).
    ``align_to``: rotate/reflect/scale/shift onto that space's map (Procrustes on shared ids).
    ``plot``: also write a PNG there, coloured by the dataset column ``color`` or by
    ``color="coincidence"`` (per-item kNN Jaccard of a stored comparison with ``vs``).
    """
    from spacelens.project.core import METHODS, project as _project
    from spacelens.project.plots import check_plot_path, plot_projections, space_coloring

    reg = open_registry(home)
    if plot is not None:  # a bad path, column or missing comparison fails before any map is made
        check_plot_path(plot)
        coloring = space_coloring(reg, space, color, vs, k)
    settings = dict(seed=seed, n_neighbors=n_neighbors, metric=metric, k=k, trust_sample=trust_sample,
                    align_to=align_to, recompute=recompute)
    methods = METHODS if method == "all" else (method,)
    maps = {m: _project(reg, space, m, **settings) for m in methods}
    if plot is not None:
        plot_projections(list(maps.values()), plot, coloring)
    return maps if method == "all" else maps[method]


# -- spaces over training (spacelens.evolution) -------------------------------------------------
def evolution(experiment: str, *, split: str | None = "val", k: int = 10, label_field: str | None = None,
              metric: str = "cosine", plot=None, home: Home = None):
    """Per epoch of ``experiment`` (spaces of ``split`` logged with a step): mean kNN Jaccard to the
    previous and to the last epoch, and with ``label_field`` the evaluation metrics; answers "is it
    worth training longer?" in ``.verdict``. ``plot``: also write the curves to that PNG.
    Returns a :class:`~spacelens.evolution.Evolution` (``.epochs``, ``.to_dict()``, ``.to_frame()``).
    """
    from spacelens.evolution import evolution as _evolution, plot_evolution

    ev = _evolution(open_registry(home), experiment, split=split, k=k, label_field=label_field, metric=metric)
    if plot is not None:
        plot_evolution(ev, plot)
    return ev
