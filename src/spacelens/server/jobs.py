"""Background computation of missing maps and comparisons, with progress the page polls.

Jobs run one at a time in a separate worker process by default: UMAP and kNN search hold
the GIL for seconds at a time, which would stall every other request if they ran on the
server's threads. The worker stays up between jobs (numba compiles UMAP once per process,
not once per job) and reports progress over a queue: the stage, and the done/total of
whatever progress bar the core code is showing. Results land in the registry as ordinary
artifacts, so a finished job is simply read back by the next request.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import threading
import time
import traceback
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field

KINDS = ("projection", "comparison")
_QUEUE = None  # the worker process's progress queue (set by _init_worker)


@dataclass
class Job:
    id: str
    kind: str
    params: dict
    status: str = "queued"  # queued | running | done | failed
    stage: str = "waiting for the worker"
    done: float = 0.0
    total: float | None = None
    error: str | None = None
    stages: list = field(default_factory=list)  # every stage reported, in order
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None

    def as_dict(self) -> dict:
        d = asdict(self)
        end = self.finished or time.time()
        d["elapsed_s"] = round(end - (self.started or end), 2)
        d["fraction"] = (min(1.0, self.done / self.total) if self.total else None) if self.status != "done" else 1.0
        return d


def run_job(job_id: str, kind: str, params: dict, home: str, report=None) -> dict:
    """Compute one missing result into the registry (runs in the worker)."""
    report = report or _queue_report
    report(job_id, status="running", stage="starting", started=time.time())
    import spacelens.api as api
    from spacelens.api import open_registry

    reg = open_registry(home)
    if kind == "projection":
        from spacelens.server.data import METHODS

        aligned = f" aligned to {params['align_to']}" if params.get("align_to") else ""
        report(job_id, stage=f"preparing the {METHODS[params['method']]} map of {params['space']}{aligned}")
        api.project(params["space"], method=params["method"], align_to=params.get("align_to"), home=reg)
    elif kind == "comparison":
        report(job_id, stage=f"preparing the comparison of {params['a']} and {params['b']} at k={params['k']}")
        api.compare(params["a"], params["b"], k=int(params["k"]), home=reg)
    else:  # pragma: no cover - validated before submission
        raise ValueError(kind)
    return {"ok": True}


# -- worker-process side ---------------------------------------------------------------
def _queue_report(job_id: str, **fields) -> None:
    if _QUEUE is not None:
        _QUEUE.put((job_id, fields))


class _ReportingProgress:
    """Stands in for rich's Progress inside the worker: forwards bars to the job's status.

    spacelens.progress draws its bars with rich; in the worker there is no terminal, so
    this class takes rich's place and sends (description, completed, total) instead.
    """

    job_id: str | None = None

    def __init__(self, *columns, **kwargs):
        self._tasks: dict[int, list] = {}
        self._last = 0.0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, description, total=None, **kwargs):
        tid = len(self._tasks)
        self._tasks[tid] = [str(description), 0.0, total]
        self._send(tid, force=True)
        return tid

    def advance(self, task_id, advance=1):
        self._tasks[task_id][1] += advance
        self._send(task_id)

    def update(self, task_id, *, completed=None, total=None, advance=None, description=None, **kwargs):
        t = self._tasks[task_id]
        if description is not None:
            t[0] = str(description)
        if total is not None:
            t[2] = total
        if completed is not None:
            t[1] = completed
        if advance is not None:
            t[1] += advance
        self._send(task_id)

    def _send(self, tid, force=False):
        now = time.monotonic()
        if self.job_id is None or (not force and now - self._last < 0.2):
            return
        self._last = now
        desc, done, total = self._tasks[tid]
        _queue_report(self.job_id, stage=desc, done=float(done), total=float(total) if total else None)


def _init_worker(queue) -> None:
    global _QUEUE
    _QUEUE = queue
    import os

    os.environ.pop("SPACELENS_NO_PROGRESS", None)
    import rich.progress

    import spacelens.progress

    rich.progress.Progress = _ReportingProgress  # this process only: progress goes to the page
    spacelens.progress.set_progress(True)


def _run_in_worker(job_id, kind, params, home):
    _ReportingProgress.job_id = job_id
    try:
        return run_job(job_id, kind, params, home)
    except Exception as exc:  # send a picklable, user-readable error back
        from spacelens.errors import SpacelensError

        msg = exc.message if isinstance(exc, SpacelensError) else f"{type(exc).__name__}: {exc}"
        raise RuntimeError(msg + "\n" + ("" if isinstance(exc, SpacelensError) else traceback.format_exc())) from None
    finally:
        _ReportingProgress.job_id = None


# -- server side -----------------------------------------------------------------------
class JobManager:
    """Queue of compute jobs; identical requests while one is pending share the same job."""

    def __init__(self, home, mode: str = "process"):
        if mode not in ("process", "thread"):
            raise ValueError("mode must be 'process' or 'thread'")
        self.home, self.mode = str(home), mode
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._executor: Executor | None = None
        self._queue = None
        self._listener: threading.Thread | None = None
        self._closed = False

    @staticmethod
    def key(kind: str, params: dict) -> str:
        if kind == "comparison":  # a/b order does not matter
            a, b = sorted((params["a"], params["b"]))
            return f"comparison|{a}|{b}|{params['k']}"
        return f"{kind}|" + "|".join(f"{k}={params[k]}" for k in sorted(params))

    def submit(self, kind: str, params: dict) -> Job:
        key = self.key(kind, params)
        with self._lock:
            for job in self.jobs.values():
                if self.key(job.kind, job.params) == key and job.status in ("queued", "running"):
                    return job
            job = Job(id=str(next(self._ids)), kind=kind, params=dict(params))
            self.jobs[job.id] = job
            fut = self._start(job)
        fut.add_done_callback(lambda f, j=job: self._finish(j, f))
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def _start(self, job: Job) -> Future:
        if self.mode == "thread":
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spacelens-job")
            return self._executor.submit(run_job, job.id, job.kind, job.params, self.home, self._update)
        if self._executor is None:
            ctx = mp.get_context("spawn")
            self._queue = ctx.Queue()
            self._executor = ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_init_worker,
                                                 initargs=(self._queue,))
            self._listener = threading.Thread(target=self._listen, args=(self._queue,), daemon=True,
                                              name="spacelens-job-progress")
            self._listener.start()
        try:
            return self._executor.submit(_run_in_worker, job.id, job.kind, job.params, self.home)
        except BrokenProcessPool:  # the worker died (e.g. out of memory): start a new one
            self._executor, self._queue = None, None
            return self._start(job)

    def _listen(self, queue) -> None:
        while not self._closed:
            try:
                msg = queue.get(timeout=0.5)
            except Exception:
                continue
            if msg is None:
                break
            job_id, fields = msg
            self._update(job_id, **fields)

    def _update(self, job_id: str, **fields) -> None:
        job = self.jobs.get(job_id)
        if job is None or job.status in ("done", "failed"):
            return
        if "stage" in fields and "done" not in fields:
            fields.setdefault("done", 0.0)
            fields.setdefault("total", None)
        stage = fields.get("stage")
        if stage and (not job.stages or job.stages[-1] != stage):
            job.stages.append(stage)
        for k, v in fields.items():
            setattr(job, k, v)

    def _finish(self, job: Job, fut: Future) -> None:
        exc = fut.exception()
        job.finished = time.time()
        job.started = job.started or job.finished
        if exc is None:
            job.status, job.stage, job.done = "done", "done", job.total or 1.0
            return
        if isinstance(exc, BrokenProcessPool):
            with self._lock:
                self._executor = None
            msg = "the worker process died (out of memory?)"
        else:
            msg = str(exc)
            if self.mode == "thread":
                from spacelens.errors import SpacelensError

                msg = exc.message if isinstance(exc, SpacelensError) else f"{type(exc).__name__}: {exc}"
        job.status, job.error = "failed", msg.strip()

    def shutdown(self) -> None:
        """Stop: queued jobs are dropped, a running one is killed (registry writes are atomic,
        so nothing half-written remains)."""
        self._closed = True
        if self._executor is not None:
            procs = list(getattr(self._executor, "_processes", {}).values()) if self.mode == "process" else []
            self._executor.shutdown(wait=False, cancel_futures=True)
            for p in procs:
                if p.is_alive():
                    p.terminate()
        if self._queue is not None:
            try:
                self._queue.put(None)
            except Exception:
                pass
