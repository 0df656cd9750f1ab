"""Exploring a million points a map (#26), in headless Chromium with software WebGL.

One generated pair (bench/ui.py's registry: 1,000,000 items in 10 labelled clusters, a stored map
of each space and a stored comparison) opened once; on it each exploring feature is checked
against numpy on the same table: a category filter and a brushed agreement range leave exactly
the right points in both maps, and the address restores them. Timings are in bench/ui.py
--explore, never asserted here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from _web import open_page, require_page, serving, shot, wait_ready

from conftest import browser  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

require_page()

# one builder for the bench and this test, loaded by path: bench/ on sys.path would shadow packages
# (bench/distributed.py is not dask's distributed)
_spec = importlib.util.spec_from_file_location("spacelens_bench_ui", Path(__file__).resolve().parents[1] / "bench" / "ui.py")
_bench_ui = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bench_ui)
build_registry = _bench_ui.build_registry

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
        pg.locator("#facets-panel").scroll_into_view_if_needed()   # its charts load once it is in view
        pg.wait_for_function(CHARTS, timeout=300_000)
        pg.base_url = url
        yield pg
        cm.__exit__(None, None, None)


def shown_count(page, side):
    return int(page.evaluate(f"window.__sl.maps.{side}.root.dataset.shown"))


def test_a_category_filter_at_a_million(world, page):
    labels = world["table"]["label"].to_numpy()
    first = page.locator('.facet[data-id="label"] li.cat').first   # the largest class (labels 0..9: code = label)
    code = int(first.get_attribute("data-code"))
    first.click()
    page.wait_for_function("document.body.dataset.filtered", timeout=60_000)
    want = int((labels == code).sum())
    for side in "AB":
        assert shown_count(page, side) == want
    assert int(page.evaluate("document.body.dataset.filtered")) == shown_count(page, "A")
    shot(page, "million-filtered")
    page.evaluate("window.__sl.facets.clear()")
    page.wait_for_function("!document.body.dataset.filtered")
    assert shown_count(page, "A") == N and shown_count(page, "B") == N


def agreement_bins(comp) -> np.ndarray:
    """Each item's bin of the agreement chart: 40 bins over codes 0..254 (Jaccard 0..1
    quantised), the chart's own rule, by numpy."""
    code = np.clip(np.rint(comp.jaccard.astype(np.float64) * 254), 0, 254)
    return np.minimum(39, np.floor(code * 40 / 255))


def test_a_brushed_agreement_range_at_a_million(world, page):
    comp = world["comp"]
    page.evaluate("window.__sl.facets.pick('agreement', [10, 17], true)")
    page.wait_for_function("document.body.dataset.filtered", timeout=60_000)
    bins = agreement_bins(comp)
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


# the labels' own claim, checked from the points: around each label's anchor the label's class is
# the most common one (points mapped to the screen with the camera's affine transform)
DOMINANT_AROUND = """([side, radius]) => {
  const v = window.__sl.maps[side], t = window.__sl.density.transform(v);
  const codes = window.__sl.state.colors.codes;
  return [...v.root.querySelectorAll('.cluster-label')].map((el) => {
    const x0 = Number(el.dataset.x), y0 = Number(el.dataset.y), counts = new Map();
    for (let p = 0; p < v.n; p++) {
      const sx = t[0] * v.x[p] + t[1] * v.y[p] + t[2], sy = t[3] * v.x[p] + t[4] * v.y[p] + t[5];
      if ((sx - x0) ** 2 + (sy - y0) ** 2 > radius * radius) continue;
      const c = codes[v.rows[p]];
      counts.set(c, (counts.get(c) || 0) + 1);
    }
    const top = [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
    return [Number(el.dataset.code), top ? top[0] : -1, el.textContent];
  });
}"""


