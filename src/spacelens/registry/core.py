"""The registry: one folder holding a SQLite database of metadata and the arrays.

``Registry`` is the single place that knows the database schema and touches the object store.
Every change has two phases:

1. **stage**: files are written atomically into ``objects/`` (temp file, fsync, rename) with
   no lock held, so a large space or graph never blocks other writers;
2. **record**: one short ``BEGIN IMMEDIATE`` transaction re-checks what it depends on (another
   process may have changed the registry meanwhile) and records the rows.

A crash at any point leaves the registry as it was (at worst an unreferenced file, cleaned by
``gc``). Files of removed or replaced entities go to the ``trash`` table in the same
transaction and are deleted after a grace period, so a process that resolved a record just
before it was replaced can still read its files. The database is in WAL mode: readers (the
page) never wait for writers. Lock waits are retried; if the lock stays taken, one clear error.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from spacelens.errors import NotFoundError, SpacelensError, SpacelensWarning
from spacelens.registry.records import Artifact, Dataset, Experiment, NewDataset, NewSpace, Space, record_dict
from spacelens.registry.schema import enable_wal, migrate
from spacelens.registry.store import CHUNK_BYTES, ObjectStore, Staging

__all__ = ["KINDS", "KIND_ALIASES", "Artifact", "Dataset", "Experiment", "NewDataset", "NewSpace", "Registry",
           "PrunedError", "RegistryBusyError", "Space", "StaleResultError", "canonical", "default_home", "now_iso", "record_dict"]

KINDS = ("datasets", "experiments", "spaces")
KIND_ALIASES = {
    "dataset": "datasets", "datasets": "datasets",
    "experiment": "experiments", "experiments": "experiments",
    "space": "spaces", "spaces": "spaces", "embedding": "spaces", "embeddings": "spaces",
}
BUSY_TIMEOUT_S = 20      # SQLite waits this long for the write lock ...
LOCK_ATTEMPTS = 3        # ... this many times before giving up with RegistryBusyError
TRASH_GRACE_S = 600.0    # files of removed entities stay readable this long (SPACELENS_TRASH_GRACE_S)

_SPACE_SELECT = ("SELECT s.*, e.name AS experiment, d.name AS dataset FROM spaces s "
                 "JOIN experiments e ON e.id = s.experiment_id JOIN datasets d ON d.id = s.dataset_id")
_EXPERIMENT_SELECT = ("SELECT e.*, d.name AS train_dataset FROM experiments e "
                      "LEFT JOIN datasets d ON d.id = e.train_dataset_id")
# Only results whose spaces still hold the content they were computed from.
_ARTIFACT_SELECT = (
    "SELECT a.*, s.name AS space_name, o.name AS other_name FROM artifacts a "
    "JOIN spaces s ON s.id = a.space_id LEFT JOIN spaces o ON o.id = a.other_space_id "
    "WHERE a.space_hash = s.content_hash AND (a.other_space_id IS NULL OR a.other_space_hash = o.content_hash)")


def default_home() -> Path:
    return Path(os.environ.get("SPACELENS_HOME") or Path.home() / ".spacelens").expanduser()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def canonical(params: dict | None) -> str:
    return json.dumps(params or {}, sort_keys=True, separators=(",", ":"), default=str)


class RegistryBusyError(SpacelensError):
    """Another process held the registry's write lock for longer than we waited."""


class StaleResultError(SpacelensError):
    """A derived result was computed from a space that has been replaced since."""


class PrunedError(SpacelensError):
    """A space's vectors were pruned (its record and stored results remain); something needed them."""

    def __init__(self, space: Space):
        self.space, self.pruned_at = space.name, space.pruned_at
        super().__init__(
            f"Space {space.name!r}: its vectors were pruned on {str(space.pruned_at)[:10]}; its stored results remain "
            "(evaluations and comparisons computed before the prune)",
            "Use results stored before the prune (the same k, metric and label field), or log the space "
            "again ('spacelens add ... --overwrite') to compute new ones")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


