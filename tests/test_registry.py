"""Registry atomicity: a killed or failed write leaves the registry as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spacelens
from spacelens.errors import SpacelensError
from spacelens.registry import Registry


def state(home):
    reg = Registry(home)
    return ({k: [r.name for r in reg.list(k)] for k in ("datasets", "experiments", "spaces")},
            reg.referenced_files())


def test_kill_9_mid_copy_leaves_no_half_registered_space(home, labeled, tmp_path):
    spacelens.add(labeled.vectors, labeled.csv, dataset_name="items", experiment_name="e", space_name="a")
    before = state(home)
    n, d = 200_000, 256
    ds = tmp_path / "big.csv"
    ds.write_text("id\n" + "\n".join(map(str, range(n))) + "\n")
    big = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float64, shape=(n, d))
    big[:] = 1.0
    big.flush()
    del big
    code = (f"import spacelens; spacelens.add({str(tmp_path / 'big.npy')!r}, {str(ds)!r}, dataset_name='big', "
            "experiment_name='e2', space_name='big')")
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "SPACELENS_HOME": str(home)})
    deadline = time.time() + 120

    def big_partials():
        found = []
        for p in (home / "tmp").iterdir():
            try:
                if p.stat().st_size > 10_000_000:
                    found.append(p)
            except FileNotFoundError:   # a small partial renamed into place between listing and stat
                pass
        return found

    try:
        # wait until the big array copy is under way (its partial file exists and grows)
        while time.time() < deadline:
            partials = big_partials()
            if partials or proc.poll() is not None:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the add finished before it could be interrupted"
        assert partials, "never saw the copy in progress"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    # nothing of the interrupted add is registered; the next open sweeps the dead writer's partial file
    assert state(home) == before
    assert list((home / "tmp").iterdir()) == []
    # and the registry keeps working: the same add succeeds now
    spacelens.add(labeled.vectors, dataset_name="items", experiment_name="e", space_name="b")
    assert [s.name for s in spacelens.ls("spaces")] == ["a", "b"]


def test_failure_inside_a_change_rolls_back_rows_and_files(home, labeled):
    reg = Registry(home)
    spacelens.add(labeled.vectors, labeled.csv, dataset_name="items", experiment_name="e", space_name="a",
                  home=reg)
    before = state(home)
    with pytest.raises(RuntimeError):
        with reg.staged() as staging:
            staging.save_array(np.ones((3, 3)))
            with reg.transaction(staging) as conn:
                conn.execute("DELETE FROM spaces")
                raise RuntimeError("boom")
    assert state(home) == before
    assert {f"objects/{p.name}" for p in (home / "objects").iterdir()} == before[1]


def test_artifacts_replace_atomically_and_go_with_their_space(home, labeled):
    reg = Registry(home)
    spacelens.add(labeled.vectors, labeled.csv, dataset_name="items", experiment_name="e", space_name="a",
                  home=reg)
    art = reg.put_artifact("demo", "a", {"k": 3}, {"x": np.arange(5)}, info={"mean": 0.5})
    again = reg.put_artifact("demo", "a", {"k": 3}, {"x": np.arange(6)}, info={"mean": 0.7})
    assert reg.get_artifact("demo", "a", {"k": 3}).info == {"mean": 0.7}
    np.testing.assert_array_equal(reg.load_artifact(again, "x"), np.arange(6))
    assert not (home / art.files["x"]).exists()  # the replaced file is gone
    spacelens.rm("space", "a", home=reg)
    assert reg.find_artifacts(kind="demo") == []
    assert not (home / again.files["x"]).exists()


def test_gc_removes_only_unreferenced_files(home, labeled):
    reg = Registry(home)
    spacelens.add(labeled.vectors, labeled.csv, dataset_name="items", experiment_name="e", space_name="a",
                  home=reg)
    orphan = home / "objects" / "deadbeef.npy"
    np.save(orphan, np.zeros(3))
    assert reg.gc() == []   # named by no staging (by hand, or an older spacelens): collected by age
    assert reg.gc(min_age_s=0) == ["objects/deadbeef.npy"]
    assert state(home)[1] == {f"objects/{p.name}" for p in (home / "objects").iterdir()}


def test_store_refuses_paths_outside_objects(home):
    reg = Registry(home)
    with pytest.raises(SpacelensError):
        reg.store.path("../../etc/passwd")


def test_newer_schema_is_refused(home):
    import sqlite3

    Registry(home)
    conn = sqlite3.connect(home / "registry.sqlite")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(SpacelensError, match="newer spacelens"):
        Registry(home)


def test_load_table_reads_only_the_columns_asked_for(home, labeled):
    reg = Registry(home)
    spacelens.add(labeled.vectors, labeled.csv, dataset_name="items", experiment_name="e", space_name="a",
                  home=reg)
    full = reg.load_table("items")
    part = reg.load_table("items", columns=["label", "not-a-column"])
    assert list(part.columns) == ["label"]                     # unknown columns are simply absent
    pd.testing.assert_frame_equal(part, full[["label"]])
    assert list(full.columns) == reg.table_columns("items") == ["id", "label", "caption", "score"]


def test_staged_records_carry_every_field_the_registry_does_not_assign():
    """NewDataset/NewSpace repeat Dataset/Space's fields (records.py says why): each registered
    field is either assigned by the registry or staged, with the same type; none is forgotten."""
    from dataclasses import fields

    from spacelens.registry import Dataset, NewDataset, NewSpace, Space

    assigned = {"id", "created_at", "kind", "experiment", "dataset", "pruned_at"}   # by the registry, not the caller
    for record, staged in ((Dataset, NewDataset), (Space, NewSpace)):
        want = {f.name: f.type for f in fields(record) if f.name not in assigned}
        assert {f.name: f.type for f in fields(staged)} == want, staged.__name__


LONG_AGO = time.time() - 30 * 24 * 3600   # far beyond any grace period


def _gc_cli(cli) -> list[str]:
    import json

    return json.loads(cli("gc", "--json", check=True).out)["removed_files"]


def test_gc_never_deletes_the_files_of_a_live_staging_however_old(home, labeled, cli):
    """A staged file waits, unrecorded, for its transaction (a long add): gc must not take it."""
    reg = Registry(home)
    spacelens.add(labeled.vectors, labeled.csv, dataset_name="items", experiment_name="e", space_name="a",
                  home=reg)
    before = state(home)
    with reg.staged() as staging:
        rel = staging.save_array(np.arange(5))
        os.utime(home / rel, (LONG_AGO, LONG_AGO))
        assert reg.gc(min_age_s=0) == []        # in this process
        assert _gc_cli(cli) == []               # and from another one (`spacelens gc`)
        assert (home / rel).exists()
        with reg.transaction(staging) as conn:  # recorded after all (as a result of space a): stays
            conn.execute("INSERT INTO artifacts(kind, key, space_id, params, files, info, created_at, space_hash) "
                         "SELECT 'demo', 'demo', id, '{}', ?, '{}', created_at, content_hash FROM spaces",
                         (f'{{"x": "{rel}"}}',))
    assert reg.gc() == [] and (home / rel).exists()
    np.testing.assert_array_equal(reg.load_artifact(reg.find_artifacts(kind="demo")[0], "x"), np.arange(5))
    with reg.staged() as staging:
        dropped = staging.save_array(np.arange(6))
        os.utime(home / dropped, (LONG_AGO, LONG_AGO))
    # the staging ended without recording it: garbage now, at once (its writer cannot record it any more)
    assert reg.gc() == [dropped]
    assert list((home / "staging").iterdir()) == []
    assert state(home)[0] == before[0] and (home / rel).exists()


def test_gc_collects_the_files_of_a_writer_killed_mid_staging(home, labeled, cli):
    spacelens.add(labeled.vectors, labeled.csv, dataset_name="items", experiment_name="e", space_name="a")
    before = state(home)
    code = ("import sys\nimport numpy as np\nfrom spacelens.registry import Registry\n"
            f"reg = Registry({str(home)!r})\n"
            "with reg.staged() as staging:\n"
            "    print(staging.save_array(np.arange(7)), staging.save_array(np.arange(8)), flush=True)\n"
            "    sys.stdin.read()\n")   # holds the staging open until killed
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        rels = proc.stdout.readline().split()
        assert len(rels) == 2, "the writer did not stage its files"
        for rel in rels:
            os.utime(home / rel, (LONG_AGO, LONG_AGO))
        assert _gc_cli(cli) == [] and Registry(home).gc(min_age_s=0) == []   # its writer lives
        assert all((home / rel).exists() for rel in rels)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert sorted(_gc_cli(cli)) == sorted(rels)     # its writer is gone: collected, at once
    assert not any((home / rel).exists() for rel in rels)
    assert list((home / "staging").iterdir()) == []
    assert state(home) == before


def test_a_staging_whose_fresh_lock_file_gc_removed_takes_a_new_one(home, monkeypatch):
    """gc may find a lock file created but not yet locked (and remove it): the writer starts over."""
    from spacelens.registry import store

    reg = Registry(home)
    real_lock, stolen = store._flock, []

    def gc_first(f):
        if not stolen:
            stolen.append(Path(f.name).stem)
            assert reg.store.live_owners() == set()     # unlocked: taken for a dead writer's, removed
            assert not Path(f.name).exists()
        real_lock(f)

    monkeypatch.setattr(store, "_flock", gc_first)
    with reg.staged() as staging:
        rel = staging.save_array(np.arange(4))
        assert stolen and stolen[0] not in rel          # written under the new lock, not the stolen one
        assert reg.gc(min_age_s=0) == [] and (home / rel).exists()
    assert reg.gc(min_age_s=0) == [rel]


def test_the_registry_imports_and_works_without_fcntl(home, labeled):
    """fcntl is POSIX only: without it (Windows) spacelens still imports and registers."""
    code = ("import sys\nsys.modules['fcntl'] = None\n"
            "import spacelens, numpy as np\nfrom spacelens.registry import store\nassert store.fcntl is None\n"
            f"s = spacelens.add(np.load({str(home.parent / 'v.npy')!r}), {str(labeled.csv)!r}, dataset_name='items',"
            f" experiment_name='e', space_name='a', home={str(home)!r})\n"
            "print(s.name)\n")
    np.save(home.parent / "v.npy", labeled.vectors)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["a"]
    assert [s.name for s in Registry(home).list("spaces")] == ["a"]
