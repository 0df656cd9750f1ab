"""The dask kNN engine against a real cluster: a scheduler and two workers as separate
processes on 127.0.0.1. Results must equal a float64 brute force (same distance definitions,
rounded to float32, ties to the lower row) and the embedded exact engine, also when a worker
is killed mid-run (Dask recomputes its tasks) or the run fails (nothing is written). Kills are
made to matter by cluster state, not timing: the victim holds a task that cannot finish until it dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install 'spacelens[dask]')")

from distributed import Client  # noqa: E402

import spacelens  # noqa: E402
from spacelens.errors import SpacelensError, SpacelensWarning  # noqa: E402
from spacelens.neighbors.dask import engine as dask_engine  # noqa: E402
from spacelens.neighbors.dask import sources  # noqa: E402
from spacelens.neighbors.dask.engine import DaskEngine  # noqa: E402
from spacelens.neighbors.dask.sources import MemSource, NpySource, npy_source  # noqa: E402
from spacelens.neighbors.dask.topk import PAD, _side, block_topk, merge_topk  # noqa: E402
from spacelens.registry import Registry  # noqa: E402

from conftest import make_labeled  # noqa: E402

DASK = [str(Path(sys.executable).with_name("dask"))]
if not Path(DASK[0]).exists():
    DASK = [sys.executable, "-m", "distributed.cli.dask_scheduler"]  # pragma: no cover


# -- references -----------------------------------------------------------------------------
def brute_force(q, b, k, metric, query_rows=None):
    """Float64 distances of every pair, rounded to float32, sorted by (distance, row)."""
    q, b = np.asarray(q, np.float64), np.asarray(b, np.float64)
    if metric == "l2":
        d = ((q[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    else:
        ip = q @ b.T
        if metric == "cosine":
            norms = np.sqrt((q * q).sum(1))[:, None] * np.sqrt((b * b).sum(1))[None, :]
            norms[norms == 0] = np.inf
            d = 1.0 - ip / norms
        else:
            d = -ip
    d = d.astype(np.float32)
    if query_rows is not None:
        d[np.arange(len(q)), query_rows] = np.inf
    cols = np.broadcast_to(np.arange(len(b)), d.shape)
    order = np.lexsort((cols, d), axis=1)[:, :k]
    return order.astype(np.int32), np.take_along_axis(d, order, axis=1)


def exact(q, b, k, metric, query_rows=None):
    try:
        from spacelens.neighbors import exact_search
    except ImportError:  # pragma: no cover - the embedded engine is another module's work
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpacelensWarning)  # zero rows under cosine
        return exact_search(q, b, k, metric, query_rows)


def assert_equal_graphs(a, b):
    """Same neighbours in the same order; distances equal within float32 rounding (the exact
    engine keeps faiss's float32 value where no tie is near, dask re-computes every one)."""
    assert np.array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], rtol=1e-6, atol=1e-6)


def assert_same(got, ref, what=""):
    gi, gd = got
    ri, rd = ref
    assert gi.dtype == np.int32 and gd.dtype == np.float32
    assert np.array_equal(gi, ri), f"{what}: {np.argwhere(gi != ri)[:5]}"
    np.testing.assert_allclose(gd, rd, rtol=1e-6, atol=1e-6, err_msg=what)


def int_vectors(n=240, d=6, seed=1):
    """Small integers: exact in float32, full of equal distances (duplicates, zero rows)."""
    x = np.random.default_rng(seed).integers(-2, 3, size=(n, d)).astype(np.float32)
    x[5] = 0
    x[17] = x[3]
    return x


