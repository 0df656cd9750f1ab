"""Atomic file writes into the registry home.

Every file is written under ``home/tmp`` as ``<pid>-<uuid>.partial.<ext>``, flushed, then
renamed into ``home/objects`` (same filesystem, so the rename is atomic). Files are
named by generated ids, never by user names. A :class:`Staging` remembers what it
wrote (before the SQLite transaction that records it), so a failure before the commit removes
the new files again; a kill -9
leaves at most a ``.partial`` (swept on the next open) or an unreferenced object
(removed by :meth:`ObjectStore.collect_garbage`), never a half-registered entity.

**Staged files and gc.** A staged file exists, unreferenced, until its transaction records it,
which may be long after it was written (a large add). Its age says nothing about whether its
writer still lives, so gc does not go by age: each :class:`Staging` holds an OS lock
(``fcntl.flock``) on its own lock file ``home/staging/<owner>.lock`` from before its first file
until it ends, and names its files ``objects/<owner>-<uuid>.<ext>``. gc never deletes a file of
an owner whose lock is held, however old; the kernel releases the lock when the writer exits or
is killed, and from then on its unrecorded files can never be recorded (only the writer runs its
transaction), so gc deletes them at once and removes the lock file. Files named without an owner
(written by spacelens before this scheme, or put there by hand) are still collected by age.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spacelens.errors import SpacelensError, SpacelensWarning
from spacelens.progress import progress

try:
    import fcntl
except ImportError:  # Windows (not a target): no flock; an open file cannot be deleted there instead
    fcntl = None

CHUNK_BYTES = 16 * 2**20  # rows are streamed in ~16 MiB blocks (temporaries stay ~100 MiB)
LOCK_ATTEMPTS = 100       # new lock files tried when gc takes each one away before we lock it


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
        self.staging = home / "staging"   # one lock file per live Staging
        for d in (self.objects, self.tmp, self.staging):
            d.mkdir(parents=True, exist_ok=True)

    def path(self, rel: str) -> Path:
        """Absolute path of a stored object; refuses anything outside ``objects/``."""
        p = (self.home / rel).resolve()
        if self.objects.resolve() not in p.parents:
            raise SpacelensError(f"Refusing to read {rel!r} outside the registry", "The registry may be corrupt")
        return p

    @contextmanager
    def atomic(self, suffix: str, owner: str | None = None):
        """Yield a temp path to write; on success it becomes ``objects/[<owner>-]<uuid><suffix>``.

        ``owner``: the id of the :class:`Staging` (whose lock is held) writing it. The relative
        path of the final object is available as ``handle.rel`` after the block.
        """
        handle = _Handle(self.tmp / f"{os.getpid()}-{uuid.uuid4().hex}.partial{suffix}",
                         f"objects/{owner + '-' if owner else ''}{uuid.uuid4().hex}{suffix}")
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

    def list_objects(self) -> list[tuple[str, float]]:
        """``(relative path, mtime)`` of every object now."""
        found = []
        for f in self.objects.iterdir():
            try:
                found.append((f"objects/{f.name}", f.stat().st_mtime))
            except FileNotFoundError:   # removed meanwhile
                pass
        return found

    def live_owners(self) -> set[str]:
        """Ids of the stagings whose writer still lives (their lock is held).

        The lock file of a writer that is gone (its lock is free) is removed.
        """
        live = set()
        for p in self.staging.glob("*.lock"):
            try:
                f = open(p, "rb")
            except FileNotFoundError:   # its writer ended meanwhile
                continue
            with f:
                if fcntl is not None:
                    try:
                        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        live.add(p.stem)
                        continue
                    p.unlink(missing_ok=True)   # still holding its lock: no writer is in between
                    continue
            try:   # no flock (Windows): a file its writer holds open cannot be deleted
                p.unlink(missing_ok=True)
            except PermissionError:
                live.add(p.stem)
        return live

    def collect_garbage(self, objects: list[tuple[str, float]], referenced: set[str], live: set[str],
                        min_age_s: float = 600) -> list[str]:
        """Remove the ``objects`` no database row references (left by a crash or a failed change).

        An object of a live staging (owner in ``live``) is kept whatever its age; one whose
        staging is gone is removed at once; one without an owner once older than ``min_age_s``.
        Call with the objects listed first, then ``live``, then ``referenced`` read last: a
        staging records its files before it lets go of its lock, so each object is then either
        still protected by a held lock or already in ``referenced`` (or abandoned).
        """
        now, removed = time.time(), []
        for rel, mtime in objects:
            if rel in referenced:
                continue
            owner = _owner(rel)
            if owner in live or (owner is None and now - mtime <= min_age_s):
                continue
            (self.home / rel).unlink(missing_ok=True)
            removed.append(rel)
        return removed


_OWNED = re.compile(r"([0-9a-f]{16})-[0-9a-f]{32}\.")


STORED_DTYPES = ("float32", "float16")
FLOAT16_MAX_ERROR = 1e-2   # largest relative change of a row's vector that float16 storage may make


def check_dtype(dtype) -> str:
    """The storage dtype's name, or one clear error."""
    name = str(np.dtype(dtype)) if isinstance(dtype, type) or isinstance(dtype, np.dtype) else str(dtype)
    if name not in STORED_DTYPES:
        raise SpacelensError(f"Spaces cannot be stored as {dtype!r}",
                             f"Use one of: {', '.join(STORED_DTYPES)} (float16 halves the files of epoch logs)")
    return name


