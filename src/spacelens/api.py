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


def _sample_or_full(sample, full: bool) -> None:
    """A sample and the full result at once: one clear error (the budget rule picks between them)."""
    if sample is not None and full:
        raise SpacelensError("sample= and full=True ask for opposite things", "Pass one of them (--sample N or --full)")


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
        overwrite: bool = False, dtype: str = "float32", images=None, home: Home = None) -> Space:
    """Register an embedding space (and its dataset and experiment when they are new).

    ``embeddings``: a path (.npy, .npz, .parquet) or an array of shape (n_items, dim).
    ``dataset``: the metadata table (CSV/Parquet path or DataFrame); needed only the first
    time a dataset name is used. Rows are matched by ``ids`` (or ids stored in the file);
    without ids, row i must be dataset row i. ``dtype``: "float32" or "float16" on disk (half
    the bytes; every reader still gets float32). ``images``: the folder the dataset's image column
    names files in (relative paths are read against it); the page shows image files only from it.
    """
    return tracking.add_space(open_registry(home), embeddings, dataset, dataset_name=dataset_name,
                              experiment_name=experiment_name, space_name=space_name, model_name=model_name,
                              id_field=id_field, ids=ids, params=params, train_dataset=train_dataset,
                              step=step, split=split, overwrite=overwrite, dtype=dtype, images=images)


def log_space(name: str, embeddings, *, dataset: str, experiment: str, ids=None, step: int | None = None,
              split: str | None = None, model_name: str | None = None, params: dict | None = None,
              overwrite: bool = True, run: str | None = None, replace_other_runs: bool = False,
              dtype: str = "float32", home: Home = None) -> Space:
    """Log a space from any training loop (no torch needed): the dataset must be registered.

    ``run``: names the training run (e.g. one per process); ``evolution`` follows one run. With
    ``replace_other_runs``, the experiment's stepped spaces of this split from other runs are
    removed in the same step (a re-run replaces the old one instead of mixing with it).
    ``dtype="float16"`` halves the bytes of each logged epoch (readers get float32; the figures
    agree with float32's, see the README's evolution section); :func:`prune` removes old epochs'
    vectors and keeps their stored results.
    """
    return tracking.add_space(open_registry(home), embeddings, dataset_name=dataset, experiment_name=experiment,
                              space_name=name, ids=ids, step=step, split=split, model_name=model_name,
                              params=params, overwrite=overwrite, run=run, replace_other_runs=replace_other_runs,
                              dtype=dtype)


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


def prune(experiment: str, *, keep_last: int | None = None, keep_every: int | None = None,
          keep_best: str | None = None, label_field: str | None = None, split: str | None = None,
          run: str | None = None, dry_run: bool = True, home: Home = None) -> tracking.PrunePlan:
    """Remove the vector files of an experiment's old epochs, keeping their records and stored
    results (evaluations, comparisons), so ``evolution`` still shows their figures.

    Per run and split, kept: the last ``keep_last`` steps, steps divisible by ``keep_every``, the
    best stored ``keep_best`` metric (e.g. "MAP@R", on ``label_field``) and always the last step.
    ``dry_run`` (default True): only report what would go and the bytes it would free; pass
    ``dry_run=False`` to prune. Anything that later needs a pruned space's vectors raises
    :class:`~spacelens.registry.PrunedError`.
    """
    return tracking.prune(open_registry(home), experiment, dry_run=dry_run, keep_last=keep_last,
                          keep_every=keep_every, keep_best=keep_best, label_field=label_field, split=split, run=run)