class Registry:
    """Datasets, experiments, spaces and derived artifacts in ``home``.

    ``create=False``: refuse (NotFoundError) a folder that holds no registry yet, for read-only
    commands, so that a mistyped ``--home`` is reported instead of silently creating one.
    """

    def __init__(self, home: str | os.PathLike | None = None, *, create: bool = True):
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.db_path = self.home / "registry.sqlite"
        if not create and not self.db_path.exists():
            raise NotFoundError(f"No registry at {str(self.home)!r}",
                                "Check --home / $SPACELENS_HOME, or register something first with 'spacelens add'")
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpacelensError(f"Cannot create the registry folder {str(self.home)!r} ({exc})",
                                 "Set SPACELENS_HOME to a writable folder") from None
        self.store = ObjectStore(self.home)
        self.trash_grace_s = float(os.environ.get("SPACELENS_TRASH_GRACE_S", TRASH_GRACE_S))
        with self._guard():
            conn = self._connect()
            try:
                enable_wal(conn)
                migrate(conn)
            finally:
                conn.close()
        self.store.sweep_partials()
        self.empty_trash()

    # -- database plumbing -------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Database errors as one clear line (lock held too long, unreadable file)."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise self._busy() from None
            raise SpacelensError(f"The registry database at {str(self.db_path)!r} cannot be used ({exc})",
                                 "Check that the folder is writable and on a local disk (not a network share)") from None
        except sqlite3.DatabaseError as exc:
            raise SpacelensError(f"The registry database at {str(self.db_path)!r} is damaged ({exc})",
                                 "Restore it from a copy, or move it away and register again") from None

    def _busy(self) -> RegistryBusyError:
        return RegistryBusyError(
            f"The registry at {str(self.home)!r} stayed locked by another process for "
            f"{BUSY_TIMEOUT_S * LOCK_ATTEMPTS} s",
            "Wait for the other spacelens command (a large add?) to finish, then run this again")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._guard():
            conn = self._connect()
            try:
                yield conn
            finally:
                conn.close()

    def _begin(self, conn: sqlite3.Connection) -> None:
        for _ in range(LOCK_ATTEMPTS):
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
        raise self._busy()

    @contextmanager
    def staged(self) -> Iterator[Staging]:
        """Phase 1 of a change: write files (no database lock held); removed again on failure.

        The staging holds a file lock for the block's life (see :mod:`spacelens.registry.store`):
        ``gc`` leaves its files alone however long it takes, and collects the unrecorded ones
        once the block ended or its process died.
        """
        staging = Staging(self.store)
        try:
            yield staging
        except BaseException:
            staging.discard()
            raise
        finally:
            staging.release()

    @contextmanager
    def transaction(self, staging: Staging | None = None) -> Iterator[sqlite3.Connection]:
        """Phase 2 of a change: one short write transaction recording what ``staging`` wrote.

        Files put in ``staging.obsolete`` go to the trash in the same transaction; after the
        commit the staged files belong to the registry (a later failure no longer removes them).
        """
        with self._guard():
            conn = self._connect()
            try:
                self._begin(conn)
                yield conn
                if staging is not None and staging.obsolete:
                    now = time.time()
                    conn.executemany("INSERT OR REPLACE INTO trash(rel, removed_at) VALUES (?, ?)",
                                     [(rel, now) for rel in staging.obsolete if rel])
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                conn.close()
        if staging is not None:
            staging.committed()
        self.empty_trash()

    def empty_trash(self, min_age_s: float | None = None) -> list[str]:
        """Delete trashed files older than ``min_age_s`` (default: the grace period)."""
        cutoff = time.time() - (self.trash_grace_s if min_age_s is None else min_age_s)
        with self._read() as conn:
            if conn.execute("SELECT 1 FROM trash WHERE removed_at <= ? LIMIT 1", (cutoff,)).fetchone() is None:
                return []
        try:
            with self.transaction() as conn:
                rels = [r[0] for r in conn.execute("SELECT rel FROM trash WHERE removed_at <= ?", (cutoff,))]
                conn.execute("DELETE FROM trash WHERE removed_at <= ?", (cutoff,))
        except RegistryBusyError:
            return []  # the next change will do it
        self.store.remove(rels)
        return rels

    # -- lookups ------------------------------------------------------------------------
    def _row(self, conn, kind: str, name: str) -> sqlite3.Row:
        table = KIND_ALIASES[kind]
        row = conn.execute(f"SELECT * FROM {table} WHERE name = ?", (name,)).fetchone()
        if row is None:
            known = [r[0] for r in conn.execute(f"SELECT name FROM {table} ORDER BY name LIMIT 8")]
            hint = f"Known {table}: {', '.join(known)}" if known else f"There are no {table} yet; add one with 'spacelens add'"
            raise NotFoundError(f"No {table[:-1]} named {name!r}", hint)
        return row

    @staticmethod
    def _dataset(row) -> Dataset:
        d = dict(row)
        d["columns"] = json.loads(d["columns"])
        return Dataset(**d)

    @staticmethod
    def _experiment(row) -> Experiment:
        d = dict(row)
        d.pop("train_dataset_id")
        d["params"] = json.loads(d["params"])
        return Experiment(**d)

    @staticmethod
    def _space(row) -> Space:
        d = dict(row)
        d.pop("experiment_id")
        d.pop("dataset_id")
        d["stats"] = json.loads(d["stats"])
        return Space(**d)

    def _select(self, conn, table: str, where: str = "", args=()) -> list:
        if table == "datasets":
            return [self._dataset(r) for r in conn.execute(f"SELECT * FROM datasets d {where} ORDER BY d.created_at, d.id", args)]
        if table == "experiments":
            return [self._experiment(r) for r in conn.execute(f"{_EXPERIMENT_SELECT} {where} ORDER BY e.created_at, e.id", args)]
        return [self._space(r) for r in conn.execute(f"{_SPACE_SELECT} {where} ORDER BY s.created_at, s.id", args)]

    def _one(self, table: str, name: str):
        with self._read() as conn:
            alias = table[0]
            found = self._select(conn, table, f"WHERE {alias}.name = ?", (name,))
            if not found:
                self._row(conn, table, name)  # raises NotFoundError with a hint
            return found[0]

    def dataset(self, name: str) -> Dataset:
        return self._one("datasets", name)

    def experiment(self, name: str) -> Experiment:
        return self._one("experiments", name)

    def space(self, name: str) -> Space:
        return self._one("spaces", name)

    def list(self, kind: str) -> list:
        with self._read() as conn:
            return self._select(conn, KIND_ALIASES[kind])

    def spaces_of(self, *, dataset: str | None = None, experiment: str | None = None) -> list[Space]:
        where, args = [], []
        if dataset is not None:
            where.append("d.name = ?")
            args.append(dataset)
        if experiment is not None:
            where.append("e.name = ?")
            args.append(experiment)
        with self._read() as conn:
            return self._select(conn, "spaces", ("WHERE " + " AND ".join(where)) if where else "", args)

    def find(self, name: str) -> list:
        """All entities (of any kind) called ``name``."""
        with self._read() as conn:
            return [rec for kind in KINDS for rec in self._select(conn, kind, f"WHERE {kind[0]}.name = ?", (name,))]

    def _as_space(self, space: str | Space) -> Space:
        return space if isinstance(space, Space) else self.space(space)

    # -- data access --------------------------------------------------------------------
    def load_vectors(self, space: str | Space, mmap: bool = True) -> np.ndarray:
        """The space's float32 matrix, memory-mapped read-only by default.

        A space stored as float16 (an epoch log) is widened to float32 once, block by block,
        into memory (read-only, like the map): every computation sees float32 whatever the
        file holds. A pruned space raises :class:`PrunedError` (one clear line, not a traceback).
        """
        rec = self._as_space(space)
        if rec.pruned_at is not None or not rec.array_file:
            raise PrunedError(rec)
        arr = np.load(self.store.path(rec.array_file), mmap_mode="r" if mmap or rec.dtype != "float32" else None,
                      allow_pickle=False)
        if arr.dtype == np.float32:
            return arr
        out = np.empty(arr.shape, dtype=np.float32)
        step = max(1, CHUNK_BYTES // (4 * max(1, arr.shape[1])))
        for r0 in range(0, arr.shape[0], step):
            out[r0:r0 + step] = arr[r0:r0 + step]
        out.flags.writeable = False
        return out

    def load_rows(self, space: str | Space) -> np.ndarray:
        """Dataset row index of each row of the space (``arange`` when it covers all rows)."""
        rec = self._as_space(space)
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

    def image_root_value(self, folder: str | os.PathLike) -> str:
        """How a dataset's image folder is stored: relative to the home when inside it (the home
        moves with its images), else absolute. The folder must exist."""
        try:
            p = Path(folder).expanduser().resolve(strict=True)
        except (OSError, RuntimeError):
            p = None
        if p is None or not p.is_dir():
            raise SpacelensError(f"No image folder {str(folder)!r}",
                                 "Pass the existing folder that holds the dataset's image files with --images")
        home = self.home.resolve()
        return p.relative_to(home).as_posix() if p.is_relative_to(home) else str(p)

    def image_folder(self, dataset: str | Dataset) -> Path | None:
        """The folder the dataset's image column names files in (None: it has none)."""
        rec = dataset if isinstance(dataset, Dataset) else self.dataset(dataset)
        if not rec.image_root:
            return None
        p = Path(rec.image_root)
        return (p if p.is_absolute() else self.home / p).resolve()

    def space_ids(self, space: str | Space) -> np.ndarray:
        """Item ids of each row of a space."""
        rec = self._as_space(space)
        return self.load_ids(rec.dataset)[self.load_rows(rec)]

    # -- registering and removing ----------------------------------------------------------
    def record_space(self, staging: Staging, space: NewSpace, *, dataset: str, new_dataset: NewDataset | None = None,
                     experiment: str, model_name: str | None = None, params: dict | None = None,
                     train_dataset: str | None = None, overwrite: bool = False,
                     replace_other_runs: bool = False, image_root: str | None = None) -> Space:
        """Record a staged space (with its dataset and experiment when new) in one transaction.

        Everything is checked again under the lock: another process may have registered the same
        dataset meanwhile (same table: reused, the staged copy dropped; another table: refused),
        or a space of the same name. ``replace_other_runs``: remove the experiment's stepped
        spaces of ``space.split`` logged by other runs (a re-run replaces the old one).
        ``image_root`` (from :meth:`image_root_value`): the image folder of a dataset registered
        before, set or replaced (a new dataset's is in ``new_dataset``).
        """
        with self.transaction(staging) as conn:
            row = conn.execute("SELECT * FROM datasets WHERE name=?", (dataset,)).fetchone()
            if new_dataset is not None and row is not None:
                if row["content_hash"] != new_dataset.content_hash or row["id_field"] != new_dataset.id_field:
                    raise SpacelensError(
                        f"Dataset name {dataset!r} is already taken by a different table",
                        "Choose another --dataset-name, or omit -d to add the space to the registered dataset")
                staging.drop([new_dataset.table_file, new_dataset.ids_file])
                new_dataset = None
            ds_id = self._insert_dataset(conn, new_dataset) if new_dataset is not None else \
                self._row(conn, "datasets", dataset)["id"]
            if image_root is not None:
                conn.execute("UPDATE datasets SET image_root=? WHERE id=?", (image_root, ds_id))
            exp_id = self._ensure_experiment(conn, experiment, model_name, params, train_dataset)
            old = conn.execute("SELECT * FROM spaces WHERE name=?", (space.name,)).fetchone()
            if old is not None:
                if not overwrite:
                    raise SpacelensError(f"A space named {space.name!r} already exists",
                                         "Choose another --embedding-space-name, or pass --overwrite to replace it")
                self._delete_spaces(conn, staging, [old])
            if replace_other_runs and space.run is not None:
                others = conn.execute(
                    "SELECT * FROM spaces WHERE experiment_id=? AND step IS NOT NULL AND split IS ? "
                    "AND (run IS NULL OR run != ?)", (exp_id, space.split, space.run)).fetchall()
                self._delete_spaces(conn, staging, others)
            conn.execute(
                "INSERT INTO spaces(name,experiment_id,dataset_id,dim,dtype,n_rows,content_hash,array_file,"
                "rows_file,source_path,step,split,stats,created_at,run) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (space.name, exp_id, ds_id, space.dim, space.dtype, space.n_rows, space.content_hash,
                 space.array_file, space.rows_file, space.source_path, space.step, space.split,
                 json.dumps(space.stats), now_iso(), space.run))
            return self._select(conn, "spaces", "WHERE s.name = ?", (space.name,))[0]

    @staticmethod
    def _insert_dataset(conn, ds: NewDataset) -> int:
        cur = conn.execute(
            "INSERT INTO datasets(name,id_field,n_rows,columns,source_path,content_hash,table_file,ids_file,created_at,"
            "image_root) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (ds.name, ds.id_field, ds.n_rows, json.dumps(ds.columns), ds.source_path, ds.content_hash,
             ds.table_file, ds.ids_file, now_iso(), ds.image_root))
        return cur.lastrowid

    def _ensure_experiment(self, conn, name, model_name, params, train_dataset) -> int:
        row = conn.execute("SELECT * FROM experiments WHERE name=?", (name,)).fetchone()
        train_id = self._row(conn, "datasets", train_dataset)["id"] if train_dataset else None
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

    @staticmethod
    def _delete_spaces(conn, staging: Staging, rows) -> list[str]:
        """Delete spaces and what was derived from them; their files go to the trash."""
        names = []
        for s in rows:
            staging.obsolete += [f for f in (s["array_file"], s["rows_file"]) if f]
            for (files,) in conn.execute("SELECT files FROM artifacts WHERE space_id=? OR other_space_id=?",
                                         (s["id"],) * 2):
                staging.obsolete += list(json.loads(files).values())
            conn.execute("DELETE FROM artifacts WHERE space_id=? OR other_space_id=?", (s["id"],) * 2)
            conn.execute("DELETE FROM spaces WHERE id=?", (s["id"],))
            names.append(s["name"])
        return names

    def remove(self, kind: str, name: str, cascade: bool = False) -> list[str]:
        """Remove an entity; refuse when others depend on it unless ``cascade``. Returns what went."""
        table = KIND_ALIASES[kind]
        removed: list[str] = []
        with self.staged() as staging, self.transaction(staging) as conn:
            row = self._row(conn, table, name)
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
            removed += [f"space {n}" for n in self._delete_spaces(conn, staging, spaces)]
            if table == "datasets":
                conn.execute("UPDATE experiments SET train_dataset_id=NULL WHERE train_dataset_id=?", (row["id"],))
                staging.obsolete += [row["table_file"], row["ids_file"]]
                conn.execute("DELETE FROM datasets WHERE id=?", (row["id"],))
                removed.append(f"dataset {name}")
            elif table == "experiments":
                conn.execute("DELETE FROM experiments WHERE id=?", (row["id"],))
                removed.append(f"experiment {name}")
        return removed

    def prune_vectors(self, spaces: list[Space], drop_kinds: tuple[str, ...] = ()) -> list[Space]:
        """Remove the vector files of spaces, keeping their records and stored results.

        One transaction: each space's ``pruned_at`` is set and its ``array_file`` emptied, and
        its derived results of ``drop_kinds`` (those only useful with the vectors: kNN graphs,
        search indexes) are deleted; the files go to the trash like those of ``remove``
        (deleted after the grace period readers get). Results that stay are still served: the
        content hash they were computed from is kept. Already pruned spaces are left as they
        are, and so is a space replaced since its record was read (another record of that name
        now: a re-logged epoch is not pruned by a plan made before it). Returns the spaces
        pruned now (their records before the prune).
        """
        pruned: list[Space] = []
        with self.staged() as staging, self.transaction(staging) as conn:
            when = now_iso()
            for given in spaces:
                found = self._select(conn, "spaces", "WHERE s.id = ?", (given.id,))
                if not found or found[0].pruned_at is not None:
                    continue
                rec = found[0]
                staging.obsolete.append(rec.array_file)
                if drop_kinds:
                    marks = ",".join("?" * len(drop_kinds))
                    where = f"kind IN ({marks}) AND (space_id=? OR other_space_id=?)"
                    args = (*drop_kinds, rec.id, rec.id)
                    for (files,) in conn.execute(f"SELECT files FROM artifacts WHERE {where}", args):
                        staging.obsolete += list(json.loads(files).values())
                    conn.execute(f"DELETE FROM artifacts WHERE {where}", args)
                conn.execute("UPDATE spaces SET array_file='', pruned_at=? WHERE id=?", (when, rec.id))
                pruned.append(rec)
        return pruned

    # -- artifacts (derived results) ----------------------------------------------------
    @staticmethod
    def _artifact(row) -> Artifact:
        d = dict(row)
        return Artifact(id=d["id"], kind=d["kind"], name=d["name"], space=d["space_name"],
                        other_space=d["other_name"], params=json.loads(d["params"]),
                        files=json.loads(d["files"]), info=json.loads(d["info"]), created_at=d["created_at"],
                        space_hash=d["space_hash"], other_space_hash=d["other_space_hash"])

    @staticmethod
    def _artifact_key(kind, space_id, other_id, params) -> str:
        return f"{kind}|{space_id}|{other_id or ''}|{canonical(params)}"

    def get_artifact(self, kind: str, space: str | Space, params: dict,
                     other: str | Space | None = None) -> Artifact | None:
        """The stored result, if its spaces still hold the content it was computed from.

        Results are stored under the record ids of their spaces, so only the current records'
        results are found. Given ``Space`` records, those must be the current records (a caller
        holding an older record gets None, never a newer record's result, even one with the same
        vectors).
        """
        with self._read() as conn:
            sid = self._row(conn, "spaces", getattr(space, "name", space))["id"]
            oid = self._row(conn, "spaces", getattr(other, "name", other))["id"] if other is not None else None
            row = conn.execute(f"{_ARTIFACT_SELECT} AND a.key=?",
                               (self._artifact_key(kind, sid, oid, params),)).fetchone()
        if row is None:
            return None
        art = self._artifact(row)
        for rec, rid, h in ((space, sid, art.space_hash), (other, oid, art.other_space_hash)):
            if isinstance(rec, Space) and (rec.id != rid or rec.content_hash != h):
                return None
        return art

    def find_artifacts(self, kind: str | None = None, space: str | None = None,
                       name: str | None = None) -> list[Artifact]:
        """Valid artifacts filtered by kind, space (as either side) and name."""
        q, args = _ARTIFACT_SELECT, []
        if kind:
            q += " AND a.kind=?"
            args.append(kind)
        if name:
            q += " AND a.name=?"
            args.append(name)
        with self._read() as conn:
            if space:
                sid = self._row(conn, "spaces", space)["id"]
                q += " AND (a.space_id=? OR a.other_space_id=?)"
                args += [sid, sid]
            return [self._artifact(r) for r in conn.execute(q + " ORDER BY a.id", args)]

    def put_artifact(self, kind: str, space: str | Space, params: dict, arrays: dict[str, np.ndarray],
                     info: dict | None = None, other: str | Space | None = None,
                     name: str | None = None) -> Artifact | None:
        """Store (or replace) a derived result atomically: arrays as .npy plus JSON info.

        Pass the ``Space`` records whose vectors the result was computed from: if either space
        has been replaced since (its current record is another one, even with the same content
        hash: re-added with ``--overwrite``, or removed and added again), nothing is stored, a
        :class:`SpacelensWarning` says so and None is returned. (Given names, the spaces'
        current records are assumed.)
        """
        rec = self._as_space(space)
        orec = self._as_space(other) if other is not None else None
        try:
            with self.staged() as staging:
                files = {role: staging.save_array(a) for role, a in arrays.items()}
                with self.transaction(staging) as conn:
                    ids = []
                    for r in (rec, orec):
                        if r is None:
                            ids.append(None)
                            continue
                        cur = conn.execute("SELECT id, content_hash FROM spaces WHERE name=?", (r.name,)).fetchone()
                        # the record, not only the content: the same vectors re-added (to another
                        # dataset, say) are a new record (ids are never reused), whose labels,
                        # ids and rows the result did not see
                        if cur is None or cur["id"] != r.id or cur["content_hash"] != r.content_hash:
                            raise StaleResultError(
                                f"Space {r.name!r} was {'removed' if cur is None else 'replaced'} while this "
                                f"{kind.replace('_', ' ')} was computed from it; the result was not stored",
                                "Run it again to compute it from the current space")
                        ids.append(cur["id"])
                    key = self._artifact_key(kind, ids[0], ids[1], params)
                    old = conn.execute("SELECT files FROM artifacts WHERE key=?", (key,)).fetchone()
                    if old:
                        staging.obsolete += list(json.loads(old["files"]).values())
                        conn.execute("DELETE FROM artifacts WHERE key=?", (key,))
                    cur = conn.execute(
                        "INSERT INTO artifacts(kind,key,name,space_id,other_space_id,params,files,info,created_at,"
                        "space_hash,other_space_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (kind, key, name, ids[0], ids[1], canonical(params), json.dumps(files),
                         json.dumps(info or {}, default=float), now_iso(), rec.content_hash,
                         orec.content_hash if orec is not None else None))
                    return self._artifact(conn.execute(_ARTIFACT_SELECT + " AND a.id=?", (cur.lastrowid,)).fetchone())
        except StaleResultError as exc:
            warnings.warn(exc.message, SpacelensWarning, stacklevel=2)
            return None

    def load_artifact(self, art: Artifact, role: str, mmap: bool = True) -> np.ndarray:
        return np.load(self.store.path(art.files[role]), mmap_mode="r" if mmap else None, allow_pickle=False)

    def delete_artifact(self, art: Artifact) -> None:
        with self.staged() as staging, self.transaction(staging) as conn:
            conn.execute("DELETE FROM artifacts WHERE id=?", (art.id,))
            staging.obsolete += list(art.files.values())

    # -- maintenance --------------------------------------------------------------------
    def referenced_files(self) -> set[str]:
        """Files a row references, trashed files still in their grace period included."""
        with self._read() as conn:
            conn.execute("BEGIN")   # one snapshot of all tables
            refs = set()
            for table, cols in (("datasets", ("table_file", "ids_file")), ("spaces", ("array_file", "rows_file"))):
                for row in conn.execute(f"SELECT {', '.join(cols)} FROM {table}"):
                    refs.update(v for v in row if v)
            for (files,) in conn.execute("SELECT files FROM artifacts"):
                refs.update(json.loads(files).values())
            refs.update(r[0] for r in conn.execute("SELECT rel FROM trash"))
            return refs

    def integrity_check(self) -> str:
        """SQLite's own check of the database file ("ok" when sound)."""
        with self._read() as conn:
            return "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check"))

    def gc(self, min_age_s: float = 600) -> list[str]:
        """Delete trashed files older than ``min_age_s`` and files nothing references.

        A file being staged is never deleted while its writer lives (it holds its staging's
        lock), however old; once the writer is gone (done, crashed, killed) its unrecorded files
        are deleted at once. Unreferenced files from before staging locks: by age, as trash.
        """
        self.store.sweep_partials()
        trashed = self.empty_trash(min_age_s)
        objects = self.store.list_objects()     # in this order: see ObjectStore.collect_garbage
        live = self.store.live_owners()
        referenced = self.referenced_files()
        return trashed + self.store.collect_garbage(objects, referenced, live, min_age_s)
