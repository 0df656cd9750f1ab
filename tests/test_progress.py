"""Progress of long steps: percent done, elapsed and time left in the bar; nested bars report the
outer step to observers (the page's jobs), at every inner step."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd

import spacelens
from spacelens.progress import _columns, observe, progress


def test_bar_columns_show_percent_elapsed_and_time_left():
    from rich.console import Console
    from rich.progress import Progress

    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=False, color_system=None)
    with Progress(*_columns(), console=console, auto_refresh=False) as bar:
        t = bar.add_task("Exact kNN", total=200)
        bar.advance(t, 50)
        bar.refresh()
    text = out.getvalue()
    assert "Exact kNN" in text and " 25%" in text and "left" in text
    # elapsed, then the time left (h:mm:ss once a rate is known, -:--:-- before)
    assert re.search(r"25% \d:\d\d:\d\d left (-:--:--|\d:\d\d:\d\d)", text), text


def test_nested_bars_report_the_outer_step():
    seen = []
    with observe(lambda d, done, total: seen.append((d, done, total))):
        with progress("whole job", total=3) as outer:
            for b in range(3):
                with progress(f"block {b + 1}/3", total=4) as inner:
                    for _ in range(4):
                        inner.advance(1)
                outer.advance(1)
    assert {d for d, _, _ in seen} == {"whole job"} and {t for _, _, t in seen} == {3}
    done = [d for _, d, _ in seen]
    assert done == sorted(done) and done[-1] == 3
    assert len(seen) >= 3 * 4                 # called at every inner step: a cancel is seen promptly


def test_streamed_evaluation_is_one_step_with_a_known_size(home, monkeypatch):
    from spacelens.evaluate import core as ev_core

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    x = (rng.normal(size=(3, 8))[labels] + rng.normal(size=(300, 8))).astype(np.float32)
    table = pd.DataFrame({"id": [f"i{i}" for i in range(300)], "label": labels})
    spacelens.add(x, table, dataset_name="d", experiment_name="e", space_name="s", home=home)
    monkeypatch.setattr(ev_core, "GRAPH_CACHE_MAX_ENTRIES", 0)      # stream: no graph
    monkeypatch.setattr(ev_core, "SEARCH_BLOCK_ENTRIES", 1)
    monkeypatch.setattr(ev_core, "MIN_SEARCH_BLOCK", 50)            # 6 blocks
    seen = []
    with observe(lambda d, done, total: seen.append((d, done, total))):
        res = spacelens.evaluate("s", label_field="label", engine="exact", clustering=False, home=home)
    assert res["info"]["knn"].startswith("exact search of the queries, streamed")
    steps = [s for s in seen if s[0].startswith("Exact kNN for evaluation")]
    assert steps and {t for _, _, t in steps} == {300} and steps[-1][1] == 300
    assert not any("block" in d for d, _, _ in seen)                 # blocks never replace the step


def test_a_named_step_reports_its_inner_bar_with_a_size_and_stages_restart_the_count():
    """An outer step of unknown size has no percent: observers see the inner bar that has one,
    under both descriptions; ``stage`` moves a bar to a new size with the count back at 0."""
    seen = []
    with observe(lambda d, done, total: seen.append((d, done, total))):
        with progress("map of A", total=None):
            with progress("graph", total=None) as inner:
                inner.stage("layout", total=4)
                for _ in range(4):
                    inner.advance(1)
    assert seen[0] == ("map of A", 0, None)
    assert seen[1] == ("map of A · graph", 0, None)
    assert seen[2:] == [("map of A · layout", float(i), 4) for i in range(5)]


def _umap_input(n=300, d=8, seed=0):
    from spacelens.neighbors import get_engine

    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(4, d))[np.arange(n) % 4] * 4 + rng.normal(size=(n, d))).astype(np.float32)
    idx, dist = get_engine("exact").search(x, x, 14, "l2", query_rows=np.arange(n))
    return x, idx, dist


def test_umap_map_reports_every_epoch_and_draws_the_same_map():
    """The layout epochs arrive as steps of a bar whose size is umap-learn's own epoch count
    (500 for up to 10,000 items, its documented default), after a named step for umap's graph and
    initial layout; the map equals umap-learn's own with the same seed and no progress."""
    import umap

    from spacelens.project import maps

    x, idx, dist = _umap_input()
    seen = []
    with observe(lambda d, done, total: seen.append((d, done, total))):
        z = maps.umap_map(x, idx, dist, "l2", 15, seed=0)
    assert seen[0] == ("UMAP graph and initial layout (300 items)", 0, None)
    epochs = seen[1:]
    assert {d for d, _, _ in epochs} == {"UMAP layout (500 epochs)"} and {t for _, _, t in epochs} == {500}
    done = [d for _, d, _ in epochs]
    assert done == sorted(done) and done[0] == 0 and done[-1] == 500 and len(done) == 501

    i2, d2 = maps.umap_input_graph(idx, dist, "l2", 15)
    ref = umap.UMAP(n_components=2, n_neighbors=15, metric="euclidean", min_dist=maps.MIN_DIST, random_state=0,
                    precomputed_knn=(i2, d2, None)).fit_transform(x)
    np.testing.assert_array_equal(z, ref.astype(np.float32))

    # a chosen epoch count is the bar's size; an observer raising stops umap within that epoch
    seen.clear()

    class Stop(Exception):
        pass

    def stop_at_7(d, done, total):
        seen.append((d, done, total))
        if done >= 7:
            raise Stop

    with observe(stop_at_7):
        try:
            maps.umap_map(x, idx, dist, "l2", 15, seed=0, n_epochs=40)
        except Stop:
            pass
        else:
            raise AssertionError("the raising observer did not stop UMAP")
    assert seen[-1] == ("UMAP layout (40 epochs)", 7, 40)


def test_a_umap_job_reports_the_epochs_with_percent(home):
    """What the page's jobs receive (the same reports the server derives percent and time left
    from): the UMAP stage with its epochs done out of umap's 500, reaching all of them."""
    from spacelens.server.jobs import run_job

    x, _, _ = _umap_input()
    table = pd.DataFrame({"id": [f"i{i}" for i in range(len(x))]})
    spacelens.add(x, table, dataset_name="d", experiment_name="e", space_name="s", home=home)
    reports = []
    run_job("1", "projection", {"space": "s", "method": "umap"}, str(home),
            report=lambda job_id, **f: reports.append(f))
    layout = [f for f in reports if "UMAP layout (500 epochs)" in (f.get("stage") or "")]
    assert layout and layout[0]["stage"].startswith("UMAP map of s")
    assert {f["total"] for f in layout} == {500.0}
    done = [f["done"] for f in layout]
    assert done == sorted(done) and done[-1] == 500.0