def test_cluster_labels_name_the_class_around_them_at_a_million(page):
    for side in "AB":
        page.wait_for_function(f"window.__sl.maps.{side}.root.querySelectorAll('.cluster-label').length >= 5",
                               timeout=120_000)
        # read again while they disagree (up to 20 s): a camera move shows its points a frame
        # before the labels follow it
        for _ in range(100):
            found = page.evaluate(DOMINANT_AROUND, [side, 12])
            if len(found) >= 5 and all(code == dominant for code, dominant, _ in found):
                break
            page.wait_for_timeout(200)
        assert len(found) >= 5
        for code, dominant, text in found:
            assert code == dominant, f"label {text!r} sits where class {dominant} dominates"


def test_density_contours_follow_a_filter_at_a_million(world, page):
    for side in "AB":
        page.wait_for_function(f"(window.__sl.density.info(window.__sl.maps.{side}) || {{}}).levels?.length > 0",
                               timeout=120_000)
        assert page.evaluate(f"window.__sl.density.info(window.__sl.maps.{side}).points") == N
    labels = world["table"]["label"].to_numpy()
    page.evaluate("window.__sl.facets.pick('label', [6])")
    want = int((labels == 6).sum())
    # the contours are drawn again from the shown points only
    page.wait_for_function(f"window.__sl.density.info(window.__sl.maps.A).points === {want}", timeout=120_000)
    page.evaluate("window.__sl.facets.clear()")
    page.wait_for_function("!document.body.dataset.filtered")


def test_search_finds_every_match_at_a_million(world, page):
    captions = world["table"]["caption"].astype(str)
    want = np.flatnonzero(captions.str.contains("class 7", regex=False).to_numpy())
    page.fill("#search", "class 7")
    page.press("#search", "Enter")
    page.wait_for_function(f"window.__sl.state.selection.length === {len(want)}", timeout=120_000)
    assert np.array_equal(np.sort(page.evaluate("Array.from(window.__sl.state.selection)")), want)
    page.locator("#query-info .matches-filter").click()
    page.wait_for_function(f"Number(document.body.dataset.filtered) === {len(want)}", timeout=120_000)
    assert shown_count(page, "A") == len(want) and shown_count(page, "B") == len(want)
    shot(page, "million-search-filtered")
    page.evaluate("window.__sl.facets.clear()")
    page.wait_for_function("!document.body.dataset.filtered")


def _ink(page) -> tuple[int, float]:
    """Map A's canvas pixels, overlays (contours, labels, the ring) hidden: how many are inked
    (over 30 from white, of 441) and how far from white they are on average."""
    import io

    from PIL import Image

    png = page.locator("#map-a canvas").screenshot(style="svg.density, .cluster-labels, .marker { display: none !important; }")
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.float64)
    d = np.sqrt(((255 - img) ** 2).sum(axis=-1))
    ink = d > 30
    return int(ink.sum()), float(d[ink].mean()) if ink.any() else 0.0


def test_a_narrow_filter_at_a_million_is_drawn_plainly(world, page):
    """The ~120 items of the top agreement bins, of a million: regl-scatterplot sized and faded
    them for a million points in view (1.5 px, a few % opaque: 42 of 441 from white, near
    invisible). They are drawn as a few hundred points are: larger, opaque."""
    bins = agreement_bins(world["comp"])
    want = int((bins >= 38).sum())
    assert 20 <= want <= 2_000
    page.keyboard.press("Escape")   # no selection (an earlier test's would fade the other points)
    page.wait_for_function("window.__sl.state.selection.length === 0")
    page.evaluate("window.__sl.facets.pick('agreement', [38, 39], true)")
    page.wait_for_function(f"Number(document.body.dataset.filtered) === {want}", timeout=60_000)
    inked, dark = 0, 0.0
    for _ in range(40):          # until painted (software WebGL repaints a million points in ~1.5 s)
        page.wait_for_timeout(250)
        inked, dark = _ink(page)
        if inked >= 10 * want and dark >= 90:
            break
    assert inked >= 10 * want and dark >= 90, (want, inked, dark)
    page.evaluate("window.__sl.facets.clear()")
    page.wait_for_function("!document.body.dataset.filtered")