# -- the cluster: real processes --------------------------------------------------------------
class Cluster:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        # A worker that fetches a result from a killed peer retries the connection until this
        # timeout (30 s by default) before the scheduler's news of the death reaches it.
        self.env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"}
        sf = tmp / "scheduler.json"
        self.scheduler = self._spawn([*DASK, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                      "--no-dashboard", "--scheduler-file", str(sf)], "scheduler")
        self.address = None

        def started() -> bool:  # the file may be seen half-written: read it until it parses
            if self.scheduler.poll() is not None:
                raise RuntimeError("dask scheduler did not start: " + (tmp / "scheduler.log").read_text())
            try:
                self.address = json.loads(sf.read_text())["address"]
            except (OSError, ValueError, KeyError):
                return False
            return True

        wait_for_state(started, "the scheduler's address in " + str(sf), limit=60)
        self.client = Client(self.address, timeout=30, set_as_default=False)

    def _spawn(self, cmd, name) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "ab")
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.tmp,
                             start_new_session=True)
        log.close()
        self.procs.append(p)
        return p

    def add_worker(self) -> subprocess.Popen:
        """One more worker process (no nanny, so SIGKILL really removes it)."""
        n = len(self.client.nthreads())
        p = self._spawn([*DASK, "worker", self.address, "--nthreads", "1", "--nworkers", "1", "--no-nanny",
                         "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{len(self.procs)}"],
                        f"worker{len(self.procs)}")
        self.workers.append(p)
        self.client.wait_for_workers(n + 1, timeout=60)
        return p

    def worker_address(self, proc: subprocess.Popen) -> str:
        by_pid = self.client.run(os.getpid)
        return next(a for a, pid in by_pid.items() if pid == proc.pid)

    def kill(self, proc: subprocess.Popen) -> None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        self.workers.remove(proc)

    def ensure_workers(self, n: int) -> None:
        while len(self.workers) < n:
            self.add_worker()

    def close(self) -> None:
        try:
            self.client.close(timeout=5)
        except Exception:  # noqa: BLE001
            pass
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)



@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = None
    try:
        c = Cluster(tmp_path_factory.mktemp("dask"))
        c.ensure_workers(2)
        yield c
    finally:
        if c is not None:
            c.close()


@pytest.fixture
def two_workers(cluster):
    """The shared cluster with (at least) two live workers: tests that kill one start another."""
    cluster.ensure_workers(2)
    return cluster


def wait_for_state(check, what: str, limit: float = 120.0) -> None:
    """Poll the cluster until ``check()`` holds. The limit only turns a broken setup into a clear
    failure instead of a hang; no outcome depends on how fast anything runs."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"the cluster never reached the state: {what}")
        time.sleep(0.02)


@contextmanager
def kill_worker_holding_a_task(monkeypatch, cluster):
    """SIGKILL one worker at the run's first block result, while it provably holds an unfinished
    block task, whatever the machine's load.

    Before the run every worker's task thread is taken by a gate, so no task can finish anywhere.
    Once the engine has submitted all tasks (it then opens its progress bar), we wait until the
    scheduler shows the victim processing a block task, and open the other workers' gates only.
    The victim's task can never finish, so the run cannot end without the kill; at the first
    block result (from another worker) the victim is killed with that task still on it.
    ``state["removal"]`` is then the scheduler's record of what the dead worker held."""
    victim = cluster.workers[0]
    address = cluster.worker_address(victim)
    others = [cluster.worker_address(w) for w in cluster.workers if w is not victim]
    state = {"address": address, "killed": False, "removal": None}
    client = cluster.client
    real = dask_engine.progress

    # Run on the workers (local functions: cloudpickle sends them by value, as the workers
    # cannot import this module). The gate takes every task thread, so tasks the scheduler
    # sends there are accepted (executing, never stolen) but cannot run until it opens.
    def shut_gates(dask_worker):
        import threading

        gate = threading.Event()
        dask_worker.spacelens_test_gate = gate
        for _ in range(dask_worker.state.nthreads):
            dask_worker.executors["default"].submit(gate.wait)

    def open_gates(dask_worker):
        gate = getattr(dask_worker, "spacelens_test_gate", None)
        if gate is not None:
            gate.set()

    def victim_holds_a_block_task() -> bool:
        keys = client.processing(workers=[address]).get(address, ())
        return any(str(key).startswith("spacelens-topk-") for key in keys)

    @contextmanager
    def progress(description, total):
        wait_for_state(victim_holds_a_block_task, f"{address} processing a spacelens-topk task")
        client.run(open_gates, workers=others)
        with real(description, total) as bar:
            class Bar:
                def advance(self, n=1):
                    if not state["killed"]:
                        state["killed"] = True
                        cluster.kill(victim)
                    bar.advance(n)
            yield Bar()

    def removals():  # the scheduler's records of removing a worker at this address (a port may be reused)
        return [msg for _, msg in client.get_events(address) if msg.get("action") == "remove-worker"]

    earlier = len(removals())
    monkeypatch.setattr(dask_engine, "progress", progress)
    client.run(shut_gates, workers=[address, *others])
    try:
        yield state
    finally:
        client.run(open_gates, workers=others if state["killed"] else [address, *others])
    if state["killed"]:
        wait_for_state(lambda: len(removals()) > earlier, f"the scheduler's record of removing {address}")
        state["removal"] = removals()[earlier]


