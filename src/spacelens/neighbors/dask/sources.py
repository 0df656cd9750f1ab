"""Where the vectors are, and how tasks read them: an ``.npy`` path or fsspec URL read block by
block (:class:`NpySource`), or an array only this process has (:class:`MemSource`), staged to a
file the workers can read.

See :mod:`spacelens.neighbors.dask` for how the engine chooses between them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from spacelens.errors import SpacelensError
from spacelens.neighbors.metrics import check_vectors


@dataclass(frozen=True)
class NpySource:
    """A 2-D float ``.npy`` file (local path or fsspec URL) that tasks read block by block."""
    url: str
    n_rows: int
    dim: int
    itemsize: int = 4


@dataclass(frozen=True)
class MemSource:
    """Vectors only this process has (written to a staging file or scattered before the run)."""
    array: np.ndarray

    @property
    def n_rows(self) -> int:
        return self.array.shape[0]

    @property
    def dim(self) -> int:
        return self.array.shape[1]


def _is_url(path: str) -> bool:
    return "://" in path


def _npy_header(f) -> tuple[tuple, bool, np.dtype]:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    return np.lib.format.read_array_header_2_0(f)


def _url_header(url: str) -> tuple[tuple, bool, np.dtype, int]:
    import fsspec

    with fsspec.open(url, "rb") as f:
        shape, fortran, dtype = _npy_header(f)
        return shape, fortran, dtype, f.tell()


def _check_npy(shape, fortran, dtype, where: str) -> None:
    if len(shape) != 2 or fortran or not np.issubdtype(dtype, np.floating):
        raise SpacelensError(f"{where} holds a {dtype} array of shape {shape} in "
                             f"{'Fortran' if fortran else 'C'} order",
                             "Pass a C-ordered 2-D float .npy (one row per item)")


def npy_source(x, what: str = "vectors") -> NpySource | MemSource:
    """Describe ``x`` (a path/URL of an ``.npy``, a memory map of one, or an array) for the tasks."""
    if isinstance(x, (str, os.PathLike)):
        url = os.fspath(x)
        try:
            if _is_url(url):
                shape, fortran, dtype, _ = _url_header(url)
            else:
                m = np.load(url, mmap_mode="r", allow_pickle=False)
                shape, fortran, dtype = m.shape, not m.flags.c_contiguous and m.ndim > 1, m.dtype
        except (OSError, ValueError) as exc:
            raise SpacelensError(f"Cannot read the {what} file {url!r} ({exc})",
                                 "Pass a readable .npy path or fsspec URL") from None
        _check_npy(shape, fortran, dtype, repr(url))
        return NpySource(url if _is_url(url) else os.path.abspath(url), int(shape[0]), int(shape[1]),
                         np.dtype(dtype).itemsize)
    if isinstance(x, np.memmap) and x.filename and str(x.filename).endswith(".npy") and x.ndim == 2:
        # Only a map of the *whole* file can be re-opened by path on the workers.
        try:
            whole = np.load(x.filename, mmap_mode="r", allow_pickle=False)
            if (whole.shape == x.shape and whole.dtype == x.dtype and x.flags.c_contiguous
                    and whole.flags.c_contiguous and np.issubdtype(x.dtype, np.floating)):
                return NpySource(os.path.abspath(x.filename), int(x.shape[0]), int(x.shape[1]), x.dtype.itemsize)
        except (OSError, ValueError):
            pass
    return MemSource(check_vectors(x, what))


def read_block(ref, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of an ``.npy`` path or URL, as an in-memory array."""
    if not _is_url(ref):
        return np.array(np.load(ref, mmap_mode="r", allow_pickle=False)[start:stop])
    import fsspec

    with fsspec.open(ref, "rb") as f:
        shape, fortran, dtype = _npy_header(f)
        row = int(shape[1]) * dtype.itemsize
        f.seek(f.tell() + start * row)
        buf = f.read((stop - start) * row)
    return np.frombuffer(buf, dtype=dtype).reshape(stop - start, int(shape[1])).copy()


def _probe(url: str, n_rows: int, dim: int) -> str | None:
    """On a worker: None when it can read the file as expected, else why not."""
    try:
        if _is_url(url):
            shape = _url_header(url)[0]
        else:
            shape = np.load(url, mmap_mode="r", allow_pickle=False).shape
        return None if tuple(shape) == (n_rows, dim) else f"shape {shape}"
    except Exception as exc:  # noqa: BLE001 - reported back to the client as text
        return f"{type(exc).__name__}: {exc}"


# -- staging in-memory arrays for the workers ----------------------------------------------------
@contextmanager
def _tempdir():
    path = tempfile.mkdtemp(prefix="spacelens-dask-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _stage(array: np.ndarray, where: str, what: str) -> str:
    """Write ``array`` as an ``.npy`` under ``where`` (folder or fsspec URL) for the workers."""
    name = f"spacelens-{what}-{uuid.uuid4().hex[:12]}.npy"
    if _is_url(where):
        import fsspec

        url = where.rstrip("/") + "/" + name
        with fsspec.open(url, "wb") as f:
            np.save(f, np.ascontiguousarray(array))
        return url
    os.makedirs(where, exist_ok=True)
    path = os.path.join(os.path.abspath(where), name)
    np.save(path, np.ascontiguousarray(array))
    return path


def _unstage(url: str) -> None:
    try:
        if _is_url(url):
            import fsspec

            fs, path = fsspec.core.url_to_fs(url)
            fs.rm(path)
        else:
            os.remove(url)
    except OSError:
        pass
