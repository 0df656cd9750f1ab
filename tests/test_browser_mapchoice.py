"""The map the page opens on (issue 24, item 2): with only PCA stored for a small pair, the page
says plainly next to the map that it keeps few neighbours, computes UMAP itself in the background
and switches to it once both spaces have it, being the more faithful map; a map the user asked
for (in the address or the picker) is never switched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _web import require_page, serving, shot, wait_ready

require_page()

import spacelens  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    h = tmp_path_factory.mktemp("mapchoice") / "home"
    rng = np.random.default_rng(8)
    n, d, c = 600, 32, 10
    lab = rng.integers(0, c, n)
    centres = rng.normal(size=(c, d)) * 2.5
    t = pd.DataFrame({"id": [f"i{i}" for i in range(n)], "label": lab})
    for name in ("A", "B"):
        x = (centres[lab] + rng.normal(size=(n, d))).astype(np.float32)
        spacelens.add(x, t if name == "A" else None, dataset_name="d", experiment_name=name, space_name=name, home=h)
        spacelens.project(name, method="pca", home=h)
    yield h
    mp.undo()


def test_a_pca_only_pair_gets_a_warning_and_switches_to_umap(world, page1440):
    page = page1440
    pca = spacelens.project("A", method="pca", home=world).faithfulness["knn_preservation"]
    assert pca < 0.5   # the data are built so that PCA keeps few neighbours
    with serving(world) as url:
        page.goto(f"{url}?dataset=d&a=A&b=B&color=label")
        wait_ready(page, 1)
        warn = page.locator("#map-a .faith-warn")
        assert f"Keeps only {round(pca * 100)}%" in warn.inner_text()
        shot(page, "mapchoice-pca-warning")
        page.wait_for_function("window.__sl.state.method === 'umap'", timeout=180_000, polling=200)
        wait_ready(page)
        umap = spacelens.project("A", method="umap", home=world).faithfulness["knn_preservation"]
        assert umap > pca and page.locator("#method").input_value() == "umap"
        assert (page.locator("#map-a .faith-warn").count() == 0) == (umap >= 0.5)
        shot(page, "mapchoice-umap")
        # asked for in the address: PCA stays, though UMAP is more faithful
        page.goto(f"{url}?dataset=d&a=A&b=B&color=label&method=pca")
        wait_ready(page, 1)
        page.wait_for_timeout(500)
        assert page.evaluate("window.__sl.state.method") == "pca"