def _round_float16(block: np.ndarray, r0: int, order) -> tuple[np.ndarray, np.ndarray]:
    """``block`` rounded to float16, and widened back to float32; refused where that damages a row."""
    def src(i):
        return r0 + i if order is None else int(order[r0 + i])

    top = np.maximum(block.max(axis=1), -block.min(axis=1))   # largest |value| per row
    big = top > np.finfo(np.float16).max
    if big.any():
        i = int(np.flatnonzero(big)[0])
        raise SpacelensError(
            f"The embeddings hold values too large for float16 (first at row {src(i)}: "
            f"|value| up to {float(top[i]):.4g} > 65504)",
            "Store them as float32 (dtype='float32' / --dtype float32), or scale them down first")
    half = block.astype(np.float16)
    widened = half.astype(np.float32)
    # Rounding moves a row by at most 2^-11 of its length (normal range) plus 2^-25 per value
    # (subnormals): only rows whose largest value is below that bound's threshold can lose more
    # than FLOAT16_MAX_ERROR (the row's length is at least its largest value), so only those are measured.
    d = block.shape[1]
    maybe = np.flatnonzero(top < np.sqrt(d) * 2.0**-25 / (FLOAT16_MAX_ERROR - 2.0**-11))
    if maybe.size:
        b = block[maybe].astype(np.float64)
        norm = np.linalg.norm(b, axis=1)
        err = np.linalg.norm(widened[maybe] - b, axis=1)
        bad = maybe[err > FLOAT16_MAX_ERROR * norm]
    else:
        bad = maybe
    if bad.size:
        i = int(bad[0])
        norm, err = float(np.linalg.norm(block[i].astype(np.float64))), \
            float(np.linalg.norm((widened[i] - block[i]).astype(np.float64)))
        raise SpacelensError(
            f"Row {src(i)} of the embeddings is too small for float16 (rounding would change its vector "
            f"by {err / norm:.1%}; its largest |value| is {float(top[i]):.3g})",
            "Store them as float32 (dtype='float32' / --dtype float32), or scale them up first")
    return half, widened


def _owner(rel: str) -> str | None:
    """The staging id a stored file was written by (None for a file named without one)."""
    m = _OWNED.match(rel.rsplit("/", 1)[-1])
    return m.group(1) if m else None


class _StagingLock:
    """An exclusive flock on ``staging/<id>.lock``, held from creation until :meth:`release`.

    gc takes the lock of a file it finds unlocked and removes the file, which can happen between
    our creating the file and locking it: then the path no longer names our file after we hold
    the lock, and we start again with a new id.
    """

    def __init__(self, store: ObjectStore):
        for _ in range(LOCK_ATTEMPTS):
            self.id = uuid.uuid4().hex[:16]
            self.path = store.staging / f"{self.id}.lock"
            self.file = open(self.path, "xb")
            try:
                _flock(self.file)
                held = os.fstat(self.file.fileno())
                now = os.stat(self.path)
                if (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino):
                    return
            except FileNotFoundError:
                pass
            except BaseException:
                self.release()
                raise
            self.file.close()
        raise SpacelensError(f"Could not take a staging lock in {str(store.staging)!r}",
                             "Check that no other program keeps removing files there")

    def release(self) -> None:
        if not self.file.closed:
            self.file.close()   # the lock goes with it
        self.path.unlink(missing_ok=True)


def _flock(f) -> None:
    if fcntl is not None:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)   # blocks only while a gc holds it to check it


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
    _owner_lock: _StagingLock | None = field(default=None, repr=False)

    def _atomic(self, suffix: str):
        """A new file of this staging: its lock is taken before the first one (see module doc)."""
        if self._owner_lock is None:
            self._owner_lock = _StagingLock(self.store)
        return self.store.atomic(suffix, owner=self._owner_lock.id)

    def release(self) -> None:
        """The staging ends: gc may collect whatever of its files was not recorded."""
        if self._owner_lock is not None:
            self._owner_lock.release()
            self._owner_lock = None

    def save_array(self, arr: np.ndarray) -> str:
        with self._atomic(".npy") as h:
            np.save(h.tmp, np.ascontiguousarray(arr), allow_pickle=False)
        self.written.append(h.rel)
        return h.rel

    def save_table(self, table) -> str:
        with self._atomic(".parquet") as h:
            table.to_parquet(h.tmp, index=False)
        self.written.append(h.rel)
        return h.rel

    def copy_space(self, source: np.ndarray, order: np.ndarray | None,
                   dtype: str = "float32") -> tuple[str, str, dict]:
        """Stream ``source[order]`` into a .npy of ``dtype``; return (path, content hash, stats).

        One pass: converts to float32, refuses NaN/inf, hashes, and gathers norms and a
        per-row fingerprint for the duplicate share. Memory stays at one block.
        ``dtype="float16"`` halves the file (epoch logs): values are rounded once here, and the
        hash and statistics describe the rounded values, which is what every reader gets back
        (widened to float32). Values float16 cannot hold (beyond ±65504, or so small that a row
        loses more than :data:`FLOAT16_MAX_ERROR` of its length) are refused, not silently damaged.
        """
        stored = np.dtype(check_dtype(dtype))
        n = source.shape[0] if order is None else len(order)
        d = source.shape[1]
        rows_per_chunk = max(1, CHUNK_BYTES // (4 * d))
        hasher = hashlib.blake2b(digest_size=16)
        hasher.update(f"float32:{n}x{d}".encode())
        norms = np.empty(n, dtype=np.float64)
        fingerprints = np.empty(n, dtype=np.uint64)
        weights = np.random.default_rng(0).integers(1, 2**63, size=d, dtype=np.uint64) | np.uint64(1)
        with self._atomic(".npy") as h:
            out = np.lib.format.open_memmap(h.tmp, mode="w+", dtype=stored, shape=(n, d))
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
                    if stored == np.float32:
                        out[r0:r1] = block
                    else:   # rounded once; the hash and statistics below see the rounded values
                        out[r0:r1], block = _round_float16(block, r0, order)
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
