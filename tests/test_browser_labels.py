"""Integer class ids with 1,000 classes are labels on the page (issue 27): the versus panel offers
the column and its button works, the colour picker offers it as categories, and the legend says
that the largest classes are in colour and the rest grey."""

from __future__ import annotations

import numpy as np
import pytest
from _web import require_page, serving, shot, wait_ready
from test_labels import _table

require_page()

import spacelens  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    h = tmp_path_factory.mktemp("browser-labels") / "home"
    t = _table(3000, 1000, seed=3)
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(1000, 8)) * 3
    for name, noise in (("A", 1.0), ("B", 0.3)):
        x = (centres[t["label"].to_numpy()] + noise * rng.normal(size=(len(t), 8))).astype(np.float32)
        spacelens.add(x, t if name == "A" else None, dataset_name="d", experiment_name=name, space_name=name, home=h)
        spacelens.project(name, method="pca", home=h)
    yield h
    mp.undo()


def test_integer_labels_with_1000_classes_on_the_page(world, page1440):
    page = page1440
    with serving(world) as url:
        page.goto(f"{url}?dataset=d&a=A&b=B&method=pca&color=label")
        wait_ready(page, 1)
        assert page.locator("#color option[value='label']").inner_text() == "label (categories)"
        page.wait_for_function("document.querySelector('#legend').dataset.by === 'label'", timeout=30_000)
        legend = page.locator("#legend").inner_text()
        assert "970 smaller classes" in legend and "30 largest of 1,000 classes in colour" in legend
        # the versus panel offers the integer column as labels (a float column is not offered)
        options = page.locator("#versus-label option").all_inner_texts()
        assert options[0] == "label" and "score" not in options and "id" not in options
        btn = page.locator("#compare-retrieval")
        assert btn.is_enabled()
        btn.click()
        page.wait_for_selector("#versus .verdict", timeout=120_000)
        want = spacelens.evaluate_versus("A", "B", label_field="label", home=world)
        assert page.locator("#versus .verdict").inner_text() == want["verdict"]
        shot(page, "labels-1000-classes")
