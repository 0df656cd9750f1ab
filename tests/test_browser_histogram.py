"""The agreement histogram and the k of the pair on the page (#24 items 3 and 4), in headless Chromium.

- One k for the pair: choosing another B keeps the k on screen; the pair's comparison at that k is
  computed by the comparison job, never replaced by a stored one at another k (offered instead).
- The histogram: one bar per value Jaccard takes at k (s / (2k - s)), counts on a y axis (bar heights
  measured against its ticks), the chance mark at ``info.chance`` and the seed-baseline mark at the
  stored A-vs-C mean, both placed by their value on the bars' own x scale.
- The colour bar's end labels are the numbers the text under it states.
References: hand counts of the shared-neighbour counts and the library's stored comparisons.
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

N = 500
K = 10
VIEWPORTS = {"1440x900": (1440, 900), "1280x720": (1280, 720)}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A vs B stored at k = 10; A vs C (a reseeded run) stored at k = 20 only; A vs R at k = 10; Q never compared."""
    home = tmp_path_factory.mktemp("hist") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 5, N)
    centers = rng.normal(size=(5, 16)) * 1.5
    va = (centers[labels] + rng.normal(size=(N, 16))).astype(np.float32)
    table = pd.DataFrame({"id": [f"x{i:04d}" for i in range(N)], "label": labels})
    spacelens.add(va, table, dataset_name="d", experiment_name="runA", space_name="A", home=home)
    for name, noise in (("B", 1.2), ("C", 0.6), ("R", 0.5), ("Q", 0.7)):
        spacelens.add((va + noise * rng.normal(size=va.shape)).astype(np.float32), dataset_name="d",
                      experiment_name=f"run{name}", space_name=name, home=home)
    for s in ("A", "B", "C", "R"):
        api.project(s, method="pca", home=home)
    base = api.compare("A", "R", k=K, home=home)
    api.compare("A", "C", k=20, home=home)
    cmp = api.compare("A", "B", k=K, home=home)  # the pair compared last
    yield {"home": home, "cmp": cmp, "base": base}
    mp.undo()


@pytest.fixture(scope="module")
def server(world):
    with serving(world["home"]) as url:
        yield url


@pytest.fixture
def sized(browser):  # noqa: F811
    pages = []

    def make(w, h):
        cm = open_page(browser, w, h)
        pages.append(cm)
        return cm.__enter__()

    yield make
    for cm in reversed(pages):
        cm.__exit__(None, None, None)


def shared_counts(jaccard, k):
    """Each item's shared-neighbour count, by trying every s = 0..k against J = s / (2k - s)."""
    levels = np.array([s / (2 * k - s) for s in range(k + 1)])
    j = np.asarray(jaccard, dtype=np.float64)
    s = np.abs(j[:, None] - levels[None, :]).argmin(axis=1)
    assert np.abs(j - levels[s]).max() < 1e-6
    return s


def boxes(page, selector):
    return page.locator(selector).evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })")


def test_choosing_another_b_keeps_k_and_computes_the_pair_at_it(sized, server, world):
    page = sized(1440, 900)
    page.goto(server + "?dataset=d&a=A&b=B&method=pca&color=coincidence")  # no k asked: the pair's k
    wait_ready(page, 1)
    assert page.locator("#k").input_value() == str(K)
    assert page.locator("#hist-summary").get_attribute("data-k") == str(K)
    page.select_option("#space-b", "C")  # stored with A at k = 20 only
    wait_ready(page, 2)
    assert page.locator("#k").input_value() == str(K)  # not switched to 20 behind the user's back
    # the comparison job computes A vs C at k = 10, and the page shows it
    page.wait_for_function(f"document.querySelector('#hist-summary')?.dataset.k === '{K}' && "
                           "window.__sl.state.b === 'C' && window.__sl.state.comparison?.header.b === 'C'",
                           timeout=180_000, polling=200)
    stored = load_comparison(Registry(world["home"]), "A", "C", k=K)
    assert float(page.locator("#hist-summary").get_attribute("data-mean")) == pytest.approx(stored.mean, abs=1e-6)
    assert page.locator("#k").input_value() == str(K)
    summary = page.locator("#hist-summary").inner_text()
    assert summary.startswith(f"k = {K}")  # the k stated where the histogram is read
    page.wait_for_function("document.querySelector('#k-note').textContent.includes('20')", timeout=20_000)
    assert "also stored at k = 20" in page.locator("#k-note").inner_text()  # and where k is set
    shot(page, "histogram-k-kept")


