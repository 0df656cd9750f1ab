"""End-to-end tests of the analyzer page in a real headless Chromium (Debian's /usr/bin/chromium,
driven by Playwright; never a downloaded browser).

Each test checks what the page shows against the API or the library: both canvases drew
points (pixels read from screenshots), hovering links the maps, lasso and histogram
selections reach both maps, a kNN query fills both tables with the API's ids, export
writes the selected rows, missing maps are computed from the page. At 1440x900 (and 1280x720):
the query tables are in the window, zoom is linked, agreement colours show on the background,
the first load opens on the pair compared last. Screenshots are kept in test-artifacts/ (each
view under test-artifacts/views/). Skipped (with the reason) when Chromium, Playwright or the built page is
missing.
"""

from __future__ import annotations

import contextlib
import io
import shutil

import numpy as np
import pandas as pd
import pytest
from _web import (
    ARTIFACTS,
    hover_point,
    js,
    open_page,
    require_page,
    screen_point,
    selected_rows,
    serving,
    shot,
    wait_ready,
    wait_registry,
    wait_settled,
)

# test_browser_versus.py imports ARTIFACTS, browser (the fixture, from conftest.py), serving and wait_ready from here
from conftest import browser  # noqa: F401

N = 600
K = 8

pytestmark = [pytest.mark.browser, pytest.mark.slow]

require_page()

import spacelens  # noqa: E402
from spacelens import api  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("browser") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 5, N)
    centers = rng.normal(size=(5, 16)) * 1.2  # overlapping classes: metrics below 1
    va = (centers[labels] + rng.normal(size=(N, 16))).astype(np.float32)
    vb = (va @ rng.normal(size=(16, 16)) + 3 * rng.normal(size=(N, 16))).astype(np.float32)
    table = pd.DataFrame({"id": [f"item{i:04d}" for i in range(N)], "label": labels,
                          "caption": [f"picture {i} of a {['cat', 'dog', 'fox', 'owl', 'elk'][c]}"
                                      for i, c in enumerate(labels)], "score": rng.random(N),
                          "count": rng.integers(0, 40, N)})  # an integer quantity, like the digits' ink
    spacelens.add(va, table, dataset_name="items", experiment_name="runA", space_name="A", home=home)
    spacelens.add(vb, dataset_name="items", experiment_name="runB", space_name="B", home=home)
    spacelens.add(vb + rng.normal(size=vb.shape).astype(np.float32), dataset_name="items", experiment_name="runE",
                  space_name="E", home=home)
    subset = np.sort(rng.choice(N, 250, replace=False))
    spacelens.add(va[subset] + 0.5, dataset_name="items", experiment_name="runS", space_name="S",
                  ids=table["id"].to_numpy()[subset], home=home)
    for s in ("A", "B", "S"):
        api.project(s, method="pca", home=home)
    api.project("B", method="pca", align_to="A", home=home)
    yield {"home": home, "table": table, "subset": subset, "cmp": api.compare("A", "B", k=K, home=home),
           "eval": api.evaluate("A", label_field="label", home=home)}
    mp.undo()


@pytest.fixture(scope="module")
def server(world):
    with serving(world["home"]) as url:
        yield url


@pytest.fixture
def page(browser, request):  # noqa: F811
    with open_page(browser, 1400, 1000, accept_downloads=True) as pg:
        yield pg
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))


def load(page, url, query=f"?dataset=items&a=A&b=B&method=pca&color=label&k={K}"):
    page.goto(url + query)
    wait_ready(page, 1)


def shared_counts(jaccard, k: int) -> np.ndarray:
    """Each item's shared-neighbour count s, found by trying every s against J = s / (2k - s)."""
    levels = np.array([s / (2 * k - s) for s in range(k + 1)])
    j = np.asarray(jaccard, dtype=np.float64)
    s = np.abs(j[:, None] - levels[None, :]).argmin(axis=1)
    assert np.abs(j - levels[s]).max() < 1e-6
    return s


