"""Issue #26 item 5 on the page (headless Chromium at 1440x900 and 1280x720): item previews.

A dataset whose image column names PNG files in its image folder (``spacelens add --images``):
hovering a point shows that item's image (loaded, and the pixels are that item's file); the
kNN query's two tables show one thumbnail per neighbour, of the right rows; a long text column
shows in the tooltip as an excerpt cut at a word with an ellipsis, the full text in its title;
hostile text renders literally. Then the demo's digits (examples/demo.py's dataset): a tooltip
showing a digit and the tables with thumbnails, as screenshots in test-artifacts/views/.
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path

import pytest
from _previews import HOSTILE, grey_of, image_dataset
from _web import hover_point, js, open_page, require_page, serving, shot, wait_ready

import spacelens
from spacelens import api

require_page()

SIZES = [(1440, 900), (1280, 720)]
K = 6
PIXEL = """(sel) => Array.from(document.querySelectorAll(sel)).map((img) => {
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0);
  return {w: img.naturalWidth, grey: g.getImageData(Math.floor(c.width / 2), Math.floor(c.height / 2), 1, 1).data[0],
          alt: img.alt, src: img.getAttribute('src'), row: img.closest('tr') ? Number(img.closest('tr').dataset.row) : null,
          id: img.closest('tr') ? img.closest('tr').dataset.id : null, shown: img.getBoundingClientRect().width};
})"""
LOADED = "(sel) => { const im = Array.from(document.querySelectorAll(sel)); " \
         "return im.length > 0 && im.every((i) => i.complete && i.naturalWidth > 0); }"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("previews")
    home = root / "home"
    table, va, vb = image_dataset(root / "media", n=60)
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spacelens.add(va, table, dataset_name="pics", experiment_name="e", space_name="pa", images=root / "media",
                      home=home)
        spacelens.add(vb, dataset_name="pics", experiment_name="e", space_name="pb", home=home)
        for s in ("pa", "pb"):
            api.project(s, method="pca", home=home)
        api.compare("pa", "pb", k=K, home=home)
    yield {"home": home, "table": table}
    mp.undo()


@pytest.fixture(scope="module")
def url(world):
    with serving(world["home"]) as u:
        yield u


def _load(page, url, dataset="pics", a="pa", b="pb", k=K):
    page.goto(url + f"?dataset={dataset}&a={a}&b={b}&method=pca&color=label&k={k}")
    wait_ready(page, 1)


def _hover(page, row: int, side: str = "A") -> None:
    """Hover dataset row ``row``'s point; the tooltip must be that item's."""
    *_, hovered = hover_point(page, side, js(page, f"window.__sl.maps.{side}.pos[{row}]"))
    assert hovered == row, (hovered, row)   # the fixtures spread the points: none hides another
    page.wait_for_function(f"document.querySelector('#tooltip').dataset.row === '{row}' && "
                           "document.querySelector('#tooltip').dataset.id !== undefined", timeout=20_000)


def _cut_at_word(shown: str, full: str) -> None:
    """``shown`` is ``full``'s beginning, cut at a word, with an ellipsis."""
    flat = re.sub(r"\s+", " ", full).strip()
    assert shown.endswith("…") and len(shown) <= 202, shown
    body = shown[:-1]
    assert flat.startswith(body) and len(body) >= 60, (body, flat)
    rest = flat[len(body):]
    assert re.match(r"[\s,;:.\-–—]*\s", rest), rest[:20]   # the next word is not cut in two


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_tooltip_and_tables_show_each_items_image_and_long_text_readably(browser, url, world, size):
    t = world["table"]
    with open_page(browser, *size) as page:
        _load(page, url)
        for row in (11, 3):   # 3: hostile text in its long note
            _hover(page, row)
            page.wait_for_function(LOADED, arg="#tooltip img", timeout=20_000)
            imgs = page.evaluate(PIXEL, "#tooltip img")
            assert len(imgs) == 1 and imgs[0]["w"] == 16 and imgs[0]["grey"] == grey_of(row), imgs
            assert imgs[0]["alt"] == t["id"][row] and imgs[0]["shown"] >= 64     # readable, not 16 px
            cell = page.locator("#tooltip td.long-text")
            assert cell.count() == 1
            assert cell.get_attribute("title") == t["notes"][row]                 # the full text, literally
            _cut_at_word(cell.inner_text(), t["notes"][row])
            box = page.locator("#tooltip").bounding_box()
            assert box["width"] <= 330                                             # wrapped, not one long line
            assert box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= size[0] and box["y"] + box["height"] <= size[1]
        assert page.locator("#tooltip").inner_text().count(HOSTILE[:20]) == 1
        assert page.locator("#tooltip img").count() == 1 and page.locator("#tooltip script").count() == 0
        assert js(page, "window.__pwned") is None
        shot(page, "previews-tooltip")
        # the point lowest on the screen: the tall tip opens above it, inside the window
        low = js(page, "(() => { const m = window.__sl.maps.A; let best = 0, by = -1; for (let p = 0; p < m.rows.length; p++) "
                       "{ const y = m.plot.getScreenPosition(p)[1]; if (y > by) { by = y; best = p; } } return m.rows[best]; })()")
        if low != 5:
            _hover(page, low)
            page.wait_for_function(LOADED, arg="#tooltip img", timeout=20_000)
            box = page.locator("#tooltip").bounding_box()
            assert box["y"] >= 0 and box["y"] + box["height"] <= size[1], box
        # a short note is shown whole, no excerpt
        _hover(page, 5)
        assert page.locator("#tooltip td.long-text").count() == 0 and "short note" in page.locator("#tooltip").inner_text()

        # the query: one thumbnail per neighbour, of the right rows, in both tables
        q = next(r for r in range(len(t)) if 3 in {n["row"] for n in
                 api.query("pa", t["id"][r], k=K, vs="pb", home=world["home"])["spaces"]["pa"]})
        js(page, f"window.__sl.runQuery({q})")
        page.wait_for_function("document.querySelectorAll('#table-b tbody tr').length > 0", timeout=20_000)
        page.locator("#query-tables").scroll_into_view_if_needed()
        ref = api.query("pa", t["id"][q], k=K, vs="pb", home=world["home"])
        for side, space in (("a", "pa"), ("b", "pb")):
            sel = f"#table-{side} tbody td.thumb img"
            page.wait_for_function(LOADED, arg=sel, timeout=20_000)
            got = page.evaluate(PIXEL, sel)
            want = [n["row"] for n in ref["spaces"][space]]
            assert [g["row"] for g in got] == want and page.locator(f"#table-{side} tbody tr").count() == K
            for g in got:
                assert g["grey"] == grey_of(g["row"]) and g["alt"] == g["id"] == t["id"][g["row"]], g
                assert g["w"] == 16 and 24 <= g["shown"] <= 34
            assert page.locator(f"#table-{side} img[loading='lazy']").count() == K
            heads = page.locator(f"#table-{side} thead th").all_inner_texts()
            assert "image" not in heads and "notes" in heads      # the thumbnail stands for the path column
        # the hostile note in the table: literal text, cut at a word, full in the title
        note = page.locator("#table-a tbody tr[data-row='3'] td").last
        assert note.get_attribute("title") == t["notes"][3]
        _cut_at_word(note.inner_text(), t["notes"][3])
        assert page.locator("#query-tables script").count() == 0 and js(page, "window.__pwned") is None
        shot(page, "previews-tables")