def test_missing_pair_at_k_offers_the_stored_k_rather_than_substituting_it(sized, server, world):
    page = sized(1280, 720)
    api.compare("R", "C", k=5, home=world["home"])  # stored at 5 only; the page asks 20
    page.goto(server + "?dataset=d&a=R&b=C&method=pca&color=label&k=20")
    wait_ready(page, 1)
    # the answer strip computes the pair at the k asked for (20), never shows the one stored at 5
    page.wait_for_selector("#answer[data-state=done]", timeout=120_000)
    page.wait_for_function("document.querySelector('#hist-summary')?.dataset.k === '20'", timeout=60_000)
    assert page.locator("#k").input_value() == "20"
    assert "k = 20" in page.locator("#hist-summary").inner_text()
    assert "also stored at k = 5" in page.locator("#k-note").inner_text()
    want = api.compare("R", "C", k=20, home=world["home"]).mean
    assert float(page.locator("#hist-summary").get_attribute("data-mean")) == pytest.approx(want, abs=1e-6)
    page.locator("#histogram").scroll_into_view_if_needed()
    shot(page, "histogram-other-k-offered")


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_histogram_bars_axis_and_marks(sized, server, world, size):
    page = sized(*VIEWPORTS[size])
    page.goto(server + "?dataset=d&a=A&b=B&method=pca&color=coincidence&k=10&baseline=R")
    wait_ready(page, 1)
    cmp, base = world["cmp"], world["base"]
    s = shared_counts(cmp.jaccard, K)
    want = np.bincount(s, minlength=K + 1)
    # one bar per value Jaccard takes at k = 10: 11 bars, in value order, with the hand counts
    bars = page.locator("#histogram rect.bar")
    assert bars.count() == K + 1
    got = [int(c) for c in bars.evaluate_all("rs => rs.map(r => r.dataset.count)")]
    assert got == want.tolist()
    values = [float(v) for v in bars.evaluate_all("rs => rs.map(r => r.dataset.value)")]
    np.testing.assert_allclose(values, [x / (2 * K - x) for x in range(K + 1)], atol=1e-9)
    assert sum(1 for c in got if c) == len(np.unique(s))  # a bar with height where values occur
    # counts on an axis: tick labels are counts; each bar's height is its count on that scale
    ticks = page.locator("#histogram text.ytick")
    tick_counts = [float(t) for t in ticks.evaluate_all("ts => ts.map(t => t.dataset.count)")]
    assert tick_counts[0] == 0 and tick_counts[-1] >= want.max() and len(tick_counts) >= 3
    labels = ticks.all_text_contents()
    assert labels[0] == "0" and all(lbl for lbl in labels)
    ty = [b[1] + b[3] / 2 for b in boxes(page, "#histogram text.ytick")]
    px_per_item = (ty[0] - ty[-1]) / tick_counts[-1]
    rects = boxes(page, "#histogram rect.bar")
    for (x, y, w, h), n in zip(rects, want):
        if n:
            assert h == pytest.approx(n * px_per_item, rel=0.03, abs=1.5)
    # the marks sit at their values on the bars' x scale (bar s = 0 at 0, bar s = k at 1)
    centre = [x + w / 2 for x, y, w, h in rects]
    x_of = lambda v: centre[0] + v * (centre[-1] - centre[0])  # noqa: E731
    chance = cmp.info["chance"]
    for cls, v in (("chance", chance), ("baseline", base.mean), ("mean", cmp.mean)):
        line = boxes(page, f"#histogram line.{cls}")
        assert len(line) == 1, cls
        assert line[0][0] == pytest.approx(x_of(v), abs=1.5), cls
    summary = page.locator("#hist-summary")
    assert float(summary.get_attribute("data-chance")) == pytest.approx(chance)
    assert float(summary.get_attribute("data-baseline")) == pytest.approx(base.mean, abs=1e-6)
    text = summary.inner_text()
    assert f"chance {chance:.3f}" in text and f"seed baseline (A vs R) {base.mean:.3f}" in text
    assert page.locator("#histogram").is_visible()
    page.locator("#histogram").scroll_into_view_if_needed()
    shot(page, "histogram")
    # a bar selects exactly the items with that value
    top = int(np.argmax(want))
    page.locator(f"#histogram rect.hit[data-bin='{top}']").click()
    page.wait_for_function(f"window.__sl.state.selection.length === {want[top]}", timeout=20_000)
    rows = set(page.evaluate("Array.from(window.__sl.state.selection)"))
    assert rows == set(cmp.rows[s == top].tolist())


