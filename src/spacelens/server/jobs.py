"""Background computation of missing maps and comparisons, with progress the page polls.

Jobs run one at a time in a separate worker process by default: UMAP and kNN search hold
the GIL for seconds at a time, which would stall every other request if they ran on the
server's threads. The worker stays up between jobs (numba compiles UMAP once per process,
not once per job) and reports progress over a queue: the stage, and the done/total of
whatever progress step the core code is on (:func:`spacelens.progress.observe`), from
which the server derives percent done and the time left.

Jobs can be cancelled: the worker checks a shared flag at every progress step and stops
by raising :class:`JobCancelled`; results are stored only by the registry's atomic writes
at the end of the work, so a cancelled job leaves nothing behind. A job nobody polled for
``orphan_after_s`` seconds (its page went away) is cancelled the same way, and a worker
that does not stop within ``kill_after_s`` of a cancel (a step without progress, such as
a UMAP fit) is terminated. Results land in the registry as ordinary artifacts, so a
finished job is simply read back by the next request; the exceptions are a "versus" job
(which space retrieves better, :mod:`spacelens.server.routes.versus`) and a "change_groups"
job (the items whose neighbourhoods changed together, :mod:`spacelens.server.routes.changes`)
and an "audit" job (:mod:`spacelens.server.routes.audit`, stored in the registry too),
whose JSON results travel back as the finished job's ``result`` (kept with the job, which is
where ``GET /change-groups`` reads them).
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing as mp
import threading
import time
import traceback
from collections import OrderedDict, deque
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Callable

from spacelens.errors import SpacelensError

KINDS = ("projection", "comparison", "versus", "change_groups", "answer", "audit")
ACTIVE = ("queued", "running")
GENERIC_ERROR = "internal error, see the server log"
log = logging.getLogger("spacelens.server")

_QUEUE = None   # the worker process's progress queue (set by _init_worker)
_CANCEL = None  # the worker process's view of the id of the job to stop (a shared integer)


class JobCancelled(Exception):
    """Raised inside a job at its next progress step once it has been cancelled."""


class JobFailed(Exception):
    """A job's error as the client may see it (one line), plus the server-side log text."""

    def __init__(self, message: str, log_text: str | None = None):
        super().__init__(message, log_text)
        self.message, self.log_text = message, log_text


class TooManyJobs(SpacelensError):
    """The job queue is full (answered with HTTP 429)."""


@dataclass
class Job:
    id: str
    kind: str
    params: dict
    status: str = "queued"  # queued | running | done | failed | cancelled
    stage: str = "waiting for the worker"
    done: float = 0.0
    total: float | None = None
    error: str | None = None
    stages: list = field(default_factory=list)  # every stage reported, in order
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    cancel_reason: str | None = None
    stage_started: float | None = None   # wall time the current stage began (for the time left)
    last_seen: float = 0.0               # manager clock: when a client last asked about this job
    cancel_requested: float | None = None  # manager clock: when cancel() was called
    result: dict | None = None           # what a job returns rather than stores (a versus comparison)

    def as_dict(self, now: float | None = None) -> dict:
        """The job as the page reads it; ``eta_s``: seconds left in the current stage at
        its rate so far (None while the stage has no known size)."""
        now = time.time() if now is None else now
        end = self.finished or now
        fraction = (min(1.0, self.done / self.total) if self.total else None) if self.status != "done" else 1.0
        eta = None
        if self.status == "running" and fraction is not None and 0 < fraction < 1 and self.stage_started:
            spent = max(0.0, now - self.stage_started)
            eta = round(spent * (1 - fraction) / fraction, 1)
        return {"id": self.id, "kind": self.kind, "params": dict(self.params), "status": self.status,
                "stage": self.stage, "stages": list(self.stages), "done": self.done, "total": self.total,
                "fraction": fraction, "percent": None if fraction is None else round(100 * fraction, 1),
                "eta_s": eta, "error": self.error, "cancel_reason": self.cancel_reason,
                "cancellable": self.status in ("queued", "running") and self.stage != "cancelling",
                "created": self.created, "started": self.started, "finished": self.finished,
                "elapsed_s": round(end - (self.started or end), 2),
                **({"result": self.result} if self.result is not None else {})}


