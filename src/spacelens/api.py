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
