"""The Dask engine itself: connecting to (or starting) a cluster, shipping the vectors' blocks,
submitting the block tasks and merge trees, collecting results with progress, and turning
every way a run can fail into one clear error (nothing is written then).

See :mod:`spacelens.neighbors.dask` for the design.
"""

from __future__ import annotations

import time
import uuid
import warnings
from contextlib import ExitStack, contextmanager
from math import ceil

import numpy as np

from spacelens.errors import SpacelensError, SpacelensWarning
from spacelens.neighbors.base import Engine
from spacelens.neighbors.dask.sources import NpySource, _is_url, _probe, _stage, _tempdir, _unstage, npy_source
from spacelens.neighbors.dask.topk import PAD, merge_topk, topk_task
from spacelens.neighbors.exact import _check_rows, check_k
from spacelens.neighbors.metrics import check_metric
from spacelens.progress import progress

LOCAL = ("processes", "threads")   # scheduler names that start a local cluster (worker processes or threads)
SCATTER_FIX = ("run again, or pass staging=SHARED_DIR (or keep the vectors on storage the workers "
               "read) so that Dask can recompute the work of a lost worker")


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