def inked(page, selector: str) -> tuple[int, int]:
    """(pixels that are not the white background, distinct colours among them) in an element's screenshot."""
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(page.locator(selector).screenshot())).convert("RGB")).astype(int)
    ink = (255 - img).max(axis=2) > 40
    colours = {tuple(c // 32) for c in img[ink]}
    return int(ink.sum()), len(colours)


# -- tests ---------------------------------------------------------------------------------------
def test_choose_two_spaces_and_both_maps_draw(page, server, world):
    page.goto(server + "?dataset=items&a=A&b=A&method=pca&color=label")
    wait_ready(page, 1)
    page.select_option("#space-b", "B")  # choosing in the pickers, as a user does
    wait_ready(page, 2)
    assert page.locator("#map-a .map-title").inner_text() == "A: A"
    assert page.locator("#map-b .map-title").inner_text() == "B: B"
    for side in ("a", "b"):
        n, colours = inked(page, f"#map-{side} canvas")
        assert n > 500, f"map {side} drew only {n} non-background pixels"
        assert colours >= 4, f"map {side} shows {colours} colours; the 5 labels should show"
        assert page.locator(f"#map-{side}").get_attribute("data-points") == str(N)
    # the legend lists the label values with their counts
    legend = page.locator("#legend").inner_text()
    for v, c in world["table"]["label"].value_counts().items():
        assert f"{v} {c}" in legend
    # faithfulness of each map and the stored evaluation are on the page
    faith = api.project("A", method="pca", home=world["home"]).faithfulness
    assert f"trustworthiness {faith['trustworthiness']:.3f}" in page.locator("#map-a .faith").inner_text()
    metrics = page.locator("#evaluation table[data-space='A']").inner_text()
    from spacelens import catalogue

    for m in ("precision_at_1", "mean_average_precision_at_r", "NMI"):   # labelled as the catalogue says
        assert f"{catalogue.short(m)}\t{world['eval'][m]:.3f}" in metrics
    # point data came as binary frames: < 12 bytes a point a map (plus fixed-size JSON headers)
    traffic = js(page, "window.__sl.traffic")
    assert traffic["frames"] == 4  # two maps, the colours, the comparison
    assert traffic["payload"] / (2 * N) < 12 and traffic["bytes"] - traffic["payload"] < 20_000


def test_hover_in_one_map_highlights_the_item_in_the_other(page, server, world):
    load(page, server)
    for point in (5, 123, 400):
        *_, row = hover_point(page, "A", point)
        want_b = js(page, f"window.__sl.maps.B.pos[{row}]")
        page.wait_for_function(f"window.__sl.maps.B.plot.get('hoveredPoint') === {want_b}", timeout=20_000)
        page.wait_for_function(f"document.querySelector('#tooltip').dataset.id === '{world['table']['id'][row]}'",
                               timeout=20_000)
        tip = page.locator("#tooltip").inner_text()
        assert world["table"]["caption"][row] in tip
        page.mouse.move(5, 5)
        page.wait_for_function("document.querySelector('#tooltip').hidden", timeout=20_000)
    *_, row = hover_point(page, "B", 77)  # and the other way round
    page.wait_for_function(f"window.__sl.maps.A.plot.get('hoveredPoint') === window.__sl.maps.A.pos[{row}]",
                           timeout=20_000)


def test_lasso_in_one_map_selects_the_same_items_in_the_other(page, server):
    load(page, server)
    box = page.locator("#map-a canvas").bounding_box()
    cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, min(box["width"], box["height"]) / 3
    page.keyboard.down("Shift")
    page.mouse.move(cx - r, cy - r)
    page.mouse.down()
    for x, y in ((cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r), (cx - r, cy - r + 1)):
        page.mouse.move(x, y, steps=12)
    page.mouse.up()
    page.keyboard.up("Shift")
    page.wait_for_function("window.__sl.state.selection.length > 1", timeout=20_000)
    rows_a, rows_b = selected_rows(page, "A"), selected_rows(page, "B")
    assert len(rows_a) > 1 and rows_a == rows_b
    assert set(js(page, "Array.from(window.__sl.state.selection)")) == rows_a
    # every selected point lies inside the square that was drawn
    for p in js(page, "window.__sl.maps.A.plot.get('selectedPoints')")[:50]:
        x, y = screen_point(page, "A", p)
        assert cx - r - 3 <= x <= cx + r + 3 and cy - r - 3 <= y <= cy + r + 3


def test_histogram_bar_selects_its_items_in_both_maps_and_export_writes_them(page, server, world):
    load(page, server)
    cmp = world["cmp"]
    shared = shared_counts(cmp.jaccard, K)  # one bar per value: s of K neighbours shared
    counts = np.bincount(shared, minlength=K + 1)
    bin_ = int(np.argmax(counts))
    page.locator(f"#histogram rect.hit[data-bin='{bin_}']").click()
    page.wait_for_function(f"window.__sl.state.selection.length === {counts[bin_]}", timeout=20_000)
    want = set(cmp.rows[shared == bin_].tolist())
    assert f"{bin_} of {K} neighbours shared" in page.locator("#selection-info").inner_text()
    assert selected_rows(page, "A") == want and selected_rows(page, "B") == want
    mean = float(page.locator("#hist-summary").get_attribute("data-mean"))
    assert mean == pytest.approx(cmp.mean, abs=1e-6)
    with page.expect_download() as dl:
        page.click("#export")
    path = dl.value.path()
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(path, ARTIFACTS / "export.csv")
    got = pd.read_csv(path)
    t = world["table"]
    assert got["id"].tolist() == t["id"][sorted(want)].tolist()
    assert got["caption"].tolist() == t["caption"][sorted(want)].tolist()
    assert got["row"].tolist() == sorted(want)


def test_knn_query_fills_both_tables_with_the_api_neighbours(page, server, world):
    load(page, server)
    page.fill("#search", "item0042")
    page.locator("#search-results li[data-row='42']").click()
    page.wait_for_function("document.querySelectorAll('#table-b tbody tr').length > 0", timeout=20_000)
    ref = api.query("A", "item0042", k=K, vs="B", home=world["home"])
    ids_a = page.locator("#table-a tbody tr").evaluate_all("rs => rs.map(r => r.dataset.id)")
    ids_b = page.locator("#table-b tbody tr").evaluate_all("rs => rs.map(r => r.dataset.id)")
    assert ids_a == [n["id"] for n in ref["spaces"]["A"]]
    assert ids_b == [n["id"] for n in ref["spaces"]["B"]]
    shared = set(ids_a) & set(ids_b)
    marked = page.locator("#table-a tbody tr.shared").evaluate_all("rs => rs.map(r => r.dataset.id)")
    assert set(marked) == shared
    # the query and its neighbours are highlighted in each map
    assert selected_rows(page, "A") == {42, *(n["row"] for n in ref["spaces"]["A"])}
    assert selected_rows(page, "B") == {42, *(n["row"] for n in ref["spaces"]["B"])}
    # searching by text finds captions
    page.fill("#search", "of a fox")
    page.wait_for_function("[...document.querySelectorAll('#search-results li[data-row]')]"
                           ".some(l => l.textContent.includes('fox'))", timeout=20_000)
    hits = page.locator("#search-results li[data-row]").evaluate_all("ls => ls.map(l => Number(l.dataset.row))")
    assert all("fox" in world["table"]["caption"][r] for r in hits)


def test_clicking_a_point_queries_it(page, server, world):
    load(page, server)
    x, y, row = hover_point(page, "B", 250)
    page.mouse.click(x, y)
    page.wait_for_function("document.querySelectorAll('#table-a tbody tr').length > 0", timeout=20_000)
    item = world["table"]["id"][row]
    assert item in page.locator("#query-info").inner_text()
    ref = api.query("A", item, k=K, vs="B", home=world["home"])
    assert page.locator("#table-a tbody tr").evaluate_all("rs => rs.map(r => r.dataset.id)") == \
        [n["id"] for n in ref["spaces"]["A"]]


def test_missing_map_is_computed_from_the_page(page, server, world):
    page.goto(server + f"?dataset=items&a=A&b=E&method=pca&color=coincidence&k={K}")
    page.wait_for_function("document.body.dataset.ready", timeout=120_000)
    overlay = page.locator("#map-b .overlay")
    assert "No PCA map of space 'E'" in overlay.inner_text()
    assert "not been compared" in page.locator("#histogram").inner_text()
    page.click("#compute-missing")  # the map and the comparison, as background jobs
    # both jobs done and applied: map B drawn, the histogram shown, the maps coloured by agreement
    # (the legend follows the comparison's arrival: wait for it rather than read it at once)
    page.wait_for_function("document.querySelector('#map-b').dataset.drawn === '1' && "
                           "document.querySelector('#hist-summary') !== null && "
                           "document.querySelector('#legend').dataset.by === 'coincidence'",
                           timeout=180_000, polling=200)
    n, _ = inked(page, "#map-b canvas")
    assert n > 500
    from spacelens.compare import load_comparison
    from spacelens.registry import Registry

    stored = load_comparison(Registry(world["home"]), "A", "E", k=K)
    assert float(page.locator("#hist-summary").get_attribute("data-mean")) == pytest.approx(stored.mean, abs=1e-6)
    assert page.locator("#legend").get_attribute("data-by") == "coincidence"


def test_registry_tab_lists_everything_and_opens_a_comparison(page, server, world):
    load(page, server)
    page.click("button.tab[data-tab='registry']")
    wait_registry(page, 60)
    page.click("#reg-raw > summary")  # the raw records are collapsed under the experiments view
    page.wait_for_selector("#reg-comparisons tr.link")
    spaces = page.locator("#reg-spaces tbody tr td:first-child").all_inner_texts()
    assert {"A", "B", "E"} <= set(spaces)
    assert "items" in page.locator("#reg-datasets").inner_text()
    ev = page.locator("#reg-evaluations").inner_text()
    assert f"{world['eval']['mean_average_precision_at_r']:.3f}" in ev
    row = page.locator("#reg-comparisons tr.link[data-a='A'][data-b='B']")
    assert f"{world['cmp'].mean:.3f}" in row.inner_text()
    row.click()
    page.wait_for_function("document.querySelector('#legend').dataset.by === 'coincidence'", timeout=120_000)
    wait_ready(page)
    assert not page.locator("#analyzer").is_hidden()
    n, colours = inked(page, "#map-a canvas")
    assert n > 500 and colours >= 3  # agreement from dark violet to green


def test_a_space_on_a_subset_of_the_items_links_by_item(page, server, world):
    """Space S holds 250 of the 600 items: its points map to the right dataset rows both ways."""
    load(page, server, "?dataset=items&a=A&b=S&method=pca&color=label")
    assert page.locator("#map-b").get_attribute("data-points") == "250"
    rows = js(page, "Array.from(window.__sl.maps.B.rows)")   # in the maps' shuffled draw order
    assert sorted(rows) == world["subset"].tolist()
    *_, row = hover_point(page, "B", 100)
    assert row in set(world["subset"].tolist())
    page.wait_for_function(f"window.__sl.maps.A.plot.get('hoveredPoint') === window.__sl.maps.A.pos[{row}]", timeout=20_000)
    page.wait_for_function(f"document.querySelector('#tooltip').dataset.id === '{world['table']['id'][row]}'",
                           timeout=20_000)
    # colours follow the items: each drawn point of S has its item's label code
    codes = js(page, "(() => { const m = window.__sl.maps.B, c = window.__sl.state.colors.codes; "
                     "return Array.from(m.rows, r => c[r]); })()")
    label_codes = {e: i for i, e in enumerate(sorted(world["table"]["label"].unique()))}
    assert codes == [label_codes[v] for v in world["table"]["label"].to_numpy()[rows]]


# -- what a user sees at 1440x900 and 1280x720 ---------------------------------------------------
VIEWPORTS = {"1440x900": (1440, 900), "1280x720": (1280, 720)}


@pytest.fixture
def sized(browser):  # noqa: F811
    """A page of a given window size: sized(1440, 900). Page errors fail the test."""
    with contextlib.ExitStack() as pages:
        yield lambda width=1440, height=900: pages.enter_context(open_page(browser, width, height,
                                                                           accept_downloads=True))


def in_viewport(page, selector: str) -> dict:
    box = page.locator(selector).bounding_box()
    vp = page.viewport_size
    assert box is not None, f"{selector} is not shown"
    assert box["width"] > 0 and box["height"] > 0, f"{selector} is empty: {box}"
    inside = box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= vp["width"] + 0.5 \
        and box["y"] + box["height"] <= vp["height"] + 0.5
    assert inside, f"{selector} at {box} is not inside the {vp['width']}x{vp['height']} window"
    return box


def click_point(page, side: str, point: int) -> int:
    """Click a map point as a user does; the dataset row that was hovered under the mouse."""
    x, y, row = hover_point(page, side, point)
    page.mouse.click(x, y)
    page.wait_for_function("document.querySelectorAll('#table-b tbody tr').length > 0", timeout=20_000)
    return row


def contrast(rgb_a, rgb_b) -> float:
    """WCAG contrast ratio of two sRGB colours (1: the same lightness, 21: black on white)."""
    def lum(rgb):
        c = np.asarray(rgb, dtype=float) / 255
        c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    hi, lo = sorted((lum(rgb_a), lum(rgb_b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def test_after_clicking_a_point_both_neighbour_tables_are_in_the_window(sized, server, world):
    for name, (w, h) in VIEWPORTS.items():
        page = sized(w, h)
        load(page, server)
        shot(page, "analyzer")
        # the maps use their panes: no blank band under the canvases
        for side in ("a", "b"):
            pane = page.locator(f"#map-{side}").bounding_box()
            canvas = page.locator(f"#map-{side} canvas").bounding_box()
            assert pane["y"] + pane["height"] - (canvas["y"] + canvas["height"]) < 4
        maps = [page.locator(f"#map-{s} canvas").bounding_box() for s in "ab"]
        row = click_point(page, "A", 200)
        ref = api.query("A", world["table"]["id"][row], k=K, vs="B", home=world["home"])
        assert page.locator("#table-a tbody tr").count() == len(ref["spaces"]["A"])
        shot(page, "query")
        # the maps keep their size and stay in view (issue #24: the tables used to shrink them) ...
        for side, before in zip("ab", maps):
            box = in_viewport(page, f"#map-{side} canvas")
            assert abs(box["height"] - before["height"]) <= 1
        # ... and the tables are one click away (the head's "tables ↓"), whole, both at once
        page.click("#query-info .to-tables")
        for sel in ("#table-a", "#table-b"):
            page.wait_for_function(f"document.querySelector('{sel}').getBoundingClientRect().bottom <= innerHeight + 0.5",
                                   timeout=10_000)
            in_viewport(page, sel)
        shot(page, "query-tables")
        assert page.locator("#table-a-title").inner_text().startswith("A")
        assert world["table"]["id"][row] in page.locator("#query-info").inner_text()


def test_zooming_one_map_moves_the_other(sized, server):
    page = sized(1440, 900)
    load(page, server)
    row = 123
    pa, pb = js(page, f"window.__sl.maps.A.pos[{row}]"), js(page, f"window.__sl.maps.B.pos[{row}]")
    before = screen_point(page, "B", pb)
    view_b = js(page, "Array.from(window.__sl.maps.B.plot.get('cameraView'))")
    box = page.locator("#map-a canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.4)
    page.mouse.wheel(0, -600)  # zoom in on map A
    page.wait_for_function(f"(() => {{ const v = Array.from(window.__sl.maps.B.plot.get('cameraView')); "
                           f"const w = {view_b}; return v.some((x, i) => Math.abs(x - w[i]) > 1e-6); }})()",
                           timeout=20_000)
    page.wait_for_function("(() => { const a = window.__sl.maps.A.plot.get('cameraView'), "
                           "b = window.__sl.maps.B.plot.get('cameraView'); "
                           "return Array.from(a).every((x, i) => Math.abs(x - b[i]) < 1e-9); })()", timeout=20_000)
    after = screen_point(page, "B", pb)
    assert abs(after[0] - before[0]) + abs(after[1] - before[1]) > 5, "map B did not move"
    scale_a, scale_b = (js(page, f"window.__sl.maps.{s}.plot.get('camera').scaling[0]") for s in "AB")
    assert scale_a > 1.2 and scale_b == pytest.approx(scale_a)
    # and back: dragging map B pans map A the same way
    xa0 = screen_point(page, "A", pa)
    bb = page.locator("#map-b canvas").bounding_box()
    page.mouse.move(bb["x"] + bb["width"] / 2, bb["y"] + bb["height"] / 2)
    page.mouse.down()
    page.mouse.move(bb["x"] + bb["width"] / 2 + 80, bb["y"] + bb["height"] / 2 + 40, steps=8)
    page.mouse.up()
    page.wait_for_function(f"(() => {{ const p = window.__sl.maps.A.plot.getScreenPosition({pa}); "
                           f"return Math.abs(p[0] - ({xa0[0]} - {box['x']})) > 40; }})()", timeout=20_000)
    xa1 = screen_point(page, "A", pa)
    assert xa1[0] - xa0[0] == pytest.approx(80, abs=12) and xa1[1] - xa0[1] == pytest.approx(40, abs=12)
    shot(page, "zoomed")


def test_hover_marks_the_item_in_the_other_map_with_a_ring(sized, server):
    page = sized(1440, 900)
    load(page, server)
    x, y, row = hover_point(page, "A", 77)
    page.wait_for_function(f"document.querySelector('#map-b').dataset.marked === '{row}'", timeout=20_000)
    ring = page.locator("#map-b .marker").bounding_box()
    bx, by = screen_point(page, "B", js(page, f"window.__sl.maps.B.pos[{row}]"))
    assert abs(ring["x"] + ring["width"] / 2 - bx) < 2 and abs(ring["y"] + ring["height"] / 2 - by) < 2
    assert ring["width"] >= 20  # a ring to find, not a hairline
    shot(page, "hover")
    page.mouse.move(5, 5)
    page.wait_for_function("document.querySelector('#map-b .marker').hidden", timeout=20_000)


def test_coincidence_colours_span_a_visible_range(sized, server, world):
    page = sized(1440, 900)
    load(page, server, f"?dataset=items&a=A&b=B&method=pca&color=coincidence&k={K}")
    shot(page, "coincidence")
    cmp = world["cmp"]
    j = cmp.jaccard.astype(np.float64)
    q1, q3 = np.quantile(j, [0.25, 0.75])
    assert q3 > q1  # the fixture's spaces disagree enough to spread the values
    palette = js(page, "(window.__sl.state.scale || window.__sl.state.colors.header).palette")
    codes = np.array(js(page, "Array.from(window.__sl.state.colors.codes)"))
    drawn = {tuple(rgb(palette[c])) for c in codes[cmp.rows]}
    white = (255, 255, 255)
    worst = min(contrast(c, white) for c in drawn)
    assert worst >= 1.5, f"a drawn colour is too close to the white background (contrast {worst:.2f})"
    low = np.mean([rgb(palette[c]) for c in codes[cmp.rows[j <= q1]]], axis=0)
    high = np.mean([rgb(palette[c]) for c in codes[cmp.rows[j >= q3]]], axis=0)
    assert np.linalg.norm(low - high) > 80, f"low and high quartiles look alike: {low} vs {high}"
    # the map shows them: many distinct colours on the canvas
    n, colours = inked(page, "#map-a canvas")
    assert n > 500 and colours >= 6
    # a colour bar says what the colours mean, with values at its ends
    legend = page.locator("#legend")
    text = legend.inner_text()
    assert f"kNN Jaccard at k={K}" in text
    lo, hi = float(legend.get_attribute("data-lo")), float(legend.get_attribute("data-hi"))
    assert j.min() - 0.01 <= lo < hi <= j.max() + 0.01
    assert f"{lo:.2f}" in text and f"{hi:.2f}" in text
    # the histogram bars wear the same colours: low bins dark, high bins light
    fills = page.locator("#histogram rect.bar").evaluate_all("rs => rs.map(r => r.getAttribute('fill'))")
    assert len(set(fills)) >= 3


def test_first_load_opens_on_the_pair_compared_last(sized, tmp_path, browser):  # noqa: F811
    """Like the demo: earlier comparisons (the evolution), then maps and the story's comparison last."""
    home = tmp_path / "story"
    rng = np.random.default_rng(5)
    n = 300
    labels = rng.integers(0, 4, n)
    base = rng.normal(size=(4, 12))[labels]
    table = pd.DataFrame({"id": [f"d{i:03d}" for i in range(n)], "label": labels})
    spacelens.add(base + rng.normal(size=(n, 12)), table, dataset_name="digits", experiment_name="pixels",
                  space_name="digits.pixels", home=home)
    for name in ("triplet.epoch_1", "triplet.epoch_2", "arcface.epoch_2"):
        spacelens.add((base + 0.7 * rng.normal(size=(n, 12))).astype(np.float32), dataset_name="digits",
                      experiment_name=name.split(".")[0], space_name=name, home=home)
    api.compare("triplet.epoch_1", "triplet.epoch_2", k=5, home=home)
    for s in ("triplet.epoch_2", "arcface.epoch_2"):
        api.project(s, method="pca", home=home)
    story = api.compare("triplet.epoch_2", "arcface.epoch_2", k=7, home=home)
    with serving(home) as url:
        page = sized(1440, 900)
        page.goto(url)  # nothing in the address: what `spacelens ui` opens on
        wait_ready(page, 1)
        # a small pair with PCA only: UMAP is computed in the background and shown if more faithful
        wait_settled(page)
        assert page.locator("#map-a .map-title").inner_text() == "A: triplet.epoch_2"
        assert page.locator("#map-b .map-title").inner_text() == "B: arcface.epoch_2"
        for side in ("a", "b"):
            assert page.locator(f"#map-{side}").get_attribute("data-points") == str(n)
            assert page.locator(f"#map-{side} .overlay").is_hidden()
            ink, _ = inked(page, f"#map-{side} canvas")
            assert ink > 300
        assert float(page.locator("#hist-summary").get_attribute("data-mean")) == pytest.approx(story.mean, abs=1e-6)
        assert page.locator("#k").input_value() == "7"
        shot(page, "first-load")


def test_legends_count_the_drawn_items(sized, server, world):
    page = sized(1440, 900)
    load(page, server, "?dataset=items&a=S&b=S&method=pca&color=label")
    want = world["table"]["label"].to_numpy()[world["subset"]]
    legend = page.locator("#legend").inner_text()
    for v, c in zip(*np.unique(want, return_counts=True)):
        assert f"{v} {c}" in legend
    assert f"{len(want)} drawn items" in legend
    # a comparison of A and the subset S: items drawn in A only have no value, and are said so
    api.compare("A", "S", k=K, home=world["home"])
    load(page, server, f"?dataset=items&a=A&b=S&method=pca&color=coincidence&k={K}")
    text = page.locator("#legend").inner_text()
    assert f"{N - len(want)} drawn in one map only" in text
    # an integer quantity is a gradient, not 40 categories
    assert "gradient" in page.locator("#color option[value='count']").inner_text()
    page.select_option("#color", "count")
    page.wait_for_function("document.querySelector('#legend').dataset.by === 'count'", timeout=20_000)
    assert page.locator("#legend .ramp").count() == 1 and page.locator("#legend .swatches li").count() == 0
    shot(page, "gradient")


def test_histogram_bar_leaves_no_stale_query(sized, server, world):
    page = sized(1440, 900)
    load(page, server)
    page.fill("#search", "item0042")
    page.locator("#search-results li[data-row='42']").click()
    page.wait_for_function("document.querySelectorAll('#table-b tbody tr').length > 0", timeout=20_000)
    bin_ = int(np.argmax(np.bincount(shared_counts(world["cmp"].jaccard, K), minlength=K + 1)))
    page.locator(f"#histogram rect.hit[data-bin='{bin_}']").click()
    page.wait_for_function("document.querySelectorAll('#table-a tbody tr').length === 0", timeout=20_000)
    assert page.locator("#search").input_value() == ""
    assert page.locator("#query-tables").is_hidden()
    for sel in ("#table-a-title", "#table-b-title"):
        assert page.locator(sel).inner_text() == ""
    assert "neighbours" in page.locator("#query-info").inner_text()  # a hint, not the old query
    shot(page, "histogram-bar")


def test_registry_tab_reads_without_overflow(sized, server, world):
    for name, (w, h) in VIEWPORTS.items():
        page = sized(w, h)
        load(page, server)
        assert "bytes" not in page.locator("#status").inner_text()
        page.click("button.tab[data-tab='registry']")
        wait_registry(page, 60)
        page.click("#reg-raw > summary")  # the raw records are collapsed under the experiments view
        page.wait_for_selector("#reg-maps tbody tr")
        assert "bytes" not in page.locator("#status").inner_text()
        assert js(page, "document.documentElement.scrollWidth") <= w
        aligned = page.locator("#reg-maps tr[data-aligned='1']")
        assert aligned.count() == 1 and "aligned to A" in aligned.inner_text()
        assert "aligned" not in page.locator("#reg-maps tr[data-aligned='0']").first.inner_text()
        shot(page, "registry")


def test_running_job_shows_percent_time_left_and_cancels(sized, server):
    """The job contract the page expects: percent, eta_s, cancellable, POST /api/jobs/{id}/cancel."""
    page = sized(1440, 900)
    calls = []
    job = {"id": "j1", "kind": "projection", "params": {}, "status": "running", "stage": "UMAP layout",
           "done": 40, "total": 100, "fraction": 0.4, "percent": 40.0, "eta_s": 75, "cancellable": True,
           "error": None, "elapsed_s": 12.0}

    def jobs_api(route):
        req = route.request
        calls.append((req.method, req.url))
        if req.url.endswith("/cancel"):
            job.update(status="cancelled", cancellable=False)
        route.fulfill(json=job, status=202 if req.method == "POST" else 200)

    page.route("**/api/jobs**", jobs_api)
    page.goto(server + f"?dataset=items&a=A&b=E&method=umap&color=label&k={K}")  # no UMAP maps stored
    page.wait_for_function("document.body.dataset.ready", timeout=120_000)
    page.click("#map-b .overlay button.compute")
    stage = page.locator("#map-b .progress .stage")
    page.wait_for_function("document.querySelector('#map-b .progress .stage').textContent.includes('40%')",
                           timeout=20_000)
    assert "about 1 min 15 s left" in stage.inner_text()
    cancel = page.locator("#map-b .progress .cancel")
    assert cancel.is_visible()
    shot(page, "job-running")
    cancel.click()
    page.wait_for_function("!document.querySelector('#map-b .overlay button.compute').disabled", timeout=20_000)
    assert any(m == "POST" and u.endswith("/api/jobs/j1/cancel") for m, u in calls)
    # a server whose jobs do not say they can be cancelled: no button
    job.update(status="running", cancellable=False)
    job.pop("cancellable")
    page.click("#map-b .overlay button.compute")
    page.wait_for_function("document.querySelector('#map-b .progress').dataset.status === 'running'", timeout=20_000)
    assert cancel.is_hidden()
    job.update(status="cancelled")  # let the page's poll end
