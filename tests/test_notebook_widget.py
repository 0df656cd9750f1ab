"""The notebook widget in a real JupyterLab and a real Notebook 7, driven in headless Chromium
(issue 18's proof).

Each test starts a Jupyter server (tests/_lab.py: offline, token auth, its own config/runtime
folders) on a notebook whose first cell shows ``spacelens.widget(...)`` of two embeddings of
scikit-learn's digits, waits for the notebook's kernel, runs that cell and checks that both
maps' canvases draw; hovering a point shows that item's id, label and Jaccard in the widget's
tooltip. In JupyterLab it then lassoes a region of map A and runs a cell that
prints ``w.selection``: the kernel must see the rows the page selected, with the digits' own
labels. In both front ends a cell calls ``w.select(...)`` and both maps must highlight those
items. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from _web import ARTIFACTS, CHROMIUM, chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
pytest.importorskip("anywidget", reason="the notebook extra is not installed (pip install 'spacelens[notebook]')")
pytest.importorskip("jupyterlab", reason="jupyterlab is not installed (pip install 'spacelens[notebook,test]')")
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from _lab import ink, jupyter, notebook_json, open_notebook, run_cell  # noqa: E402

import spacelens  # noqa: E402
from spacelens.notebook.analyzer import STATIC  # noqa: E402

if not (STATIC / "widget.js").is_file():
    pytest.skip("the widget's front end is not built (run: make web)", allow_module_level=True)

SRC = Path(spacelens.__file__).resolve().parents[1]
N = 500

SETUP = f"""\
import json
import numpy as np
import spacelens
from sklearn.datasets import load_digits

X, y = load_digits(return_X_y=True)
X, y = X[:{N}], y[:{N}]
B = X @ np.random.default_rng(0).normal(size=(64, 16))
w = spacelens.widget(X, B, labels=y, names=("pixels", "projected"), color="label", map="pca", height=340)
w"""
READ = 'print("SELECTION=" + json.dumps({"rows": w.selection["row"].tolist(), "label": w.selection["label"].tolist()}))'
SELECT = 'w.select([str(i) for i in range(0, 500, 10)]); print("SELECTED=" + json.dumps(w.selected_rows))'


NOTEBOOK = notebook_json([SETUP, READ, SELECT])


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def digits_labels():
    from sklearn.datasets import load_digits

    return load_digits(return_X_y=True)[1][:N]


def served(app: str, tmp_path_factory):
    return jupyter(app, tmp_path_factory.mktemp(app), {"widget.ipynb": NOTEBOOK}, SRC)


def map_state(page, side: str) -> dict:
    """Whether the map drew, its points, and how many of them its scatterplot has selected."""
    return page.evaluate("""(side) => {
        const r = document.querySelector(`.slw .map[data-side="${side}"]`);
        const view = document.querySelector('.slw').__slw.maps[side];
        return { drawn: r?.dataset.drawn, points: Number(r?.dataset.points ?? 0), selected: view.selectedCount() };
    }""", side)


def front_selection(page) -> list[int]:
    return page.evaluate("() => Array.from(document.querySelector('.slw').__slw.selection)")


def show_widget(page, shot: str):
    """Run the widget's cell; both maps draw all N points coloured by the 10 digits."""
    run_cell(page, 0)
    # generous waits on state, not on speed: the first cell imports and computes both maps in
    # the kernel, which took over 3 minutes once on a machine busy with other work
    page.wait_for_selector('.slw .map[data-side="A"][data-drawn="1"]', timeout=600_000)
    page.wait_for_selector('.slw .map[data-side="B"][data-drawn="1"]', timeout=300_000)
    page.wait_for_selector(".slw[data-ready]", timeout=300_000)
    widget = page.locator(".slw")
    widget.scroll_into_view_if_needed()
    assert map_state(page, "A")["points"] == N and map_state(page, "B")["points"] == N
    # both canvases hold drawn points, coloured by the digits' labels (a legend of 10 classes)
    for side in "AB":
        assert ink(page.locator(f'.slw .map[data-side="{side}"] canvas').screenshot()) > 500
    assert page.locator(".slw-legend .swatches li").count() == 10
    assert "mean Jaccard" in page.locator(".slw-hist").inner_text()
    widget.screenshot(path=str(ARTIFACTS / shot))
    return widget


