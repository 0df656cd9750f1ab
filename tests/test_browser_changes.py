"""The analyzer page shows what changed between the two spaces (headless Chromium, as
test_browser.py): a clicked item's neighbours kept / lost / gained, ringed in three colours in
both maps and marked in both neighbour tables (against the API), and the groups of items whose
neighbourhoods changed together, listed from /api/change-groups, selecting their items in both
maps when clicked. Screenshots at 1440x900 in test-artifacts/views/."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from _web import hover_point, js, require_page, selected_rows, serving, shot, wait_ready
from test_change_groups import K, planted

import spacelens
from spacelens import api

require_page()

COLORS = {"kept": (0x15, 0x80, 0x3d), "lost": (0xdc, 0x26, 0x26), "gained": (0x25, 0x63, 0xeb)}


@pytest.fixture(scope="module")
def planted_world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("changes")
    home = tmp / "home"
    a, b, table, s1, s2, _ = planted(0)
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spacelens.add(a, table, dataset_name="planted", experiment_name="e", space_name="pa", home=home)
        spacelens.add(b, dataset_name="planted", experiment_name="e", space_name="pb", home=home)
    for s in ("pa", "pb"):
        api.project(s, method="pca", home=home)
    api.compare("pa", "pb", k=K, home=home)
    yield {"home": home, "table": table, "s1": s1, "s2": s2}
    mp.undo()


@pytest.fixture(scope="module")
def planted_server(planted_world):
    with serving(planted_world["home"]) as url:
        yield url


def _load(page, url):
    page.goto(url + f"?dataset=planted&a=pa&b=pb&method=pca&color=label&k={K}")
    wait_ready(page, 1)


def _ink_of(page, selector, rgb, tol=40) -> int:
    """Pixels of an element's screenshot within ``tol`` of the colour ``rgb``."""
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(page.locator(selector).screenshot())).convert("RGB")).astype(int)
    return int((np.abs(img - np.array(rgb)).max(axis=2) <= tol).sum())