def held_block_tasks(removal: dict) -> set:
    """The block tasks the killed worker was processing when the scheduler removed it."""
    return {str(key) for key in removal["processing-tasks"] if str(key).startswith("spacelens-topk-")}


def registry_files(home: Path) -> set[str]:
    return {str(p.relative_to(home)) for p in home.rglob("*") if p.is_file() and "sqlite" not in p.name}


# -- the block kernel and the merge, no cluster ---------------------------------------------------
@pytest.mark.parametrize("metric", ["cosine", "l2", "dot"])
@pytest.mark.parametrize("data", ["clustered", "integers"])
def test_blocks_and_tree_merge_equal_brute_force(metric, data, tmp_path):
    x = make_labeled(tmp_path, n=260, d=12).vectors if data == "clustered" else int_vectors()
    k, n = 9, len(x)
    rows = np.arange(n)
    q = _side(x, metric)[0]
    parts = [block_topk(q, _side(x[s:s + 37], metric)[0], s, k, metric, rows, extra=2) + ((0, 0),)
             for s in range(0, n, 37)]
    while len(parts) > 1:  # pairwise, as the engine's tree does
        parts = [merge_topk(parts[i], parts[i + 1], k) for i in range(0, len(parts) - 1, 2)] + \
                ([parts[-1]] if len(parts) % 2 else [])
    d, i = parts[0][:2]
    assert not (i == PAD).any()
    ref = brute_force(x, x, k, metric, rows)
    assert_same((i.astype(np.int32), d), ref, f"{data}/{metric}")
    ex = exact(x, x, k, metric, rows)
    if ex is not None:
        assert_equal_graphs((i, d), ex)


def test_sources(tmp_path):
    x = int_vectors()
    path = tmp_path / "v.npy"
    np.save(path, x)
    mm = np.load(path, mmap_mode="r")
    assert npy_source(mm) == NpySource(str(path), len(x), x.shape[1])           # the registry's case
    assert isinstance(npy_source(mm[10:]), MemSource)                            # a slice is not the file
    assert npy_source(f"file://{path}") == NpySource(f"file://{path}", len(x), x.shape[1])
    assert np.array_equal(sources.read_block(f"file://{path}", 7, 19), x[7:19])
    assert np.array_equal(sources.read_block(str(path), 7, 19), x[7:19])


def test_bad_requests_fail_before_any_cluster():
    x = int_vectors(20)
    eng = DaskEngine(scheduler="tcp://127.0.0.1:1", timeout=1)
    with pytest.raises(SpacelensError, match="out of range"):
        eng.search(x, x, 20, "cosine", np.arange(20))
    with pytest.raises(SpacelensError, match="Unknown metric"):
        eng.search(x, x, 3, "hamming")
    with pytest.raises(SpacelensError, match="Cannot reach the Dask scheduler"):
        eng.search(x, x, 3, "cosine")


# -- on the cluster ---------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["cosine", "l2", "dot"])
def test_cluster_matches_brute_force_and_exact(cluster, metric, tmp_path):
    from spacelens.neighbors import get_engine

    eng = get_engine("dask", scheduler=cluster.address, block_rows=50)
    assert isinstance(eng, DaskEngine)
    for x in (make_labeled(tmp_path, n=230, d=12).vectors, int_vectors()):
        rows = np.arange(len(x))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = eng.search(x, x, 8, metric, query_rows=rows)      # in memory: scattered blocks
        zero_rows = int((~x.any(axis=1)).sum())                      # counted over all blocks, once
        expected = [f"{zero_rows} of {len(x)} vectors are all zeros"] if metric == "cosine" and zero_rows else []
        assert [str(w.message)[:len(e)] for w, e in zip(caught, expected)] == expected
        assert len(caught) == len(expected) and all(w.category is SpacelensWarning for w in caught)
        assert_same(got, brute_force(x, x, 8, metric, rows), metric)
        ex = exact(x, x, 8, metric, rows)
        if ex is not None:
            assert_equal_graphs(got, ex)