def load_space(name: str, *, home: Home = None):
    """``(vectors, ids)``: the space's float32 matrix (memory-mapped; a float16-stored space is
    widened into memory) and its item ids. A pruned space raises :class:`~spacelens.registry.PrunedError`."""
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
             full: bool = False, budget: float | None = None, home: Home = None) -> "EvaluationResult":
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

    Within a budget by default (:mod:`spacelens.budget`): above 100,000 items, when the full
    evaluation would take longer than ``budget`` seconds (60; ``$SPACELENS_BUDGET``) and no full
    evaluation with these settings is stored, the answer comes from a sample of 2,000 queries
    (``info["budget"]`` says so and what the full one would cost); ``full=True`` runs it in full.
    NMI/AMI have no honest sampled shortcut past k-means' own fits (:mod:`spacelens.evaluate.clustering_sampled`):
    when those fits alone exceed the budget, the sampled answer leaves NMI/AMI out and says what
    they would cost (``info["budget"]["deferred"]``).
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
    reg = open_registry(home)
    _sample_or_full(sample, full)
    plan, res = None, None
    if sample is None and clusters is None and cluster_field is None and not avg_of_avgs:
        from spacelens.budget import plan_evaluate

        plan = plan_evaluate(reg, space, label_field=label_field, metric=metric, k=k, split_field=split_field,
                             query_split=query_split, reference_split=reference_split, clustering=clustering,
                             n_init=n_init, full=full, budget=budget)
        if plan.sampled:     # a stored full evaluation with these settings answers instead of a sample
            from spacelens.evaluate.core import stored_full_evaluation

            res = stored_full_evaluation(reg, space, label_field=label_field, metric=metric, k=k,
                                         split_field=split_field, query_split=query_split,
                                         reference_split=reference_split, clustering=clustering,
                                         n_init=n_init, seed=seed)
            if res is None:
                sample = plan.sample
                # k-means' fits cannot be sampled: past the budget NMI/AMI wait for --full
                clustering = clustering and not plan.deferred
            else:
                plan = None
    if res is None:
        res = evaluate_space(reg, space, label_field=label_field, metric=metric, k=k,
                             split_field=split_field, query_split=query_split, reference_split=reference_split,
                             avg_of_avgs=avg_of_avgs, clustering=clustering, clusters=clusters,
                             cluster_field=cluster_field, n_init=n_init, seed=seed, engine=engine,
                             engine_params=engine_params, recall=recall, sample=sample,
                             clustering_sample=clustering_sample)
    if plan is not None:
        res["info"]["budget"] = plan.to_dict()
    rows = res.pop("per_class")
    if per_class:
        res["per_class"] = sort_per_class(rows)
    return EvaluationResult(res, space=space, label_field=label_field)


def evaluate_versus(a: str, b: str, *, label_field: str, baseline: str | None = None, metric: str = "cosine",
                    k: int | str | None = None, split_field: str = "split", query_split=None, reference_split=None,
                    engine: str = "auto", engine_params: dict | None = None, seed: int = 0,
                    sample: int | None = None, full: bool = False, budget: float | None = None,
                    home: Home = None) -> dict:
    """Which of ``a`` and ``b`` retrieves better, with what confidence (``evaluate A --vs B``).

    Per-query P@1, R-precision and AP@R of both spaces on the same queries; per metric the
    difference b - a with a paired bootstrap 95% interval and a sign-flip randomization
    p-value, per-class wins, and ``"verdict"``: one sentence. ``baseline``: a reseeded run of
    ``a``, to read the difference against what seeds alone change. See
    :mod:`spacelens.evaluate.versus`.

    Within a budget by default (:mod:`spacelens.budget`): above 100,000 items, when scoring
    every query in every space would take longer than ``budget`` seconds, the same 2,000 random
    queries are scored in each space (``sample``: that many; ``result["budget"]`` says why and
    what the full one would cost); ``full=True`` scores them all.
    """
    from spacelens.evaluate.versus import evaluate_versus as _versus

    reg = open_registry(home)
    _sample_or_full(sample, full)
    plan = None
    if sample is None:
        from spacelens.budget import plan_evaluate

        plan = plan_evaluate(reg, a, label_field=label_field, metric=metric, k=k, split_field=split_field,
                             query_split=query_split, reference_split=reference_split, clustering=False,
                             full=full, budget=budget, verb="paired evaluation",
                             spaces=tuple(x for x in (a, b, baseline) if x is not None))
        sample = plan.sample if plan.sampled else None
    out = _versus(reg, a, b, label_field=label_field, baseline=baseline, metric=metric, k=k,
                  split_field=split_field, query_split=query_split, reference_split=reference_split,
                  engine=engine, engine_params=engine_params, seed=seed, sample=sample)
    if plan is not None:
        from spacelens.jsonable import jsonable

        out["budget"] = jsonable(plan.to_dict())
    return out


