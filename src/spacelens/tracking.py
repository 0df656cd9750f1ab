"""Tracking: register, describe and remove datasets, experiments and spaces.

``add_space`` does all validation (reading the files, aligning ids) before it writes, then
stages the new files and has the registry record them in one short transaction: a dataset, an
experiment and a space registered together either all appear or none does. The SQL lives in
:mod:`spacelens.registry` (the one module that knows the schema).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field

import numpy as np

from spacelens.errors import NotFoundError, SpacelensError
from spacelens.io import read_dataset, read_embeddings
from spacelens.io.datasets import DatasetSource
from spacelens.registry import (
    KIND_ALIASES,
    KINDS,
    Dataset,
    NewDataset,
    NewSpace,
    Registry,
    Space,
    record_dict,
    validate_name,
)


def _content_hash(table) -> str:
    import hashlib

    import pandas as pd

    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps(list(map(str, table.columns))).encode())
    h.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    return h.hexdigest()


def align_rows(dataset_ids: np.ndarray, emb_ids: np.ndarray | None, n_emb: int, dataset_name: str):
    """Map embedding rows to dataset rows.

    Returns ``(order, rows)``: copy ``emb[order]`` (None = as is) so the stored space is in
    dataset order, and ``rows`` = the dataset rows it covers (None = all of them).
    """
    n = len(dataset_ids)
    if emb_ids is None:
        if n_emb != n:
            raise SpacelensError(
                f"The embeddings have {n_emb} rows but dataset {dataset_name!r} has {n}",
                "Pass one row per dataset item in the dataset's order, or store ids with the "
                "embeddings (npz 'ids' array or a Parquet id column) to match rows by id",
            )
        return None, None
    import pandas as pd

    pos = pd.Index(dataset_ids).get_indexer(emb_ids)
    missing = np.flatnonzero(pos < 0)
    if missing.size:
        # plain quoted strings, not numpy's repr (np.str_('0'))
        shown = ", ".join(repr(str(x)) for x in emb_ids[missing[:3]]) + (", ..." if missing.size > 3 else "")
        problem = (f"{missing.size:,} of {len(emb_ids):,} embedding ids are not in dataset {dataset_name!r} "
                   f"(e.g. {shown})")
        # ids written as numbers lose their leading zeros ('007' -> 7): the commonest cause
        stripped = {}
        for d in map(str, dataset_ids):
            s = d.lstrip("0") or ("0" if d else d)
            if s != d:
                stripped.setdefault(s, d)
        lost = [(str(x), stripped[str(x)]) for x in emb_ids[missing] if str(x) in stripped]
        if lost and len(lost) >= missing.size / 2:
            e, d = next((pair for pair in lost if pair[0] != "0"), lost[0])
            raise SpacelensError(
                f"{problem}: the ids look like they lost leading zeros (dataset has {d!r} where the embeddings "
                f"have {e!r})",
                "Store ids as strings (e.g. np.array(ids, dtype=str) from the dataset's id column, or read the "
                "CSV with dtype={'id': str}), so '007' stays '007'",
            )
        raise SpacelensError(problem, "Add those items to the dataset table, or drop their embeddings")
    order = np.argsort(pos, kind="stable")
    rows = pos[order].astype(np.int64)
    if rows.size == n:  # full coverage (rows == arange(n) since ids are unique)
        return (None if np.array_equal(order, np.arange(n)) else order), None
    return order, rows


def add_space(reg: Registry, embeddings, dataset=None, *, dataset_name: str, experiment_name: str,
              space_name: str, model_name: str | None = None, id_field: str | None = None, ids=None,
              params: dict | None = None, train_dataset: str | None = None, step: int | None = None,
              split: str | None = None, overwrite: bool = False, run: str | None = None,
              replace_other_runs: bool = False, dtype: str = "float32", images=None) -> Space:
    """Register a space, with its dataset and experiment when they are new (one atomic step).

    Everything is read and checked first; then the files are staged (no lock held) and one
    short transaction records them (see :class:`~spacelens.registry.Registry`). ``run``: the
    training run the space was logged in; with ``replace_other_runs`` the experiment's stepped
    spaces of the same split from other runs are removed in the same transaction. ``dtype``:
    how the vectors are stored, "float32" or "float16" (half the bytes; readers get float32
    back; see :meth:`~spacelens.registry.store.Staging.copy_space`). ``images``: the folder the
    dataset's image column names files in (set or replaced; the page shows files only from it).
    """
    from spacelens.registry.store import check_dtype

    dtype = check_dtype(dtype)
    for value, what in ((dataset_name, "dataset name"), (experiment_name, "experiment name"),
                        (space_name, "space name")):
        validate_name(value, what)
    if run is not None:
        validate_name(run, "run name")
    image_root = reg.image_root_value(images) if images is not None else None

    old_ds = next(iter(d for d in reg.find(dataset_name) if isinstance(d, Dataset)), None)
    new_ds: DatasetSource | None = None
    if dataset is not None:
        new_ds = read_dataset(dataset, id_field)
        new_hash = _content_hash(new_ds.table)
        if old_ds is not None and (old_ds.content_hash != new_hash or old_ds.id_field != new_ds.id_field):
            raise SpacelensError(
                f"Dataset name {dataset_name!r} is already taken by a different table",
                "Choose another --dataset-name, or omit -d to add the space to the registered dataset",
            )
        if old_ds is not None:
            new_ds = None  # same table: reuse it
    elif old_ds is None:
        raise SpacelensError(
            f"Dataset {dataset_name!r} is not registered yet",
            "Pass its metadata table with -d FILE (CSV or Parquet) the first time",
        )
    if old_ds is not None and id_field is not None and dataset is None and id_field != old_ds.id_field:
        raise SpacelensError(f"Dataset {dataset_name!r} uses id field {old_ds.id_field!r}, not {id_field!r}",
                             "Omit --id-field for a registered dataset")
    if not overwrite and any(isinstance(r, Space) for r in reg.find(space_name)):
        raise SpacelensError(f"A space named {space_name!r} already exists",
                             "Choose another --embedding-space-name, or pass --overwrite to replace it")

    src = read_embeddings(embeddings, ids=ids, id_field=id_field)
    dataset_ids = new_ds.ids if new_ds is not None else reg.load_ids(old_ds)
    order, rows = align_rows(dataset_ids, src.ids, src.shape[0], dataset_name)

    with reg.staged() as staging:
        staged_ds = None
        if new_ds is not None:
            staged_ds = NewDataset(
                name=dataset_name, id_field=new_ds.id_field, n_rows=len(new_ds.table),
                columns=[{"name": c, "dtype": str(t)} for c, t in new_ds.table.dtypes.items()],
                source_path=new_ds.path, content_hash=_content_hash(new_ds.table),
                table_file=staging.save_table(new_ds.table), ids_file=staging.save_array(new_ds.ids),
                image_root=image_root)
        array_file, digest, stats = staging.copy_space(src.array, order, dtype=dtype)
        space = NewSpace(name=space_name, dim=src.shape[1], n_rows=src.shape[0], content_hash=digest,
                         array_file=array_file, rows_file=staging.save_array(rows) if rows is not None else None,
                         source_path=src.path, stats=stats, step=step, split=split, run=run, dtype=dtype)
        return reg.record_space(staging, space, dataset=dataset_name, new_dataset=staged_ds,
                                experiment=experiment_name, model_name=model_name, params=params,
                                train_dataset=train_dataset, overwrite=overwrite,
                                replace_other_runs=replace_other_runs, image_root=image_root)


def remove(reg: Registry, kind: str, name: str, cascade: bool = False) -> list[str]:
    """Remove an entity; refuse when others depend on it unless ``cascade``. Returns what went."""
    return reg.remove(_kind(kind), name, cascade)


def _kind(kind: str) -> str:
    try:
        return KIND_ALIASES[kind.lower()]
    except KeyError:
        raise SpacelensError(f"Unknown kind {kind!r}", "Use one of: datasets, experiments, spaces") from None


def resolve(reg: Registry, name: str, kind: str | None = None):
    """The one entity called ``name`` (of ``kind`` if given), or a helpful error."""
    if kind is not None:
        return {"datasets": reg.dataset, "experiments": reg.experiment, "spaces": reg.space}[_kind(kind)](name)
    found = reg.find(name)
    if len(found) > 1:
        kinds = " and ".join(f.kind for f in found)
        raise SpacelensError(f"{name!r} names a {kinds}", "Say which with --kind dataset|experiment|space")
    if not found:
        names = [r.name for k in KINDS for r in reg.list(k)]
        close = difflib.get_close_matches(name, names, n=3)
        hint = f"Did you mean {', '.join(map(repr, close))}?" if close else "List what exists with 'spacelens ls'"
        raise NotFoundError(f"Nothing named {name!r} in the registry at {reg.home}", hint)
    return found[0]


def describe(reg: Registry, name: str, kind: str | None = None) -> dict:
    """Everything known about one entity, JSON-ready (lineage, shape, stats, derived results)."""
    rec = resolve(reg, name, kind)
    out = record_dict(rec)
    if isinstance(rec, Dataset):
        out["spaces"] = [s.name for s in reg.spaces_of(dataset=rec.name)]
    elif isinstance(rec, Space):
        ds = reg.dataset(rec.dataset)
        exp = reg.experiment(rec.experiment)
        out["shape"] = [rec.n_rows, rec.dim]
        out["coverage"] = f"{rec.n_rows} of {ds.n_rows} dataset items"
        out["model_name"] = exp.model_name
        out["derived"] = [
            {"kind": a.kind, "name": a.name, "other_space": a.other_space, "params": a.params, "info": a.info}
            for a in reg.find_artifacts(space=rec.name)]
    else:
        out["spaces"] = [s.name for s in reg.spaces_of(experiment=rec.name)]
    return out


# -- pruning old epochs ---------------------------------------------------------------------------
@dataclass
class PrunePlan:
    """What :func:`prune` keeps and removes of an experiment's stepped spaces.

    ``prune``: spaces whose vector files go (their records and stored results stay), each with
    ``bytes`` (its vector file and its kNN graphs / search indexes) and ``results`` (how many
    stored results it keeps); ``keep``: spaces kept, each with ``why``. ``applied``: whether the
    files were removed (False: a dry run).
    """

    experiment: str
    keep: list[dict]
    prune: list[dict]
    already_pruned: list[str]
    bytes_freed: int
    applied: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _vector_only_kinds() -> tuple[str, ...]:
    """Derived results that are only of use beside the vectors (dropped with them)."""
    from spacelens.neighbors.cache import KIND as GRAPH
    from spacelens.neighbors.search import KIND as INDEX

    return (GRAPH, INDEX)


def _size(reg: Registry, rel: str | None) -> int:
    if not rel:
        return 0
    try:
        return reg.store.path(rel).stat().st_size
    except (OSError, SpacelensError):
        return 0


def _metric_name(metric: str) -> str:
    from spacelens import catalogue

    for f in catalogue.METRICS:
        if metric in (f.name, f.short) or metric.lower() in (f.name.lower(), f.short.lower()):
            return f.name
    raise SpacelensError(f"{metric!r} is not an evaluation metric",
                         f"Use one of: {', '.join(f.short for f in catalogue.METRICS)}")


def _stored_scores(reg: Registry, spaces: list[Space], metric: str, label_field: str | None) -> dict[str, float]:
    """``metric`` from each space's latest stored evaluation (on ``label_field`` when given)."""
    from spacelens.evaluate.core import ARTIFACT

    found: dict[str, tuple[int, float]] = {}
    for a in reg.find_artifacts(kind=ARTIFACT):
        if label_field is not None and a.params.get("label_field") != label_field:
            continue
        v = a.info.get(metric)
        if isinstance(v, (int, float)) and v == v and a.id > found.get(a.space, (-1, 0.0))[0]:
            found[a.space] = (a.id, float(v))
    names = {s.name for s in spaces}
    used = {a.params.get("label_field") for a in reg.find_artifacts(kind=ARTIFACT) if a.space in names}
    if label_field is None and len(used) > 1:
        raise SpacelensError(f"The spaces were evaluated on several label fields ({', '.join(sorted(map(str, used)))})",
                             "Say which one --keep-best reads with --label-field")
    return {name: v for name, (_, v) in found.items() if name in names}


