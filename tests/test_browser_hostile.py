"""Hostile text everywhere (#23): a dataset whose ids, column names and values hold markup that
runs script if it ever reaches ``innerHTML`` unescaped (``<img src=x onerror=window.__pwned=1>``,
``<script>``, an attribute breaker), 5,000-character strings and right-to-left text, two spaces
over it (tests/_hostile.py), shown in every panel of the page as served (with its
Content-Security-Policy), in the notebook widget (hosted in a bare page with a stand-in model
that asks the widget's own Python answers) and in the HTML report. Nothing may run (no
``window.__pwned``, no dialog, no CSP violation, no page error) and the text must show literally.
"""

from __future__ import annotations

import base64
import warnings
from urllib.parse import urlencode

import pytest
from _web import hover_point, js, open_page, require_page, serving, shot, wait_ready, wait_registry

import _hostile as h

require_page()
pytestmark = pytest.mark.browser

# before any script of the page: count CSP violations (a refused inline script or handler)
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    w = h.build(tmp / "home")
    w["tmp"] = tmp
    yield w
    mp.undo()


@pytest.fixture(scope="module")
def server(world):
    with serving(world["home"]) as url:
        yield url


def watched(page) -> dict:
    """What the page must never do: dialogs fired, messages on the console about the policy."""
    seen = {"dialogs": [], "console": []}
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.on("console", lambda m: seen["console"].append(m.text) if m.type in ("error", "warning") else None)
    page.add_init_script(WATCH)
    return seen


def assert_nothing_ran(page, seen):
    assert js(page, "typeof window.__pwned") == "undefined"
    assert seen["dialogs"] == []
    assert js(page, "window.__csp ?? []") == []  # (a page made by set_content runs no init script)
    assert not [m for m in seen["console"] if "Content Security Policy" in m or "Refused" in m], seen["console"]
    # no element made from the data: no <img src=x>, <svg onload>, <script> beyond the page's own
    assert js(page, "document.querySelectorAll('img[src=\"x\"], img[src=\"y\"], svg[onload], [onerror], [onfocus],"
                    " [onmouseover]').length") == 0
    assert js(page, "Array.from(document.scripts).every(s => s.src)")


def text(page, selector: str) -> str:
    return page.locator(selector).inner_text()


def test_hostile_text_on_every_panel_of_the_page(browser, world, server):
    with open_page(browser, 1440, 900) as page:
        seen = watched(page)
        q = urlencode({"dataset": h.DATASET, "a": h.A, "b": h.B, "method": "pca", "color": h.CLASS_COL, "k": h.K})
        page.goto(f"{server}?{q}")
        wait_ready(page, 1)
        # the legend of the hostile column: its name and values as text, the long one whole
        page.wait_for_function("document.querySelector('#legend').dataset.by !== undefined", timeout=30_000)
        legend = text(page, "#legend")
        assert h.CLASS_COL in legend and h.IMG in legend and h.SCRIPT in legend and h.ARABIC in legend
        assert h.HEBREW in legend and h.QUOTE in legend and h.LONG in legend
        assert h.IMG in "".join(page.locator("#legend li").evaluate_all("els => els.map(e => e.title)"))
        # colour by the hostile numeric column: its name titles the colour bar
        page.select_option("#color", h.SCORE_COL)
        page.wait_for_function(f"document.querySelector('#legend').dataset.by === {h.SCORE_COL!r}", timeout=30_000)
        assert h.SCORE_COL in text(page, "#legend")
        assert "mean Jaccard" in text(page, "#histogram")
        # the tooltip of a hovered item: its id and every column, literally
        x, y, _ = hover_point(page, "A", 5)
        page.locator("#tooltip[data-id]").wait_for(timeout=30_000)
        row = int(page.locator("#tooltip").get_attribute("data-row"))
        tip = text(page, "#tooltip")
        assert world["table"]["id"][row] in tip and h.CLASS_COL in tip and h.NOTE_COL in tip
        value = world["table"][h.CLASS_COL][row]
        if len(value) <= 120:
            assert value in tip
        else:   # long text shows as an excerpt, the whole value (literally) in the cell's title
            assert value[:100] in tip and value not in tip
            titles = page.evaluate("[...document.querySelectorAll('#tooltip [title]')].map(e => e.title)")
            assert value in titles
        # the neighbour tables of a clicked item: ids, column names and values as text
        page.mouse.click(x, y)
        page.locator("#table-a tbody tr").first.wait_for(timeout=30_000)
        table = text(page, "#table-a")
        assert h.CLASS_COL in table and h.NOTE_COL in table and any(v in table for v in (h.IMG, h.SCRIPT))
        assert world["table"]["id"][row] in text(page, "#query-info")
        shot(page, "hostile-query")
        # search suggestions: ids and the matching text
        page.fill("#search", "<img src=x")
        page.locator("#search-results li[data-row]").first.wait_for(timeout=30_000)
        hits = text(page, "#search-results")
        assert h.IMG in hits
        page.keyboard.press("Escape")
        # the changes panel: the group of the reshuffled class, described by the hostile column and value
        page.click("#find-groups")
        page.locator("#groups li[data-rank]").first.wait_for(timeout=120_000)
        groups = text(page, "#groups")
        assert f"{h.CLASS_COL}={h.IMG}" in groups
        assert h.IMG in page.locator("#groups li[data-rank]").first.get_attribute("title")
        # the versus panel by the hostile label column: per-class rows name its values
        page.select_option("#versus-label", h.CLASS_COL)
        page.click("#compare-retrieval")
        page.locator("#versus .verdict").wait_for(timeout=120_000)
        versus = text(page, "#versus")
        assert h.CLASS_COL in versus
        if page.locator("#versus button.toggle-classes").count():  # every class, not only those B gains or loses
            page.click("#versus button.toggle-classes")
        assert all(v in text(page, "#versus") for v in (h.IMG, h.SCRIPT, h.ARABIC, h.HEBREW))
        # the evaluation panel: the evaluation by the hostile column
        assert h.CLASS_COL in text(page, "#evaluation")
        shot(page, "hostile-panels")
        # the registry tab: column names, the experiment's params (markup as a key and a value)
        page.click("button.tab[data-tab=registry]")
        wait_registry(page, 30)
        lead = text(page, "#xp")  # the experiments view: the leaderboard names the spaces and the label column
        assert h.CLASS_COL in lead and (h.A in lead or h.B in lead)
        page.click("#reg-raw > summary")  # the raw records, collapsed under it
        page.locator("#reg-datasets tbody tr").first.wait_for(timeout=30_000)
        reg = text(page, "#registry")
        assert h.CLASS_COL in reg and h.IMG in reg and h.A in reg and h.B in reg
        assert h.SCRIPT in "".join(page.locator("#registry .chip").evaluate_all("els => els.map(e => e.title)"))
        shot(page, "hostile-registry")
        assert_nothing_ran(page, seen)


