"""Atomic file writes into the registry home.

Every file is written under ``home/tmp`` as ``<pid>-<uuid>.partial.<ext>``, flushed, then
renamed into ``home/objects`` (same filesystem, so the rename is atomic). Files are
named by generated ids, never by user names. A :class:`Staging` remembers what it
wrote (before the SQLite transaction that records it), so a failure before the commit removes
the new files again; a kill -9
leaves at most a ``.partial`` (swept on the next open) or an unreferenced object
(removed by :meth:`ObjectStore.collect_garbage`), never a half-registered entity.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spacelens.errors import SpacelensError, SpacelensWarning
from spacelens.progress import progress

CHUNK_BYTES = 16 * 2**20  # rows are streamed in ~16 MiB blocks (temporaries stay ~100 MiB)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ObjectStore:
    def __init__(self, home: Path):
        self.home = home
        self.objects = home / "objects"
        self.tmp = home / "tmp"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, rel: str) -> Path:
        """Absolute path of a stored object; refuses anything outside ``objects/``."""
        p = (self.home / rel).resolve()
        if self.objects.resolve() not in p.parents:
            raise SpacelensError(f"Refusing to read {rel!r} outside the registry", "The registry may be corrupt")
        return p

    @contextmanager
    def atomic(self, suffix: str):
        """Yield a temp path to write; on success it becomes ``objects/<uuid><suffix>``.

        The relative path of the final object is available as ``handle.rel`` after the block.
        """
        handle = _Handle(self.tmp / f"{os.getpid()}-{uuid.uuid4().hex}.partial{suffix}",
                         f"objects/{uuid.uuid4().hex}{suffix}")
        try:
            yield handle
            with open(handle.tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(handle.tmp, self.home / handle.rel)
        finally:
            handle.tmp.unlink(missing_ok=True)

    def remove(self, rels) -> None:
        for rel in rels:
            if rel:
                try:
                    self.path(rel).unlink(missing_ok=True)
                except SpacelensError:
                    pass

    def sweep_partials(self) -> int:
        """Delete ``.partial`` files whose writing process is gone (killed mid-write)."""
        n = 0
        for f in self.tmp.glob("*.partial*"):
            pid = f.name.split("-", 1)[0]
            if pid.isdigit() and not _pid_alive(int(pid)):
                f.unlink(missing_ok=True)
                n += 1
        return n

    def collect_garbage(self, referenced: set[str], min_age_s: float = 600) -> list[str]:
        """Remove objects no database row references (left by a crash between rename and commit)."""
        now, removed = time.time(), []
        for f in self.objects.iterdir():
            rel = f"objects/{f.name}"
            if rel not in referenced and now - f.stat().st_mtime > min_age_s:
                f.unlink(missing_ok=True)
                removed.append(rel)
        return removed


@dataclass
class _Handle:
    tmp: Path
    rel: str


@dataclass
class Staging:
    """Files written for one registry change: deleted again unless the change commits."""

    store: ObjectStore
    written: list[str] = field(default_factory=list)
    obsolete: list[str] = field(default_factory=list)

    def save_array(self, arr: np.ndarray) -> str:
        with self.store.atomic(".npy") as h:
            np.save(h.tmp, np.ascontiguousarray(arr), allow_pickle=False)
        self.written.append(h.rel)
        return h.rel

    def save_table(self, table) -> str:
        with self.store.atomic(".parquet") as h:
            table.to_parquet(h.tmp, index=False)
        self.written.append(h.rel)
        return h.rel

    def copy_space(self, source: np.ndarray, order: np.ndarray | None) -> tuple[str, str, dict]:
        """Stream ``source[order]`` into a float32 .npy; return (path, content hash, stats).

        One pass: converts to float32, refuses NaN/inf, hashes, and gathers norms and a
        per-row fingerprint for the duplicate share. Memory stays at one block.
        """
        n = source.shape[0] if order is None else len(order)
        d = source.shape[1]
        rows_per_chunk = max(1, CHUNK_BYTES // (4 * d))
        hasher = hashlib.blake2b(digest_size=16)
        hasher.update(f"float32:{n}x{d}".encode())
        norms = np.empty(n, dtype=np.float64)
        fingerprints = np.empty(n, dtype=np.uint64)
        weights = np.random.default_rng(0).integers(1, 2**63, size=d, dtype=np.uint64) | np.uint64(1)
        with self.store.atomic(".npy") as h:
            out = np.lib.format.open_memmap(h.tmp, mode="w+", dtype=np.float32, shape=(n, d))
            with progress("Copying embeddings", total=n) as bar:
                for r0 in range(0, n, rows_per_chunk):
                    r1 = min(n, r0 + rows_per_chunk)
                    block = source[r0:r1] if order is None else source[order[r0:r1]]
                    with np.errstate(over="ignore", invalid="ignore"):
                        block = np.asarray(block, dtype=np.float32)
                    finite = np.isfinite(block)
                    if not finite.all():
                        bad = r0 + int(np.flatnonzero(~finite.all(axis=1))[0])
                        src_row = bad if order is None else int(order[bad])
                        raise SpacelensError(
                            f"The embeddings contain NaN or infinite values (first at row {src_row}"
                            f"{', or too large for float32' if source.dtype.itemsize > 4 else ''})",
                            "Fix or drop those rows before adding the space",
                        )
                    out[r0:r1] = block
                    hasher.update(np.ascontiguousarray(block).tobytes())
                    norms[r0:r1] = np.sqrt(np.einsum("ij,ij->i", block, block, dtype=np.float64))
                    with np.errstate(over="ignore"):
                        fingerprints[r0:r1] = (block.view(np.uint32).astype(np.uint64) * weights).sum(axis=1)
                    bar.advance(r1 - r0)
            out.flush()
            del out
        self.written.append(h.rel)
        n_zero = int((norms == 0).sum())
        n_unique = int(np.unique(fingerprints).size)
        stats = {
            "mean_norm": float(norms.mean()),
            "min_norm": float(norms.min()),
            "max_norm": float(norms.max()),
            "n_zero_vectors": n_zero,
            "zero_share": n_zero / n,
            "n_duplicate_vectors": n - n_unique,
            "duplicate_share": (n - n_unique) / n,
        }
        if n_zero:
            import warnings

            warnings.warn(
                f"{n_zero} of {n} vectors are all zeros; cosine similarity is undefined for them "
                "(they are treated as orthogonal to everything)",
                SpacelensWarning,
                stacklevel=2,
            )
        return h.rel, hasher.hexdigest(), stats

    def drop(self, rels) -> None:
        """Remove staged files the change turned out not to need (e.g. a dataset registered meanwhile)."""
        rels = [r for r in rels if r in self.written]
        self.store.remove(rels)
        self.written = [r for r in self.written if r not in rels]

    def committed(self) -> None:
        """The change committed: the written files now belong to the registry."""
        self.written.clear()
        self.obsolete.clear()

    def discard(self) -> None:
        self.store.remove(self.written)
        self.written.clear()
