"""Issue #24 items 6 and 8 on the page (headless Chromium at 1440x900 and 1280x720): the search
box suggests only items of the shown spaces, in a list the window shows (the box sits at the
bottom of the window), and answers Enter on anything else in words; the maps keep their size
when a point is clicked and the kept/lost/gained line is shown whole; Clear unmarks the picked
"changed together" group. Screenshots in test-artifacts/views/."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _web import hover_point, js, open_page, require_page, serving, shot, wait_ready
from test_change_groups import K, planted

import spacelens
from spacelens import api

require_page()

SIZES = [(1440, 900), (1280, 720)]
N_SUB = 1200     # space pc holds the first 1,200 of the 1,500 items


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("search") / "home"
    a, b, table, s1, s2, _ = planted(0)
    table["ink"] = np.random.default_rng(5).integers(0, 100, len(table))
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spacelens.add(a, table, dataset_name="planted", experiment_name="e", space_name="pa", home=home)
        spacelens.add(b, dataset_name="planted", experiment_name="e", space_name="pb", home=home)
        spacelens.add(b[:N_SUB], dataset_name="planted", experiment_name="e", space_name="pc",
                      ids=table["id"].to_numpy()[:N_SUB], home=home)
    for s in ("pa", "pb", "pc"):
        api.project(s, method="pca", home=home)
    api.compare("pa", "pb", k=K, home=home)
    api.compare("pa", "pc", k=K, home=home)
    yield {"home": home, "table": table, "s1": s1}
    mp.undo()


@pytest.fixture(scope="module")
def url(world):
    with serving(world["home"]) as u:
        yield u


def _load(page, url, b):
    page.goto(url + f"?dataset=planted&a=pa&b={b}&method=pca&color=label&k={K}")
    wait_ready(page, 1)


def _suggestions(page) -> list[str]:
    return page.locator("#search-results li[data-row]").evaluate_all("ls => ls.map(l => l.querySelector('b').textContent)")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_search_suggests_only_shown_items_visibly_and_answers_enter_in_words(browser, url, world, size):
    w, h = size
    ids = world["table"]["id"].tolist()
    with open_page(browser, w, h) as page:
        _load(page, url, "pc")
        page.fill("#search", "item0119")      # item01190..01199: all in pc
        page.wait_for_function("document.querySelectorAll('#search-results li[data-row]').length > 0", timeout=20_000)
        got = _suggestions(page)
        assert got == [i for i in ids[:N_SUB] if i.startswith("item0119")][:12]
        # the list is inside the window, whole (it opened above the box at the bottom)
        box = page.locator("#search-results").bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= h and box["height"] > 40, box
        last = page.locator("#search-results li[data-row]").last
        last.scroll_into_view_if_needed()
        assert last.is_visible()
        shot(page, "search-suggestions")
        # items outside pc are never offered
        page.fill("#search", "item0140")
        page.wait_for_function("document.querySelector('#search-results li.none') !== null", timeout=20_000)
        assert _suggestions(page) == []
        assert "No item of both shown spaces" in page.locator("#search-results").inner_text()
        # Enter on an item the spaces do not hold: a sentence, not an HTTP error
        page.fill("#search", "item01400")
        page.press("#search", "Enter")
        page.wait_for_function("document.querySelector('#query-info').textContent.includes('but not in')", timeout=20_000)
        said = page.locator("#query-info").inner_text()
        assert "“item01400” is in planted but not in both shown spaces (pa and pc)" in said
        assert "400" not in said.replace("item01400", "") and "HTTP" not in said
        qi = page.locator("#query-info").bounding_box()
        assert qi["y"] + qi["height"] <= h
        shot(page, "search-outside-spaces")
        # Enter on nothing at all
        page.fill("#search", "no such thing")
        page.press("#search", "Enter")
        page.wait_for_function("document.querySelector('#query-info').textContent.startsWith('No item matches')",
                               timeout=20_000)
        assert "search by an id" in page.locator("#query-info").inner_text()
        # Enter on an id of both spaces queries it at once (no suggestion needed)
        page.fill("#search", "item00042")
        page.press("#search", "Enter")
        page.wait_for_function("document.querySelectorAll('#table-b tbody tr').length > 0", timeout=20_000)
        assert js(page, "window.__sl.state.queryRow") == 42


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_maps_keep_their_size_when_a_point_is_clicked(browser, url, world, size):
    w, h = size
    with open_page(browser, w, h) as page:
        _load(page, url, "pb")
        before = [page.locator(f"#map-{s} .canvas-wrap").bounding_box() for s in "ab"]
        assert min(b["height"] for b in before) > 0.45 * h      # the maps fill the window
        # the query head sits under the maps, inside the window, with nothing to scroll to yet
        head = page.locator(".query-head").bounding_box()
        assert head["y"] + head["height"] <= h
        assert js(page, "document.querySelector('.work').scrollHeight <= document.querySelector('.work').clientHeight + 1")
        row = int(world["s1"][5])
        x, y, _ = hover_point(page, "A", js(page, f"window.__sl.maps.A.pos[{row}]"))
        page.mouse.click(x, y)
        page.wait_for_function("document.querySelectorAll('#table-b tbody tr[data-change]').length > 0", timeout=20_000)
        page.wait_for_timeout(300)
        after = [page.locator(f"#map-{s} .canvas-wrap").bounding_box() for s in "ab"]
        for b0, b1 in zip(before, after):
            assert abs(b0["height"] - b1["height"]) <= 1 and abs(b0["width"] - b1["width"]) <= 1, (before, after)
        # the kept / lost / gained line is whole: not cut, inside the window
        info = page.locator("#query-info")
        assert js(page, "(() => { const e = document.querySelector('#query-info'); return e.scrollWidth <= e.clientWidth + 1; })()")
        ib = info.bounding_box()
        for key in page.locator("#query-info .change-key").all():
            kb = key.bounding_box()
            assert kb["x"] + kb["width"] <= ib["x"] + ib["width"] + 1 and kb["y"] + kb["height"] <= h
        text = " ".join(info.inner_text().split())
        assert "kept" in text and "lost (A only)" in text and "gained (B only)" in text
        shot(page, "query-keeps-map-size")
        # the neighbour tables are below the head, one scroll of the work column away
        page.locator("#table-b").scroll_into_view_if_needed()
        assert page.locator("#table-b tbody tr").first.is_visible()
        shot(page, "query-tables-scrolled")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_groups_say_what_they_are_and_clear_unmarks_the_picked_one(browser, url, world, size):
    w, h = size
    with open_page(browser, w, h) as page:
        _load(page, url, "pb")
        page.click("#find-groups")
        page.wait_for_selector("#groups li[data-rank]", timeout=60_000)
        ref = api.change_groups("pa", "pb", k=K, top=12, home=world["home"])
        first = " ".join(page.locator("#groups li[data-rank]").first.inner_text().split())
        g = ref["groups"][0]
        assert g["kind"] in first and f"{g['reference']:.2f}" in first and "changed more" in first
        assert "ranked by how far their change exceeds what the rest of their class shows" in page.locator("#groups").inner_text()
        page.locator("#groups li[data-rank]").first.click()
        page.wait_for_function("document.querySelectorAll('#groups li.picked').length === 1", timeout=20_000)
        shot(page, "change-groups-ranked")
        page.click("#clear-selection")
        page.wait_for_function("document.querySelectorAll('#groups li.picked').length === 0", timeout=20_000)
        assert js(page, "window.__sl.maps.A.plot.get('selectedPoints').length") == 0
        assert page.locator("#selection-info").get_attribute("data-count") == "0"
