"""Registry atomicity: a killed or failed write leaves the registry as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

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

    assigned = {"id", "created_at", "kind", "experiment", "dataset"}   # by record_space, not the caller
    for record, staged in ((Dataset, NewDataset), (Space, NewSpace)):
        want = {f.name: f.type for f in fields(record) if f.name not in assigned}
        assert {f.name: f.type for f in fields(staged)} == want, staged.__name__
