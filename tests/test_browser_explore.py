"""Exploring on the page (#26): the linked metadata charts, filters that combine, and saved views.

- A chart per metadata column (categories: counts; numbers: a histogram), plus per-item agreement
  and each map's per-item faithfulness; each counts the drawn items the *other* charts keep.
- Clicking categories / brushing a range filters both maps to exactly those dataset rows (each
  map's shown points are the rows it holds that every filter keeps: checked against pandas), the
  agreement histogram counts only them (its bars and mean against the stored comparison's values),
  and two charts' filters combine (AND).
- The address saves the pair, map, colour, filters and selection: opening it again shows the same
  shown rows and the same selection.
References: pandas on the dataset table, the stored comparison (spacelens.compare.load_comparison)
and the stored map's per-item kNN preservation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _web import open_page, require_page, serving, shot, wait_ready

from conftest import browser  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

require_page()

import spacelens  # noqa: E402
from spacelens import api  # noqa: E402
from spacelens.compare import load_comparison  # noqa: E402
from spacelens.registry import Registry  # noqa: E402
from spacelens.views.data import load_map_preservation  # noqa: E402

N = 600
K = 10
HOSTILE = '<img src=x onerror="window.__pwned=1">'
CHARTS_READY = "document.querySelectorAll('#facets .facet').length >= 5"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A and B over 600 items; B holds only the first 500 (so the maps hold different rows)."""
    home = tmp_path_factory.mktemp("explore") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 4, N)
    kinds = np.array(["cat", "dog", HOSTILE])[rng.integers(0, 3, N)]
    centers = rng.normal(size=(4, 12)) * 2
    va = (centers[labels] + rng.normal(size=(N, 12))).astype(np.float32)
    table = pd.DataFrame({"id": [f"it{i:04d}" for i in range(N)], "label": labels, "kind": kinds,
                          "score": rng.normal(size=N).round(3)})
    spacelens.add(va, table, dataset_name="d", experiment_name="runA", space_name="A", home=home)
    vb = (va[:500] + 1.0 * rng.normal(size=(500, 12))).astype(np.float32)
    spacelens.add(vb, ids=table["id"][:500], dataset_name="d", experiment_name="runB", space_name="B", home=home)
    for s in ("A", "B"):
        api.project(s, method="pca", home=home)
    api.compare("A", "B", k=K, home=home)
    reg = Registry(home)
    comp = load_comparison(reg, "A", "B", K)
    yield {"home": home, "table": table, "comp": comp, "reg": reg}
    mp.undo()


@pytest.fixture(scope="module")
def server(world):
    with serving(world["home"]) as url:
        yield url


def open_explore(page, url, query="?dataset=d&a=A&b=B&method=pca&color=label&k=10"):
    page.goto(url + query)
    wait_ready(page)
    page.locator("#facets-panel").scroll_into_view_if_needed()   # its charts load once it is in view
    page.wait_for_function(CHARTS_READY, timeout=60_000)


def shown_rows(page, side):
    """The dataset rows of the points a map shows (regl-scatterplot's filtered points, through rows)."""
    return set(page.evaluate(f"""(() => {{ const v = window.__sl.maps.{side};
        const f = v.plot.get('filteredPoints'); const pts = f && f.length < v.n ? f : [...Array(v.n).keys()];
        return Array.from(pts, p => v.rows[p]); }})()"""))


def held(side):
    return set(range(N)) if side == "A" else set(range(500))


