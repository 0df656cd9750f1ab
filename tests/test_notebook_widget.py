"""The notebook widget in a real JupyterLab, driven in headless Chromium (issue 18's proof).

The test starts a JupyterLab server (offline, token auth, its own config/runtime folders) on a
notebook whose first cell shows ``spacelens.widget(...)`` of two embeddings of scikit-learn's
digits. In the browser it runs that cell, checks that both maps' canvases draw, lassoes a
region of map A and runs a cell that prints ``w.selection``: the kernel must see the rows the
page selected, with the digits' own labels. Then a cell calls ``w.select(...)`` and both maps
must highlight those items. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--enable-unsafe-swiftshader"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
TOKEN = "spacelens-test-token"
N = 500

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
pytest.importorskip("anywidget", reason="the notebook extra is not installed (pip install 'spacelens[notebook]')")
pytest.importorskip("jupyterlab", reason="jupyterlab is not installed (pip install 'spacelens[notebook,test]')")
playwright_sync = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

import spacelens  # noqa: E402
from spacelens.notebook.analyzer import STATIC  # noqa: E402

if not (STATIC / "widget.js").is_file():
    pytest.skip("the widget's front end is not built (run: make web)", allow_module_level=True)

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notebook(cells: list[str]) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None, "outputs": [],
                       "source": src} for i, src in enumerate(cells)]}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a folder holding widget.ipynb; yields its base URL."""
    root = tmp_path_factory.mktemp("lab")
    (root / "widget.ipynb").write_text(json.dumps(notebook([SETUP, READ, SELECT])))
    port = free_port()
    src = str(Path(spacelens.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
           "JUPYTER_CONFIG_DIR": str(root / ".config"), "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
           "IPYTHONDIR": str(root / ".ipython"), "SPACELENS_HOME": str(root / ".spacelens"),
           "SPACELENS_NO_PROGRESS": "1", "MPLBACKEND": "Agg"}
    log = open(root / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={TOKEN}", "--allow-root", f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={root / '.ws'}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=None"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"JupyterLab did not start:\n{(root / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield base, root
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def page(lab):
    base, root = lab
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = ctx.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(f"{base}/lab/tree/widget.ipynb?token={TOKEN}", wait_until="domcontentloaded")
        pg.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        pg.errors = errors
        yield pg
        browser.close()


def run_cell(page, i: int, expect: str | None = None, timeout: float = 120_000) -> str:
    """Run cell ``i`` with Shift+Enter; with ``expect``, wait for that text in its output."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(i)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    if expect is None:
        return ""
    out = cell.locator(".jp-OutputArea-output")
    out.filter(has_text=expect).first.wait_for(timeout=timeout)
    return out.all_inner_texts()[-1]


def ink(png: bytes) -> int:
    """Pixels of a screenshot that are not the white background."""
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int((np.abs(a - 255).sum(axis=2) > 60).sum())


def map_state(page, side: str) -> dict:
    """Whether the map drew, its points, and how many of them its scatterplot has selected."""
    return page.evaluate("""(side) => {
        const r = document.querySelector(`.slw .map[data-side="${side}"]`);
        const view = document.querySelector('.slw').__slw.maps[side];
        return { drawn: r?.dataset.drawn, points: Number(r?.dataset.points ?? 0), selected: view.selectedCount() };
    }""", side)


def front_selection(page) -> list[int]:
    return page.evaluate("() => Array.from(document.querySelector('.slw').__slw.selection)")


def test_widget_in_jupyterlab(page):
    ARTIFACTS.mkdir(exist_ok=True)
    from sklearn.datasets import load_digits

    _, y = load_digits(return_X_y=True)
    y = y[:N]

    run_cell(page, 0)
    # generous waits on state, not on speed: the first cell imports and computes both maps in the
    # kernel, which took over 3 minutes once on a machine busy with other work
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
    widget.screenshot(path=str(ARTIFACTS / "notebook-widget.png"))

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

    # w.select(...) in the kernel: both maps highlight those items
    want = list(range(0, N, 10))
    run_cell(page, 2, "SELECTED=")
    page.wait_for_function("(n) => ['A', 'B'].every((s) => document.querySelector('.slw').__slw.maps[s]"
                           ".selectedCount() === n)", arg=len(want), timeout=30_000)
    assert front_selection(page) == want
    assert page.locator(".slw-selection").get_attribute("data-count") == str(len(want))
    widget.screenshot(path=str(ARTIFACTS / "notebook-widget-select.png"))
    assert not page.errors, page.errors
