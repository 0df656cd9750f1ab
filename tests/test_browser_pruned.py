"""Spaces whose vectors were pruned (spacelens prune), on the page: the pickers never offer them
(nothing can be compared or mapped from them again), the page opens on a pair it can show even
when the pair compared last was pruned since, and the Registry tab still lists them, marked."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _web import js, open_page, require_page, serving, shot, wait_ready, wait_registry

pytestmark = [pytest.mark.browser]

require_page()

import spacelens  # noqa: E402
from spacelens import api  # noqa: E402

N = 300
PRUNED = ["run.epoch_1.val", "run.epoch_2.val"]
KEPT = ["base", "run.epoch_3.val"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("pruned") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    mp.setenv("SPACELENS_TRASH_GRACE_S", "0")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(N, 8)).astype(np.float32)
    table = pd.DataFrame({"id": [f"i{i}" for i in range(N)], "label": rng.integers(0, 4, N).astype(str)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spacelens.add(x, table, dataset_name="d", experiment_name="base", space_name="base", home=home)
        for step in (1, 2, 3):
            spacelens.log_space(f"run.epoch_{step}.val", x + rng.normal(size=x.shape).astype(np.float32) / step,
                                dataset="d", experiment="run", step=step, split="val", home=home)
        for s in KEPT:
            api.project(s, method="pca", home=home)
        api.compare("base", "run.epoch_3.val", k=5, home=home)
        api.compare("base", "run.epoch_1.val", k=5, home=home)     # compared last, then pruned
        spacelens.prune("run", keep_last=1, dry_run=False, home=home)
    yield {"home": home}
    mp.undo()


def test_pickers_leave_pruned_spaces_out_and_the_registry_marks_them(browser, world):
    with serving(world["home"]) as url, open_page(browser, 1440, 900) as page:
        page.goto(url)
        wait_ready(page, 1)
        # the pair compared last (base vs a pruned epoch) cannot be shown: the page opens on one it can
        assert {js(page, "window.__sl.state.a"), js(page, "window.__sl.state.b")} == set(KEPT)
        assert page.locator("#map-a").get_attribute("data-drawn") == "1"
        for picker in ("#space-a", "#space-b"):
            offered = page.locator(f"{picker} option").evaluate_all("os => os.map(o => o.value)")
            assert sorted(offered) == sorted(KEPT), (picker, offered)
        page.click("button.tab[data-tab='registry']")
        wait_registry(page)
        page.click("#reg-raw > summary")
        rows = page.locator("#reg-spaces tbody tr").evaluate_all(
            "rs => rs.map(r => [r.cells[0].firstChild.textContent.trim(), r.cells[0].querySelector('.tag')?.textContent ?? ''])")
        marked = {name: tag for name, tag in rows}
        assert set(marked) == set(KEPT + PRUNED)
        assert all(marked[n] == "vectors pruned" for n in PRUNED) and not any(marked[n] for n in KEPT)
        # the comparison of a pruned epoch is listed, but not offered as a link to the maps
        links = page.locator("#reg-comparisons tr.link").evaluate_all("rs => rs.map(r => [r.dataset.a, r.dataset.b])")
        assert links and all(a in KEPT and b in KEPT for a, b in links)
        assert page.locator("#reg-comparisons tr.pruned").count() == 1
        shot(page, "registry-pruned")