def test_charts_count_what_each_map_draws(world, server, browser):  # noqa: F811
    with open_page(browser, 1440, 900) as page:
        open_explore(page, server)
        titles = page.evaluate("[...document.querySelectorAll('#facets .facet-title')].map(e => e.textContent)")
        assert titles[0].startswith("agreement") and titles[1].startswith("faithfulness of map A")
        assert titles[2].startswith("faithfulness of map B")
        assert {"label", "kind", "score"} <= set(titles) and "id" not in titles
        # the category counts: every drawn item (the union of both maps: all 600), per value
        counts = page.evaluate("""Object.fromEntries([...document.querySelectorAll('.facet[data-id="kind"] li.cat')]
            .map(li => [li.querySelector('.cat-label').textContent, Number(li.title.split(': ').pop().split(' shown')[0].replace(/,/g, ''))]))""")
        assert counts == world["table"]["kind"].value_counts().to_dict()
        assert page.evaluate("window.__pwned") is None      # the hostile value is text, not markup
        # the faithfulness chart holds each item's stored kNN preservation
        rows, pres = load_map_preservation(world["reg"], "B", "pca")
        codes = page.evaluate("""Array.from(window.__sl.facets.facets().find(f => f.id === 'faithfulness:B').codes)""")
        want = np.full(N, 255)
        want[rows] = np.clip(np.rint(pres * 254), 0, 254)
        assert np.array_equal(np.asarray(codes), want)


def test_filters_combine_on_both_maps_and_the_histogram(world, server, browser):  # noqa: F811
    t, comp = world["table"], world["comp"]
    with open_page(browser, 1440, 900) as page:
        open_explore(page, server)
        page.locator('.facet[data-id="label"] li.cat', has_text="2").first.click()
        page.wait_for_function("document.body.dataset.filtered")
        keep = set(np.flatnonzero(t["label"].to_numpy() == 2))
        for side in "AB":
            assert shown_rows(page, side) == keep & held(side)
        # a second value of the same chart widens it (OR within a chart) ...
        page.locator('.facet[data-id="label"] li.cat', has_text="0").first.click()
        keep = set(np.flatnonzero(np.isin(t["label"].to_numpy(), [0, 2])))
        page.wait_for_function(f"Number(document.body.dataset.filtered) === {len(keep)}")
        # ... and another chart narrows it (AND across charts): kind == "dog"
        page.locator('.facet[data-id="kind"] li.cat', has_text="dog").first.click()
        keep &= set(np.flatnonzero(t["kind"].to_numpy() == "dog"))
        page.wait_for_function(f"Number(document.body.dataset.filtered) === {len(keep)}")
        for side in "AB":
            assert shown_rows(page, side) == keep & held(side)
        assert "label is" in page.locator("#facets-head").inner_text()
        # the status bar, always in view, says the maps are filtered and how many each shows
        assert page.locator("#status").inner_text() == (f"{len(keep)} of {N} + {len(keep & held('B'))} of 500 points "
                                                        "shown (filtered)")
        # the histogram counts the shown items that both spaces hold, with their mean
        summary = page.locator("#hist-summary")
        both = np.array(sorted(keep & held("B")))
        jac = pd.Series(comp.jaccard, index=comp.rows)[both]
        assert int(summary.get_attribute("data-n")) == len(both)
        assert float(summary.get_attribute("data-mean")) == pytest.approx(jac.mean(), abs=1e-5)
        bars = page.evaluate("[...document.querySelectorAll('#histogram rect.bar')].map(r => Number(r.dataset.count))")
        assert sum(bars) == len(both)
        shot(page, "explore-filtered")
        # a bar click selects only the shown items of that bar
        top = int(np.argmax(bars))
        page.evaluate(f"window.__sl.selectBin({top})")
        sel = set(page.evaluate("Array.from(window.__sl.state.selection)"))
        assert sel and sel <= set(both)
        # dropping the filters brings every point back
        page.locator("#facets-head .clear-filters").click()
        page.wait_for_function("!document.body.dataset.filtered")
        for side in "AB":
            assert shown_rows(page, side) == held(side)


SPANS = """['A', 'B'].map((s) => { const v = window.__sl.maps[s], w = v.canvas.clientWidth, h = v.canvas.clientHeight;
    const xy = v.plot.get('filteredPoints').map((p) => v.plot.getScreenPosition(p));
    const xs = xy.map((q) => q[0]), ys = xy.map((q) => q[1]);
    const inside = xs.every((x) => x >= 0 && x <= w) && ys.every((y) => y >= 0 && y <= h);
    return [inside, Math.max((Math.max(...xs) - Math.min(...xs)) / w, (Math.max(...ys) - Math.min(...ys)) / h)]; })"""