def test_colour_bar_ends_are_the_range_the_text_states(sized, server, world):
    page = sized(1440, 900)
    page.goto(server + "?dataset=d&a=A&b=B&method=pca&color=coincidence&k=10")
    wait_ready(page, 1)
    page.wait_for_function("document.querySelector('#legend').dataset.by === 'coincidence'", timeout=20_000)
    legend = page.locator("#legend")
    lo, hi = legend.locator(".ramp-labels .lo").inner_text(), legend.locator(".ramp-labels .hi").inner_text()
    assert legend.locator(".range-lo").inner_text() == lo and legend.locator(".range-hi").inner_text() == hi
    text = legend.locator(".ramp-range").inner_text()
    j = world["cmp"].jaccard.astype(np.float64)
    if "≤" in lo or "≥" in hi:  # clipped to the 2nd-98th percentile: the full range stated apart, as such
        assert "percentile" in text
        assert legend.locator(".range-min").inner_text() == f"{round(j.min() * 254) / 254:.2f}"
        assert legend.locator(".range-max").inner_text() == f"{round(j.max() * 254) / 254:.2f}"
    # the colour bar's ends are the values of the 2nd and 98th percentile codes of the drawn items
    codes = np.rint(j * 254)
    q = lambda p: np.sort(codes)[int(np.floor(p * (len(codes) - 1)))] / 254  # noqa: E731
    assert float(lo.lstrip("≤ ")) == pytest.approx(q(0.02), abs=0.006)
    assert float(hi.lstrip("≥ ")) == pytest.approx(q(0.98), abs=0.006)
    legend.scroll_into_view_if_needed()
    shot(page, "colour-bar")


def test_baseline_pair_picked_in_the_versus_panel_is_marked(sized, server, world):
    page = sized(1440, 900)
    page.goto(server + "?dataset=d&a=A&b=B&method=pca&color=coincidence&k=10")
    wait_ready(page, 1)
    assert page.locator("#histogram line.baseline").count() == 0
    page.select_option("#versus-baseline", "R")  # A vs R stored at k = 10
    page.wait_for_selector("#histogram line.baseline", state="attached")
    assert float(page.locator("#hist-summary").get_attribute("data-baseline")) == \
        pytest.approx(world["base"].mean, abs=1e-6)
    assert "baseline=R" in page.url
    page.select_option("#versus-baseline", "Q")  # A vs Q not stored: not marked, computed on a click
    page.wait_for_selector("#histogram .baseline-missing button.compute")
    assert page.locator("#histogram line.baseline").count() == 0
    assert "not computed at k = 10" in page.locator("#hist-summary").inner_text()
    page.click("#histogram .baseline-missing button.compute")
    page.wait_for_function("document.querySelector('#hist-summary')?.dataset.baseline", timeout=120_000)
    stored = load_comparison(Registry(world["home"]), "A", "Q", k=K)
    assert float(page.locator("#hist-summary").get_attribute("data-baseline")) == pytest.approx(stored.mean, abs=1e-6)
