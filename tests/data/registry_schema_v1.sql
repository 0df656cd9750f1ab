CREATE TABLE datasets (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    id_field TEXT NOT NULL,
    n_rows INTEGER NOT NULL,
    columns TEXT NOT NULL,          -- JSON [{"name":..,"dtype":..}]
    source_path TEXT,
    content_hash TEXT NOT NULL,
    table_file TEXT NOT NULL,       -- Parquet copy, relative to home
    ids_file TEXT NOT NULL,         -- .npy of str ids in row order
    created_at TEXT NOT NULL
);
CREATE TABLE experiments (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    model_name TEXT,
    train_dataset_id INTEGER REFERENCES datasets(id),
    params TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
CREATE TABLE spaces (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id),
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    dim INTEGER NOT NULL,
    dtype TEXT NOT NULL,
    n_rows INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    array_file TEXT NOT NULL,       -- float32 .npy, rows in dataset order
    rows_file TEXT,                 -- int64 .npy of dataset rows when the space covers a subset
    source_path TEXT,
    step INTEGER,                   -- training step / epoch, when logged from a loop
    split TEXT,
    stats TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
-- Derived results (kNN graphs, comparisons, maps, evaluations, search indexes).
-- Removing a space removes what was derived from it.
CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,       -- kind|space|other|canonical params
    name TEXT,
    space_id INTEGER NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,
    other_space_id INTEGER REFERENCES spaces(id) ON DELETE CASCADE,
    params TEXT NOT NULL,
    files TEXT NOT NULL,            -- JSON {role: relative path}
    info TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX artifacts_space ON artifacts(space_id);
CREATE INDEX artifacts_other ON artifacts(other_space_id);
