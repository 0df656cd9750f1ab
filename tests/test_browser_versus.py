"""The analyzer page says which of the two shown spaces retrieves better (headless Chromium,
as test_browser.py): the label picker defaults to the colour column when it is categorical,
else to the first categorical column; "Compare retrieval" runs the server job and the panel
shows, per metric, both means, B - A, its paired 95% interval and p-value, and the verdict
sentence, all equal to :func:`spacelens.evaluate_versus` for the same spaces. With a baseline
pair (A and T2, a reseeded run of A) it also shows C - A per metric with its interval and p,
whether B - A goes beyond it, and the verdict read against it; the per-class table lists the
classes where B gains and loses most (top 3 each way, "show all", another metric), each row the
library's, and a click on a class selects exactly that class's items in both maps. The maps do
not move when the result appears. Screenshots at 1440x900 in test-artifacts/views/."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _web import VIEWS, require_page, serving, wait_ready

require_page()

import spacelens  # noqa: E402
from spacelens import api, catalogue  # noqa: E402

N = 500
METRICS = {m: catalogue.short(m) for m in ("precision_at_1", "r_precision", "mean_average_precision_at_r")}


@pytest.fixture(scope="module")
def versus_world(tmp_path_factory):
    """Space T (blurred classes), T2 (T's recipe, another seed: the baseline) and A (sharper in
    classes 0-3, blurrier in 4-5): A should retrieve better by `label`, gaining in 4 classes and
    losing in 2."""
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
        sharp = np.array([0.8, 0.8, 0.8, 0.9, 1.7, 1.8])
        spacelens.add((centres[lab] + sharp[lab, None] * rng.normal(size=(N, 12))).astype(np.float32),
                      dataset_name="vs", experiment_name="arcface", space_name="A", home=home)
        spacelens.add((centres[lab] + 1.4 * rng.normal(size=(N, 12))).astype(np.float32), dataset_name="vs",
                      experiment_name="triplet", space_name="T2", home=home)
    for s in ("T", "A"):
        api.project(s, method="pca", home=home)
    yield {"home": home, "labels": np.array([f"class {c}" for c in lab])}
    mp.undo()


@pytest.fixture(scope="module")
def versus_server(versus_world):
    with serving(versus_world["home"]) as url:
        yield url



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
    # the answer is brought into view: the side column scrolls until the verdict is on screen
    page.wait_for_function("""() => {
        const v = document.querySelector('#versus p.verdict').getBoundingClientRect();
        const side = document.querySelector('.side').getBoundingClientRect();
        return v.top >= side.top && v.bottom <= Math.min(side.bottom, window.innerHeight);
    }""", timeout=10_000)
    assert page.evaluate("document.querySelector('.side').scrollTop") > 0       # it was below the fold
    assert page.evaluate("window.scrollY") == 0                                 # the page itself did not move
    assert page.locator("#versus-baseline").input_value() == ""   # no baseline unless picked
    assert page.locator('#versus [data-f="base-difference"]').count() == 0
    # the data were built so that A retrieves better: the sentence and the colouring say so
    assert want["verdict"].startswith("A retrieves better than T")
    assert "b-ahead" in page.locator('#versus tbody[data-metric="mean_average_precision_at_r"] [data-f="difference"]'
                                     ).get_attribute("class")
    VIEWS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(VIEWS / "versus-1440x900.png"))
    page.locator("#versus-panel").screenshot(path=str(VIEWS / "versus-panel.png"))


def _cells(row, fields=("n", "a", "b", "difference")) -> list[str]:
    return [row.locator("td.cls").inner_text().strip()] + [row.locator(f'[data-f="{f}"]').inner_text().strip()
                                                           for f in fields]


def _want_row(r) -> list[str]:
    return [str(r["label"]), f"{r['n']:,}", f"{r['a']:.3f}", f"{r['b']:.3f}", _signed(r["difference"])]


def test_baseline_and_per_class_rows_equal_the_api(page1440, versus_server, versus_world):
    page = page1440
    _load(page, versus_server, "label")
    # the baseline pair: A vs one of the dataset's other spaces, none by default
    assert page.locator("#versus-baseline option").all_inner_texts() == ["none", "T2"]
    page.select_option("#versus-baseline", "T2")
    before = [page.locator(s).bounding_box() for s in ("#map-a", "#map-b")]
    page.click("#compare-retrieval")
    page.wait_for_selector("#versus p.verdict", timeout=180_000)
    assert [page.locator(s).bounding_box() for s in ("#map-a", "#map-b")] == before   # the maps do not move
    want = spacelens.evaluate_versus("T", "A", label_field="label", baseline="T2", home=versus_world["home"])
    base = want["baseline"]
    assert base["space"] == "T2"
    for m, name in METRICS.items():
        row = page.locator(f'#versus table.seeds tr[data-metric="{m}"]')
        cell = lambda f: row.locator(f'[data-f="{f}"]').inner_text().strip()  # noqa: E731
        w, c = want["metrics"][m], base["metrics"][m]
        assert row.locator("th").inner_text().strip() == name
        assert cell("base-difference") == _signed(c["difference"])
        assert cell("base-ci95") == f"{_signed(c['ci95'][0])} to {_signed(c['ci95'][1])}"
        assert cell("base-p") == _p(c["p_value"])
        # beyond seed noise: B - A's interval excludes 0 and |B - A| exceeds C - A's whole interval
        beyond = (w["ci95"][0] > 0 or w["ci95"][1] < 0) and abs(w["difference"]) > max(map(abs, c["ci95"]))
        assert base["beyond"][m] == beyond
        assert page.locator(f'#versus tbody[data-metric="{m}"] [data-f="beyond"]').inner_text().strip() == \
            ("beyond" if beyond else "within")
    assert page.locator("#versus p.verdict").inner_text().strip() == want["verdict"]
    assert "That is more than two runs of T's recipe differ (T2 - T = " in want["verdict"]
    assert page.locator("#versus .seed-head").inner_text().strip() == "Seed noise: C − A, C = T2"

    # per class, MAP@R: the 3 largest gains of B, then its losses, as the library computes them
    per = want["per_class"]["mean_average_precision_at_r"]
    gains = sorted((r for r in per if r["difference"] > 0), key=lambda r: -r["difference"])[:3]
    losses = sorted((r for r in per if r["difference"] < 0), key=lambda r: r["difference"])[:3]
    assert len(gains) == 3 and len(losses) == 2   # as the data were built: 4 gains, 2 losses
    box = page.locator("#versus-classes")
    assert [_cells(r) for r in box.locator("tbody.gains tr.class-row").all()] == [_want_row(r) for r in gains]
    assert [_cells(r) for r in box.locator("tbody.losses tr.class-row").all()] == [_want_row(r) for r in losses]
    w = want["wins"]["mean_average_precision_at_r"]
    assert box.locator('[data-f="wins"]').inner_text().strip() == f"B ahead in {w['b']} of {w['classes']}, A in {w['a']}"
    # nothing sticks out of the 330-px side panel: every table and line ends inside it
    assert page.evaluate("""() => { const box = document.querySelector('#versus').getBoundingClientRect();
      return [...document.querySelectorAll('#versus table, #versus tr, #versus p, #versus .per-class-head')]
        .filter(e => e.getBoundingClientRect().right > box.right + 0.5).map(e => e.outerHTML.slice(0, 80)); }""") == []
    VIEWS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(VIEWS / "versus-baseline-1440x900.png"))
    page.locator("#versus-panel").screenshot(path=str(VIEWS / "versus-baseline-panel.png"))
    # show all: every class, B's largest gain first
    box.locator("button.toggle-classes").click()
    assert [_cells(r) for r in box.locator("tbody.all tr.class-row").all()] == \
        [_want_row(r) for r in sorted(per, key=lambda r: -r["difference"])]
    assert box.locator("button.toggle-classes").inner_text().strip() == "show fewer"
    # another metric: its own per-class rows and wins
    box.locator("select.class-metric").select_option("precision_at_1")
    per1 = want["per_class"]["precision_at_1"]
    assert [_cells(r) for r in box.locator("tbody.all tr.class-row").all()] == \
        [_want_row(r) for r in sorted(per1, key=lambda r: -r["difference"])]
    w1 = want["wins"]["precision_at_1"]
    assert box.locator('[data-f="wins"]').inner_text().strip().startswith(f"B ahead in {w1['b']} of {w1['classes']}")

    # a click on a class selects exactly its items, in both maps
    worst = losses[0]["label"]
    box.locator("tr.class-row", has_text=worst).first.click()
    page.wait_for_function("window.__sl.state.selection.length > 0", timeout=30_000)
    rows = page.evaluate("Array.from(window.__sl.state.selection)")
    truth = np.flatnonzero(versus_world["labels"] == worst).tolist()
    assert rows == truth
    assert page.evaluate("[window.__sl.maps.A.selectedCount(), window.__sl.maps.B.selectedCount()]") == [len(truth)] * 2
    assert worst in page.locator("#selection-info").inner_text()
    assert box.locator("tr.class-row.picked").all_inner_texts()[0].startswith(worst)
    page.screenshot(path=str(VIEWS / "versus-class-selected-1440x900.png"))
    page.click("#clear-selection")   # the mark goes with the selection
    page.wait_for_function("window.__sl.state.selection.length === 0", timeout=30_000)
    assert box.locator("tr.class-row.picked").count() == 0