def plan_prune(reg: Registry, experiment: str, *, keep_last: int | None = None, keep_every: int | None = None,
               keep_best: str | None = None, label_field: str | None = None, split: str | None = None,
               run: str | None = None) -> PrunePlan:
    """Which stepped spaces of ``experiment`` :func:`prune` would prune, and what that frees.

    Per training run and split, kept: the last ``keep_last`` steps, every step divisible by
    ``keep_every``, the step with the best stored ``keep_best`` metric (from the stored
    evaluations, on ``label_field``), and always the last step (the epoch evolution compares
    every other one to). Spaces without a step are never pruned.
    """
    for value, what in ((keep_last, "keep_last"), (keep_every, "keep_every")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise SpacelensError(f"{what}={value!r} must be a positive whole number", "Pass e.g. 5")
    if keep_last is None and keep_every is None and keep_best is None:
        raise SpacelensError("Pruning needs to be told what to keep",
                             "Pass --keep-last N, --keep-every M and/or --keep-best METRIC")
    reg.experiment(experiment)  # NotFoundError with a hint
    spaces = [s for s in reg.spaces_of(experiment=experiment) if s.step is not None
              and (split is None or s.split == split) and (run is None or s.run == run)]
    if not spaces:
        sel = "".join(f" of {w} {v!r}" for w, v in (("split", split), ("run", run)) if v is not None)
        raise SpacelensError(f"Experiment {experiment!r} has no spaces logged with a step{sel}",
                             "Only epoch logs (spaces with a step) are pruned; check --split / --run")
    metric = _metric_name(keep_best) if keep_best is not None else None
    scores = _stored_scores(reg, spaces, metric, label_field) if metric else {}
    groups: dict[tuple, list[Space]] = {}
    for s in spaces:
        groups.setdefault((s.run, s.split), []).append(s)
    keep, prune_, already, warns = [], [], [], []
    drop = _vector_only_kinds()
    for (g_run, g_split), members in groups.items():
        members.sort(key=lambda s: (s.step, s.id))
        steps = sorted({s.step for s in members})
        why: dict[int, list[str]] = {}
        if keep_last:
            for st in steps[-keep_last:]:
                why.setdefault(st, []).append(f"last {keep_last}")
        else:
            why.setdefault(steps[-1], []).append("last step")
        if keep_every:
            for st in steps:
                if st % keep_every == 0:
                    why.setdefault(st, []).append(f"every {keep_every}")
        if metric:
            from spacelens import catalogue

            scored = [(scores[s.name], s.step) for s in members if s.name in scores]
            if scored:
                sign = 1 if catalogue.get(metric).higher_is_better is not False else -1
                best = max(scored, key=lambda t: (sign * t[0], -t[1]))
                why.setdefault(best[1], []).append(f"best {catalogue.short(metric)} {best[0]:.4f}")
            else:
                warns.append(f"No stored evaluation with {catalogue.short(metric)} among the {g_split!r} spaces "
                             f"of run {g_run!r}: --keep-best kept none of them (evaluate them first)")
        for s in members:
            entry = {"space": s.name, "step": s.step, "split": s.split, "run": s.run}
            if s.pruned_at is not None:
                already.append(s.name)
            elif s.step in why:
                keep.append({**entry, "why": why[s.step]})
            else:
                arts = reg.find_artifacts(space=s.name)
                dropped = [a for a in arts if a.kind in drop]
                nbytes = _size(reg, s.array_file) + sum(_size(reg, f) for a in dropped for f in a.files.values())
                prune_.append({**entry, "bytes": nbytes, "results": len(arts) - len(dropped),
                               "dropped": len(dropped)})
    bare = [p["space"] for p in prune_ if not p["results"]]
    if bare:
        warns.append(f"{len(bare)} of the {len(prune_)} spaces to prune have no stored results "
                     f"(e.g. {bare[0]!r}): their figures go with their vectors. Run 'spacelens evolution "
                     f"{experiment}' (with --label-field) first to keep them")
    return PrunePlan(experiment, keep, prune_, already, sum(p["bytes"] for p in prune_), False, warns)


def prune(reg: Registry, experiment: str, *, dry_run: bool = True, **keep) -> PrunePlan:
    """Remove the vector files of old epochs of ``experiment`` (see :func:`plan_prune`), keeping
    their records and stored results (evaluations, comparisons: ``evolution`` still shows them).

    ``dry_run`` (default): only say what would go. Otherwise one registry transaction marks the
    spaces pruned and drops their kNN graphs and search indexes; the files go to the trash
    (deleted once the grace period readers get has passed, as with ``rm``).
    """
    plan = plan_prune(reg, experiment, **keep)
    if dry_run or not plan.prune:
        return plan
    names = {p["space"] for p in plan.prune}
    records = [s for s in reg.spaces_of(experiment=experiment) if s.name in names]
    done = {s.name for s in reg.prune_vectors(records, _vector_only_kinds())}
    plan.prune = [p for p in plan.prune if p["space"] in done]
    plan.bytes_freed = sum(p["bytes"] for p in plan.prune)
    plan.applied = True
    return plan
