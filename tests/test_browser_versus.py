"""The analyzer page says which of the two shown spaces retrieves better (headless Chromium,
as test_browser.py): the label picker defaults to the colour column when it is categorical,
else to the first categorical column; "Compare retrieval" runs the server job and the panel
shows, per metric, both means, B - A, its paired 95% interval and p-value, and the verdict
sentence, all equal to :func:`spacelens.evaluate_versus` for the same spaces. Screenshot at
1440x900 in test-artifacts/views/."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from test_browser import ARTIFACTS, browser, serving, wait_ready  # noqa: F401

import spacelens
from spacelens import api

VIEWS = ARTIFACTS / "views"
N = 500
METRICS = {"precision_at_1": "P@1", "r_precision": "R-precision", "mean_average_precision_at_r": "MAP@R"}


@pytest.fixture(scope="module")
def versus_world(tmp_path_factory):
    """Space T (blurred classes) and A (sharper): A should retrieve better by `label`."""
    home = tmp_path_factory.mktemp("versus") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    rng = np.random.default_rng(11)
    lab = rng.integers(0, 6, N)
    centres = rng.normal(size=(6, 12)) * 1.3
    table = pd.DataFrame({"id": [f"it{i:04d}" for i in range(N)],
                          "group": rng.choice(["north", "south", "east"], N),   # the first categorical column
                          "label": [f"class {c}" for c in lab], "score": rng.random(N)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spacelens.add((centres[lab] + 1.4 * rng.normal(size=(N, 12))).astype(np.float32), table,
                      dataset_name="vs", experiment_name="triplet", space_name="T", home=home)
        spacelens.add((centres[lab] + 0.9 * rng.normal(size=(N, 12))).astype(np.float32), dataset_name="vs",
                      experiment_name="arcface", space_name="A", home=home)
    for s in ("T", "A"):
        api.project(s, method="pca", home=home)
    yield {"home": home}
    mp.undo()


@pytest.fixture(scope="module")
def versus_server(versus_world):
    with serving(versus_world["home"]) as url:
        yield url


@pytest.fixture
def page1440(browser):  # noqa: F811
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    ctx.close()
    assert not errors, errors


def _load(page, url, color):
    page.goto(url + f"?dataset=vs&a=T&b=A&method=pca&color={color}&k=10")
    wait_ready(page, 1)


def _signed(v):
    return f"{'+' if v >= 0 else '−'}{abs(v):.3f}"


def _p(p):
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def test_label_picker_defaults_to_the_colour_column_when_categorical(page1440, versus_server):
    page = page1440
    _load(page, versus_server, "score")   # numeric colouring: the first categorical column
    assert page.locator("#versus-label").input_value() == "group"
    assert page.locator("#versus-label option").all_inner_texts() == ["group", "label"]
    _load(page, versus_server, "label")   # categorical colouring: that column
    assert page.locator("#versus-label").input_value() == "label"


def test_compare_retrieval_shows_the_apis_numbers_and_verdict(page1440, versus_server, versus_world):
    page = page1440
    _load(page, versus_server, "label")
    page.click("#compare-retrieval")
    page.wait_for_selector("#versus p.verdict", timeout=180_000)
    want = spacelens.evaluate_versus("T", "A", label_field="label", home=versus_world["home"])
    for m, name in METRICS.items():
        row = page.locator(f'#versus tbody[data-metric="{m}"]')
        cell = lambda f: row.locator(f'[data-f="{f}"]').inner_text().strip()  # noqa: E731
        w = want["metrics"][m]
        assert row.locator("th").inner_text().strip() == name
        assert cell("a") == f"{w['mean_a']:.3f}"
        assert cell("b") == f"{w['mean_b']:.3f}"
        assert cell("difference") == _signed(w["difference"])
        assert cell("ci95") == f"{_signed(w['ci95'][0])} to {_signed(w['ci95'][1])}"
        assert cell("p") == _p(w["p_value"])
    assert page.locator("#versus p.verdict").inner_text().strip() == want["verdict"]
    # the data were built so that A retrieves better: the sentence and the colouring say so
    assert want["verdict"].startswith("A retrieves better than T")
    assert "b-ahead" in page.locator('#versus tbody[data-metric="mean_average_precision_at_r"] [data-f="difference"]'
                                     ).get_attribute("class")
    VIEWS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(VIEWS / "versus-1440x900.png"))
    page.locator("#versus-panel").screenshot(path=str(VIEWS / "versus-panel.png"))
