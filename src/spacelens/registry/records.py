"""The registry's records: plain dataclasses read from (and written as) database rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
    image_root: str | None = None  # folder of its image column's files (Registry.image_folder)
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
    run: str | None = None
    pruned_at: str | None = None   # when its vectors were pruned (its stored results remain)
    kind: str = field(default="space", init=False)


@dataclass
class Artifact:
    """A derived result (kNN graph, comparison, map, evaluation...) cached in the registry.

    ``space_hash``/``other_space_hash``: content hashes of the spaces it was computed from; a
    result is only ever served while its spaces still hold that content.
    """

    id: int
    kind: str
    name: str | None
    space: str
    other_space: str | None
    params: dict
    files: dict[str, str]
    info: dict
    created_at: str
    space_hash: str | None = None
    other_space_hash: str | None = None


# NewDataset and NewSpace repeat fields of Dataset and Space on purpose. A shared base class
# would put its fields first, reordering Dataset/Space (the key order of `show --json`, `add
# --json` and /api/registry), and NewSpace keeps its own order and defaults (step, split, run,
# dtype) for callers that build it. tests/test_registry.py checks that the staged records carry
# exactly the registered fields the registry does not assign itself, with the same types.


@dataclass
class NewDataset:
    """A dataset to register: its files already staged."""

    name: str
    id_field: str
    n_rows: int
    columns: list[dict]
    source_path: str | None
    content_hash: str
    table_file: str
    ids_file: str
    image_root: str | None = None


@dataclass
class NewSpace:
    """A space to register: its files already staged."""

    name: str
    dim: int
    n_rows: int
    content_hash: str
    array_file: str
    rows_file: str | None
    source_path: str | None
    stats: dict
    step: int | None = None
    split: str | None = None
    run: str | None = None
    dtype: str = "float32"


def record_dict(rec) -> dict[str, Any]:
    """A JSON-ready dict of a record, without internal file paths."""
    d = asdict(rec)
    for k in ("table_file", "ids_file", "array_file", "rows_file", "files"):
        d.pop(k, None)
    return d