def test_cluster_reads_files_and_urls(cluster, tmp_path):
    """Base as an fsspec URL read by the workers; queries (not the base) staged to a shared folder."""
    x = make_labeled(tmp_path, n=300, d=10).vectors
    np.save(tmp_path / "base.npy", x)
    queries = x[::7] + 0.01
    eng = DaskEngine(scheduler=cluster.address, block_rows=64, staging=str(tmp_path / "staging"))
    got = eng.search(queries, f"file://{tmp_path / 'base.npy'}", 6, "l2")
    assert_same(got, brute_force(queries, x, 6, "l2"))
    assert list((tmp_path / "staging").iterdir()) == []   # staged copies are removed after the run


def test_knn_graph_on_cluster_equals_exact_graph(cluster, home, tmp_path):
    from spacelens.neighbors import knn_graph

    lab = make_labeled(tmp_path, n=280, d=16)
    spacelens.add(lab.vectors, lab.csv, dataset_name="items", experiment_name="e", space_name="s")
    reg = Registry(home)
    vec = reg.load_vectors("s")
    assert isinstance(npy_source(vec), NpySource)   # workers mmap the registry's own file
    g = knn_graph(reg, "s", 10, "cosine", engine="dask", scheduler=cluster.address, block_rows=60)
    ref = knn_graph(reg, "s", 10, "cosine", engine="exact")
    assert_equal_graphs((g.indices, g.distances), (ref.indices, ref.distances))
    assert_same((np.asarray(g.indices), np.asarray(g.distances)),
                brute_force(lab.vectors, lab.vectors, 10, "cosine", np.arange(280)))


def test_local_cluster_when_no_scheduler(tmp_path):
    """No address: the engine starts (and stops) a LocalCluster of two worker processes."""
    x = make_labeled(tmp_path, n=200, d=8).vectors
    rows = np.arange(len(x))
    got = DaskEngine(block_rows=64).search(x, x, 5, "cosine", rows)   # in memory: a temp .npy
    assert_same(got, brute_force(x, x, 5, "cosine", rows))


def test_cli_compare_with_dask_engine(cluster, cli, home, tmp_path):
    help_ = cli("compare", "--help")
    if help_.code != 0 or "--engine" not in help_.out:
        pytest.skip("'spacelens compare --engine' is not wired yet")
    lab = make_labeled(tmp_path, n=250, d=12)
    other = lab.vectors + np.random.default_rng(5).normal(scale=2.0, size=lab.vectors.shape).astype(np.float32)
    spacelens.add(lab.vectors, lab.csv, dataset_name="items", experiment_name="a", space_name="a")
    spacelens.add(other, dataset_name="items", experiment_name="b", space_name="b")
    res = cli("compare", "a", "b", "-k", "10", "--engine", "dask", "--scheduler", cluster.address, "--json",
              check=True)
    out = res.json()
    from spacelens.neighbors import knn_graph

    reg = Registry(home)
    arts = reg.find_artifacts(kind="knn_graph")
    assert {(a.space, a.params["engine"]) for a in arts} == {("a", "dask"), ("b", "dask")}
    for name, vec in (("a", lab.vectors), ("b", other)):
        art = next(a for a in arts if a.space == name)
        idx = reg.load_artifact(art, "indices")
        assert np.array_equal(idx[:, :10], knn_graph(reg, name, 10, "cosine", engine="exact").indices)
        assert np.array_equal(idx[:, :10], brute_force(vec, vec, 10, "cosine", np.arange(250))[0])
    ga, gb = (brute_force(v, v, 10, "cosine", np.arange(250))[0] for v in (lab.vectors, other))
    jac = [len(set(p) & set(q)) / len(set(p) | set(q)) for p, q in zip(ga, gb)]
    assert out["mean"] == pytest.approx(np.mean(jac), abs=1e-6)


