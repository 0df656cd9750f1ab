"""A bounded stress run of the workflow spacelens exists for, all on one registry at once:

- three training loops log a space every "epoch" (overwriting the same names round after round,
  and a shared space that the others read),
- an analyst runs compare and evaluate in a loop on spaces being overwritten,
- a client hammers the page's API,
- a fourth writer is killed with SIGKILL in the middle of copying a large space.

Afterwards: no process saw an error (but the killed one), SQLite's integrity check is ok, every
stored result's recorded hashes equal its spaces' current ones, and nothing committed was lost
(each name holds the last version a writer saw committed). The run lasts SPACELENS_STRESS_S
seconds (default 60); what it asserts does not depend on how the processes interleave.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from _web import free_port

import spacelens
from spacelens.registry import Registry

pytestmark = pytest.mark.slow

WRITER = """
import sys, time, numpy as np, spacelens
home, i, deadline, log = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(i)
base = np.load(sys.argv[5])
n = 0
with open(log, "a") as out:
    while time.time() < deadline:
        epoch = n % 4
        sp = spacelens.log_space(f"w{i}.epoch_{epoch}", base + rng.normal(size=base.shape).astype(np.float32),
                                 dataset="items", experiment=f"w{i}", step=epoch, split="val", run=f"w{i}-run",
                                 replace_other_runs=True, home=home)
        out.write(f"{sp.name}\\t{sp.id}\\t{sp.content_hash}\\n"); out.flush()
        if n % 3 == i % 3:
            sp = spacelens.log_space("shared", base + rng.normal(size=base.shape).astype(np.float32),
                                     dataset="items", experiment="shared-exp", home=home)
            out.write(f"{sp.name}\\t{sp.id}\\t{sp.content_hash}\\n"); out.flush()
        n += 1
print(n)
"""

ANALYST = """
import sys, time, warnings, spacelens
warnings.simplefilter("ignore")  # 'replaced while computed' warnings are expected here
home, deadline = sys.argv[1], float(sys.argv[2])
n = 0
while time.time() < deadline:
    spacelens.compare("a", "shared", k=5, cka=n % 2 == 0, home=home)
    spacelens.evaluate("shared", label_field="label", home=home)
    spacelens.compare("shared", "w0.epoch_1" if n % 2 else "w1.epoch_2", k=5, cka=False, home=home)
    n += 1