def leaderboard(dataset: str, *, by: str = "mean_average_precision_at_r", label_field: str | None = None,
                metric: str | None = None, k: int | None = None, clean: bool | str = False,
                home: Home = None) -> list[dict]:
    """The stored evaluations of the spaces of ``dataset``, ranked only among equal settings.

    One dict per space and settings (the latest evaluation), with ``group`` (rows of one group
    share ``settings``: label column, distance, k, split ...; 1 is the largest group) and
    ``rank`` within it, best ``by`` first. Filter with ``label_field``, ``metric``, ``k``.
    ``clean``: each row also gets ``clean``, its MAP@R (``by`` when a per-query metric) with
    the leaked queries and likely label errors left out, from the space's audit
    (:mod:`spacelens.audit.clean`): True runs the audit where none is stored, "stored" only reads.
    """
    from spacelens.evaluate import leaderboard as _leaderboard

    reg = open_registry(home)
    rows = _leaderboard(reg, dataset, by=by, label_field=label_field, metric=metric, k=k)
    if clean:
        from spacelens.audit.clean import clean_figures

        run = (lambda space, **kw: audit(space, home=reg, **kw)) if clean is True else None  # noqa: E731
        rows = clean_figures(reg, rows, by=by, run_audit=run)
    return rows


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


