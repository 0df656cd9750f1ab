"""Search that finds and shows (#26 item 1) on the page, headless Chromium at 1440x900 and
1280x720: Enter on a class value counts and lists its matches and selects exactly them in both
maps; "Filter to matches" leaves exactly them shown in both maps, and dropping the filter (the
chip's ×) shows every item again; hostile ids and values render as text; an exact id still opens
its kNN query. Screenshots: test-artifacts/views/find-*.png."""

from __future__ import annotations

import warnings

import pytest
from _web import js, open_page, require_page, serving, shot, wait_ready
from test_change_groups import K, planted

import spacelens
from spacelens import api

require_page()

SIZES = [(1440, 900), (1280, 720)]
N_SUB = 1200     # space B holds the first 1,200 of the 1,500 items
KINDS = ["heron", "ibis", "stork", "crane", "egret"]
HOSTILE = "<img src=x onerror=window.__pwned=1>"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("find") / "home"
    a, b, table, _, _, _ = planted(0)
    table["kind"] = [KINDS[v % 5] for v in table["label"]]
    table["caption"] = [f"photo {i} in {c}" for i, c in enumerate(table["colour"])]
    table.loc[7, "caption"] = f"look {HOSTILE} here"
    table.loc[1110, "id"] = f"{HOSTILE} 1110"
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spacelens.add(a, table, dataset_name="birds", experiment_name="e", space_name="A", home=home)
        spacelens.add(b[:N_SUB], dataset_name="birds", experiment_name="e", space_name="B",
                      ids=table["id"].to_numpy()[:N_SUB], home=home)
    for s in ("A", "B"):
        api.project(s, method="pca", home=home)
    api.compare("A", "B", k=K, home=home)
    yield {"home": home, "table": table}
    mp.undo()


@pytest.fixture(scope="module")
def url(world):
    with serving(world["home"]) as u:
        yield u


def _expected(table, pred) -> list[int]:
    """Rows both spaces hold (B: the first N_SUB) for which ``pred(row)`` holds, by brute force."""
    return [r for r in range(N_SUB) if pred(r)]


def _search(page, q):
    page.fill("#search", q)
    page.press("#search", "Enter")


def _selected(page, side):
    return sorted(js(page, f"(() => {{ const m = window.__sl.maps.{side}; return m.plot.get('selectedPoints').map(p => m.rows[p]); }})()"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_find_lists_selects_and_filters_matches(browser, url, world, size):
    w, h = size
    t = world["table"]
    with open_page(browser, w, h) as page:
        page.goto(url + f"?dataset=birds&a=A&b=B&method=pca&color=label&k={K}")
        wait_ready(page, 1)
        n_a, n_b = (int(js(page, f"window.__sl.maps.{s}.root.dataset.points")) for s in "AB")
        # a class value: every item of that class both spaces hold (ids, captions hold no class name)
        want = _expected(t, lambda r: t["kind"][r] == "heron")
        _search(page, "heron")
        page.wait_for_function("document.querySelectorAll('#matches tbody tr').length > 0", timeout=20_000)
        info = " ".join(page.locator("#query-info").inner_text().split())
        assert f"{len(want)} items match “heron”" in info and "kind" in info
        assert page.locator("#matches tbody tr").count() == min(50, len(want))
        assert f"and {len(want) - 50} more" in page.locator("#matches").inner_text()
        listed = [int(x) for x in page.locator("#matches tbody tr").evaluate_all("trs => trs.map(t => t.dataset.row)")]
        assert listed == want[:50]
        assert page.locator("#matches tbody tr").first.locator("mark").inner_text() == "heron"
        # all of them selected in both maps at once, nothing else
        assert sorted(js(page, "Array.from(window.__sl.state.selection)")) == want
        assert _selected(page, "A") == want and _selected(page, "B") == want
        assert js(page, "window.__sl.maps.A.selectedCount()") == len(want) == js(page, "window.__sl.maps.B.selectedCount()")
        shot(page, "find-matches")
        page.locator("#matches .matches-scroll").scroll_into_view_if_needed()
        shot(page, "find-matches-list")
        # filter to them: exactly those shown in both maps
        page.locator("#matches .matches-filter").click()
        page.wait_for_function(f"document.body.dataset.filtered === '{len(want)}'", timeout=20_000)
        for s in "AB":
            assert js(page, f"window.__sl.maps.{s}.root.dataset.shown") == str(len(want))
        shown_a = js(page, "(() => { const m = window.__sl.maps.A; return m.shownPoints().map(p => m.rows[p]); })()")
        assert sorted(shown_a) == want
        chip = page.locator("#search-filter .filter-chip")
        assert chip.is_visible() and "matching “heron”" in chip.inner_text()
        page.evaluate("document.querySelector('.work').scrollTop = 0")
        shot(page, "find-filtered")
        # the chip's × drops the filter: every item shown again
        chip.locator("button.drop").click()
        page.wait_for_function("document.body.dataset.filtered === ''", timeout=20_000)
        assert js(page, "window.__sl.maps.A.root.dataset.shown") == str(n_a)
        assert js(page, "window.__sl.maps.B.root.dataset.shown") == str(n_b)
        assert not page.locator("#search-filter .filter-chip").count()
        # a number finds equal values only: label 3, never 13
        want3 = _expected(t, lambda r: t["label"][r] == 3)
        _search(page, "label:3")
        page.wait_for_function(f"window.__sl.state.selection.length === {len(want3)}", timeout=20_000)
        assert sorted(js(page, "Array.from(window.__sl.state.selection)")) == want3
        # clicking a listed match opens its kNN query
        page.locator("#matches tbody tr").nth(2).click()
        page.wait_for_function(f"window.__sl.state.queryRow === {want3[2]}", timeout=20_000)
        # an exact id still opens its query directly
        _search(page, "item00042")
        page.wait_for_function("window.__sl.state.queryRow === 42", timeout=20_000)


def test_hostile_text_renders_literally(browser, url, world):
    t = world["table"]
    with open_page(browser, 1440, 900) as page:
        page.goto(url + f"?dataset=birds&a=A&b=B&method=pca&color=label&k={K}")
        wait_ready(page, 1)
        _search(page, "onerror")
        page.wait_for_function("document.querySelectorAll('#matches tbody tr').length > 0", timeout=20_000)
        want = _expected(t, lambda r: "onerror" in t["id"][r] or "onerror" in t["caption"][r])
        assert sorted(int(x) for x in page.locator("#matches tbody tr").evaluate_all("trs => trs.map(t => t.dataset.row)")) == want
        text = page.locator("#matches").inner_text()
        assert f"{HOSTILE} 1110" in text and HOSTILE in text
        assert js(page, "document.querySelectorAll('#matches img, #query-info img, #search-results img').length") == 0
        # the typed text itself is hostile too: shown in words, never run
        _search(page, HOSTILE)
        page.wait_for_function("q => document.querySelector('#matches h4')?.textContent.includes(q)", arg=HOSTILE,
                               timeout=20_000)
        assert js(page, "window.__sl.state.selection.length") == 2     # its id (row 1110) and a caption (row 7)
        page.locator("#matches .matches-filter").click()
        page.wait_for_function("document.body.dataset.filtered !== ''", timeout=20_000)
        assert HOSTILE in page.locator("#search-filter").inner_text()
        assert js(page, "document.querySelectorAll('img').length") == 0
        assert js(page, "window.__pwned === undefined")
