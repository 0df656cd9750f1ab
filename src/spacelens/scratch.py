"""Arrays without ceremony: ``compare(emb_a, emb_b)`` and ``evaluate(emb, labels)`` on numpy arrays.

The verbs work on registered spaces (a kNN graph, a map or a comparison is cached beside the
space it came from). For arrays passed straight from a notebook, the arrays are registered
in a scratch registry that the user never names: one temporary folder per process (removed
when the process ends), inside it one registry per set of arrays, keyed by their content. So
the same arrays passed twice (``compare`` then ``widget``) reuse the graphs and maps computed
the first time, and two different calls never collide on a name.

Shapes are checked here, once, with errors that name the fix.
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spacelens.errors import SpacelensError
from spacelens.registry import Registry, Space

DATASET = "arrays"
EXPERIMENT = "arrays"
_lock = threading.Lock()
_root: Path | None = None


def is_array(x) -> bool:
    """Whether ``x`` is an embedding matrix given directly (numpy, torch, any array-like), not a name."""
    if isinstance(x, (str, bytes)) or x is None:
        return False
    return hasattr(x, "__array__") or hasattr(x, "shape") or isinstance(x, (list, tuple))


def scratch_root() -> Path:
    """This process's scratch folder (created on first use, removed at exit)."""
    global _root
    with _lock:
        if _root is None:
            _root = Path(tempfile.mkdtemp(prefix="spacelens-scratch-"))
            atexit.register(shutil.rmtree, _root, True)
        return _root


def as_matrix(x, what: str) -> np.ndarray:
    """A float32 (n, d) matrix from an array-like (torch tensors too), or one clear error."""
    if hasattr(x, "detach"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise SpacelensError(f"{what} is not a numeric array ({exc})",
                             "Pass a 2-D array of shape (n_items, dim), e.g. a numpy array") from None
    if arr.ndim != 2:
        raise SpacelensError(f"{what} has shape {arr.shape}: an embedding matrix needs 2 dimensions",
                             "Pass shape (n_items, dim); reshape a single vector with x.reshape(1, -1)")
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise SpacelensError(f"{what} has shape {arr.shape}", "Pass at least 2 items with at least 1 dimension")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise SpacelensError(f"{what} has {bad} rows with NaN or infinite values",
                             "Drop or fix those rows (the same rows in every array) before comparing")
    return np.ascontiguousarray(arr)


def _column(values, n: int, what: str):
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise SpacelensError(f"{what} has shape {arr.shape}", "Pass one value per item (a 1-D array or list)")
    if len(arr) != n:
        raise SpacelensError(f"{what} has {len(arr)} values but the embeddings have {n} rows",
                             "Pass one value per row, in the embeddings' row order")
    return arr


@dataclass
class Scratch:
    """Arrays registered in a scratch registry: the registry, the dataset and the spaces' records."""

    reg: Registry
    dataset: str
    spaces: list[Space]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.spaces]


def register(arrays: dict[str, np.ndarray], *, labels=None, metadata=None, ids=None,
             label_field: str = "label") -> Scratch:
    """Register ``{name: matrix}`` (same rows) with their metadata in a scratch registry.

    ``labels``: one value per row (becomes column ``label_field``); ``metadata``: a DataFrame
    (or dict of columns) with one row per item; ``ids``: item ids (default: the row numbers).
    """
    import pandas as pd

    from spacelens import tracking
    from spacelens.registry.names import validate_name

    mats = {name: as_matrix(x, f"Embeddings {name!r}") for name, x in arrays.items()}
    for name in mats:
        validate_name(name, "space name")
    sizes = {name: m.shape[0] for name, m in mats.items()}
    if len(set(sizes.values())) > 1:
        shown = ", ".join(f"{k}: {v}" for k, v in sizes.items())
        raise SpacelensError(f"The embeddings have different numbers of rows ({shown})",
                             "Pass the same items, in the same order, to every space (row i is item i)")
    n = next(iter(sizes.values()))
    if metadata is None:
        table = pd.DataFrame(index=range(n))
    else:
        table = pd.DataFrame(metadata).reset_index(drop=True)
        if len(table) != n:
            raise SpacelensError(f"The metadata has {len(table)} rows but the embeddings have {n}",
                                 "Pass one metadata row per embedding row, in the same order")
    if labels is not None:
        table[label_field] = _column(labels, n, "labels")
    if ids is not None:
        table.insert(0, "id", [str(v) for v in _column(ids, n, "ids")])
        if table["id"].duplicated().any():
            raise SpacelensError("The ids are not unique", "Pass one distinct id per item")
    elif "id" not in table.columns:
        table.insert(0, "id", np.arange(n).astype(str))
    table["id"] = table["id"].astype(str)

    h = hashlib.sha1()
    h.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    h.update(repr(list(table.columns)).encode())
    for name, m in mats.items():
        h.update(name.encode() + b"\0" + str(m.shape).encode())
        h.update(memoryview(m).cast("B"))
    reg = Registry(scratch_root() / h.hexdigest()[:20])
    spaces = []
    for name, m in mats.items():
        found = reg.find(name)
        if found:  # the same content hashed to this folder: reuse it and what was computed on it
            spaces.append(reg.space(name))
            continue
        spaces.append(tracking.add_space(reg, m, table if not reg.find(DATASET) else None, dataset_name=DATASET,
                                         experiment_name=EXPERIMENT, space_name=name, id_field="id"))
    return Scratch(reg=reg, dataset=DATASET, spaces=spaces)
