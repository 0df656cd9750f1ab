"""The answer strip's line for the shown items (issue 26): with a filter on, under the answer's
sentences, one sentence gives the figures for the items still shown, equal to
spacelens.answer_subset.subset_figures for those rows (the answer's label column and seed
baseline), says which filter (its words escaped), shows its state while computing, keeps to the
strip's height at 1440x900 and 1280x720, follows the latest filter, and goes with the filter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _web import open_page, require_page, serving, shot, wait_ready

require_page()

import spacelens  # noqa: E402
from spacelens.answer_subset import subset_figures  # noqa: E402

N = 500
HOSTILE = "label is <img src=x onerror=window.__pwned=1> or class 2"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A (blurred), its reseed A2, B (sharp); labels evaluated once (the answer's label column)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    h = tmp_path_factory.mktemp("figures") / "home"
    rng = np.random.default_rng(26)
    n, d, c = N, 16, 6
    lab = rng.integers(0, c, n)
    centres = rng.normal(size=(c, d)) * 2
    t = pd.DataFrame({"id": [f"i{i}" for i in range(n)], "label": [f"class {x}" for x in lab]})
    recipes = {"A": ("triplet", 1, 1.2), "A2": ("triplet", 2, 1.2), "B": ("arcface", 1, 0.5)}
    for name, (model, seed, noise) in recipes.items():
        x = (centres[lab] + noise * rng.normal(size=(n, d))).astype(np.float32)
        spacelens.add(x, t if name == "A" else None, dataset_name="d", experiment_name=f"run-{name}",
                      model_name=model, params={"lr": 0.01, "seed": seed}, space_name=name, home=h)
        spacelens.project(name, method="pca", home=h)
    spacelens.evaluate("A", label_field="label", clustering=False, home=h)
    yield {"home": h, "labels": lab}
    mp.undo()


def set_filter(page, rows, label=HOSTILE):
    page.evaluate("([rows, label]) => window.__sl.setFilter('test', label, window.__sl.rowsMask(rows))",
                  [list(map(int, rows)), label])


def want(world, rows) -> dict:
    return subset_figures(spacelens.open_registry(world["home"]), "A", "B", rows, k=10, label_field="label",
                          baseline="A2")


@pytest.mark.parametrize("size", [(1440, 900), (1280, 720)])
def test_the_shown_items_figures_under_the_answer(world, browser, size):
    w, h = size
    lab = world["labels"]
    rows = np.flatnonzero((lab == 1) | (lab == 2))
    with serving(world["home"]) as url, open_page(browser, w, h) as page:
        page.goto(f"{url}?dataset=d&a=A&b=B&method=pca&color=label")
        wait_ready(page, 1)
        page.wait_for_selector("#answer[data-state=done]", timeout=120_000)
        assert page.locator("#answer .shown-figures").count() == 0        # no filter, no line
        answer = spacelens.answer("A", "B", k=10, home=world["home"])
        assert answer["baseline"] == "A2" and answer["label_field"] == "label"

        set_filter(page, rows)
        page.wait_for_selector("#answer .shown-figures[data-state=done]", timeout=60_000)
        fig = want(world, rows)
        line = page.locator("#answer .shown-figures")
        assert line.locator(".text").inner_text() == fig["sentence"]
        assert line.locator(".filters").inner_text() == f"(filtered: {HOSTILE})"     # as text, never markup
        assert page.evaluate("window.__pwned") is None
        # its numbers are the library's, for these rows
        r, ag = fig["retrieval"], fig["agreement"]
        assert fig["n_items"] == len(rows) and r["n_queries"] == len(rows) and r["winner"] == "B"
        text = fig["sentence"]
        assert f"On the {len(rows):,} shown items B retrieves better than A" in text
        assert f"{ag['mean']:.3f}" in text and f"{ag['ci95'][0]:.3f} to {ag['ci95'][1]:.3f}" in text
        assert f"all items {ag['all_items']['mean']:.3f}" in text
        # on the first screen, inside the strip (which keeps its height), "details" at its end
        strip = page.locator("#answer").bounding_box()
        box = line.bounding_box()
        assert box["y"] + box["height"] <= strip["y"] + strip["height"] + 1 and strip["y"] + strip["height"] <= h
        assert line.locator(".details").count() == 1
        for key in ("retrieval", "agreement"):
            assert page.locator(f"#answer .sentence.{key}").is_visible()
        shot(page, "figures")

        # two filters in quick succession: the latest is the one shown
        few = rows[:40]
        other = np.flatnonzero(lab == 3)
        set_filter(page, few, "first")
        set_filter(page, other, "label is class 3")
        page.wait_for_function("document.querySelector('#answer .shown-figures')?.dataset.state === 'done'"
                               f" && document.querySelector('#answer .shown-figures').dataset.rows === '{len(other)}'",
                               timeout=60_000)
        assert line.locator(".text").inner_text() == want(world, other)["sentence"]
        assert line.locator(".filters").inner_text() == "(filtered: label is class 3)"

        # the filter dropped: the line goes, "details" back on the last sentence
        page.evaluate("window.__sl.setFilter('test', '', null)")
        assert page.locator("#answer .shown-figures").count() == 0
        assert page.locator("#answer .sentence.where .details").count() == 1
        assert "filtered" not in (page.locator("#answer").get_attribute("class") or "")


def test_too_few_shown_items_say_so(world, browser):
    with serving(world["home"]) as url, open_page(browser, 1440, 900) as page:
        page.goto(f"{url}?dataset=d&a=A&b=B&method=pca&color=label")
        wait_ready(page, 1)
        page.wait_for_selector("#answer[data-state=done]", timeout=120_000)
        set_filter(page, [0, 1, 2, 3, 4], "five items")
        page.wait_for_selector("#answer .shown-figures[data-state=done]", timeout=60_000)
        text = page.locator("#answer .shown-figures .text").inner_text()
        assert text == want(world, [0, 1, 2, 3, 4])["sentence"] and "too few for an interval" in text
