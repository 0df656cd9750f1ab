"""End-to-end tests of the analyzer page in a real headless Chromium (Debian's /usr/bin/chromium,
driven by Playwright; never a downloaded browser).

Each test checks what the page shows against the API or the library: both canvases drew
points (pixels read from screenshots), hovering links the maps, lasso and histogram
selections reach both maps, a kNN query fills both tables with the API's ids, export
writes the selected rows, missing maps are computed from the page. Screenshots are kept in
test-artifacts/. Skipped (with the reason) when Chromium, Playwright or the built page is
missing.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

CHROMIUM = "/usr/bin/chromium"
# --enable-unsafe-swiftshader keeps software WebGL available to newer Chromiums run with --disable-gpu
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--enable-unsafe-swiftshader"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
N = 600
K = 8

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
playwright_sync = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytest.importorskip("uvicorn")
from spacelens.server import frontend_built  # noqa: E402

if not frontend_built():
    pytest.skip("the front end is not built (run: make web)", allow_module_level=True)

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
                                      for i, c in enumerate(labels)], "score": rng.random(N)})
    spacelens.add(va, table, dataset_name="items", experiment_name="runA", space_name="A", home=home)
    spacelens.add(vb, dataset_name="items", experiment_name="runB", space_name="B", home=home)
    spacelens.add(vb + rng.normal(size=vb.shape).astype(np.float32), dataset_name="items", experiment_name="runE",
                  space_name="E", home=home)
    subset = np.sort(rng.choice(N, 250, replace=False))
    spacelens.add(va[subset] + 0.5, dataset_name="items", experiment_name="runS", space_name="S",
                  ids=table["id"].to_numpy()[subset], home=home)
    for s in ("A", "B", "S"):
        api.project(s, method="pca", home=home)
    yield {"home": home, "table": table, "subset": subset, "cmp": api.compare("A", "B", k=K, home=home),
           "eval": api.evaluate("A", label_field="label", home=home)}
    mp.undo()


@pytest.fixture(scope="module")
def server(world):
    import uvicorn

    from spacelens.server import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(world["home"]), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    ctx.close()
    assert not errors, errors


def load(page, url, query=f"?dataset=items&a=A&b=B&method=pca&color=label&k={K}"):
    page.goto(url + query)
    wait_ready(page, 1)


def wait_ready(page, generation: int | None = None):
    cond = "document.body.dataset.ready" if generation is None else \
        f"Number(document.body.dataset.ready || 0) >= {generation}"
    page.wait_for_function(cond, timeout=120_000, polling=100)
    page.wait_for_function("['A','B'].every(s => window.__sl.maps[s].root.dataset.drawn === '1')",
                           timeout=120_000, polling=100)


def inked(page, selector: str) -> tuple[int, int]:
    """(pixels that are not the white background, distinct colours among them) in an element's screenshot."""
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(page.locator(selector).screenshot())).convert("RGB")).astype(int)
    ink = (255 - img).max(axis=2) > 40
    colours = {tuple(c // 32) for c in img[ink]}
    return int(ink.sum()), len(colours)


def js(page, expr: str):
    return page.evaluate(expr)


def selected_rows(page, side: str) -> set[int]:
    return set(js(page, f"(() => {{ const m = window.__sl.maps.{side}; "
                        f"return m.plot.get('selectedPoints').map(p => m.rows[p]); }})()"))


def screen_point(page, side: str, point: int) -> tuple[float, float]:
    x, y = js(page, f"window.__sl.maps.{side}.plot.getScreenPosition({point})")
    box = page.locator(f"#map-{side.lower()} canvas").bounding_box()
    return box["x"] + x, box["y"] + y


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
    for m in ("precision_at_1", "mean_average_precision_at_r", "NMI"):
        assert f"{m}\t{world['eval'][m]:.3f}" in metrics
    # point data came as binary frames: < 12 bytes a point a map (plus fixed-size JSON headers)
    traffic = js(page, "window.__sl.traffic")
    assert traffic["frames"] == 4  # two maps, the colours, the comparison
    assert traffic["payload"] / (2 * N) < 12 and traffic["bytes"] - traffic["payload"] < 20_000


def test_hover_in_one_map_highlights_the_item_in_the_other(page, server, world):
    load(page, server)
    for point in (5, 123, 400):
        page.mouse.move(*screen_point(page, "A", point))
        page.wait_for_function("window.__sl.maps.A.plot.get('hoveredPoint') !== undefined", timeout=20_000)
        hovered = js(page, "window.__sl.maps.A.plot.get('hoveredPoint')")
        row = js(page, f"window.__sl.maps.A.rows[{hovered}]")
        want_b = js(page, f"window.__sl.maps.B.pos[{row}]")
        page.wait_for_function(f"window.__sl.maps.B.plot.get('hoveredPoint') === {want_b}", timeout=20_000)
        page.wait_for_function(f"document.querySelector('#tooltip').dataset.id === '{world['table']['id'][row]}'",
                               timeout=20_000)
        tip = page.locator("#tooltip").inner_text()
        assert world["table"]["caption"][row] in tip
        page.mouse.move(5, 5)
        page.wait_for_function("document.querySelector('#tooltip').hidden", timeout=20_000)
    page.mouse.move(*screen_point(page, "B", 77))  # and the other way round
    page.wait_for_function("window.__sl.maps.B.plot.get('hoveredPoint') !== undefined", timeout=20_000)
    row = js(page, "window.__sl.maps.B.rows[window.__sl.maps.B.plot.get('hoveredPoint')]")
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
    counts = np.histogram(cmp.jaccard.astype(np.float64), bins=20, range=(0, 1))[0]
    bin_ = int(np.argmax(counts))
    page.locator(f"#histogram rect.hit[data-bin='{bin_}']").click()
    page.wait_for_function(f"window.__sl.state.selection.length === {counts[bin_]}", timeout=20_000)
    edges = np.linspace(0, 1, 21)
    want = set(cmp.rows[np.digitize(cmp.jaccard.astype(np.float64), edges[1:-1]) == bin_].tolist())
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
    x, y = screen_point(page, "B", 250)
    page.mouse.move(x, y)
    page.wait_for_function("window.__sl.maps.B.plot.get('hoveredPoint') !== undefined", timeout=20_000)
    row = js(page, "window.__sl.maps.B.rows[window.__sl.maps.B.plot.get('hoveredPoint')]")
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
    page.wait_for_function("document.querySelector('#map-b').dataset.drawn === '1' && "
                           "document.querySelector('#hist-summary') !== null", timeout=180_000, polling=200)
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
    assert n > 500 and colours >= 3  # agreement from blue to red


def test_a_space_on_a_subset_of_the_items_links_by_item(page, server, world):
    """Space S holds 250 of the 600 items: its points map to the right dataset rows both ways."""
    load(page, server, "?dataset=items&a=A&b=S&method=pca&color=label")
    assert page.locator("#map-b").get_attribute("data-points") == "250"
    rows = js(page, "Array.from(window.__sl.maps.B.rows)")
    assert rows == world["subset"].tolist()
    page.mouse.move(*screen_point(page, "B", 100))
    page.wait_for_function("window.__sl.maps.B.plot.get('hoveredPoint') !== undefined", timeout=20_000)
    row = js(page, "window.__sl.maps.B.rows[window.__sl.maps.B.plot.get('hoveredPoint')]")
    assert row in set(world["subset"].tolist())
    page.wait_for_function(f"window.__sl.maps.A.plot.get('hoveredPoint') === {row}", timeout=20_000)
    page.wait_for_function(f"document.querySelector('#tooltip').dataset.id === '{world['table']['id'][row]}'",
                           timeout=20_000)
    # colours follow the items: each drawn point of S has its item's label code
    codes = js(page, "(() => { const m = window.__sl.maps.B, c = window.__sl.state.colors.codes; "
                     "return Array.from(m.rows, r => c[r]); })()")
    label_codes = {e: i for i, e in enumerate(sorted(world["table"]["label"].unique()))}
    assert codes == [label_codes[v] for v in world["table"]["label"].to_numpy()[world["subset"]]]