# -- the audit (spacelens.audit) ----------------------------------------------------------------
def audit(space, labels=None, *, label_field: str | None = None, split_field: str | None = None, splits=None,
          query_split=None, reference_split=None, other=None, k: int = 10, metric: str = "cosine",
          engine: str = "auto", threshold: float | None = None, outliers_by_class: bool = False,
          effect: bool = True, sample: int | None = None, seed: int = 0, home: Home = None):
    """Can this evaluation be trusted? Leaks, duplicates, likely label errors, outliers and mixed
    classes of ``space``, found from its kNN graph, with their effect on MAP@R, R-precision and P@1
    (an :class:`~spacelens.audit.AuditResult`: ``.answer``, ``.to_frame()``, ``.to_dict()``).

    ``space``: a registered space's name (``label_field``, ``split_field``: columns of its
    dataset) or an array with ``labels`` and ``splits`` (one per row). ``query_split``: the split
    whose items are queries (default: the smallest); ``reference_split``: default every other.
    ``other``: a second space of the same dataset: which flags both raise (likely the data's
    problem) and which only one (likely the model's). ``threshold``: the near-duplicate distance
    (default: from the space's own nearest-neighbour distances, stated in the result). ``k``:
    neighbours every detector reads. ``sample``: score that many random queries for the effect
    (default: all, unless a full pass would take minutes). Rules: :mod:`spacelens.audit`.
    """
    from spacelens.audit import audit_space, compare_flags

    if _is_array(space):
        meta = None
        if splits is not None:
            from spacelens.scratch import as_matrix

            meta = {"split": [str(s) for s in splits]}
            if len(meta["split"]) != len(as_matrix(space, "Embeddings")):
                raise SpacelensError("splits must have one value per row", "Pass one split name per row")
            split_field = split_field or "split"
        arrays = {"embeddings": space} if other is None else _named_pair(space, other, ("a", "b"), "audit")
        scratch = _scratch(arrays, labels=labels, metadata=meta, label_field=label_field or "label", home=home,
                           what="audit")
        home = scratch.reg
        space, other = scratch.names[0], (scratch.names[1] if other is not None else None)
        label_field = (label_field or "label") if labels is not None else None
    elif labels is not None or splits is not None:
        raise SpacelensError(f"labels/splits were given with the registered space {space!r}",
                             "Pass label_field=COLUMN and split_field=COLUMN for a registered space")
    import numpy as np

    from spacelens.audit.store import audit_params, store_audit

    reg = open_registry(home)
    kw = dict(label_field=label_field, split_field=split_field, query_split=query_split,
              reference_split=reference_split, k=k, metric=metric, engine=engine, threshold=threshold,
              outliers_by_class=outliers_by_class, effect=effect, sample=sample, seed=seed)
    if other is not None and reg.space(other).dataset != reg.space(space).dataset:
        raise SpacelensError(f"Spaces {space!r} and {other!r} embed different datasets",
                             "Audit two spaces of one dataset (items are matched by row)")
    key = audit_params(**kw)
    res = audit_space(reg, space, **kw)
    store_audit(reg, res, key)   # read back by the page, the report and the leaderboard's clean column
    if other is not None:
        res_b = audit_space(reg, other, **kw)
        store_audit(reg, res_b, key)
        res._data["versus"] = compare_flags(res, res_b)
        fb = res_b.to_frame()
        only_b = [fb["row"].isin(v["rows_only_b"]) & (fb["kind"] == kind) for kind, v in res["versus"]["kinds"].items()]
        res._data["other"] = {"space": res_b.space, "answer": res_b.answer, "kinds": res_b["kinds"],
                              # the items only the other space flags (those both flag are in the frame)
                              "items_only": fb[np.logical_or.reduce(only_b)].to_dict(orient="records")
                              if only_b else []}
        res._data["answer"] += " " + res._data["versus"]["sentence"]
        store_audit(reg, res, key, other=other)
    return res


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
            metadata=None, full: bool = False, budget: float | None = None, home: Home = None):
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

    Within a budget by default (:mod:`spacelens.budget`): above 100,000 items, when building the
    graphs not stored yet would take longer than ``budget`` seconds (60; ``$SPACELENS_BUDGET``),
    the comparison is sampled (2,000 items, 95% intervals; ``info["budget"]`` says so and what the
    full one would cost); ``full=True`` builds the graphs, which later calls then reuse.
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
    plan = None
    _sample_or_full(sample, full)
    if sample is None and not approx and engine in (None, "auto"):
        from spacelens.budget import plan_compare
        from spacelens.compare.core import parse_ks, primary_k as _primary

        ks = parse_ks(k)
        plan = plan_compare(reg, a, b, max(ks + [_primary(k, ks, primary_k)]), metric_a, metric_b, full=full,
                            budget=budget, baseline=baseline)
        sample = plan.sample if plan.sampled else None
    res = compare_with_baseline(reg, a, b, baseline=baseline, k=k, metric_a=metric_a,
                                metric_b=metric_b, approx=approx, sample=sample, include_self=include_self,
                                engine=engine, engine_params=engine_params, seed=seed, cka=cka,
                                primary=primary_k, recall=recall)
    if plan is not None:
        res.info["budget"] = plan.to_dict()
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


def answer(a: str, b: str, *, label_field: str | None = None, baseline: str | bool | None = None, k: int = 10,
           metric: str = "cosine", seed: int = 0, comparison=None, versus: dict | None = None,
           baseline_source: str | None = None, full: bool = False, budget: float | None = None,
           home: Home = None) -> dict:
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

    Within a budget like every verb (``full``, ``budget``: :mod:`spacelens.budget`): a figure
    that comes from a sample says so, and ``sampled`` holds the first line to show above the
    sentences (what it rests on, what the full result would cost, how to get it), ``budget`` the
    sampled results' plans (:meth:`spacelens.budget.Plan.to_dict`).
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
        comparison = compare(a, b, k=k, metric_a=metric, metric_b=metric, baseline=baseline, seed=seed,
                             full=full, budget=budget, home=reg)
    if versus is None and label_field is not None:
        versus = evaluate_versus(a, b, label_field=label_field, baseline=baseline, metric=metric, seed=seed,
                                 full=full, budget=budget, home=reg)
    out = build_answer(reg, comparison, versus, baseline_source=source, label_source=label_source)
    plans = [p for p in ((comparison.info or {}).get("budget"), (versus or {}).get("budget")) if p and p["sampled"]]
    if plans:
        from spacelens.budget import sampled_line

        out["sampled"] = sampled_line(plans)
        out["budget"] = plans   # each sampled result's plan (what it rests on, what the full one costs)
    return out
