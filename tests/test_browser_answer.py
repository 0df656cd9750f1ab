"""The answer strip (issue 24, item 1): on open, with no click, above the fold at 1440x900 and
1280x720, the page says which space retrieves better, how alike the neighbourhoods are against
chance and the seed baseline (found automatically), and where they differ most; every number
equals spacelens.answer's (which takes them from evaluate_versus and compare); a class in the
"where" sentence is one click from selecting its items."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _web import open_page, require_page, serving, shot, wait_ready

require_page()

import spacelens  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A (blurred), its reseed A2 (same recipe, seed 2), B (sharp); labels evaluated once."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    h = tmp_path_factory.mktemp("answer") / "home"
    rng = np.random.default_rng(21)
    n, d, c = 500, 16, 6
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
    yield h
    mp.undo()


@pytest.mark.parametrize("size", [(1440, 900), (1280, 720)])
def test_the_answer_is_on_the_first_screen(world, browser, size):
    w, h = size
    with serving(world) as url, open_page(browser, w, h) as page:
        page.goto(f"{url}?dataset=d&a=A&b=B&method=pca&color=label")
        wait_ready(page, 1)
        page.wait_for_selector("#answer[data-state=done]", timeout=120_000)
        want = spacelens.answer("A", "B", k=10, home=world)
        assert want["baseline"] == "A2" and [s["key"] for s in want["sentences"]] == ["retrieval", "agreement", "where"]
        got = page.locator("#answer .sentence").all_inner_texts()
        for sentence, text in zip(want["sentences"], got):
            assert text.startswith(sentence["text"])
        # above the fold, without a click or a scroll
        for i in range(3):
            box = page.locator("#answer .sentence").nth(i).bounding_box()
            assert box is not None and box["y"] + box["height"] <= h
        assert page.evaluate("window.scrollY") == 0
        # the numbers are evaluate_versus's and compare's
        vs = spacelens.evaluate_versus("A", "B", label_field="label", baseline="A2", home=world)
        m = vs["metrics"]["mean_average_precision_at_r"]
        assert f"{m['mean_b']:.3f}" in got[0] and f"{m['mean_a']:.3f}" in got[0]
        cmp = spacelens.compare("A", "B", k=10, home=world)
        assert f"{cmp.mean:.3f}" in got[1]
        # the reseeded run found is the versus panel's baseline pair too
        assert page.locator("#versus-baseline").input_value() == "A2"
        assert "(reseeded run of A)" in page.locator("#versus-baseline option[value='A2']").inner_text()
        # a class of the "where" sentence selects its items in both maps
        where = want["sentences"][2]["classes"][0]
        page.locator("#answer .select-group").first.click()
        sel = page.evaluate("Array.from(window.__sl.state.selection)")
        assert sorted(sel) == sorted(where["rows"])
        # the comparison the answer stored is on the page too (no "not compared yet")
        page.wait_for_selector("#hist-summary", timeout=60_000)
        shot(page, "answer-strip")


def test_the_page_opens_on_the_pair_asked_about_not_its_seed_baseline(world, browser):
    """The answer stores A vs its reseed C after A vs B; with nothing in the address the page opens
    on A vs B (the pair compared last that is not two runs of one recipe)."""
    from spacelens.views.data import list_comparisons

    spacelens.answer("A", "B", k=10, home=world)   # stores A-B, then the baseline A-A2
    rows = list_comparisons(spacelens.open_registry(world))
    flagged = {(r["a"], r["b"]) for r in rows if r["seed_pair"]}
    assert ("A", "A2") in flagged and ("A", "B") not in flagged
    with serving(world) as url, open_page(browser, 1440, 900) as page:
        page.goto(url)
        wait_ready(page, 1)
        assert page.locator("#map-a .map-title").inner_text() == "A: A"
        assert page.locator("#map-b .map-title").inner_text() == "B: B"
