"""The analyzer page's audit panel (headless Chromium, as test_browser_versus.py) on planted data
(:func:`spacelens.audit.planted_problems`: leaks across splits, duplicates, label flips, outliers,
two blended classes) whose ids and labels hold markup. B is A with a little noise and 12 items
moved among another class (label errors only B raises).

"Audit" runs the server job; the panel leads with :func:`spacelens.audit`'s own answer sentence
(A against B), then each kind with its count; a click on a kind (or its "both" / "B only" part)
selects exactly those dataset rows in both maps; Export CSV downloads every flagged item, the
ids the library flagged; every text renders literally (no markup runs). Reopening the page reads
the stored audit back without a job. Screenshots at 1440x900 in test-artifacts/views/."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _hostile import IMG, QUOTE, SCRIPT
from _web import VIEWS, require_page, selected_rows, serving, shot, wait_ready

require_page()

import spacelens  # noqa: E402
from spacelens import api  # noqa: E402
from spacelens.audit import planted_problems  # noqa: E402

PREFIX = f"{IMG}c"    # every class name carries markup


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("audit") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    p = planted_problems(1200, seed=2, label_prefix=PREFIX)
    ids = np.array([(SCRIPT if i % 3 == 0 else QUOTE if i % 3 == 1 else "") + f"item-{i}"
                    for i in range(len(p.ids))], dtype=object)
    p.ids = ids
    rng = np.random.default_rng(1)
    b = p.vectors + 0.01 * rng.normal(size=p.vectors.shape).astype(np.float32)
    c3, c4 = f"{PREFIX}003", f"{PREFIX}004"
    clean = np.setdiff1d(np.flatnonzero(p.labels == c3),
                         np.concatenate([p.label_errors, p.outliers, p.leaks, p.duplicates]))[:12]
    b[clean] = b[np.flatnonzero(p.labels == c4)[:12]] + 0.02 * rng.normal(size=(12, b.shape[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spacelens.add(p.vectors, p.table(), dataset_name="toy", experiment_name="e", space_name="A",
                      id_field="id", home=home)
        spacelens.add(b.astype(np.float32), dataset_name="toy", experiment_name="e2", space_name="B", ids=ids,
                      home=home)
    for s in ("A", "B"):
        api.project(s, method="pca", home=home)
    yield {"home": home, "planted": p}
    mp.undo()


@pytest.fixture(scope="module")
def server(world):
    with serving(world["home"]) as url:
        yield url


def _open(page, url):
    page.goto(url + "?dataset=toy&a=A&b=B&method=pca&color=label&k=10")
    wait_ready(page, 1)


def _select(page, selector: str) -> set[int]:
    page.click(selector)
    page.wait_for_function("window.__sl.state.selectionLabel.includes('(audit)')", timeout=30_000)
    return set(page.evaluate("Array.from(window.__sl.state.selection)"))


def test_audit_panel_answers_selects_and_exports(page1440, server, world, tmp_path):
    page = page1440
    _open(page, server)
    assert page.locator("#audit-split").input_value() == "split"     # the column named like a split
    page.select_option("#audit-label", "label")
    page.click("#run-audit")
    page.wait_for_selector("#audit p.verdict", timeout=180_000)
    want = spacelens.audit("A", label_field="label", split_field="split", other="B", home=world["home"])
    d = want.to_dict()
    shown = page.locator("#audit p.verdict").inner_text().strip()                  # A's sentence, then the pair's
    assert f"{shown} {page.locator('#audit p.audit-versus').inner_text().strip()}" == want.answer
    assert shown.startswith(want.answer[:60]) and "flagged by both" not in shown    # hostile labels, literally
    assert PREFIX in want.answer                                                   # (the mixed pair names them)
    assert page.evaluate("window.__pwned") is None
    # every kind the library found, with its count
    for kind, v in d["kinds"].items():
        assert page.locator(f'#audit .audit-kind[data-kind="{kind}"]').get_attribute("data-n") == str(v["n"])
    assert int(page.locator('#audit .audit-kind[data-kind="mixed_classes"]').get_attribute("data-n")) \
        == len(d["mixed_classes"]) >= 1
    # effect on MAP@R: the library's figures
    m = d["effect"]["sets"]["label_error"]["metrics"]["mean_average_precision_at_r"]
    eff = page.locator('#audit tbody[data-set="label_error"]')
    assert eff.locator('[data-f="kept"]').inner_text().strip() == f"{m['all']:.3f} → {m['kept']:.3f}"
    sign = lambda v: f"{'+' if v >= 0 else '−'}{abs(v):.3f}"  # noqa: E731
    assert eff.locator('[data-f="ci95"]').inner_text().strip() == f"{sign(m['ci95'][0])} to {sign(m['ci95'][1])}"
    # ids render literally (markup in them stays text)
    first = d["items"][0]
    row = page.locator(f'#audit tr.audit-item[data-row="{first["row"]}"] .item-id').first
    assert row.inner_text() == first["id"]
    VIEWS.mkdir(parents=True, exist_ok=True)
    page.wait_for_function("document.querySelector('.side').scrollTop > 0", timeout=10_000)   # brought into view
    shot(page, "audit")
    page.locator("#audit-panel").screenshot(path=str(VIEWS / "audit-panel.png"))

    # a kind selects exactly its items in both maps
    errs = {i["row"] for i in d["items"] if i["kind"] == "label_error"}
    got = _select(page, '#audit button.audit-select[data-kind="label_error"][data-part="all"]')
    assert got == errs and len(errs) >= 15
    assert selected_rows(page, "A") == selected_rows(page, "B") == errs
    assert page.locator("#selection-info").get_attribute("data-count") == str(len(errs))
    shot(page, "audit-selected")
    # the two-space parts: both, and B only (B's moved items)
    v = d["versus"]["kinds"]
    assert _select(page, '#audit button.audit-select[data-kind="leak"][data-part="both"]') == set(v["leak"]["rows_both"])
    only_b = _select(page, '#audit button.audit-select[data-kind="label_error"][data-part="only_b"]')
    assert only_b == set(v["label_error"]["rows_only_b"]) and len(only_b) >= 6
    assert selected_rows(page, "B") == only_b
    # an item selects itself and its evidence partner (a leak and its reference copy)
    leak = next(i for i in d["items"] if i["kind"] == "leak")
    got = _select(page, f'#audit tr.audit-item[data-row="{leak["row"]}"]')
    assert got == {leak["row"], leak["partner_row"]}

    # export: every flagged item, the library's ids, who flags each
    with page.expect_download() as dl:
        page.click("#audit button.export-audit")
    path = tmp_path / "audit.csv"
    dl.value.save_as(path)
    t = pd.read_csv(path, keep_default_na=False, dtype={"id": str})
    assert t["id"].tolist()[:len(d["items"])] == [i["id"] for i in d["items"]]
    assert set(t.loc[t["kind"] == "label_error", "row"]) == errs | only_b
    assert set(t.loc[t["flagged_by"] == "B only", "row"]) >= only_b
    assert page.evaluate("window.__pwned") is None


def test_reopened_page_reads_the_stored_audit_back(page1440, server, world):
    """The audit stored by the test above (or computed here through the API) shows on open without a job."""
    page = page1440
    import httpx

    want = spacelens.audit("A", label_field="label", split_field="split", other="B", home=world["home"])
    before = len(httpx.get(server + "api/jobs").json())
    _open(page, server)
    page.select_option("#audit-label", "label")
    page.wait_for_selector("#audit p.verdict", timeout=30_000)
    assert want.answer.startswith(page.locator("#audit p.verdict").inner_text().strip())
    jobs = page.evaluate("fetch('api/jobs').then(r => r.json())")
    assert not [j for j in jobs[before:] if j["kind"] == "audit"]   # read back, not computed again
    # one space alone (B = A) is another audit, not computed: the panel says what it would do
    page.select_option("#audit-split", "")
    page.wait_for_function("!document.querySelector('#audit p.verdict')", timeout=10_000)
    assert "Leaks, duplicates" in page.locator("#audit").inner_text()