print(n)
"""

BIG_WRITER = """
import sys, spacelens
spacelens.add(sys.argv[2], dataset_name="items", experiment_name="big", space_name="big", home=sys.argv[1])
"""


def test_many_processes_on_one_registry(home, labeled, tmp_path):
    import httpx

    duration = float(os.environ.get("SPACELENS_STRESS_S", "60"))
    env = {**os.environ, "SPACELENS_HOME": str(home), "SPACELENS_NO_PROGRESS": "1",
           "SPACELENS_TRASH_GRACE_S": "600"}
    spacelens.add(labeled.vectors, labeled.csv, dataset_name="items", experiment_name="e", space_name="a")
    spacelens.add(labeled.vectors * 2, dataset_name="items", experiment_name="shared-exp", space_name="shared")
    for i in range(2):  # the spaces the analyst reads exist from the start
        for epoch in range(4):
            spacelens.log_space(f"w{i}.epoch_{epoch}", labeled.vectors, dataset="items", experiment=f"w{i}",
                                step=epoch, split="val", run=f"w{i}-run", replace_other_runs=True)
    base = tmp_path / "base.npy"
    np.save(base, labeled.vectors)
    big = tmp_path / "big.npy"   # float64, one row per dataset item repeated: a copy that takes a while
    arr = np.lib.format.open_memmap(big, mode="w+", dtype=np.float64, shape=(len(labeled.vectors), 200_000))
    arr[:] = 1.0
    arr.flush()
    del arr

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "spacelens", "ui", "--port", str(port), "--no-browser"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/api"
    procs = {}
    try:
        with httpx.Client(timeout=60) as client:
            for _ in range(600):   # until the server answers (bounded: fails the test, never hangs)
                try:
                    if client.get(f"{url}/info").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            else:
                pytest.fail(f"server did not start: {server.stderr.read() if server.poll() is not None else ''}")

            deadline = time.time() + duration
            logs = [tmp_path / f"w{i}.log" for i in range(3)]
            for i in range(3):
                procs[f"writer{i}"] = subprocess.Popen(
                    [sys.executable, "-c", WRITER, str(home), str(i), str(deadline), str(logs[i]), str(base)],
                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            procs["analyst"] = subprocess.Popen([sys.executable, "-c", ANALYST, str(home), str(deadline)],
                                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            killed = subprocess.Popen([sys.executable, "-c", BIG_WRITER, str(home), str(big)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            requests, was_killed = 0, False
            while time.time() < deadline or any(p.poll() is None for p in procs.values()):
                if not was_killed and _copy_under_way(home):
                    killed.send_signal(signal.SIGKILL)
                    was_killed = True
                for path in ("/spaces", "/datasets", "/comparisons", "/evaluations",
                             "/comparison?a=a&b=shared&k=5", "/query?space=a&vs=shared&row=3&k=5",
                             "/datasets/items/items/7"):
                    r = client.get(url + path)
                    assert r.status_code < 500, (path, r.text)
                    assert "Traceback" not in r.text
                    requests += 1
            if not was_killed:   # the big add finished first on a fast machine: kill a second one mid-copy
                killed.wait()
                killed = subprocess.Popen([sys.executable, "-c", BIG_WRITER.replace('"big"', '"big2"'), str(home),
                                           str(big)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                while not _copy_under_way(home) and killed.poll() is None:
                    time.sleep(0.001)
                killed.send_signal(signal.SIGKILL)
            killed.wait()
    finally:
        for p in [server, *procs.values()]:
            if p.poll() is None:
                p.terminate()
                p.wait()

    for name, p in procs.items():
        out, err = p.communicate()
        assert p.returncode == 0, f"{name} failed:\n{err}"
        assert "Traceback" not in err and "error" not in err.lower(), f"{name}:\n{err}"
        assert int(out.split()[-1]) > 0, f"{name} did no work"
    assert requests > 0

    reg = Registry(home)   # the next open sweeps the killed writer's partial file
    assert reg.integrity_check() == "ok"
    assert list((home / "tmp").iterdir()) == []
    conn = sqlite3.connect(home / "registry.sqlite")
    mismatched = conn.execute(
        "SELECT count(*) FROM artifacts a JOIN spaces s ON s.id = a.space_id LEFT JOIN spaces o ON o.id = "
        "a.other_space_id WHERE a.space_hash != s.content_hash OR (a.other_space_id IS NOT NULL AND "
        "a.other_space_hash != o.content_hash)").fetchone()[0]
    n_results = conn.execute("SELECT count(*) FROM artifacts").fetchone()[0]
    conn.close()
    assert mismatched == 0 and n_results > 0
    # nothing committed was lost: every name holds the last version a writer saw committed
    last: dict[str, tuple[int, str]] = {}
    for log in logs:
        for line in log.read_text().splitlines():
            name, sid, digest = line.split("\t")
            if name not in last or int(sid) > last[name][0]:
                last[name] = (int(sid), digest)
    assert last
    for name, (sid, digest) in last.items():
        rec = reg.space(name)
        assert (rec.id, rec.content_hash) == (sid, digest), name
        assert reg.load_vectors(rec).shape == labeled.vectors.shape
    names = {s.name for s in reg.list("spaces")}
    assert "big2" not in names and ("big" not in names or not was_killed)


def _copy_under_way(home) -> bool:
    for p in (home / "tmp").glob("*.partial*"):
        try:
            if p.stat().st_size > 50_000_000:
                return True
        except FileNotFoundError:
            pass
    return False