def test_cli_knn_takes_a_scheduler(cluster, cli, home, tmp_path):
    lab = make_labeled(tmp_path, n=220, d=10)
    spacelens.add(lab.vectors, lab.csv, dataset_name="items", experiment_name="a", space_name="a")
    out = cli("knn", "a", "-k", "7", "--engine", "dask", "--scheduler", cluster.address, "--json", check=True).json()
    assert out["engine"] == "dask" and out["params"]["scheduler"] == cluster.address
    reg = Registry(home)
    art = next(a for a in reg.find_artifacts(kind="knn_graph") if a.params["engine"] == "dask")
    np.testing.assert_array_equal(reg.load_artifact(art, "indices")[:, :7],
                                  brute_force(lab.vectors, lab.vectors, 7, "cosine", np.arange(220))[0])


def test_killed_worker_is_recovered(two_workers, monkeypatch, tmp_path):
    """SIGKILL a worker mid-run: Dask reruns its tasks on the other one; the result is exact."""
    c = two_workers
    x = make_labeled(tmp_path, n=900, d=24).vectors
    rows = np.arange(len(x))
    np.save(tmp_path / "v.npy", x)
    base = np.load(tmp_path / "v.npy", mmap_mode="r")       # read by path, as from the registry
    with kill_worker_holding_a_task(monkeypatch, c) as state:
        got = DaskEngine(scheduler=c.address, block_rows=90).search(base, base, 10, "cosine", rows)
    assert state["killed"] and len(c.client.nthreads()) == 1
    # The scheduler's record of the removal: the dead worker was running block tasks of ours,
    # which Dask then ran elsewhere.
    assert held_block_tasks(state["removal"])
    assert_same(got, brute_force(x, x, 10, "cosine", rows))


def test_failed_run_writes_nothing(two_workers, monkeypatch, home, tmp_path):
    """With no failures allowed, a killed worker fails the run: clean error, registry unchanged."""
    from spacelens.neighbors import knn_graph

    c = two_workers
    lab = make_labeled(tmp_path, n=900, d=24)
    spacelens.add(lab.vectors, lab.csv, dataset_name="items", experiment_name="e", space_name="s")
    reg = Registry(home)
    before = registry_files(home)

    def set_allowed(dask_scheduler, n):
        dask_scheduler.allowed_failures = n

    c.client.run_on_scheduler(set_allowed, n=0)
    try:
        with kill_worker_holding_a_task(monkeypatch, c) as state:
            with pytest.raises(SpacelensError, match="Dask workers died") as err:
                knn_graph(reg, "s", 10, "cosine", engine="dask", scheduler=c.address, block_rows=90)
    finally:
        c.client.run_on_scheduler(set_allowed, n=3)
    assert "Nothing was written" in str(err.value)
    assert held_block_tasks(state["removal"])   # the failure came from the kill
    assert reg.find_artifacts(kind="knn_graph") == []
    assert registry_files(home) == before


def test_killed_worker_with_scattered_blocks(two_workers, monkeypatch, tmp_path):
    """Blocks sent from the client live only in workers' memory: losing them must not hang or
    return garbage. By the scheduler's record of the removal, the run fails cleanly when the
    dead worker held the only copy of a block, and completes exactly when every block had a copy."""
    c = two_workers
    x = make_labeled(tmp_path, n=900, d=24).vectors
    rows = np.arange(len(x))
    with kill_worker_holding_a_task(monkeypatch, c) as state:
        try:
            got = DaskEngine(scheduler=c.address, block_rows=90, timeout=20).search(x, x, 10, "l2", rows)
        except SpacelensError as exc:
            got = exc
    assert state["killed"] and held_block_tasks(state["removal"])
    if state["removal"]["lost-scattered-tasks"]:
        assert isinstance(got, SpacelensError), "a block was lost with its only copy, yet the run returned"
        assert "holding blocks sent from this machine" in str(got) and "Nothing was written" in str(got)
    else:
        assert not isinstance(got, SpacelensError), f"every block had a copy, yet the run failed: {got}"
        assert_same(got, brute_force(x, x, 10, "l2", rows))
