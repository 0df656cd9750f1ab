"""Tracking: register, describe and remove datasets, experiments and spaces.

``add_space`` does all validation (reading the files, aligning ids) before it writes, then
stages the new files and has the registry record them in one short transaction: a dataset, an
experiment and a space registered together either all appear or none does. The SQL lives in
:mod:`spacelens.registry` (the one module that knows the schema).
"""

from __future__ import annotations

import difflib
import json

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
              replace_other_runs: bool = False) -> Space:
    """Register a space, with its dataset and experiment when they are new (one atomic step).

    Everything is read and checked first; then the files are staged (no lock held) and one
    short transaction records them (see :class:`~spacelens.registry.Registry`). ``run``: the
    training run the space was logged in; with ``replace_other_runs`` the experiment's stepped
    spaces of the same split from other runs are removed in the same transaction.
    """
    for value, what in ((dataset_name, "dataset name"), (experiment_name, "experiment name"),
                        (space_name, "space name")):
        validate_name(value, what)
    if run is not None:
        validate_name(run, "run name")

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
                table_file=staging.save_table(new_ds.table), ids_file=staging.save_array(new_ds.ids))
        array_file, digest, stats = staging.copy_space(src.array, order)
        space = NewSpace(name=space_name, dim=src.shape[1], n_rows=src.shape[0], content_hash=digest,
                         array_file=array_file, rows_file=staging.save_array(rows) if rows is not None else None,
                         source_path=src.path, stats=stats, step=step, split=split, run=run)
        return reg.record_space(staging, space, dataset=dataset_name, new_dataset=staged_ds,
                                experiment=experiment_name, model_name=model_name, params=params,
                                train_dataset=train_dataset, overwrite=overwrite,
                                replace_other_runs=replace_other_runs)


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