# -- the work (runs in the worker process, or a thread in tests) ---------------------------
def run_job(job_id: str, kind: str, params: dict, home: str, report=None,
            should_stop: Callable[[], bool] = lambda: False) -> dict:
    """Compute one missing result into the registry.

    ``report(job_id, **fields)`` receives status and progress; ``should_stop()`` is asked
    at every progress step, and a True answer stops the work with :class:`JobCancelled`.
    """
    from spacelens.progress import observe

    report = report or _queue_report
    if should_stop():
        raise JobCancelled()
    report(job_id, status="running", stage="starting", started=time.time(), t=time.time())
    import spacelens.api as api
    from spacelens.api import open_registry

    last = {"stage": None, "sent": 0.0}

    def step(description: str, done: float, total: float | None) -> None:
        if should_stop():
            raise JobCancelled()
        now = time.monotonic()
        if description != last["stage"] or now - last["sent"] >= 0.2 or (total and done >= total):
            last["stage"], last["sent"] = description, now
            report(job_id, stage=description, done=float(done), total=float(total) if total else None, t=time.time())

    reg = open_registry(home)
    with observe(step):
        if kind == "projection":
            from spacelens.views.data import METHODS

            aligned = f" aligned to {params['align_to']}" if params.get("align_to") else ""
            step(f"preparing the {METHODS[params['method']]} map of {params['space']}{aligned}", 0, None)
            api.project(params["space"], method=params["method"], align_to=params.get("align_to"), home=reg)
        elif kind == "comparison":  # stored for the page; ``full``: whatever the budget says (both kNN graphs)
            full = bool(params.get("full"))
            step(f"preparing the {'full ' if full else ''}comparison of {params['a']} and {params['b']} "
                 f"at k={params['k']}", 0, None)
            res = api.compare(params["a"], params["b"], k=int(params["k"]), full=full, home=reg)
            plan = (getattr(res, "info", None) or {}).get("budget") or {}
            if plan.get("sampled"):  # within the budget: a sample, not stored; what it rests on travels back
                return {"ok": True, "result": {"sampled": True, "mean": float(res.mean), "budget": plan}}
        elif kind == "versus":  # nothing stored: the result travels back with the job
            base = params.get("baseline")
            step(f"scoring retrieval of {params['a']} and {params['b']}" + (f" (baseline {base})" if base else "")
                 + f" by {params['label_field']}", 0, None)
            res = api.evaluate_versus(params["a"], params["b"], label_field=params["label_field"], baseline=base,
                                      home=reg)
            return {"ok": True, "result": res}
        elif kind == "change_groups":  # the groups travel back with the job (the kNN graphs are stored)
            from spacelens.views.data import plain

            step(f"finding the items of {params['a']} and {params['b']} whose neighbourhoods changed together "
                 f"(k={params['k']})", 0, None)
            res = api.change_groups(params["a"], params["b"], k=int(params["k"]), top=int(params["top"]),
                                    baseline=params.get("baseline"), home=reg)
            return {"ok": True, "result": plain(res)}
        elif kind == "answer":  # the page's answer strip: stored comparisons reused, the sentences travel back
            step(f"answering which of {params['a']} and {params['b']} is better, and where they differ", 0, None)
            res = api.answer(params["a"], params["b"], label_field=params.get("label_field"),
                             baseline=params.get("baseline"), k=int(params["k"]), home=reg)
            return {"ok": True, "result": res}
        elif kind == "audit":  # stored in the registry too (GET /audit reads it back); the result travels back
            vs = f" and {params['other']}" if params.get("other") else ""
            step(f"auditing {params['space']}{vs}: leaks, duplicates, label errors, outliers", 0, None)
            res = api.audit(params["space"], label_field=params.get("label_field"),
                            split_field=params.get("split_field"), other=params.get("other"), k=int(params["k"]),
                            home=reg)
            return {"ok": True, "result": res.to_dict()}
        else:  # pragma: no cover - validated before submission
            raise ValueError(kind)
    return {"ok": True}