def hover_shows_item(page, side: str, labels, shot: str | None = None) -> int:
    """Hover the most isolated point of one map: the widget's tooltip names that item (its id,
    here its row as text) with its label, as the kernel holds them."""
    target = page.evaluate("""(side) => {
        const view = document.querySelector('.slw').__slw.maps[side];
        const box = view.canvas.getBoundingClientRect();
        const pts = Array.from({ length: view.n }, (_, i) => view.plot.getScreenPosition(i));
        let best = -1, far = -1;
        pts.forEach(([x, y], i) => {
            if (x < 20 || y < 20 || x > box.width - 20 || y > box.height - 20) return;
            let near = Infinity;
            pts.forEach(([u, v], j) => { if (j !== i) near = Math.min(near, (x - u) ** 2 + (y - v) ** 2); });
            if (near > far) { far = near; best = i; }
        });
        const [x, y] = pts[best];
        return { row: view.rows[best], x: box.left + x, y: box.top + y };
    }""", side)
    page.mouse.move(target["x"] - 6, target["y"] - 6)
    page.mouse.move(target["x"], target["y"], steps=3)
    tip = page.locator(".slw-tooltip")
    tip.and_(page.locator("[data-id]")).wait_for(timeout=30_000)
    row = target["row"]
    assert tip.get_attribute("data-row") == str(row)
    assert tip.locator(".tip-id").inner_text() == str(row)   # the arrays' ids are their row numbers
    fields = dict(zip(tip.locator("th").all_inner_texts(), tip.locator("td").all_inner_texts()))
    assert fields["label"] == str(labels[row])
    assert 0 <= float(fields["Jaccard A/B"]) <= 1
    if shot:
        page.locator(".slw").screenshot(path=str(ARTIFACTS / shot))
    page.mouse.move(1, 1)   # off the maps: the tooltip goes
    page.wait_for_selector(".slw-tooltip", state="hidden", timeout=10_000)
    return row


def select_from_python(page, widget, shot: str):
    """w.select(...) in the kernel: both maps highlight exactly those items."""
    want = list(range(0, N, 10))
    text = run_cell(page, 2, "SELECTED=")
    assert json.loads(re.search(r"SELECTED=(.*)", text).group(1)) == want
    page.wait_for_function("(n) => ['A', 'B'].every((s) => document.querySelector('.slw').__slw.maps[s]"
                           ".selectedCount() === n)", arg=len(want), timeout=30_000)
    assert front_selection(page) == want
    assert page.locator(".slw-selection").get_attribute("data-count") == str(len(want))
    widget.screenshot(path=str(ARTIFACTS / shot))


def test_widget_in_jupyterlab(browser, tmp_path_factory, digits_labels):
    ARTIFACTS.mkdir(exist_ok=True)
    y = digits_labels
    with served("jupyterlab", tmp_path_factory) as server, open_notebook(browser, server, "widget.ipynb") as page:
        widget = show_widget(page, "notebook-widget.png")
        hover_shows_item(page, "A", y, "notebook-widget-hover.png")
        hover_shows_item(page, "B", y)

        # a lasso in map A: the selection shows in both maps, and in the kernel as w.selection
        page.locator(".slw-lasso").check()
        box = page.locator('.slw .map[data-side="A"] canvas').bounding_box()
        cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, min(box["width"], box["height"]) / 4
        page.mouse.move(cx + r, cy)
        page.mouse.down()
        for t in np.linspace(0, 2 * np.pi, 40):
            page.mouse.move(cx + r * np.cos(t), cy + r * np.sin(t), steps=2)
        page.mouse.up()
        page.wait_for_function("() => Number(document.querySelector('.slw-selection').dataset.count) > 1",
                               timeout=30_000)
        rows = front_selection(page)
        assert 1 < len(rows) < N
        assert map_state(page, "A")["selected"] == len(rows) == map_state(page, "B")["selected"]
        widget.screenshot(path=str(ARTIFACTS / "notebook-widget-lasso.png"))
        text = run_cell(page, 1, "SELECTION=")
        got = json.loads(re.search(r"SELECTION=(.*)", text).group(1))
        assert got["rows"] == rows
        assert got["label"] == y[rows].tolist()  # the metadata of exactly those items

        select_from_python(page, widget, "notebook-widget-select.png")
        assert not page.errors, page.errors


def test_widget_in_notebook7(browser, tmp_path_factory, digits_labels):
    pytest.importorskip("notebook", minversion="7", reason="Notebook 7 is not installed (pip install 'notebook>=7')")
    ARTIFACTS.mkdir(exist_ok=True)
    with served("notebook", tmp_path_factory) as server, open_notebook(browser, server, "widget.ipynb") as page:
        assert page.locator("#main-panel, .jp-NotebookPanel").count() > 0 and "/notebooks/" in page.url
        widget = show_widget(page, "notebook7-widget.png")
        hover_shows_item(page, "B", digits_labels)
        select_from_python(page, widget, "notebook7-widget-select.png")
        page.screenshot(path=str(ARTIFACTS / "notebook7-page.png"))
        assert not page.errors, page.errors