def test_clicked_item_shows_neighbours_kept_lost_gained_in_maps_and_tables(page1440, planted_server, planted_world):
    page = page1440
    _load(page, planted_server)
    before = {c: _ink_of(page, "#map-a .canvas-wrap", rgb) for c, rgb in COLORS.items()}
    # an item of the reshuffled blob: most of its neighbours change
    row = int(planted_world["s1"][5])
    point = js(page, f"window.__sl.maps.A.pos[{row}]")
    x, y, clicked = hover_point(page, "A", point)
    page.mouse.click(x, y)
    page.wait_for_function("document.querySelectorAll('#table-b tbody tr[data-change]').length > 0", timeout=20_000)
    page.wait_for_function("Number(document.querySelector('#map-a svg.changes-layer')?.dataset.count || 0) > 0",
                           timeout=20_000)
    ref = api.query("pa", planted_world["table"]["id"][clicked], k=K, vs="pb", home=planted_world["home"])
    assert ref["lost"] and ref["gained"]
    # tables: each row marked with what happened to it, as the API says
    want_a = {n["id"]: ("kept" if n["id"] in ref["kept"] else "lost") for n in ref["spaces"]["pa"]}
    want_b = {n["id"]: ("kept" if n["id"] in ref["kept"] else "gained") for n in ref["spaces"]["pb"]}
    got_a = dict(page.locator("#table-a tbody tr").evaluate_all("rs => rs.map(r => [r.dataset.id, r.dataset.change])"))
    got_b = dict(page.locator("#table-b tbody tr").evaluate_all("rs => rs.map(r => [r.dataset.id, r.dataset.change])"))
    assert got_a == want_a and got_b == want_b
    info = " ".join(page.locator("#query-info").inner_text().split())
    assert f"{len(ref['kept'])} kept" in info and f"{len(ref['lost'])} lost" in info
    assert f"{len(ref['gained'])} gained" in info
    # maps: one ring per neighbour of either list, coloured by what happened to it, in both maps
    rows_of = {n["id"]: n["row"] for s in ("pa", "pb") for n in ref["spaces"][s]}
    want = {(rows_of[i], c) for c in ("kept", "lost", "gained") for i in ref[c]}
    for side in ("a", "b"):
        rings = set(map(tuple, page.locator(f"#map-{side} svg.changes-layer circle").evaluate_all(
            "cs => cs.map(c => [Number(c.dataset.row), c.getAttribute('class')])")))
        assert rings == want, side
    # each ring sits on its point (the query panel opening resized the maps meanwhile)
    page.wait_for_timeout(500)
    off = js(page, """['A', 'B'].flatMap(s => { const m = window.__sl.maps[s];
        return [...m.root.querySelectorAll('svg.changes-layer circle')].map(c => {
          const [x, y] = m.plot.getScreenPosition(m.pos[Number(c.dataset.row)]);
          return Math.hypot(x - Number(c.getAttribute('cx')), y - Number(c.getAttribute('cy'))); }); })""")
    assert off and max(off) < 1.5, max(off)
    # and they are drawn: pixels of each colour appear in map A where there were none (or few)
    after = {c: _ink_of(page, "#map-a .canvas-wrap", rgb) for c, rgb in COLORS.items()}
    for c in ("lost", "gained") + (("kept",) if ref["kept"] else ()):
        assert after[c] > before[c] + 20, (c, before, after)
    shot(page, "query-changes")
    # zooming moves the rings with their points (zoom about a spot 40 px beside a ring: it stays in view)
    r0 = page.locator("#map-a svg.changes-layer circle").first
    row0, cx0, cy0 = int(r0.get_attribute("data-row")), float(r0.get_attribute("cx")), float(r0.get_attribute("cy"))
    box = page.locator("#map-a canvas").bounding_box()
    page.mouse.move(box["x"] + cx0 + 40, box["y"] + cy0)
    page.mouse.wheel(0, -300)
    ring = page.locator(f"#map-a svg.changes-layer circle[data-row='{row0}']")
    page.wait_for_function(f"(() => {{ const c = document.querySelector(\"#map-a svg.changes-layer circle[data-row='{row0}']\");"
                           f" return c && Math.abs(Number(c.getAttribute('cx')) - {cx0}) > 2; }})()", timeout=20_000)
    page.wait_for_timeout(500)   # let the zoom settle
    sx, sy = js(page, f"window.__sl.maps.A.plot.getScreenPosition(window.__sl.maps.A.pos[{row0}])")
    assert abs(float(ring.get_attribute("cx")) - sx) < 1.5 and abs(float(ring.get_attribute("cy")) - sy) < 1.5
    # clearing the query removes the rings
    page.click("#clear-selection")
    page.wait_for_function("document.querySelectorAll('#map-a svg.changes-layer circle').length === 0",
                           timeout=20_000)


def test_change_groups_are_listed_and_select_their_items_in_both_maps(page1440, planted_server, planted_world):
    page = page1440
    _load(page, planted_server)
    page.click("#find-groups")
    page.wait_for_selector("#groups li[data-rank]", timeout=60_000)
    ref = api.change_groups("pa", "pb", k=K, top=12, home=planted_world["home"])
    items = page.locator("#groups li[data-rank]")
    assert items.count() == len(ref["groups"]) >= 2
    first = " ".join(items.first.inner_text().split())
    assert "100 items" in first and "label=3" in first
    items.first.click()
    page.wait_for_function("Number(document.querySelector('#selection-info').dataset.count) > 0", timeout=20_000)
    want = set(ref["groups"][0]["rows"])
    assert want == set(planted_world["s1"].tolist())
    assert selected_rows(page, "A") == want and selected_rows(page, "B") == want
    assert "changed together #1" in page.locator("#selection-info").inner_text()
    shot(page, "change-groups")
    # a second group replaces the selection
    items.nth(1).click()
    page.wait_for_function(f"window.__sl.maps.A.plot.get('selectedPoints').length === {ref['groups'][1]['n']}",
                           timeout=20_000)
    assert selected_rows(page, "B") == set(ref["groups"][1]["rows"])
    # another k empties the list (it was found at the old k)
    page.fill("#k", "5")
    page.dispatch_event("#k", "change")
    wait_ready(page, 2)
    assert page.locator("#groups li[data-rank]").count() == 0