def test_zoom_to_the_shown_items(world, server, browser):  # noqa: F811
    with open_page(browser, 1440, 900) as page:
        open_explore(page, server)
        page.locator('.facet[data-id="label"] li.cat', has_text="1").first.click()
        page.wait_for_function("document.body.dataset.filtered")
        before = page.evaluate(SPANS)
        page.locator("#facets-head .zoom-shown").click()
        page.wait_for_function(f"{SPANS}.every(([inside, span], i) => inside && span > {[s for _, s in before]}[i] + 0.05)",
                               timeout=10_000)
        after = page.evaluate(SPANS)
        # one camera for both maps: every shown point of each in its canvas, the wider spread filling most of it
        assert all(inside for inside, _ in after) and max(s for _, s in after) > 0.6, (before, after)


def test_brushing_a_numeric_chart_keeps_that_range(world, server, browser):  # noqa: F811
    t = world["table"]
    with open_page(browser, 1280, 720) as page:
        open_explore(page, server)
        svg = page.locator('.facet[data-id="score"] svg.num')
        svg.scroll_into_view_if_needed()
        box = svg.bounding_box()
        y = box["y"] + box["height"] * 0.4
        page.mouse.move(box["x"] + box["width"] * 0.55, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.85, y, steps=6)
        page.mouse.up()
        page.wait_for_function("document.body.dataset.filtered")
        # the kept rows are those whose quantised value falls in the brushed bins (the chart's own rule)
        picked = sorted(page.evaluate("Array.from(window.__sl.facets.facets().find(f => f.id === 'score').picked)"))
        assert picked == list(range(picked[0], picked[-1] + 1)) and 10 < picked[0] < picked[-1] < 40
        s = t["score"].to_numpy()
        code = np.clip(np.rint((s - s.min()) / (s.max() - s.min()) * 254), 0, 254)
        bins = np.minimum(39, np.floor(code * 40 / 255))
        keep = set(np.flatnonzero((bins >= picked[0]) & (bins <= picked[-1])))
        assert shown_rows(page, "A") == keep
        lo, hi = (float(x) for x in page.locator('.facet[data-id="score"] .brushed').inner_text().split(" to "))
        assert s[sorted(keep)].min() >= lo - 0.06 and s[sorted(keep)].max() <= hi + 0.06
        shot(page, "explore-brushed")


def test_the_address_saves_the_view(world, server, browser):  # noqa: F811
    t = world["table"]
    with open_page(browser, 1440, 900) as page:
        open_explore(page, server)
        page.locator('.facet[data-id="kind"] li.cat', has_text="cat").first.click()
        page.wait_for_function("document.body.dataset.filtered")
        lasso = [3, 17, 40, 41, 42, 300, 599]
        page.evaluate(f"window.__sl.setSelection(Uint32Array.from({lasso}), 'a lasso')")
        url = page.evaluate("location.href")
        assert "f=kind%3Dcat" in url and "method=pca" in url and "color=label" in url and "sel=" in url
    keep = set(np.flatnonzero(t["kind"].to_numpy() == "cat"))
    with open_page(browser, 1440, 900) as page:
        page.goto(url)
        wait_ready(page)
        page.wait_for_function(f"Number(document.body.dataset.filtered) === {len(keep)}", timeout=60_000)
        assert shown_rows(page, "A") == keep
        assert page.evaluate("window.__sl.state.a") == "A" and page.locator("#color").input_value() == "label"
        assert set(page.evaluate("Array.from(window.__sl.state.selection)")) == set(lasso)


def test_the_address_saves_a_query_and_a_hostile_filter(world, server, browser):  # noqa: F811
    t = world["table"]
    with open_page(browser, 1440, 900) as page:
        open_explore(page, server)
        page.locator('.facet[data-id="kind"] li.cat', has_text="onerror").first.click()
        page.wait_for_function("document.body.dataset.filtered")
        row = int(np.flatnonzero(t["kind"].to_numpy() == HOSTILE)[0])
        page.evaluate(f"window.__sl.runQuery({row})")
        page.wait_for_function("window.__sl.state.query !== null")
        url = page.evaluate("location.href")
        assert f"item={row}" in url
    with open_page(browser, 1440, 900) as page:
        page.goto(url)
        wait_ready(page)
        page.wait_for_function("window.__sl.state.query !== null && document.body.dataset.filtered", timeout=60_000)
        assert page.evaluate("window.__sl.state.queryRow") == row
        assert shown_rows(page, "A") == set(np.flatnonzero(t["kind"].to_numpy() == HOSTILE))
        assert HOSTILE in page.locator("#facets-head .chip").first.inner_text()
        assert page.evaluate("window.__pwned") is None


