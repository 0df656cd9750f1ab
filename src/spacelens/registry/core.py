"""The registry: one folder holding a SQLite database of metadata and the arrays.

``Registry`` is the single place that touches the database and the object store.
Every change is: stage files atomically, then one SQLite transaction; files of removed or
replaced entities are deleted only after the commit. So a crash at any point leaves the
registry as it was before the change (at worst an unreferenced file, cleaned by ``gc``).
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from spacelens.errors import NotFoundError, SpacelensError
from spacelens.registry.schema import migrate
from spacelens.registry.store import ObjectStore, Staging

KINDS = ("datasets", "experiments", "spaces")
KIND_ALIASES = {
    "dataset": "datasets", "datasets": "datasets",
    "experiment": "experiments", "experiments": "experiments",
    "space": "spaces", "spaces": "spaces", "embedding": "spaces", "embeddings": "spaces",
}


def default_home() -> Path:
    return Path(os.environ.get("SPACELENS_HOME") or Path.home() / ".spacelens").expanduser()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def canonical(params: dict | None) -> str:
    return json.dumps(params or {}, sort_keys=True, separators=(",", ":"), default=str)


@dataclass
class Dataset:
    id: int
    name: str
    id_field: str
    n_rows: int
    columns: list[dict]
    source_path: str | None
    content_hash: str
    table_file: str
    ids_file: str
    created_at: str
    kind: str = field(default="dataset", init=False)


@dataclass
class Experiment:
    id: int
    name: str
    model_name: str | None
    train_dataset: str | None
    params: dict
    created_at: str
    kind: str = field(default="experiment", init=False)


@dataclass
class Space:
    id: int
    name: str
    experiment: str
    dataset: str
    dim: int
    dtype: str
    n_rows: int
    content_hash: str
    array_file: str
    rows_file: str | None
    source_path: str | None
    step: int | None
    split: str | None
    stats: dict
    created_at: str
    kind: str = field(default="space", init=False)


@dataclass
class Artifact:
    """A derived result (kNN graph, comparison, map, evaluation...) cached in the registry."""

    id: int
    kind: str
    name: str | None
    space: str
    other_space: str | None
    params: dict
    files: dict[str, str]
    info: dict
    created_at: str


def record_dict(rec) -> dict[str, Any]:
    """A JSON-ready dict of a record, without internal file paths."""
    d = asdict(rec)
    for k in ("table_file", "ids_file", "array_file", "rows_file", "files"):
        d.pop(k, None)
    return d


class Registry:
    """Datasets, experiments, spaces and derived artifacts in ``home``."""

    def __init__(self, home: str | os.PathLike | None = None):
        self.home = Path(home).expanduser() if home is not None else default_home()
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpacelensError(f"Cannot create the registry folder {str(self.home)!r} ({exc})",
                                 "Set SPACELENS_HOME to a writable folder") from None
        self.store = ObjectStore(self.home)
        self.db_path = self.home / "registry.sqlite"
        with self._connect() as conn:
            migrate(conn)
        self.store.sweep_partials()

    # -- database plumbing -------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def change(self) -> Iterator[tuple[sqlite3.Connection, Staging]]:
        """Stage files and run one write transaction; all-or-nothing.

        Yields ``(conn, staging)``: write files through ``staging`` first, then rows
        through ``conn``. Files listed in ``staging.obsolete`` are deleted after commit.
        """
        staging = Staging(self.store)
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn, staging
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            staging.discard()
            raise
        finally:
            conn.close()
        self.store.remove(staging.obsolete)

    # -- lookups ------------------------------------------------------------------------
    def _row(self, conn, kind: str, name: str) -> sqlite3.Row:
        table = KIND_ALIASES[kind]
        row = conn.execute(f"SELECT * FROM {table} WHERE name = ?", (name,)).fetchone()
        if row is None:
            known = [r[0] for r in conn.execute(f"SELECT name FROM {table} ORDER BY name LIMIT 8")]
            hint = f"Known {table}: {', '.join(known)}" if known else f"There are no {table} yet; add one with 'spacelens add'"
            raise NotFoundError(f"No {table[:-1]} named {name!r}", hint)
        return row

    def _dataset(self, row) -> Dataset:
        d = dict(row)
        d["columns"] = json.loads(d["columns"])
        return Dataset(**d)

    def _experiment(self, conn, row) -> Experiment:
        d = dict(row)
        tid = d.pop("train_dataset_id")
        d["train_dataset"] = (conn.execute("SELECT name FROM datasets WHERE id=?", (tid,)).fetchone()[0]
                              if tid is not None else None)
        d["params"] = json.loads(d["params"])
        return Experiment(**d)

    def _space(self, conn, row) -> Space:
        d = dict(row)
        d["experiment"] = conn.execute("SELECT name FROM experiments WHERE id=?", (d.pop("experiment_id"),)).fetchone()[0]
        d["dataset"] = conn.execute("SELECT name FROM datasets WHERE id=?", (d.pop("dataset_id"),)).fetchone()[0]
        d["stats"] = json.loads(d["stats"])
        return Space(**d)

    def dataset(self, name: str) -> Dataset:
        with self._read() as conn:
            return self._dataset(self._row(conn, "datasets", name))

    def experiment(self, name: str) -> Experiment:
        with self._read() as conn:
            return self._experiment(conn, self._row(conn, "experiments", name))

    def space(self, name: str) -> Space:
        with self._read() as conn:
            return self._space(conn, self._row(conn, "spaces", name))

    def list(self, kind: str) -> list:
        table = KIND_ALIASES[kind]
        with self._read() as conn:
            rows = conn.execute(f"SELECT * FROM {table} ORDER BY created_at, id").fetchall()
            if table == "datasets":
                return [self._dataset(r) for r in rows]
            if table == "experiments":
                return [self._experiment(conn, r) for r in rows]
            return [self._space(conn, r) for r in rows]

    def spaces_of(self, *, dataset: str | None = None, experiment: str | None = None) -> list[Space]:
        return [s for s in self.list("spaces")
                if (dataset is None or s.dataset == dataset) and (experiment is None or s.experiment == experiment)]

    def find(self, name: str) -> list:
        """All entities (of any kind) called ``name``."""
        found = []
        with self._read() as conn:
            for kind in KINDS:
                row = conn.execute(f"SELECT * FROM {kind} WHERE name = ?", (name,)).fetchone()
                if row is not None:
                    found.append(self._dataset(row) if kind == "datasets" else
                                 self._experiment(conn, row) if kind == "experiments" else self._space(conn, row))
        return found

    # -- data access --------------------------------------------------------------------
    def load_vectors(self, space: str | Space, mmap: bool = True) -> np.ndarray:
        """The space's float32 matrix, memory-mapped read-only by default."""
        rec = space if isinstance(space, Space) else self.space(space)
        return np.load(self.store.path(rec.array_file), mmap_mode="r" if mmap else None, allow_pickle=False)

    def load_rows(self, space: str | Space) -> np.ndarray:
        """Dataset row index of each row of the space (``arange`` when it covers all rows)."""
        rec = space if isinstance(space, Space) else self.space(space)
        if rec.rows_file is None:
            return np.arange(rec.n_rows, dtype=np.int64)
        return np.load(self.store.path(rec.rows_file), allow_pickle=False)

    def load_ids(self, dataset: str | Dataset) -> np.ndarray:
        rec = dataset if isinstance(dataset, Dataset) else self.dataset(dataset)
        return np.load(self.store.path(rec.ids_file), allow_pickle=False)

    def load_table(self, dataset: str | Dataset, columns: list[str] | None = None):
        """The dataset's metadata table (pandas DataFrame), or only ``columns`` of it.

        Asking for the columns one needs reads only those (a label column of a table with long
        captions: a fraction of the time and memory). Unknown columns are simply absent.
        """
        import pandas as pd

        rec = dataset if isinstance(dataset, Dataset) else self.dataset(dataset)
        if columns is not None:
            have = set(self.table_columns(rec))
            columns = [c for c in columns if c in have]
        return pd.read_parquet(self.store.path(rec.table_file), columns=columns)

    def table_columns(self, dataset: str | Dataset) -> list[str]:
        """Names of the dataset's metadata columns, from the file's schema (no rows read)."""
        import pyarrow.parquet as pq

        rec = dataset if isinstance(dataset, Dataset) else self.dataset(dataset)
        return list(pq.read_schema(self.store.path(rec.table_file)).names)

    def space_ids(self, space: str | Space) -> np.ndarray:
        """Item ids of each row of a space."""
        rec = space if isinstance(space, Space) else self.space(space)
        return self.load_ids(rec.dataset)[self.load_rows(rec)]

    # -- artifacts (derived results) ----------------------------------------------------
    def _artifact(self, conn, row) -> Artifact:
        d = dict(row)
        name_of = lambda sid: (conn.execute("SELECT name FROM spaces WHERE id=?", (sid,)).fetchone()[0]
                               if sid is not None else None)
        return Artifact(id=d["id"], kind=d["kind"], name=d["name"], space=name_of(d["space_id"]),
                        other_space=name_of(d["other_space_id"]), params=json.loads(d["params"]),
                        files=json.loads(d["files"]), info=json.loads(d["info"]), created_at=d["created_at"])

    @staticmethod
    def _artifact_key(kind, space_id, other_id, params) -> str:
        return f"{kind}|{space_id}|{other_id or ''}|{canonical(params)}"

    def get_artifact(self, kind: str, space: str, params: dict, other: str | None = None) -> Artifact | None:
        with self._read() as conn:
            sid = self._row(conn, "spaces", space)["id"]
            oid = self._row(conn, "spaces", other)["id"] if other else None
            row = conn.execute("SELECT * FROM artifacts WHERE key=?",
                               (self._artifact_key(kind, sid, oid, params),)).fetchone()
            return self._artifact(conn, row) if row else None

    def find_artifacts(self, kind: str | None = None, space: str | None = None,
                       name: str | None = None) -> list[Artifact]:
        """Artifacts filtered by kind, space (as either side) and name."""
        q, args = "SELECT * FROM artifacts WHERE 1=1", []
        with self._read() as conn:
            if kind:
                q += " AND kind=?"
                args.append(kind)
            if name:
                q += " AND name=?"
                args.append(name)
            if space:
                sid = self._row(conn, "spaces", space)["id"]
                q += " AND (space_id=? OR other_space_id=?)"
                args += [sid, sid]
            return [self._artifact(conn, r) for r in conn.execute(q + " ORDER BY id", args)]

    def put_artifact(self, kind: str, space: str, params: dict, arrays: dict[str, np.ndarray],
                     info: dict | None = None, other: str | None = None, name: str | None = None) -> Artifact:
        """Store (or replace) a derived result atomically: arrays as .npy plus JSON info."""
        with self.change() as (conn, staging):
            sid = self._row(conn, "spaces", space)["id"]
            oid = self._row(conn, "spaces", other)["id"] if other else None
            files = {role: staging.save_array(a) for role, a in arrays.items()}
            key = self._artifact_key(kind, sid, oid, params)
            old = conn.execute("SELECT files FROM artifacts WHERE key=?", (key,)).fetchone()
            if old:
                staging.obsolete += list(json.loads(old["files"]).values())
                conn.execute("DELETE FROM artifacts WHERE key=?", (key,))
            cur = conn.execute(
                "INSERT INTO artifacts(kind,key,name,space_id,other_space_id,params,files,info,created_at)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (kind, key, name, sid, oid, canonical(params), json.dumps(files),
                 json.dumps(info or {}, default=float), now_iso()))
            return self._artifact(conn, conn.execute("SELECT * FROM artifacts WHERE id=?", (cur.lastrowid,)).fetchone())

    def load_artifact(self, art: Artifact, role: str, mmap: bool = True) -> np.ndarray:
        return np.load(self.store.path(art.files[role]), mmap_mode="r" if mmap else None, allow_pickle=False)

    def delete_artifact(self, art: Artifact) -> None:
        with self.change() as (conn, staging):
            conn.execute("DELETE FROM artifacts WHERE id=?", (art.id,))
            staging.obsolete += list(art.files.values())

    # -- maintenance --------------------------------------------------------------------
    def referenced_files(self) -> set[str]:
        with self._read() as conn:
            refs = set()
            for table, cols in (("datasets", ("table_file", "ids_file")), ("spaces", ("array_file", "rows_file"))):
                for row in conn.execute(f"SELECT {', '.join(cols)} FROM {table}"):
                    refs.update(v for v in row if v)
            for (files,) in conn.execute("SELECT files FROM artifacts"):
                refs.update(json.loads(files).values())
            return refs

    def gc(self, min_age_s: float = 600) -> list[str]:
        """Delete files no entity references (older than ``min_age_s``)."""
        self.store.sweep_partials()
        return self.store.collect_garbage(self.referenced_files(), min_age_s)
