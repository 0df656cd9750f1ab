"""Readable controls and the Registry tab as an experiments view (#24 items 5 and 7), in headless
Chromium at 1440x900 and 1280x720, on a registry like the demo's: three experiments logged over
12 epochs (two of them one recipe with seeds 0 and 1), every epoch evaluated, the evolution of
one of them computed.

- The Registry tab's first screen (no scrolling, no click) shows the leaderboard as
  ``spacelens.leaderboard`` ranks it and the one param that differs between the two runs (the
  seed); the page is far shorter than the old 5,600-px dump, the raw records collapsed below.
- Each experiment's training curve has one point per stored figure, read from stored results.
- The space pickers group spaces by experiment, epochs in step order (2 before 10), each shown by
  what tells it apart ("epoch 10 · val"), the chosen one by its full name, every full name in a title.
- With two spaces, the evaluation panel marks per row the better one (per the catalogue's
  higher_is_better), in green, and green marks nothing else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _web import js, open_page, require_page, serving, shot, wait_ready, wait_registry, wait_settled

pytestmark = [pytest.mark.browser, pytest.mark.slow]
require_page()

import spacelens  # noqa: E402
from spacelens import api, catalogue  # noqa: E402

N = 240
EPOCHS = list(range(1, 13))
RECIPE = {"lr": 0.001, "batch_size": 32, "loss": {"name": "triplet", "margin": 0.1},
          "optimizer": {"name": "adam", "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0},
          "sampler": {"name": "m_per_class", "m": 4}, "trunk": "mlp", "embedder": "linear", "dim": 16,
          "epochs": 12, "iterations": 20, "precision": "fp32", "seed": 0}
VIEWPORTS = {"1440x900": (1440, 900), "1280x720": (1280, 720)}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("experiments") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    rng = np.random.default_rng(11)
    lab = rng.integers(0, 6, N)
    centers = rng.normal(size=(6, 16))
    table = pd.DataFrame({"id": [f"d{i:04d}" for i in range(N)], "label": lab})
    spacelens.add(rng.normal(size=(N, 16)), table, dataset_name="digits", experiment_name="pixels",
                  space_name="pixels", home=home)
    runs = {"tri": RECIPE, "tri-seed1": {**RECIPE, "seed": 1},
            "arc": {**RECIPE, "loss": {"name": "arcface", "scale": 64, "margin": 0.5}, "lr": 0.01}}
    for exp, params in runs.items():
        z = centers[lab] + 0.9 * rng.normal(size=(N, 16))   # what the run converges to; epochs drift towards it
        for step in sorted(EPOCHS, key=str):  # logged in name order: the pickers must sort by step
            name = f"{exp}.epoch_{step}.val"
            spacelens.log_space(name, z + 2.0 / step * rng.normal(size=(N, 16)), dataset="digits",
                                experiment=exp, step=step, split="val", params=params, run=f"{exp}-run", home=home)
            api.evaluate(name, label_field="label", home=home)
    ev = spacelens.evolution("tri", k=10, label_field="label", home=home)
    for s in ("tri.epoch_12.val", "arc.epoch_12.val", "tri.epoch_2.val", "tri-seed1.epoch_2.val"):
        api.project(s, method="pca", home=home)   # the maps the tests show
    # the page opens on the pair compared last
    api.compare("tri.epoch_12.val", "arc.epoch_12.val", k=10, home=home)
    yield {"home": home, "evolution": ev, "runs": runs}
    mp.undo()


@pytest.fixture(scope="module")
def server(world):
    with serving(world["home"]) as url:
        yield url


def _registry_tab(page, url):
    page.goto(url)
    wait_ready(page, 1)
    wait_settled(page)   # background jobs end by reloading the registry, which redraws the tab
    page.click("button.tab[data-tab='registry']")
    wait_registry(page)


def _in_window(page, selector: str, h: int) -> bool:
    loc = page.locator(selector).first
    loc.wait_for(state="visible", timeout=10_000)   # a late job's registry reload redraws the tab
    box = loc.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= h, (selector, box, h)
    return True


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_registry_tab_leads_with_the_leaderboard_and_what_differs(browser, server, world, size):
    w, h = VIEWPORTS[size]
    ref = spacelens.leaderboard("digits", home=world["home"])
    with open_page(browser, w, h) as page:
        _registry_tab(page, server)
        shot(page, "registry-experiments")
        assert js(page, "window.scrollY") == 0
        # the leaderboard, best first, as spacelens.leaderboard ranks it; its first rows in the window
        board = page.locator("table.leaderboard[data-dataset='digits']")
        assert board.count() == 1   # one settings group
        shown = board.locator("tbody tr").evaluate_all("rs => rs.map(r => r.dataset.space)")
        assert shown == [r["space"] for r in ref]
        for i in (1, 2, 3):
            assert _in_window(page, f"table.leaderboard tbody tr:nth-child({i})", h)
            cells = page.locator(f"table.leaderboard tbody tr:nth-child({i}) td").all_inner_texts()
            r = ref[i - 1]
            assert cells[:4] == [str(r["rank"]), r["space"], str(r["step"]), f"{r['mean_average_precision_at_r']:.3f}"]
        assert "MAP@R" in page.locator("table.leaderboard thead").inner_text()
        # the one param that tells the two runs of one recipe apart, in the window, not under "+N more"
        pair = page.locator("#xp-runs li.run-pair[data-a='tri'][data-b='tri-seed1']")
        assert pair.count() == 1 and _in_window(page, "#xp-runs li.run-pair .chip-diff[data-key='seed']", h)
        assert "seed 0 → 1" in pair.inner_text()
        assert page.locator("#xp-runs li.run-pair").count() == 1   # arc is another recipe
        # the raw records are collapsed; the page is far shorter than the old dump
        assert page.locator("#reg-raw").get_attribute("open") is None
        assert not page.locator("#reg-spaces").is_visible()
        assert js(page, "document.documentElement.scrollHeight") < 1600
        assert js(page, "document.documentElement.scrollWidth") <= w


def test_training_curves_are_the_stored_evolution(browser, server, world):
    ev = world["evolution"]
    with open_page(browser, 1440, 900) as page:
        _registry_tab(page, server)
        curve = page.locator(".curve[data-experiment='tri']")
        # one point per epoch's MAP@R and per epoch pair's Jaccard, each titled with its figure
        m = curve.locator("g.m circle title").evaluate_all("ts => ts.map(t => t.textContent)")
        j = curve.locator("g.j circle title").evaluate_all("ts => ts.map(t => t.textContent)")
        assert m == [f"epoch {e.step}: MAP@R {e.metrics['mean_average_precision_at_r']:.3f}" for e in ev.epochs]
        assert j == [f"epoch {e.step}: Jaccard to previous {e.jaccard_prev:.3f}" for e in ev.epochs[1:]]
        assert "k = 10" in curve.inner_text() and not curve.locator(".missing").count()
        # the reseeded run's Jaccard was never computed: no invented points, the command that fills them
        seed1 = page.locator(".curve[data-experiment='tri-seed1']")
        assert seed1.locator("g.j circle").count() == 0 and seed1.locator("g.m circle").count() == len(EPOCHS)
        assert "spacelens evolution tri-seed1 --split val -k 10 --label-field label" in seed1.inner_text()
        # the raw records open on a click, the experiments' differing params first
        page.click("#reg-raw > summary")
        row = page.locator("#reg-experiments tbody tr", has_text="tri-seed1")
        first = row.locator(".chip").first
        assert first.get_attribute("data-key") in {"seed", "lr", "loss.name", "loss.scale", "loss.margin"}
        assert "seed" in row.locator(".chip-diff").evaluate_all("els => els.map(e => e.dataset.key)")


def test_space_pickers_group_by_experiment_in_step_order(browser, server, world):
    with open_page(browser, 1440, 900) as page:
        page.goto(server)
        wait_settled(page)   # the UMAP maps computed in the background are drawn (the page redraws once)
        groups = page.locator("#space-a optgroup").evaluate_all("gs => gs.map(g => g.label)")
        assert groups == ["pixels", "tri", "tri-seed1", "arc"]   # experiments in registry order
        opts = page.locator("#space-a optgroup[label='tri'] option").evaluate_all(
            "os => os.map(o => [o.value, o.textContent, o.title, o.selected])")
        assert [o[0] for o in opts] == [f"tri.epoch_{s}.val" for s in EPOCHS]   # 2 before 10
        for value, text, title, selected in opts:
            assert title.startswith(f"{value}: experiment tri, step")
            step = value.split("_")[1].split(".")[0]
            assert text == (value if selected else f"epoch {step} · val")
        assert page.locator("#space-a").evaluate("s => s.selectedOptions[0].textContent") == "tri.epoch_12.val"
        assert page.locator("#space-a").get_attribute("title").startswith("tri.epoch_12.val")
        # choosing another: it shows its full name, the one chosen before its short one again
        gen = js(page, "Number(document.body.dataset.ready)")
        page.select_option("#space-a", "tri-seed1.epoch_2.val")
        wait_ready(page, gen + 1)
        assert page.locator("#space-a").evaluate("s => s.selectedOptions[0].textContent") == "tri-seed1.epoch_2.val"
        assert page.locator("#space-a option[value='tri.epoch_12.val']").text_content() == "epoch 12 · val"
        assert page.locator("#space-a").evaluate("s => s.getBoundingClientRect().width") >= \
            page.locator("#space-a").evaluate("s => { const c = document.createElement('canvas').getContext('2d');"
                                              " c.font = getComputedStyle(s).font;"
                                              " return c.measureText('tri-seed1.epoch_2.val').width; }")
        shot(page, "pickers")


def test_evaluation_panel_marks_the_better_space_per_row(browser, server, world):
    a, b = "tri.epoch_2.val", "arc.epoch_12.val"
    home = world["home"]
    with open_page(browser, 1440, 900) as page:
        page.goto(server + f"?dataset=digits&a={a}&b={b}&method=pca&color=label&k=10")
        wait_ready(page, 1)
        page.wait_for_selector(f"#evaluation table[data-space='{b}']", timeout=60_000)
        page.locator("#evaluation").scroll_into_view_if_needed()
        shot(page, "evaluation-winner")
        va = api.evaluate(a, label_field="label", home=home)
        vb = api.evaluate(b, label_field="label", home=home)
        higher = {f.name: f.higher_is_better for f in catalogue.METRICS}
        n_marked = 0
        for side, mine, other in ((a, va, vb), (b, vb, va)):
            rows = page.locator(f"#evaluation table[data-space='{side}'] tr:has(th[data-metric])")
            for i in range(rows.count()):
                m = rows.nth(i).locator("th").get_attribute("data-metric")
                won = rows.nth(i).locator("td.win").count() == 1
                x, y = mine.get(m), other.get(m)
                expect = higher.get(m) is not None and x is not None and y is not None and x != y and \
                    ((x > y) == higher[m])
                assert won == expect, (side, m, x, y)
                n_marked += won
        assert n_marked >= 3 and js(page, "document.querySelector('#evaluation').dataset.marked") == str(n_marked)
        assert "better" in page.locator("#evaluation .eval-key").inner_text()
        # green means better and nothing else in the panel
        greens = js(page, "[...document.querySelectorAll('#evaluation *')].filter(e => e.childElementCount === 0 && "
                          "getComputedStyle(e).color === 'rgb(21, 128, 61)').map(e => e.closest('td.win') !== null "
                          "|| e.classList.contains('win-mark'))")
        assert greens and all(greens)
