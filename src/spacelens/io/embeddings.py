"""Readers for embedding files: ``.npy``, ``.npz`` and Parquet, or arrays passed directly.

Readers only open and shape-check; values (NaN, inf, zero rows) are checked in the single
streaming pass that copies the array into the registry (:mod:`spacelens.registry.store`),
so a 100k x 512 ``.npy`` is never loaded whole: it stays memory-mapped.
Pickled content is never loaded (``allow_pickle=False``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spacelens.errors import SpacelensError

EMBEDDING_SUFFIXES = (".npy", ".npz", ".parquet", ".pq")


@dataclass
class EmbeddingSource:
    """A 2-D array of vectors (possibly memory-mapped) and, when the file carries them, ids."""

    array: np.ndarray
    ids: np.ndarray | None
    path: str | None

    @property
    def shape(self) -> tuple[int, int]:
        return self.array.shape  # type: ignore[return-value]


def check_readable(path: str | os.PathLike, what: str) -> Path:
    """Return ``path`` as a Path if it is a readable file, else a clear error."""
    p = Path(path).expanduser()
    if not p.exists():
        raise SpacelensError(f"{what} file {str(p)!r} does not exist", "Check the path and try again")
    if not p.is_file():
        raise SpacelensError(f"{what} path {str(p)!r} is not a file", "Pass a file, not a folder")
    if not os.access(p, os.R_OK):
        raise SpacelensError(f"{what} file {str(p)!r} is not readable", "Check its permissions")
    return p


def _pickle_error(p: Path) -> SpacelensError:
    return SpacelensError(
        f"{str(p)!r} holds Python objects (pickled data), which spacelens never loads for safety",
        "Save a plain numeric array instead, e.g. np.save(path, emb.astype('float32'))",
    )


def _load_npy(p: Path) -> EmbeddingSource:
    with open(p, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise SpacelensError(f"Cannot read {str(p)!r}: it is not a .npy file",
                                 "Save embeddings with numpy.save, or use .npz / Parquet")
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        if "object" in str(exc).lower() or "pickle" in str(exc).lower():
            raise _pickle_error(p) from None
        raise SpacelensError(f"Cannot read {str(p)!r} as .npy ({exc})", "Save it with numpy.save") from None
    except OSError as exc:
        raise SpacelensError(f"Cannot read {str(p)!r} as .npy ({exc})", "Save it with numpy.save") from None
    return EmbeddingSource(arr, None, str(p))


def _load_npz(p: Path) -> EmbeddingSource:
    try:
        with np.load(p, allow_pickle=False) as npz:
            keys = list(npz.files)
            if "embeddings" in keys:
                arr = npz["embeddings"]
                try:
                    ids = npz["ids"] if "ids" in keys else None
                except ValueError:
                    raise SpacelensError(
                        f"The 'ids' array in {str(p)!r} is an object array (pickled), which spacelens "
                        "never loads for safety",
                        "Save ids as strings or integers: np.savez(path, embeddings=emb, ids=np.asarray(ids, dtype=str))",
                    ) from None
            elif len(keys) == 1:
                arr, ids = npz[keys[0]], None
            else:
                raise SpacelensError(
                    f"{str(p)!r} holds several arrays ({', '.join(keys)}) and none is named 'embeddings'",
                    "Save it as np.savez(path, embeddings=emb, ids=ids), or with a single array",
                )
    except ValueError as exc:
        if "object" in str(exc).lower() or "pickle" in str(exc).lower():
            raise _pickle_error(p) from None
        raise SpacelensError(f"Cannot read {str(p)!r} as .npz ({exc})", "Save it with numpy.savez") from None
    except (OSError, EOFError) as exc:
        raise SpacelensError(f"Cannot read {str(p)!r} as .npz ({exc})", "Save it with numpy.savez") from None
    return EmbeddingSource(arr, ids, str(p))


def _load_parquet(p: Path, id_field: str | None) -> EmbeddingSource:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(p)
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise SpacelensError(f"Cannot read {str(p)!r} as Parquet ({exc})", "Check that the file is Parquet") from None
    names = table.column_names
    id_col = id_field if id_field in names else ("id" if "id" in names else None)
    ids = None
    if id_col is not None:
        ids = np.asarray(table.column(id_col).to_pylist(), dtype=object)
        table = table.drop([id_col])
    list_cols = [n for n in table.column_names if pa.types.is_list(table.schema.field(n).type)
                 or pa.types.is_fixed_size_list(table.schema.field(n).type)
                 or pa.types.is_large_list(table.schema.field(n).type)]
    if len(list_cols) > 1:
        raise SpacelensError(
            f"{str(p)!r} has several vector columns ({', '.join(list_cols)})",
            "Keep one list column of embeddings (plus an id column) per file",
        )
    if list_cols:
        col = table.column(list_cols[0]).combine_chunks()
        lengths = np.unique(np.asarray(col.value_lengths() if hasattr(col, "value_lengths") else
                                       [len(v) for v in col.to_pylist()]))
        if lengths.size != 1:
            raise SpacelensError(
                f"Vectors in column {list_cols[0]!r} of {str(p)!r} have different lengths ({lengths.tolist()[:5]})",
                "Every embedding must have the same dimension",
            )
        flat = np.asarray(col.flatten().to_numpy(zero_copy_only=False))
        arr = flat.reshape(len(col), int(lengths[0]))
    else:
        numeric = [n for n in table.column_names
                   if pa.types.is_integer(table.schema.field(n).type) or pa.types.is_floating(table.schema.field(n).type)]
        other = [n for n in table.column_names if n not in numeric]
        if not numeric or other:
            raise SpacelensError(
                f"{str(p)!r} has no vector column" + (f" and non-numeric columns {other}" if other else ""),
                "Store embeddings as one list column or as numeric columns only, plus an 'id' column",
            )
        arr = np.column_stack([table.column(n).to_numpy() for n in numeric])
    return EmbeddingSource(arr, ids, str(p))


def read_embeddings(source, *, ids=None, id_field: str | None = None) -> EmbeddingSource:
    """Open embeddings from a path (.npy/.npz/.parquet) or take an array as given.

    ``ids`` (a sequence) overrides ids stored in the file. The result is shape-checked:
    2-D and numeric. NaN/inf and zero rows are checked while copying.
    """
    if isinstance(source, (str, os.PathLike)):
        p = check_readable(source, "Embeddings")
        suffix = p.suffix.lower()
        if suffix == ".npy":
            src = _load_npy(p)
        elif suffix == ".npz":
            src = _load_npz(p)
        elif suffix in (".parquet", ".pq"):
            src = _load_parquet(p, id_field)
        else:
            raise SpacelensError(
                f"Unsupported embeddings file type {suffix or '(none)'!r} for {str(p)!r}",
                f"Use one of {', '.join(EMBEDDING_SUFFIXES)}",
            )
    else:
        src = EmbeddingSource(_as_array(source), None, None)
    if ids is not None:
        src.ids = np.asarray(ids, dtype=object)
    check_matrix(src.array, src.path or "The embeddings")
    if src.ids is not None:
        src.ids = normalize_ids(src.ids, what="embedding ids")
        if len(src.ids) != src.array.shape[0]:
            raise SpacelensError(
                f"There are {len(src.ids)} ids for {src.array.shape[0]} embedding rows",
                "Pass exactly one id per row",
            )
    return src


def _as_array(x) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype == object:
        raise SpacelensError("The embeddings are an object array", "Pass a numeric numpy array")
    return arr


def check_matrix(arr: np.ndarray, what: str) -> None:
    """Refuse anything but a non-empty 2-D numeric array, with the reshaping fix."""
    if arr.dtype.kind not in "fiu":
        raise SpacelensError(
            f"{what} has dtype {arr.dtype}, not numbers", "Save the embeddings as float32 or float64"
        )
    if arr.ndim != 2:
        fix = ("Reshape it to (n_items, dim), e.g. emb.reshape(-1, 1) for one value per item"
               if arr.ndim == 1 else "Reshape it to (n_items, dim), e.g. emb.reshape(len(emb), -1)")
        raise SpacelensError(f"{what} is {arr.ndim}-D with shape {arr.shape}; embeddings must be 2-D", fix)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise SpacelensError(f"{what} is empty (shape {arr.shape})", "Pass at least one row and one column")


def normalize_ids(ids, what: str = "ids") -> np.ndarray:
    """Ids are strings everywhere in spacelens; refuse missing and duplicate ones."""
    raw = np.asarray(ids)
    if raw.ndim != 1:
        raise SpacelensError(f"The {what} are {raw.ndim}-D", "Pass a flat list of ids")
    if raw.dtype.kind in "iuU":  # the common cases, vectorised
        strs = raw.astype(str)
    else:
        out = np.empty(len(raw), dtype=object)
        for i, v in enumerate(raw.astype(object)):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                raise SpacelensError(f"The {what} have a missing value at row {i}", "Give every row an id")
            if isinstance(v, bytes):
                v = v.decode()
            elif isinstance(v, (float, np.floating)) and float(v).is_integer():
                v = int(v)
            out[i] = str(v)
        strs = out.astype(str)
    uniq, counts = np.unique(strs, return_counts=True)
    if uniq.size != strs.size:
        dup = uniq[counts > 1]
        raise SpacelensError(
            f"The {what} have {dup.size} duplicated values (e.g. {', '.join(map(repr, dup[:3].tolist()))})",
            "Ids must be unique: drop or rename the duplicates",
        )
    return strs
