"""Tracking: register, describe and remove datasets, experiments and spaces.

``add_space`` does all validation (reading the files, aligning ids) before it writes, then
stages the new files and inserts the rows in one transaction: a dataset, an experiment and
a space registered together either all appear or none does.
"""

from __future__ import annotations

import difflib
import json

import numpy as np

from spacelens.errors import NotFoundError, SpacelensError
from spacelens.io import read_dataset, read_embeddings
from spacelens.io.datasets import DatasetSource
from spacelens.registry import (KIND_ALIASES, KINDS, Dataset, Registry, Space, canonical, now_iso,
                                record_dict, validate_name)
from spacelens.registry.store import Staging


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
              split: str | None = None, overwrite: bool = False) -> Space:
    """Register a space, with its dataset and experiment when they are new (one atomic step)."""
    for value, what in ((dataset_name, "dataset name"), (experiment_name, "experiment name"),
                        (space_name, "space name")):
        validate_name(value, what)

    existing = {d.name: d for d in reg.list("datasets")}
    old_ds = existing.get(dataset_name)
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

    src = read_embeddings(embeddings, ids=ids, id_field=id_field)
    dataset_ids = new_ds.ids if new_ds is not None else reg.load_ids(old_ds)
    order, rows = align_rows(dataset_ids, src.ids, src.shape[0], dataset_name)

    with reg.change() as (conn, staging):
        ds_id = _insert_dataset(conn, staging, new_ds, dataset_name) if new_ds is not None else \
            reg._row(conn, "datasets", dataset_name)["id"]
        exp_id = _ensure_experiment(reg, conn, experiment_name, model_name, params, train_dataset)
        old_space = conn.execute("SELECT * FROM spaces WHERE name=?", (space_name,)).fetchone()
        if old_space is not None:
            if not overwrite:
                raise SpacelensError(f"A space named {space_name!r} already exists",
                                     "Choose another --embedding-space-name, or pass --overwrite to replace it")
            staging.obsolete += _files_of_space(conn, old_space)
            conn.execute("DELETE FROM artifacts WHERE space_id=? OR other_space_id=?", (old_space["id"],) * 2)
            conn.execute("DELETE FROM spaces WHERE id=?", (old_space["id"],))
        array_file, digest, stats = staging.copy_space(src.array, order)
        rows_file = staging.save_array(rows) if rows is not None else None
        n_rows = src.shape[0]
        conn.execute(
            "INSERT INTO spaces(name,experiment_id,dataset_id,dim,dtype,n_rows,content_hash,array_file,"
            "rows_file,source_path,step,split,stats,created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (space_name, exp_id, ds_id, src.shape[1], "float32", n_rows, digest, array_file, rows_file,
             src.path, step, split, json.dumps(stats), now_iso()))
    return reg.space(space_name)


def _insert_dataset(conn, staging: Staging, ds: DatasetSource, name: str) -> int:
    table_file = staging.save_table(ds.table)
    ids_file = staging.save_array(ds.ids)
    columns = [{"name": c, "dtype": str(t)} for c, t in ds.table.dtypes.items()]
    cur = conn.execute(
        "INSERT INTO datasets(name,id_field,n_rows,columns,source_path,content_hash,table_file,ids_file,created_at)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        (name, ds.id_field, len(ds.table), json.dumps(columns), ds.path, _content_hash(ds.table),
         table_file, ids_file, now_iso()))
    return cur.lastrowid


def _ensure_experiment(reg, conn, name, model_name, params, train_dataset) -> int:
    row = conn.execute("SELECT * FROM experiments WHERE name=?", (name,)).fetchone()
    train_id = reg._row(conn, "datasets", train_dataset)["id"] if train_dataset else None
    if row is None:
        cur = conn.execute(
            "INSERT INTO experiments(name,model_name,train_dataset_id,params,created_at) VALUES (?,?,?,?,?)",
            (name, model_name, train_id, canonical(params), now_iso()))
        return cur.lastrowid
    if model_name and row["model_name"] and model_name != row["model_name"]:
        raise SpacelensError(
            f"Experiment {name!r} is for model {row['model_name']!r}, not {model_name!r}",
            "Use another --experiment-name for a different model",
        )
    updates = {}
    if model_name and not row["model_name"]:
        updates["model_name"] = model_name
    if params:
        updates["params"] = canonical({**json.loads(row["params"]), **params})
    if train_id is not None:
        updates["train_dataset_id"] = train_id
    if updates:
        conn.execute(f"UPDATE experiments SET {', '.join(f'{k}=?' for k in updates)} WHERE id=?",
                     (*updates.values(), row["id"]))
    return row["id"]


def _files_of_space(conn, space_row) -> list[str]:
    files = [space_row["array_file"], space_row["rows_file"]]
    for (f,) in conn.execute("SELECT files FROM artifacts WHERE space_id=? OR other_space_id=?",
                             (space_row["id"],) * 2):
        files += json.loads(f).values()
    return [f for f in files if f]


def remove(reg: Registry, kind: str, name: str, cascade: bool = False) -> list[str]:
    """Remove an entity; refuse when others depend on it unless ``cascade``. Returns what went."""
    table = _kind(kind)
    removed: list[str] = []
    with reg.change() as (conn, staging):
        row = reg._row(conn, table, name)
        if table == "spaces":
            spaces, exps = [row], []
        elif table == "experiments":
            spaces = conn.execute("SELECT * FROM spaces WHERE experiment_id=?", (row["id"],)).fetchall()
            exps = []
        else:
            spaces = conn.execute("SELECT * FROM spaces WHERE dataset_id=?", (row["id"],)).fetchall()
            exps = conn.execute("SELECT name FROM experiments WHERE train_dataset_id=?", (row["id"],)).fetchall()
        if table != "spaces" and (spaces or exps) and not cascade:
            deps = [f"space {s['name']!r}" for s in spaces] + [f"experiment {e['name']!r} (trained on it)" for e in exps]
            more = f" and {len(deps) - 3} more" if len(deps) > 3 else ""
            verb = "depends" if len(deps) == 1 else "depend"
            raise SpacelensError(
                f"Cannot remove {table[:-1]} {name!r}: {', '.join(deps[:3])}{more} {verb} on it",
                "Remove those first, or pass --cascade to remove them with it",
            )
        for s in spaces:
            staging.obsolete += _files_of_space(conn, s)
            conn.execute("DELETE FROM artifacts WHERE space_id=? OR other_space_id=?", (s["id"],) * 2)
            conn.execute("DELETE FROM spaces WHERE id=?", (s["id"],))
            removed.append(f"space {s['name']}")
        if table == "datasets":
            conn.execute("UPDATE experiments SET train_dataset_id=NULL WHERE train_dataset_id=?", (row["id"],))
            staging.obsolete += [row["table_file"], row["ids_file"]]
            conn.execute("DELETE FROM datasets WHERE id=?", (row["id"],))
            removed.append(f"dataset {name}")
        elif table == "experiments":
            conn.execute("DELETE FROM experiments WHERE id=?", (row["id"],))
            removed.append(f"experiment {name}")
    return removed


def _kind(kind: str) -> str:
    try:
        return KIND_ALIASES[kind.lower()]
    except KeyError:
        raise SpacelensError(f"Unknown kind {kind!r}", "Use one of: dataset, experiment, space") from None


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
