"""Exploring a million points a map (#26), in headless Chromium with software WebGL.

One generated pair (bench/ui.py's registry: 1,000,000 items in 10 labelled clusters, a stored map
of each space and a stored comparison) opened once; on it each exploring feature is checked
against numpy on the same table: a category filter and a brushed agreement range leave exactly
the right points in both maps, and the address restores them. Timings are in bench/ui.py
--explore, never asserted here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from _web import open_page, require_page, serving, shot, wait_ready

from conftest import browser  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

require_page()

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from ui import build_registry  # noqa: E402  (one builder for the bench and this test)

from spacelens.compare import load_comparison  # noqa: E402
from spacelens.registry import Registry  # noqa: E402

N = 1_000_000
QUERY = "?dataset=items&a=A&b=B&method=pca&color=label&k=10"
CHARTS = "document.querySelectorAll('#facets .facet').length >= 3"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("million") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    build_registry(home, N)
    reg = Registry(home)
    table = reg.load_table("items")
    comp = load_comparison(reg, "A", "B", 10)
    yield {"home": home, "comp": comp, "table": table}
    mp.undo()


@pytest.fixture(scope="module")
def page(world, browser):  # noqa: F811
    with serving(world["home"]) as url:
        cm = open_page(browser, 1440, 900)
        pg = cm.__enter__()
        pg.goto(url + QUERY)
        wait_ready(pg)
        pg.wait_for_function(CHARTS, timeout=300_000)
        pg.base_url = url
        yield pg
        cm.__exit__(None, None, None)


def shown_count(page, side):
    return int(page.evaluate(f"window.__sl.maps.{side}.root.dataset.shown"))


def test_a_category_filter_at_a_million(world, page):
    labels = world["table"]["label"].to_numpy()
    page.locator('.facet[data-id="label"] li.cat[data-code="3"]').click()
    page.wait_for_function("document.body.dataset.filtered", timeout=60_000)
    want = int((labels == 3).sum())
    for side in "AB":
        assert shown_count(page, side) == want
    assert int(page.evaluate("document.body.dataset.filtered")) == shown_count(page, "A")
    shot(page, "million-filtered")
    page.evaluate("window.__sl.facets.clear()")
    page.wait_for_function("!document.body.dataset.filtered")
    assert shown_count(page, "A") == N and shown_count(page, "B") == N


def test_a_brushed_agreement_range_at_a_million(world, page):
    comp = world["comp"]
    page.evaluate("window.__sl.facets.pick('agreement', [10, 17], true)")
    page.wait_for_function("document.body.dataset.filtered", timeout=60_000)
    # bins 10..17 of 40 over codes 0..254 (Jaccard 0..1 quantised): the chart's own rule, by numpy
    code = np.clip(np.rint(comp.jaccard.astype(np.float64) * 254), 0, 254)
    bins = np.minimum(39, np.floor(code * 40 / 255))
    want = int(((bins >= 10) & (bins <= 17)).sum())
    assert shown_count(page, "A") == want and shown_count(page, "B") == want
    url = page.evaluate("location.href")
    assert "f=agreement" in url
    page.evaluate("window.__sl.facets.clear()")
    page.wait_for_function("!document.body.dataset.filtered")
    # the address brings the same filter back
    page.goto(url)
    wait_ready(page)
    page.wait_for_function("document.body.dataset.filtered", timeout=300_000)
    assert shown_count(page, "A") == want
    page.evaluate("window.__sl.facets.clear()")
    page.wait_for_function("!document.body.dataset.filtered")
