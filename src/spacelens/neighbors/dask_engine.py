"""Exact kNN on a Dask cluster: row blocks searched by faiss on the workers, merged in a tree.

Past one machine, the N x N search is split into row blocks: task (i, j) finds the top k of
query block i among base block j (faiss ``knn``, the kernel of ``IndexFlatIP``/``IndexFlatL2``,
on the prepared blocks), re-computes its candidates' distances exactly (float64, rounded to
float32, :func:`~spacelens.neighbors.metrics.pair_distances`) and returns them with *global*
row ids; for each query block a binary tree of merge tasks keeps the best k of two lists by
(distance, row). Distances come from the exact engine's own code (``Side.of``, float64
``pair_distances`` from the raw vectors) and the tie rule is the same, so both engines return
the same ids and the same float32 distances. Workers need spacelens installed (same version).

How the data reaches the workers (no N x d array ever goes through the scheduler):

- a registry memory map (``reg.load_vectors``), or a path / fsspec URL of an ``.npy`` file:
  each task reads just its two blocks (``np.load(mmap_mode="r")`` for paths, byte ranges through
  fsspec for URLs such as ``s3://...``). The file must be readable by the workers (shared
  storage); when a probe shows it is not, blocks are sent from here instead, with a warning.
- an in-memory array: written to a temporary ``.npy`` that the engine's own local cluster reads;
  with a remote scheduler, blocks are scattered to the workers (``staging="scatter"``), or
  written to ``staging=<shared folder or URL>`` and read from there.

Tasks read their inputs from files, so a task lost with a killed worker is simply run again
by Dask on another worker (``retries`` covers tasks that raise). If the run cannot finish (too
many worker deaths, a task error, no workers left, scattered blocks lost with their worker)
:meth:`DaskEngine.search` raises a :class:`SpacelensError` and returns nothing, so
``knn_graph`` writes nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
import warnings
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from math import ceil

import numpy as np

from spacelens.errors import SpacelensError, SpacelensWarning
from spacelens.neighbors.base import Engine
from spacelens.neighbors.exact import _check_rows, check_k
from spacelens.neighbors.metrics import check_metric, check_vectors
from spacelens.progress import progress

LOCAL = ("processes", "threads")   # scheduler names that start a local cluster (worker processes or threads)
SCATTER_FIX = ("run again, or pass staging=SHARED_DIR (or keep the vectors on storage the workers "
               "read) so that Dask can recompute the work of a lost worker")
PAD = np.iinfo(np.int64).max       # id of an empty slot in a partial top-k list (sorts last)
_RESEARCH_PAIRS = 1 << 22          # (query, candidate) pairs held at once when widening a search


# -- where the vectors are ---------------------------------------------------------------------
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


# -- the work of one task ----------------------------------------------------------------------
def block_topk(q, b, offset: int, k: int, metric: str, self_rows: np.ndarray | None = None,
               extra: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top k of queries ``q`` among base block ``b`` (its rows are ``offset + 0..``).

    ``q`` and ``b`` are :class:`~spacelens.neighbors.exact.Side` (raw vectors and prepared
    ones). Returns ``(distances float32 (m, k), ids int64 (m, k))`` sorted by (distance, id),
    ids global; a block with fewer than k usable rows pads with (inf, PAD). ``self_rows``: the
    queries' own global rows, excluded. As in the exact engine, faiss proposes ``k + extra``
    candidates, their distances are re-computed exactly from the raw vectors, and a query whose
    k-th distance is not clearly below the worst candidate faiss returned is searched again
    with twice as many candidates.
    """
    from spacelens.neighbors.metrics import (column_mean, faiss_base, faiss_knn, faiss_rows, pair_distances,
                                             search_tolerance)

    m, nb = len(q), len(b)
    out_d = np.full((m, k), np.inf, dtype=np.float32)
    out_i = np.full((m, k), PAD, dtype=np.int64)
    if m == 0 or nb == 0:
        return out_d, out_i
    local = None
    if self_rows is not None:
        local = np.asarray(self_rows, dtype=np.int64) - offset
        local = np.where((local >= 0) & (local < nb), local, -2)   # -2 never matches a candidate
    has_self = local is not None and bool((local >= 0).any())
    extra = max(8, k // 4) if extra is None else int(extra)
    kk = min(nb, k + int(has_self) + extra)
    # faiss searches as the exact engine does: l2 on rows centred on this block's mean (any
    # centre keeps the distances), the bound from the rows faiss sees.
    center = column_mean(b.raw) if metric == "l2" else None
    target, norms = faiss_base(b.raw, b.vec, metric, center)
    bmax = float(norms.max(initial=0.0)) if norms is not None else 1.0
    augmented = target.shape[1] != b.vec.shape[1]             # l2 as an inner product

    todo = np.arange(m)
    if metric != "l2":
        # A zero query is equally far from every row (cosine 1, dot 0): the lowest rows win.
        zero = ~q.vec.any(axis=1)
        if zero.any():
            zi = todo[zero]
            cand = np.broadcast_to(np.arange(min(nb, k + 1), dtype=np.int64), (len(zi), min(nb, k + 1)))
            dist = np.full(cand.shape, 1.0 if metric == "cosine" else 0.0, dtype=np.float32)
            _write(out_d, out_i, zi, dist, cand, local, offset, k)
            todo = todo[~zero]
    first = True
    while len(todo):
        step = len(todo) if first else max(1, _RESEARCH_PAIRS // kk)
        first = False
        unclear = []
        for s in range(0, len(todo), step):
            qi = todo[s:s + step]
            qq = q if len(qi) == m else q.take(qi)
            qv = faiss_rows(qq.raw, qq.vec, metric, center)
            fd, cand = faiss_knn(qv, target, kk, metric)
            dist = pair_distances(qq.raw, b.raw, cand, metric, qq.norms, b.norms)
            kth = _write(out_d, out_i, qi, dist, cand, local, offset, k)
            if kk < nb:
                bound = search_tolerance(qv, bmax, metric, augmented)
                unclear.append(qi[~(kth.astype(np.float64) < fd[:, -1] - bound)])
        todo = np.concatenate(unclear) if unclear else todo[:0]
        kk = min(nb, 2 * kk)
    return out_d, out_i


def _write(out_d, out_i, qi, dist, cand, local, offset, k) -> np.ndarray:
    """Drop self and empty slots, sort by (distance, row), keep k; returns the k-th distances."""
    cand = np.asarray(cand, dtype=np.int64)
    dead = cand < 0
    if local is not None:
        dead |= cand == local[qi][:, None]
    dist = np.where(dead, np.float32(np.inf), dist).astype(np.float32, copy=False)
    gid = np.where(dead, PAD, cand + offset)
    order = np.lexsort((gid, dist), axis=1)[:, :k]
    d = np.take_along_axis(dist, order, axis=1)
    g = np.take_along_axis(gid, order, axis=1)
    w = d.shape[1]
    out_d[qi, :w] = d
    out_i[qi, :w] = g
    return out_d[qi, k - 1]


def merge_topk(a: tuple, b: tuple, k: int) -> tuple:
    """Best k of two partial lists ``(distances, ids, counters)`` by (distance, id); counters add up."""
    d = np.concatenate([a[0], b[0]], axis=1)
    i = np.concatenate([a[1], b[1]], axis=1)
    order = np.lexsort((i, d), axis=1)[:, :k]
    return (np.take_along_axis(d, order, axis=1), np.take_along_axis(i, order, axis=1),
            tuple(x + y for x, y in zip(a[2], b[2])))


def _load(ref, start: int, stop: int) -> np.ndarray:
    return ref if isinstance(ref, np.ndarray) else read_block(ref, start, stop)


def _side(x: np.ndarray, metric: str):
    """The block as the exact engine holds it (raw, prepared, norms), and its count of zero rows."""
    from spacelens.neighbors.exact import Side

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpacelensWarning)   # zero rows: counted, warned once by the client
        side = Side.of(x, metric)
    return side, int((~x.any(axis=1)).sum()) if metric == "cosine" else 0


def topk_task(qref, qspan, bref, bspan, k, metric, self_rows, extra, threads, count):
    """One task: top k of query block ``qspan`` among base block ``bspan``.

    ``qref``/``bref`` are an ``.npy`` path/URL (read here) or the block itself (scattered).
    ``count`` = (count zero base rows, count zero query rows) so each is counted once. Returns
    ``(distances, ids, (zero base rows, zero query rows, CPU seconds of this thread))``.
    """
    import faiss

    cpu = time.thread_time()
    if threads:
        faiss.omp_set_num_threads(int(threads))
    same = qspan == bspan and (qref is bref or (isinstance(qref, str) and qref == bref))
    b, zb = _side(_load(bref, *bspan), metric)
    q, zq = (b, zb) if same else _side(_load(qref, *qspan), metric)
    d, i = block_topk(q, b, bspan[0], k, metric, self_rows, extra)
    return d, i, (zb if count[0] else 0, zq if count[1] else 0, time.thread_time() - cpu)


# -- the engine --------------------------------------------------------------------------------
class DaskEngine(Engine):
    """Exact kNN on a Dask cluster (``scheduler`` address), or on a local one it starts.

    Parameters (none of them changes results, only where and how fast they are computed):
    ``scheduler``: ``tcp://HOST:PORT`` of a running scheduler, or a scheduler JSON file; None
    (or "processes") starts a LocalCluster of ``n_workers`` processes x ``threads_per_worker``
    threads on 127.0.0.1 for the call, closed after it; "threads" runs the workers as threads
    of this process (no start-up cost; faiss releases the GIL). ``block_rows``: rows per block
    (default N/16, within 8k..128k). ``task_threads``: faiss threads per task (match cores per
    worker thread). ``retries``: Dask retries of a task that raised. ``staging``: how in-memory
    arrays reach the workers (see the module doc). ``timeout``: seconds to wait for the
    scheduler and for workers.
    """

    name = "dask"
    summary = "exact brute force on a Dask cluster (row blocks searched by faiss on the workers)"

    def __init__(self, scheduler: str | None = None, block_rows: int | None = None, n_workers: int = 2,
                 threads_per_worker: int = 1, task_threads: int = 1, retries: int = 2,
                 staging: str | None = None, timeout: float = 60.0, extra: int | None = None):
        import importlib.util

        if importlib.util.find_spec("distributed") is None:
            raise SpacelensError("The dask engine needs Dask (dask.distributed), which is not installed",
                                 "Install it with: pip install 'spacelens[dask]'")
        for key, val in (("n_workers", n_workers), ("threads_per_worker", threads_per_worker),
                         ("task_threads", task_threads)):
            if int(val) < 1:
                raise SpacelensError(f"{key}={val} must be at least 1", f"Pass e.g. {key}=1")
        if block_rows is not None and int(block_rows) < 1:
            raise SpacelensError(f"block_rows={block_rows} must be positive", "Use e.g. block_rows=65536")
        if int(retries) < 0:
            raise SpacelensError(f"retries={retries} must be >= 0", "Use e.g. retries=2")
        self.scheduler = _check_scheduler(str(scheduler)) if scheduler else None
        self.block_rows = int(block_rows) if block_rows is not None else None
        self.n_workers, self.threads_per_worker = int(n_workers), int(threads_per_worker)
        self.task_threads, self.retries = int(task_threads), int(retries)
        self.staging, self.timeout, self.extra = staging, float(timeout), extra
        self.last_run: dict | None = None

    @property
    def params(self) -> dict:
        return {}  # the cluster, block size and retries change where/how fast, never results

    @property
    def settings(self) -> dict:
        return {"scheduler": self.scheduler or "local", "block_rows": self.block_rows,
                "n_workers": self.n_workers if self.scheduler in (None, *LOCAL) else None}

    def estimate_seconds(self, n_queries: int, n_base: int, dim: int, k: int) -> float | None:
        """On a local cluster: the exact engine's estimate (the same cores); a remote one: unknown."""
        from spacelens.neighbors.cost import exact_seconds

        return exact_seconds(n_queries, n_base, dim) if self.scheduler in (None, *LOCAL) else None

    def blocks(self, n: int) -> list[tuple[int, int]]:
        rows = self.block_rows or min(131072, max(8192, ceil(n / 16)))
        return [(s, min(n, s + rows)) for s in range(0, n, rows)]

    # -- cluster connection ---------------------------------------------------------------
    @contextmanager
    def _client(self):
        """A distributed Client: to ``scheduler``, or to a LocalCluster closed on exit."""
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise SpacelensError(f"The dask engine needs dask.distributed, which cannot be imported ({exc})",
                                 "pip install 'spacelens[dask]'") from None
        import logging

        if self.scheduler is None or self.scheduler in LOCAL:
            import dask

            try:
                processes = self.scheduler != "threads"
                # Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in workers; that makes every large
                # temporary a fresh mmap (page faults): ~40% more CPU per task here. Unset it.
                with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
                    cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=self.threads_per_worker,
                                           processes=processes, dashboard_address=":0",
                                           silence_logs=logging.ERROR,
                                           **({"host": "127.0.0.1"} if processes else {}))  # threads: inproc://
            except Exception as exc:  # noqa: BLE001 - any start failure is one clean message
                raise SpacelensError(f"Could not start a local Dask cluster ({type(exc).__name__}: {exc})",
                                     "Pass scheduler=ADDRESS of a running one") from None
            try:
                with Client(cluster, set_as_default=False) as client:
                    yield client, True
            finally:
                cluster.close()
            return
        kwargs = ({"scheduler_file": self.scheduler} if self.scheduler.endswith(".json")
                  else {"address": self.scheduler})
        try:
            client = Client(**kwargs, timeout=min(self.timeout, 20.0), set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise SpacelensError(f"Cannot reach the Dask scheduler at {self.scheduler} ({exc})",
                                 "Start one with 'dask scheduler' and pass its address, or omit "
                                 "--scheduler to use a local cluster") from None
        try:
            yield client, False
        finally:
            client.close()

    # -- search -----------------------------------------------------------------------------
    def search(self, queries, base, k: int, metric: str, query_rows=None,
               *, description: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """k nearest rows of ``base`` per query: ``(indices int32, distances float32)``.

        ``queries``/``base``: raw vectors (prepared on the workers) as arrays, registry memory
        maps, or ``.npy`` paths/URLs; pass the same object for both to search a space against
        itself. ``query_rows[i]`` is excluded from query i's neighbours.
        """
        check_metric(metric)
        same = queries is base
        bsrc = npy_source(base, "base vectors")
        qsrc = bsrc if same else npy_source(queries, "queries")
        if qsrc.dim != bsrc.dim:
            raise SpacelensError(f"Queries have dimension {qsrc.dim} but the base has {bsrc.dim}",
                                 "Search a space with vectors of its own dimension")
        nq, n = qsrc.n_rows, bsrc.n_rows
        rows = _check_rows(query_rows, nq, n)
        k = check_k(k, n, rows is not None)
        if n >= 2**31:
            raise SpacelensError(f"{n} rows do not fit int32 neighbour ids", "Split the space")
        indices = np.empty((nq, k), dtype=np.int32)
        distances = np.empty((nq, k), dtype=np.float32)
        if nq == 0:
            return indices, distances
        t0 = time.perf_counter()
        with ExitStack() as stack:
            client, local = stack.enter_context(self._client())
            self._wait_for_workers(client)
            t1 = time.perf_counter()
            tmp = stack.enter_context(_tempdir()) if local else None
            qb, bb = self.blocks(nq), self.blocks(n)
            bref = self._ship(client, stack, bsrc, bb, local, tmp, "base")
            qref = bref if same else self._ship(client, stack, qsrc, qb, local, tmp, "queries")
            zeros = self._run(client, qref, qb, bref, bb, rows, k, metric, same, indices, distances,
                              description or f"Dask kNN ({metric})")
            t2 = time.perf_counter()
            workers = len(client.nthreads())
        itemsize = bsrc.itemsize if isinstance(bsrc, NpySource) else bsrc.array.dtype.itemsize
        self.last_run = {  # what the run cost, for benchmarks and the scaling model
            "workers": workers, "query_blocks": len(qb), "base_blocks": len(bb), "block_tasks": len(qb) * len(bb),
            "merge_tasks": len(qb) * (len(bb) - 1), "bytes_read": len(qb) * n * bsrc.dim * itemsize
            + len(bb) * nq * qsrc.dim * itemsize, "bytes_partial_results": len(bb) * nq * k * 12,
            "seconds_start": round(t1 - t0, 3), "seconds_compute": round(t2 - t1, 3),
            "task_cpu_seconds": round(zeros[2], 3),
            "seconds_total": round(time.perf_counter() - t0, 3)}
        for count, what in ((zeros[0], "vectors"), (0 if same else zeros[1], "query vectors")):
            if count:
                warnings.warn(f"{count} of {n if what == 'vectors' else nq} {what} are all zeros: under "
                              "cosine they have no direction, so their cosine with anything is 0 "
                              "(distance 1) and their neighbours are the lowest-numbered rows",
                              SpacelensWarning, stacklevel=2)
        return indices, distances

    def _wait_for_workers(self, client) -> None:
        try:
            client.wait_for_workers(1, timeout=self.timeout)
        except (TimeoutError, OSError):
            raise SpacelensError(f"The Dask scheduler at {self.scheduler} has no workers",
                                 f"Start some with 'dask worker {self.scheduler}'") from None

    def _ship(self, client, stack, src, spans, local: bool, tmp: str | None, what: str) -> list:
        """Per block, what a task gets: a path/URL to read, or a future of the scattered block."""
        if isinstance(src, NpySource):
            if local:
                return [src.url] * len(spans)
            try:
                probes = client.run(_probe, src.url, src.n_rows, src.dim)
            except Exception as exc:  # noqa: BLE001 - e.g. spacelens missing on the workers
                raise SpacelensError(f"The Dask workers could not run spacelens code ({type(exc).__name__}: "
                                     f"{exc})", "Install spacelens (same version) on every worker") from None
            bad = {w: why for w, why in probes.items() if why}
            if not bad:
                return [src.url] * len(spans)
            w, why = next(iter(bad.items()))
            warnings.warn(f"{len(bad)} Dask worker(s) cannot read {src.url} (e.g. {w}: {why}); sending "
                          f"the {what} from this machine instead (slower, and a lost worker loses its "
                          "blocks): put SPACELENS_HOME on storage every worker can read",
                          SpacelensWarning, stacklevel=3)
            array = np.load(src.url, mmap_mode="r") if not _is_url(src.url) else None
            if array is None:
                raise SpacelensError(f"The Dask workers cannot read {src.url} ({why})",
                                     "Give every worker access to that storage")
            return self._scatter(client, array, spans)
        staging = self.staging
        if staging is None:
            staging = tmp if local else "scatter"
        if staging == "scatter":
            return self._scatter(client, src.array, spans)
        url = _stage(src.array, staging, what)
        stack.callback(_unstage, url)
        return [url] * len(spans)

    @staticmethod
    def _scatter(client, array, spans) -> list:
        return [client.scatter(np.array(array[s:e]), direct=False, hash=False) for s, e in spans]

    def _run(self, client, qref, qb, bref, bb, rows, k, metric, same, indices, distances, description):
        """Submit block tasks and merge trees; collect results as they complete."""
        from distributed import wait

        token = uuid.uuid4().hex[:10]
        blocks_left: set = set()
        finals: dict = {}
        zeros = [0, 0, 0.0]   # zero base rows, zero query rows, task CPU seconds
        for i, qs in enumerate(qb):
            parts = []
            for j, bs in enumerate(bb):
                f = client.submit(topk_task, qref[i], qs, bref[j], bs, k, metric,
                                  None if rows is None else rows[qs[0]:qs[1]], self.extra, self.task_threads,
                                  (i == 0, j == 0 and not same), key=f"spacelens-topk-{token}-{i}-{j}",
                                  retries=self.retries, priority=-i, pure=False)
                parts.append(f)
            blocks_left.update(parts)
            level = 0
            while len(parts) > 1:
                merged = [client.submit(merge_topk, parts[p], parts[p + 1], k, retries=self.retries,
                                        key=f"spacelens-merge-{token}-{i}-{level}-{p}", priority=1 - i,
                                        pure=False) for p in range(0, len(parts) - 1, 2)]
                parts = merged + ([parts[-1]] if len(parts) % 2 else [])
                level += 1
            finals[parts[0]] = qs
        pending = blocks_left | set(finals)
        scattered = [f for f in {*qref, *bref} if not isinstance(f, str)]
        idle_since = None
        try:
            with progress(description, total=len(qb) * len(bb)) as bar:
                while pending:
                    try:
                        with client.as_current():
                            done, pending = wait(pending, timeout=1.0, return_when="FIRST_COMPLETED")
                    except TimeoutError:
                        done = ()
                    except Exception as exc:  # noqa: BLE001 - e.g. FuturesCancelledError after lost data
                        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                        if scattered:
                            raise SpacelensError(f"A Dask worker holding blocks sent from this machine died "
                                                 f"({why.rstrip(':')})",
                                                 "Nothing was written; " + SCATTER_FIX) from None
                        raise SpacelensError(f"Dask cancelled the kNN tasks ({why.rstrip(':')})",
                                             "Nothing was written; see the workers' logs and run again") from None
                    if any(f.status != "finished" for f in scattered):
                        raise SpacelensError("A Dask worker holding blocks sent from this machine died",
                                             "Nothing was written; " + SCATTER_FIX)
                    for f in done:
                        if f.status in ("lost", "pending"):  # its worker died since: Dask recomputes it
                            pending.add(f)
                            continue
                        if f.status != "finished":
                            self._fail(f)
                        if f in blocks_left:
                            blocks_left.discard(f)
                            bar.advance(1)
                        if f in finals:
                            s, e = finals.pop(f)
                            d, ids, z = f.result()
                            if (ids[:, :k] == PAD).any():  # only if distances overflowed to inf
                                raise SpacelensError("Some neighbour lists came back incomplete",
                                                     "Check the vectors for huge values")
                            indices[s:e] = ids
                            distances[s:e] = d
                            for c in range(3):
                                zeros[c] += z[c]
                    if done:
                        idle_since = None
                    elif not client.nthreads():
                        idle_since = idle_since or time.monotonic()
                        if time.monotonic() - idle_since > self.timeout:
                            raise SpacelensError(f"All Dask workers left during the run ({self.timeout:.0f} s "
                                                 "without any)", "Nothing was written; restart workers and "
                                                 "run again")
        finally:
            left = list(pending)
            if left:
                try:
                    client.cancel(left)
                except Exception:  # noqa: BLE001 - the client closes next and releases them anyway
                    pass
        return zeros

    @staticmethod
    def _fail(future):
        exc = future.exception() if future.status == "error" else None
        if isinstance(exc, SpacelensError):
            raise exc
        if type(exc).__name__ == "KilledWorker":
            raise SpacelensError(f"Dask workers died while running a kNN task ({exc})",
                                 "Nothing was written; check the workers' memory and logs "
                                 "(lower block_rows to need less) and run again") from None
        what = f"{type(exc).__name__}: {exc}" if exc is not None else f"status {future.status}"
        raise SpacelensError(f"A Dask kNN task failed ({what})",
                             "Nothing was written; see the workers' logs and run again") from None


def _check_scheduler(address: str) -> str:
    """``address`` if it names a scheduler (URL with port, JSON file, local mode), else a clear error."""
    if address in LOCAL or address.endswith(".json"):
        return address
    try:
        from distributed.comm.addressing import parse_address, parse_host_port

        parse_host_port(parse_address(address)[1])
    except ImportError:
        return address  # reported when the engine runs
    except ValueError as exc:
        raise SpacelensError(f"{address!r} is not a Dask scheduler address ({exc})",
                             "Pass tcp://HOST:PORT as printed by 'dask scheduler', a scheduler JSON file, "
                             "or 'processes'/'threads' for a local cluster") from None
    return address


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