# -- the demo's digits ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """examples/demo.py's dataset (digits with their PNGs) with its two torch-free spaces."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    try:
        from demo import mlp_hidden
        from triplet_vs_arcface import digits_table, register_digits
    finally:
        sys.path.pop(0)
    home = tmp_path_factory.mktemp("demo") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    reg = spacelens.open_registry(home)
    table, images = digits_table()
    x = images.reshape(len(table), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        register_digits(table, images, reg, experiment_name="digits-pixels", space_name="digits.pixels")
        train = (table["split"] == "train").to_numpy()
        spacelens.add(mlp_hidden(x, table["label"].to_numpy(), train), dataset_name="digits",
                      experiment_name="digits-mlp", space_name="digits.mlp", home=reg)
        for s in ("digits.pixels", "digits.mlp"):
            api.project(s, method="pca", home=reg)
        api.compare("digits.pixels", "digits.mlp", k=10, home=reg)
        # a query worth a look: an item whose pixel neighbours are of two or more classes
        labels = table["label"].to_numpy()
        q = next(r for r in range(0, len(table), 7) if len({labels[n["row"]] for n in api.query(
            "digits.pixels", table["id"][r], k=10, home=reg)["spaces"]["digits.pixels"]}) > 1)
    with serving(home) as u:
        yield {"url": u, "images": images, "query": q, "labels": labels}
    mp.undo()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_demo_page_shows_the_digits(browser, demo, size):
    with open_page(browser, *size) as page:
        _load(page, demo["url"], "digits", "digits.pixels", "digits.mlp", 10)
        q = demo["query"]
        js(page, f"window.__sl.runQuery({q})")
        page.wait_for_function("document.querySelectorAll('#table-b tbody td.thumb img').length === 10", timeout=20_000)
        page.locator("#query-tables").scroll_into_view_if_needed()
        for side in "ab":
            page.wait_for_function(LOADED, arg=f"#table-{side} tbody td.thumb img", timeout=20_000)
            got = page.evaluate(PIXEL, f"#table-{side} tbody td.thumb img")
            assert all(g["w"] == 32 and g["alt"] == f"digit{g['row']:04d}" for g in got)
        # hover a point still on screen after the scroll: its digit in the tooltip
        box = page.locator("#map-a canvas").bounding_box()
        labels = json.dumps(demo["labels"].tolist())
        vis = js(page, f"""(() => {{ const labels = {labels}; const m = window.__sl.maps.A, r = document.querySelector('#map-a canvas').getBoundingClientRect();
            for (let p = 0; p < m.rows.length; p++) {{ const [x, y] = m.plot.getScreenPosition(p);
              if (r.top + y > Math.max(60, r.top + 40) && r.top + y < Math.min(r.bottom, {size[1]} - 40) && x > 60 && x < r.width - 60
                  && m.rows[p] !== {q} && labels[m.rows[p]] !== labels[{q}]) return m.rows[p]; }}
            return null; }})()""")
        assert vis is not None and box is not None
        _hover(page, vis)
        page.wait_for_function(LOADED, arg="#tooltip img", timeout=20_000)
        tip = page.evaluate(PIXEL, "#tooltip img")[0]
        assert tip["w"] == 32 and tip["alt"] == f"digit{vis:04d}" and tip["shown"] >= 96
        ink = demo["images"][vis].reshape(8, 8)
        assert tip["grey"] == round(255 * (1 - ink[4, 4])) or abs(tip["grey"] - 255 * (1 - ink[4, 4])) <= 1
        shot(page, "previews-demo")
