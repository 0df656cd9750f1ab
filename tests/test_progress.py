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