def test_the_address_saves_a_search_filter_with_a_chart_filter(world, server, browser):  # noqa: F811
    """Filter to a search's matches and to a chart's value: both are saved and restored (AND)."""
    t = world["table"]
    with open_page(browser, 1440, 900) as page:
        open_explore(page, server)
        page.fill("#search", "kind:dog")
        page.press("#search", "Enter")
        page.locator("#query-info .matches-filter").click()
        dogs = set(np.flatnonzero(t["kind"].to_numpy() == "dog"))
        page.wait_for_function(f"Number(document.body.dataset.filtered) === {len(dogs)}")
        page.locator('.facet[data-id="label"] li.cat', has_text="1").first.click()
        keep = dogs & set(np.flatnonzero(t["label"].to_numpy() == 1))
        page.wait_for_function(f"Number(document.body.dataset.filtered) === {len(keep)}")
        url = page.evaluate("location.href")
        assert "find=kind%3Adog" in url and "f=label%3D1" in url
    with open_page(browser, 1440, 900) as page:
        page.goto(url)
        wait_ready(page)
        page.wait_for_function(f"Number(document.body.dataset.filtered) === {len(keep)}", timeout=60_000)
        assert shown_rows(page, "A") == keep and shown_rows(page, "B") == keep & held("B")
        chips = page.locator("#facets-head .chip").all_inner_texts()
        assert any("dog" in c for c in chips) and any("label is 1" in c for c in chips)


def test_a_saved_filter_follows_items_when_a_space_is_replaced(tmp_path, browser):  # noqa: F811
    """Filters keep dataset rows, not map points: a saved view reopened after B was logged again
    over other items shows in B exactly the kept items B now holds (and its charts load again)."""
    home = tmp_path / "home"
    rng = np.random.default_rng(11)
    n = 300
    table = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "label": rng.integers(0, 3, n),
                          "kind": np.array(["cat", "dog"])[rng.integers(0, 2, n)]})
    x = rng.normal(size=(n, 8)).astype(np.float32)
    spacelens.add(x, table, dataset_name="d", experiment_name="runA", space_name="A", home=home)
    spacelens.add(x[:200] + 0.5, ids=table["id"][:200], dataset_name="d", experiment_name="runB", space_name="B",
                  home=home)
    for s in ("A", "B"):
        api.project(s, method="pca", home=home)
    api.compare("A", "B", k=K, home=home)      # the agreement chart is there from the start
    cats = set(np.flatnonzero(table["kind"].to_numpy() == "cat"))
    with serving(home) as url:
        with open_page(browser, 1440, 900) as page:
            open_explore(page, url)
            page.locator('.facet[data-id="kind"] li.cat', has_text="cat").first.click()
            page.wait_for_function("document.body.dataset.filtered")
            assert shown_rows(page, "B") == cats & set(range(200))
            saved = page.evaluate("location.href")
        # B logged again: now over items 100..299, in another order
        order = np.arange(299, 99, -1)
        spacelens.add(x[order] - 0.5, ids=table["id"][order], dataset_name="d", experiment_name="runB", space_name="B",
                      overwrite=True, home=home)
        api.project("B", method="pca", home=home)
        api.compare("A", "B", k=K, home=home)
        with open_page(browser, 1440, 900) as page:
            page.goto(saved)
            wait_ready(page)
            page.wait_for_function("document.body.dataset.filtered", timeout=60_000)
            assert page.locator("#map-b").get_attribute("data-points") == "200"
            assert shown_rows(page, "B") == cats & set(range(100, 300))
            assert shown_rows(page, "A") == cats
