"""SQLite schema of the registry, with a version number for migrations.

Opening is safe when many processes open a new or old registry at once: the schema is created
or migrated inside ``BEGIN IMMEDIATE`` (one writer at a time), and the version is read again
after the lock is held, so the second process finds the work done. The journal is WAL, so
readers (the page) never wait for a writer (a training loop logging a space).

Version 2 (over 1): ids are never reused (``AUTOINCREMENT``: a cache keyed on an id cannot
mistake a new row for a removed one); derived results record the content hashes of the spaces
they were computed from; spaces carry the training ``run`` they were logged in; files of
removed entities wait in ``trash`` for a grace period, so a reader that resolved a record just
before it was replaced can still open its files.

Version 3 (over 2): ``spaces.pruned_at`` — when a space's vectors were pruned (its record and
its stored results stay; ``array_file`` is then empty). A version-2 registry gains the column
(NULL: not pruned); nothing else changes, so its files and results are kept as they are.

Version 4 (over 3): ``datasets.image_root`` — the folder the dataset's image column names files
in (``spacelens add --images DIR``): relative to the home when inside it (the home can move),
else absolute; NULL: none. Older registries gain the column, NULL.
"""

from __future__ import annotations

import sqlite3
import time

SCHEMA_VERSION = 4

_TABLES = {
    "datasets": """
CREATE TABLE datasets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    id_field TEXT NOT NULL,
    n_rows INTEGER NOT NULL,
    columns TEXT NOT NULL,          -- JSON [{"name":..,"dtype":..}]
    source_path TEXT,
    content_hash TEXT NOT NULL,
    table_file TEXT NOT NULL,       -- Parquet copy, relative to home
    ids_file TEXT NOT NULL,         -- .npy of str ids in row order
    created_at TEXT NOT NULL,
    image_root TEXT                 -- folder of the image column's files (relative to home when inside it)
)""",
    "experiments": """
CREATE TABLE experiments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    model_name TEXT,
    train_dataset_id INTEGER REFERENCES datasets(id),
    params TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
)""",
    "spaces": """
CREATE TABLE spaces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id),
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    dim INTEGER NOT NULL,
    dtype TEXT NOT NULL,
    n_rows INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    array_file TEXT NOT NULL,       -- .npy of dtype (float32 or float16), rows in dataset order; '' when pruned
    rows_file TEXT,                 -- int64 .npy of dataset rows when the space covers a subset
    source_path TEXT,
    step INTEGER,                   -- training step / epoch, when logged from a loop
    split TEXT,
    stats TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    run TEXT,                       -- training run the space was logged in (NULL: not from a run)
    pruned_at TEXT                  -- when its vectors were pruned (NULL: they are stored)
)""",
    # Derived results (kNN graphs, comparisons, maps, evaluations, search indexes), valid only
    # while their spaces are the records (space_id: ids are never reused) and still hold the
    # content (space_hash) they were computed from; removed with their spaces.
    "artifacts": """
CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,       -- kind|space|other|canonical params
    name TEXT,
    space_id INTEGER NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,
    other_space_id INTEGER REFERENCES spaces(id) ON DELETE CASCADE,
    params TEXT NOT NULL,
    files TEXT NOT NULL,            -- JSON {role: relative path}
    info TEXT NOT NULL,
    created_at TEXT NOT NULL,
    space_hash TEXT NOT NULL,       -- content hash of the space it was computed from
    other_space_hash TEXT           -- ... and of the other space
)""",
    # Files no row references any more, deleted once older than the grace period.
    "trash": """
CREATE TABLE trash (
    rel TEXT PRIMARY KEY,
    removed_at REAL NOT NULL
)""",
}
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS artifacts_space ON artifacts(space_id)",
    "CREATE INDEX IF NOT EXISTS artifacts_other ON artifacts(other_space_id)",
    "CREATE INDEX IF NOT EXISTS spaces_experiment ON spaces(experiment_id)",
    "CREATE INDEX IF NOT EXISTS spaces_dataset ON spaces(dataset_id)",
)

# Copying a version-1 table into its version-2 form: the new columns' values.
_FROM_V1 = {
    "datasets": "SELECT *, NULL FROM old_datasets",
    "experiments": "SELECT * FROM old_experiments",
    "spaces": "SELECT *, NULL, NULL FROM old_spaces",
    "artifacts": ("SELECT a.*, s.content_hash, o.content_hash FROM old_artifacts a "
                  "JOIN old_spaces s ON s.id = a.space_id LEFT JOIN old_spaces o ON o.id = a.other_space_id"),
}


def enable_wal(conn: sqlite3.Connection, attempts: int = 50) -> None:
    """Switch the database to WAL (persistent); another process switching at once may hold it."""
    for i in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            time.sleep(min(0.01 * 2**i, 0.5))


def migrate(conn: sqlite3.Connection) -> None:
    """Bring a database to :data:`SCHEMA_VERSION`: one transaction, safe against concurrent opens."""
    if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # again, now that we hold the lock
        if version > SCHEMA_VERSION:
            from spacelens.errors import SpacelensError

            raise SpacelensError(
                f"This registry was written by a newer spacelens (schema {version} > {SCHEMA_VERSION})",
                "Upgrade spacelens: pip install -U spacelens",
            )
        if version == 0:
            for ddl in _TABLES.values():
                conn.execute(ddl)
        elif version == 1:
            _v1_to_v2(conn)   # builds the tables in their current form
        else:  # 2 or 3: add the columns the versions after it brought
            _add_column(conn, "spaces", "pruned_at TEXT")
            _add_column(conn, "datasets", "image_root TEXT")
        for ddl in _INDEXES:
            conn.execute(ddl)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _add_column(conn: sqlite3.Connection, table: str, column: str) -> None:
    """``ALTER TABLE table ADD COLUMN column`` unless the table has it already."""
    if column.split()[0] not in {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """Rebuild every table in its version-2 form (AUTOINCREMENT needs a new table) and copy the rows.

    Every id is kept. Renaming a table rewrites the references to it, so the old tables point at
    each other until they are dropped (the indexes go with them and are made anew afterwards).
    """
    conn.execute("PRAGMA defer_foreign_keys = ON")
    for table in ("artifacts", "spaces", "experiments", "datasets"):
        conn.execute(f"ALTER TABLE {table} RENAME TO old_{table}")
    for table in ("datasets", "experiments", "spaces", "artifacts"):
        conn.execute(_TABLES[table])
        conn.execute(f"INSERT INTO {table} {_FROM_V1[table]}")
    for table in ("artifacts", "spaces", "experiments", "datasets"):
        conn.execute(f"DROP TABLE old_{table}")
    conn.execute(_TABLES["trash"])