def execute(job_id: str, kind: str, params: dict, home: str, report, should_stop) -> dict:
    """:func:`run_job` with its errors made safe to show: a SpacelensError's message, or a
    generic line (the traceback travels separately, for the server's log only)."""
    try:
        return run_job(job_id, kind, params, home, report, should_stop)
    except JobCancelled:
        raise
    except SpacelensError as exc:
        raise JobFailed(exc.message.splitlines()[0] if exc.message else GENERIC_ERROR) from None
    except Exception:  # noqa: BLE001 - any other failure: a generic message, details to the log
        raise JobFailed(GENERIC_ERROR, traceback.format_exc()) from None


def _queue_report(job_id: str, **fields) -> None:
    if _QUEUE is not None:
        _QUEUE.put((job_id, fields))


def _init_worker(queue, cancel, gemm_flops: float | None = None) -> None:
    global _QUEUE, _CANCEL
    _QUEUE, _CANCEL = queue, cancel
    if gemm_flops:   # the server's measurement: the page's estimates (plan, answer) and the jobs' agree
        from spacelens.neighbors.cost import set_gemm_speed

        set_gemm_speed(gemm_flops)
    import spacelens.progress

    spacelens.progress.set_progress(False)  # no terminal bars in the worker: steps go to the observer


def _run_in_worker(job_id, kind, params, home):
    stop = lambda: _CANCEL is not None and _CANCEL.value == int(job_id)  # noqa: E731
    return execute(job_id, kind, params, home, _queue_report, stop)


