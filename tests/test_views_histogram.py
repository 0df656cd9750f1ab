"""The agreement histogram the page and the widget draw (#24 item 4): one bar per value Jaccard can
take at k, the bins of the rows consistent with the bars, and the seed baseline in the frame.

References are hand counts: each item's shared-neighbour count s is recovered by trying every
s = 0..k against s / (2k - s), independently of the s = 2kJ / (1 + J) inversion the code uses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import spacelens
from spacelens import api
from spacelens.registry import Registry
from spacelens.views.colors import MISSING, histogram
from spacelens.views.data import load_comparison
from spacelens.views.frames import comparison_frame

N = 300
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
K = 10


def hand_shared(j, k, lo=0):
    return [next(s for s in range(lo, k + 1) if abs(float(v) - s / (2 * k - s)) < 1e-6) for v in j]


def test_values_jaccard_takes_at_k_one_bin_each():
    k = 4
    vals = np.array([s / (2 * k - s) for s in (0, 1, 1, 4, 2, 4, 4)], dtype=np.float32)  # float32 as stored
    rows = np.array([9, 0, 3, 5, 7, 1, 2])
    per_row, h = histogram(10, rows, vals, k)
    assert h["kind"] == "shared" and h["shared"] == [0, 1, 2, 3, 4]
    assert h["values"] == pytest.approx([0, 1 / 7, 2 / 6, 3 / 5, 1])
    assert h["counts"] == [1, 2, 1, 0, 3]
    assert per_row.tolist() == [1, 4, 4, 1, MISSING, 4, MISSING, 2, MISSING, 0]
    # each value lies inside its own bin's edges, and only there
    e = h["edges"]
    assert all(e[i] < v < e[i + 1] or (v in (0, 1) and e[i] <= v <= e[i + 1]) for i, v in enumerate(h["values"]))


def test_include_self_has_no_zero_bin():
    k = 3  # {self} + 2 others: s = 1..3 shared, J = s / (6 - s)
    vals = np.array([1 / 5, 2 / 4, 1.0, 1.0])
    per_row, h = histogram(4, np.arange(4), vals, k, include_self=True)
    assert h["shared"] == [1, 2, 3] and h["counts"] == [1, 1, 2]
    assert per_row.tolist() == [0, 1, 2, 2]


def test_values_off_the_levels_fall_back_to_equal_bins():
    # an approximate engine's short neighbour list gives a Jaccard no k-set pair can: equal bins
    vals = np.array([0.0, 0.37, 1.0])
    per_row, h = histogram(3, np.arange(3), vals, 10)
    assert h["kind"] == "bins" and len(h["counts"]) == 20 and sum(h["counts"]) == 3
    assert per_row.tolist() == [0, 7, 19]
    # k too large for one byte a bin
    _, big = histogram(1, np.arange(1), np.array([0.0]), 300)
    assert big["kind"] == "bins"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("hist") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 5, N)
    va = (rng.normal(size=(5, 16))[labels] * 2 + rng.normal(size=(N, 16))).astype(np.float32)
    vb = (va + 1.5 * rng.normal(size=(N, 16))).astype(np.float32)
    vc = (va + 0.5 * rng.normal(size=(N, 16))).astype(np.float32)
    table = pd.DataFrame({"id": [f"i{i}" for i in range(N)], "label": labels})
    spacelens.add(va, table, dataset_name="d", experiment_name="e", space_name="A", home=home)
    spacelens.add(vb, dataset_name="d", experiment_name="e", space_name="B", home=home)
    spacelens.add(vc, dataset_name="d", experiment_name="e", space_name="C", home=home)
    spacelens.add(vc[:, ::-1].copy(), dataset_name="d", experiment_name="e", space_name="D", home=home)
    cmp = api.compare("A", "B", k=K, home=home)
    yield {"home": home, "reg": Registry(home), "cmp": cmp}
    mp.undo()


def test_comparison_frame_bars_are_the_items_with_that_value(world):
    reg, cmp = world["reg"], world["cmp"]
    comp = load_comparison(reg, "A", "B", K)
    head, bufs = comparison_frame(reg, "d", comp)
    h = head["histogram"]
    shared = hand_shared(cmp.jaccard, K)
    assert h["kind"] == "shared" and len(h["counts"]) == K + 1  # k = 10: 11 bars
    assert h["counts"] == [shared.count(s) for s in range(K + 1)]
    bins = bufs["bins"]
    for s in range(K + 1):  # clicking bar s selects exactly the items with Jaccard s / (2k - s)
        want = {int(r) for r, x in zip(cmp.rows, shared) if x == s}
        assert set(np.flatnonzero(bins == s).tolist()) == want
    assert head["info"]["chance"] == pytest.approx(cmp.info["chance"]) and head["k"] == K
    assert "baseline" not in head


def test_comparison_frame_carries_the_seed_baseline(world):
    reg = world["reg"]
    base = api.compare("A", "C", k=K, home=world["home"])
    head, _ = comparison_frame(reg, "d", load_comparison(reg, "A", "B", K), load_comparison(reg, "A", "C", K))
    assert head["baseline"] == {"space": "C", "k": K, "mean": pytest.approx(base.mean)}
    api.compare("A", "C", k=5, home=world["home"])
    with pytest.raises(spacelens.SpacelensError, match="k=5, not k=10"):
        comparison_frame(reg, "d", load_comparison(reg, "A", "B", K), load_comparison(reg, "A", "C", 5))


def test_comparison_route_baseline_reads_stored_only(world, tmp_path):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from _web import local_client
    from spacelens.server import create_app
    from spacelens.views import binary

    app = create_app(world["home"], jobs="thread")
    with local_client(app) as client:
        def get(**params):
            r = client.get("/api/comparison", params={"a": "A", "b": "B", "k": K, **params})
            return r, (binary.decode(r.content)[0] if r.status_code == 200 else None)

        r, head = get(baseline="D")  # A vs D never computed: no mean, the job that computes it
        assert r.status_code == 200
        assert head["baseline"] == {"space": "D", "k": K, "mean": None,
                                    "missing": {"kind": "comparison", "a": "A", "b": "D", "k": K}}
        base = api.compare("A", "C", k=K, home=world["home"])
        r, head = get(baseline="C")
        assert head["baseline"] == {"space": "C", "k": K, "mean": pytest.approx(base.mean)}
        r, head = get(baseline="B")  # one of the pair: refused, with the fix
        assert r.status_code == 400 and "third space" in r.text
        n_before = len(world["reg"].find_artifacts(kind="comparison"))
        r, head = get(k=7, baseline="C")  # nothing at k=7: 404 naming the job, nothing computed
        assert r.status_code == 404
        assert len(world["reg"].find_artifacts(kind="comparison")) == n_before
