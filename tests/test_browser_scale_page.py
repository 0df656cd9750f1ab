"""The page at scale (issue 28, item 2): where the budget would sample the pair's comparison, the
page opens on the sampled answer (its first line says so; the strip keeps its height), draws the
maps in their metadata colours, starts no comparison by itself (on open, nor on a new pair), and
offers the per-item agreement with what it would cost; the click starts a *full* comparison job,
and when it is stored the maps take its colours, the histogram fills in with brute force's
counts, and the answer is asked again (no longer sampled).

The rule's size threshold is lowered (FULL_ALWAYS_MAX_ITEMS = 100, DEFAULT_SAMPLE = 150, budget a
microsecond) so that 400 items count as large; the server and its jobs run in this process
(``jobs="thread"``), where those settings hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _spaces import brute_jaccard
from _web import open_page, require_page, serving, shot, wait_ready

require_page()

import spacelens  # noqa: E402
from spacelens import budget  # noqa: E402


N, K = 400, 7
JOBS = "fetch('api/jobs').then(r => r.json()).then(js => js.map(j => [j.kind, j.params.full === true, j.params.b]))"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    mp.setenv(budget.BUDGET_ENV, "0.000001")
    mp.setattr(budget, "FULL_ALWAYS_MAX_ITEMS", 100)
    mp.setattr(budget, "DEFAULT_SAMPLE", 150)
    h = tmp_path_factory.mktemp("scale-page") / "home"
    rng = np.random.default_rng(8)
    lab = rng.integers(0, 5, N)
    centres = rng.normal(size=(5, 6)) * 2
    t = pd.DataFrame({"id": [f"i{i:03d}" for i in range(N)], "label": [f"class {x}" for x in lab]})
    xs = {}
    for name, noise in (("A", 1.0), ("B", 1.6), ("C", 2.0)):
        xs[name] = (centres[lab] + noise * rng.normal(size=(N, 6))).astype(np.float32)
        spacelens.add(xs[name], t if name == "A" else None, dataset_name="d", experiment_name=f"run{name}",
                      space_name=name, home=h)
        spacelens.project(name, method="pca", home=h)
    yield h, xs
    mp.undo()


def test_the_page_at_scale_answers_from_a_sample_and_computes_agreement_only_when_asked(world, browser):
    home, xs = world
    with serving(home, jobs="thread") as url, open_page(browser, 1440, 900) as page:
        page.goto(f"{url}?dataset=d&a=A&b=B&method=pca&color=label&k={K}")
        wait_ready(page, 1)
        top = page.locator("#map-a").bounding_box()["y"]
        page.wait_for_selector("#answer[data-state=done]", timeout=120_000)
        # the answer's first line says it is sampled (the server's whole line in its title)
        want = spacelens.answer("A", "B", k=K, baseline=False, home=home)
        first = page.locator("#answer p").first
        assert first.get_attribute("class") == "sampled-note"
        short = first.locator(".short")
        assert short.inner_text().startswith("Sampled answer: 150 random items of 400, with 95% intervals")
        assert short.get_attribute("title") == want["sampled"]
        assert page.locator("#answer .sentence.agreement").inner_text().startswith(want["sentences"][0]["text"][:40])
        assert page.locator("#map-a").bounding_box()["y"] == top   # the strip kept its height: the maps stayed
        # the maps keep their metadata colours; nothing was started but the answer
        assert page.evaluate("window.__sl.state.colors.header.kind") == "categorical"
        assert page.evaluate(JOBS) == [["answer", False, "B"]]
        assert page.evaluate("window.__sl.jobsRunning()") == 0
        # in the histogram panel: what per-item agreement costs, and the button
        offer = page.locator("#histogram .scale-offer")
        assert offer.inner_text().startswith("Per-item agreement needs both kNN graphs: about 1 s here.")
        assert page.locator("#histogram .compute").inner_text() == "Compute in the background"
        assert page.locator("#compute-missing").inner_text() == "Compute missing (1)"
        shot(page, "scale-before")
        # another pair: no comparison is started for it either (a small pair's would be)
        page.select_option("#space-b", "C")
        wait_ready(page, 2)
        page.wait_for_selector("#histogram .scale-offer", timeout=60_000)
        page.wait_for_selector("#answer[data-state=done]", timeout=120_000)
        assert [j[0] for j in page.evaluate(JOBS)] == ["answer", "answer"]
        page.select_option("#space-b", "B")
        wait_ready(page, 3)
        page.wait_for_selector("#answer[data-state=done]", timeout=120_000)
        page.wait_for_selector("#histogram .scale-offer", timeout=60_000)
        assert [j[0] for j in page.evaluate(JOBS)] == ["answer", "answer", "answer"]

        # the click starts the full comparison; once stored the maps take its colours and the histogram fills in
        page.locator("#histogram .compute").click()
        page.wait_for_function("window.__sl.state.comparison !== null && window.__sl.state.colors?.header.kind === 'coincidence'",
                               timeout=120_000, polling=100)
        page.wait_for_selector("#hist-summary", timeout=60_000)
        jobs = page.evaluate(JOBS)
        assert ["comparison", True, "B"] in jobs and not any(j[0] == "comparison" and not j[1] for j in jobs)
        assert page.locator("#color").input_value() == "coincidence"
        assert page.locator("#compute-missing").is_hidden()
        # every item's agreement, as brute force counts it
        hist = page.evaluate("window.__sl.state.comparison.header.histogram")
        jac = brute_jaccard(xs["A"], xs["B"], K)
        assert sum(hist["counts"]) == N
        values, counts = np.unique(np.round(jac, 6), return_counts=True)
        got = {round(v, 6): c for v, c in zip(hist["values"], hist["counts"]) if c}
        assert got == dict(zip(values.tolist(), counts.tolist()))
        assert page.evaluate("window.__sl.state.comparison.header.mean") == pytest.approx(jac.mean(), abs=1e-6)
        # the answer is asked again: from every item now, no sampled line
        page.wait_for_function("document.querySelector('#answer').dataset.state === 'done' && "
                               "!document.querySelector('#answer .sampled-note')", timeout=120_000, polling=100)
        assert page.locator("#answer .sentence.agreement").inner_text().startswith(
            spacelens.answer("A", "B", k=K, baseline=False, home=home)["sentences"][0]["text"][:40])
        shot(page, "scale-after")