# -- server side ---------------------------------------------------------------------------
class JobManager:
    """Queue of compute jobs, run one at a time; identical requests share one pending job.

    ``max_jobs``: how many jobs may be queued or running at once (the next is refused with
    :class:`TooManyJobs`). ``orphan_after_s``: a queued or running job that no client asked
    about for this long is cancelled. ``kill_after_s``: a cancelled job still running after
    this long has its worker process terminated. ``clock``: the time source for those two
    (tests pass a fake one and call :meth:`reap`); ``reap_every_s``: how often a background
    thread checks them (0: never, tests call :meth:`reap` themselves).
    """

    def __init__(self, home, mode: str = "process", *, max_jobs: int = 8, orphan_after_s: float = 30.0,
                 kill_after_s: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 reap_every_s: float = 2.0, keep: int = 200):
        if mode not in ("process", "thread"):
            raise ValueError("mode must be 'process' or 'thread'")
        self.home, self.mode = str(home), mode
        self.max_jobs, self.orphan_after_s, self.kill_after_s = max_jobs, orphan_after_s, kill_after_s
        self.clock, self.reap_every_s, self.keep = clock, reap_every_s, keep
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self._pending: deque[Job] = deque()
        self._running: Job | None = None
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._executor: Executor | None = None
        self._queue = None
        self._cancel = None  # process mode: shared integer, the id of the running job to stop
        self._listener: threading.Thread | None = None
        self._reaper: threading.Thread | None = None
        self._stop = threading.Event()

    @staticmethod
    def key(kind: str, params: dict) -> str:
        if kind == "comparison":  # a/b order does not matter
            a, b = sorted((params["a"], params["b"]))
            return f"comparison|{a}|{b}|{params['k']}" + ("|full" if params.get("full") else "")
        return f"{kind}|" + "|".join(f"{k}={params[k]}" for k in sorted(params))

    # -- the API the routes use ------------------------------------------------------------
    def submit(self, kind: str, params: dict) -> Job:
        key = self.key(kind, params)
        with self._lock:
            active = [j for j in self.jobs.values() if j.status in ACTIVE]
            for job in active:
                if self.key(job.kind, job.params) == key and job.cancel_requested is None:
                    job.last_seen = self.clock()
                    return job
            if len(active) >= self.max_jobs:
                raise TooManyJobs(f"{len(active)} jobs are already queued or running (at most {self.max_jobs})",
                                  "Wait for one to finish, or cancel one (DELETE /api/jobs/ID)")
            job = Job(id=str(next(self._ids)), kind=kind, params=dict(params), last_seen=self.clock())
            self.jobs[job.id] = job
            self._forget_old()
            self._pending.append(job)
            self._dispatch()
        self._start_reaper()
        return job

    def get(self, job_id: str, seen: bool = True) -> Job | None:
        """The job (``seen``: a client is still waiting for it, which keeps it alive)."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is not None and seen:
                job.last_seen = self.clock()
            return job

    def list(self) -> list[Job]:
        with self._lock:
            return list(self.jobs.values())

    def cancel(self, job_id: str, reason: str = "cancelled") -> Job | None:
        """Stop a job: a queued one never starts, a running one stops at its next progress
        step (or is killed after ``kill_after_s``). A finished job is left as it is."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None or job.status not in ACTIVE or job.cancel_requested is not None:
                return job
            job.cancel_requested, job.cancel_reason = self.clock(), reason
            if job.status == "queued" and job in self._pending:
                self._pending.remove(job)
                self._close(job, "cancelled", stage="cancelled")
            else:
                job.stage = "cancelling"
                if self._cancel is not None:
                    self._cancel.value = int(job.id)
            return job

    def reap(self, now: float | None = None) -> list[str]:
        """Cancel jobs nobody asked about for ``orphan_after_s``; kill a worker that ignored a
        cancel for ``kill_after_s``. Returns the ids cancelled now."""
        now = self.clock() if now is None else now
        gone = []
        with self._lock:
            for job in list(self.jobs.values()):
                if job.status in ACTIVE and job.cancel_requested is None and now - job.last_seen > self.orphan_after_s:
                    self.cancel(job.id, f"nobody asked about it for {self.orphan_after_s:g} s (the page was closed?)")
                    gone.append(job.id)
            run = self._running
            stuck = (run is not None and run.cancel_requested is not None
                     and now - run.cancel_requested > self.kill_after_s)
        if stuck and self.mode == "process":
            log.warning("job %s did not stop within %g s of its cancel: terminating the worker", run.id,
                        self.kill_after_s)
            self._terminate_worker()
        return gone

    def shutdown(self) -> None:
        """Stop: queued jobs are dropped, a running one is killed (registry writes are atomic,
        so nothing half-written remains)."""
        self._stop.set()
        with self._lock:
            for job in list(self._pending):
                job.cancel_reason = "the server stopped"
                self._close(job, "cancelled", stage="cancelled")
            self._pending.clear()
        if self._executor is not None:
            self._terminate_worker()
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._queue is not None:
            try:
                self._queue.put(None)
            except Exception:  # noqa: BLE001 - the queue may already be closed
                pass

    # -- internals -------------------------------------------------------------------------
    def _forget_old(self) -> None:
        while len(self.jobs) > self.keep:
            old = next((j for j in self.jobs.values() if j.status not in ACTIVE), None)
            if old is None:
                break
            del self.jobs[old.id]

    def _dispatch(self) -> None:
        """Start the next queued job if none is running (called with the lock held)."""
        if self._running is not None or not self._pending or self._stop.is_set():
            return
        job = self._pending.popleft()
        self._running = job
        try:
            fut = self._start(job)
        except Exception:  # noqa: BLE001 - e.g. the worker cannot start
            log.exception("could not start job %s", job.id)
            self._running = None
            job.error = GENERIC_ERROR
            self._close(job, "failed")
            return self._dispatch()
        fut.add_done_callback(lambda f, j=job: self._finish(j, f))

    def _start(self, job: Job) -> Future:
        if self.mode == "thread":
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spacelens-job")
            return self._executor.submit(execute, job.id, job.kind, job.params, self.home, self._update,
                                         lambda j=job: j.cancel_requested is not None)
        if self._executor is None:
            if self._queue is not None:  # a worker died: its listener stops, the new one gets a new queue
                self._queue.put(None)
            ctx = mp.get_context("spawn")
            self._queue = ctx.Queue()
            self._cancel = ctx.Value("q", 0, lock=False)
            from spacelens.neighbors.cost import gemm_speed

            # one GEMM speed for the server and its worker (measured once, ~50 ms): the cost the page
            # shows before a job (GET /comparison/plan) is the one the job's budget rule uses
            self._executor = ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_init_worker,
                                                 initargs=(self._queue, self._cancel, gemm_speed()))
            self._listener = threading.Thread(target=self._listen, args=(self._queue,), daemon=True,
                                              name="spacelens-job-progress")
            self._listener.start()
        try:
            return self._executor.submit(_run_in_worker, job.id, job.kind, job.params, self.home)
        except BrokenProcessPool:  # the worker died (e.g. out of memory): start a new one
            self._executor = None
            return self._start(job)

    def _start_reaper(self) -> None:
        if self.reap_every_s and self._reaper is None:
            def loop():
                while not self._stop.wait(self.reap_every_s):
                    try:
                        self.reap()
                    except Exception:  # noqa: BLE001 - keep watching
                        log.exception("job reaper")
            self._reaper = threading.Thread(target=loop, daemon=True, name="spacelens-job-reaper")
            self._reaper.start()

    def _terminate_worker(self) -> None:
        ex = self._executor
        if self.mode != "process" or ex is None:
            return
        for p in list(getattr(ex, "_processes", {}).values()):
            if p.is_alive():
                p.terminate()

    def _listen(self, queue) -> None:
        while not self._stop.is_set():
            try:
                msg = queue.get(timeout=0.5)
            except Exception:  # noqa: BLE001 - empty, or closed at shutdown
                continue
            if msg is None:
                break
            job_id, fields = msg
            self._update(job_id, **fields)

    def _update(self, job_id: str, **fields) -> None:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None or job.status not in ACTIVE:
                return
            t = fields.pop("t", None) or time.time()
            if "stage" in fields and "done" not in fields:
                fields.setdefault("done", 0.0)
                fields.setdefault("total", None)
            stage = fields.get("stage")
            if job.cancel_requested is not None:  # keep saying so until it stops
                fields.pop("stage", None)
            elif stage and (not job.stages or job.stages[-1] != stage):
                job.stages.append(stage)
                job.stage_started = t
            for k, v in fields.items():
                setattr(job, k, v)

    def _close(self, job: Job, status: str, stage: str | None = None) -> None:
        job.status = status
        job.stage = stage or status
        job.finished = time.time()
        job.started = job.started or job.finished

    def _finish(self, job: Job, fut: Future) -> None:
        exc = fut.exception()
        with self._lock:
            if exc is None:
                job.result = (fut.result() or {}).get("result")
                self._close(job, "done")
                job.done = job.total or 1.0
            elif isinstance(exc, JobCancelled) or (job.cancel_requested is not None
                                                    and isinstance(exc, BrokenProcessPool)):
                self._close(job, "cancelled")
            else:
                if isinstance(exc, JobFailed):
                    job.error = exc.message
                    if exc.log_text:
                        log.error("job %s (%s %s) failed:\n%s", job.id, job.kind, job.params, exc.log_text)
                elif isinstance(exc, BrokenProcessPool):
                    job.error = "the worker process stopped (out of memory?)"
                else:
                    job.error = GENERIC_ERROR
                    log.error("job %s failed", job.id, exc_info=exc)
                self._close(job, "failed")
            if isinstance(exc, BrokenProcessPool) and self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
            if self._running is job:
                self._running = None
            self._dispatch()