def test_hostile_text_in_the_report(browser, world):
    import spacelens

    out = spacelens.report(h.A, h.B, world["tmp"] / "report.html", label_field=h.CLASS_COL, k=str(h.K),
                           home=world["home"])
    with open_page(browser, 1100, 900) as page:
        seen = watched(page)
        page.goto((world["tmp"] / "report.html").resolve().as_uri())
        page.wait_for_load_state("load")
        body = text(page, "body")
        assert h.IMG in body and h.CLASS_COL in body and h.ARABIC in body and h.HEBREW in body
        assert f"{h.CLASS_COL}={h.IMG}" in body   # the group's description
        assert out["html"]
        assert_nothing_ran(page, seen)


def test_hostile_text_in_the_widget(browser, world):
    """The widget's bundle in a bare page; its model's messages are answered by the widget's own
    Python (``SpacelensWidget._on_message``), as a kernel would."""
    pytest.importorskip("anywidget", reason="the notebook extra is not installed")
    import spacelens
    from spacelens.notebook.analyzer import STATIC

    if not (STATIC / "widget.js").is_file():
        pytest.skip("the widget's front end is not built (run: make web)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = spacelens.widget(h.A, h.B, color=h.CLASS_COL, map="pca", k=h.K, home=world["home"], height=360)
    replies = []
    w.send = lambda msg, buffers=None: replies.append((msg, buffers or []))

    def ask(content):
        replies.clear()
        w._on_message(w, content, [])
        msg, bufs = replies[-1]
        return {"msg": msg, "buffers": [base64.b64encode(bytes(b)).decode() for b in bufs]}

    state = {"spaces": list(w.spaces), "dataset": w.dataset, "method": w.method, "color": w.color, "k": w.k,
             "columns": list(w.columns), "selected_rows": [], "height": w.height}
    with open_page(browser, 1200, 800) as page:
        seen = watched(page)
        page.expose_function("slwAsk", ask)
        page.set_content("<!doctype html><html><head><meta charset='utf-8'></head><body><div id='w'></div></body></html>")
        page.add_style_tag(content=(STATIC / "widget.css").read_text())
        page.evaluate("""async ([code, state]) => {
            const listeners = {};
            const model = {
              get: (k) => state[k], set: (k, v) => { state[k] = v; }, save_changes: () => {},
              on: (ev, cb) => { (listeners[ev] ??= []).push(cb); },
              off: () => {},
              send: (content) => { window.slwAsk(content).then(({ msg, buffers }) => {
                const views = buffers.map((b) => { const s = atob(b); const u = new Uint8Array(s.length);
                  for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i); return new DataView(u.buffer); });
                for (const cb of listeners['msg:custom'] ?? []) cb(msg, views);
              }); },
            };
            const url = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
            const mod = await import(url);
            const widget = mod.default ?? mod;
            const render = widget.render ?? (await widget.initialize?.({ model }), widget.render);
            await render({ model, el: document.getElementById('w') });
        }""", [(STATIC / "widget.js").read_text(), state])
        page.wait_for_selector('.slw .map[data-side="A"][data-drawn="1"]', timeout=120_000)
        page.wait_for_selector('.slw .map[data-side="B"][data-drawn="1"]', timeout=120_000)
        # the legend renders when the colours arrive, which may be after the maps are drawn
        page.wait_for_function("(document.querySelector('.slw-legend')?.textContent ?? '').length > 0",
                               timeout=60_000)
        legend = text(page, ".slw-legend")
        assert h.CLASS_COL in legend and h.IMG in legend and h.SCRIPT in legend and h.HEBREW in legend
        assert h.CLASS_COL in text(page, ".slw-color")
        # hover and click a point: the tooltip and the neighbour tables show the hostile text
        view = "document.querySelector('.slw').__slw.maps.A"
        px, py = js(page, f"{view}.plot.getScreenPosition(5)")
        box = page.locator('.slw .map[data-side="A"] canvas').bounding_box()
        x, y = box["x"] + px, box["y"] + py
        page.mouse.move(x - 5, y - 5)
        page.mouse.move(x, y, steps=3)
        page.locator(".slw-tooltip[data-id]").wait_for(timeout=30_000)
        assert h.CLASS_COL in text(page, ".slw-tooltip")
        page.mouse.click(x, y)
        page.locator(".slw-table-a tbody tr").first.wait_for(timeout=30_000)
        assert h.CLASS_COL in text(page, ".slw-table-a") and h.A in text(page, ".slw-ta")
        shot(page, "hostile-widget")
        assert_nothing_ran(page, seen)
