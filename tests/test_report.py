"""spacelens report: the content equals the API's figures, every section is present, the page is
self-contained (no script, no external resource), and it renders in headless Chromium with no
console error and no network request."""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from _web import ARTIFACTS, CHROMIUM, chromium

import spacelens
from spacelens.errors import SpacelensError

SECTIONS = ("summary", "agreement", "noise", "where", "structure", "retrieval", "audit")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from conftest import make_labeled

    tmp = tmp_path_factory.mktemp("report")
    home = tmp / "home"
    data = make_labeled(tmp, n=400, n_classes=6, seed=4)
    rng = np.random.default_rng(4)
    a = data.vectors
    b = a + 1.2 * rng.normal(size=a.shape)
    centers = np.array([a[data.labels == c].mean(0) for c in range(6)])
    b[data.labels == 2] += 0.8 * (centers[5] - centers[2])      # class 2 drifts toward class 5 in b
    a2 = a + 0.3 * rng.normal(size=a.shape)
    os.environ["SPACELENS_NO_PROGRESS"] = "1"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spacelens.add(a, data.csv, dataset_name="items", experiment_name="e", space_name="A", home=home)
        spacelens.add(b.astype(np.float32), dataset_name="items", experiment_name="e", space_name="B", home=home)
        spacelens.add(a2.astype(np.float32), dataset_name="items", experiment_name="e", space_name="A2", home=home)
    out = spacelens.report("A", "B", tmp / "out" / "report.html", baseline="A2", label_field="label", k="5,10",
                           home=home)
    return {"home": home, "tmp": tmp, "out": out, "labels": data.labels}


def test_content_equals_the_api(world):
    home, out = world["home"], world["out"]
    content = json.loads(Path(out["json"]).read_text())
    cmp = spacelens.compare("A", "B", k="5,10", baseline="A2", by="label", home=home)
    for k in ("5", "10"):
        assert content["agreement"]["curve"][k]["overlap"] == pytest.approx(cmp.info["curve"][k]["overlap"])
        assert content["agreement"]["curve"][k]["cknna"] == pytest.approx(cmp.info["curve"][k]["cknna"])
        assert content["noise"]["difference"][k]["jaccard"]["difference"] == pytest.approx(
            cmp.info["baseline_difference"][k]["jaccard"]["difference"])
    assert content["agreement"]["cka_unbiased"] == pytest.approx(cmp.info["cka_unbiased"])
    vs = spacelens.evaluate_versus("A", "B", label_field="label", baseline="A2", home=home)
    assert content["retrieval"]["metrics"] == vs["metrics"]
    assert content["retrieval"]["verdict"] == vs["verdict"]
    comp = spacelens.composition("A", "B", label_field="label", k=10, home=home)
    assert content["structure"]["pairs"] == comp["pairs"]
    assert (content["structure"]["pairs"][0]["class"], content["structure"]["pairs"][0]["neighbour_class"]) == (2, 5)
    changed = spacelens.changed_items(cmp, k=10, home=home)
    assert [r["id"] for r in content["where"]["changed_most"]] == changed["id"].head(20).tolist()
    assert len(content["summary"]) >= 5
    groups = spacelens.change_groups(cmp, k=10, top=8, home=home)
    assert [g["rows"] for g in content["where"]["groups"]["groups"]] == [g["rows"] for g in groups["groups"]]
    assert groups["groups"] and content["where"]["groups"]["groups"][0]["description"] == groups["groups"][0]["description"]
    assert any(s.startswith("Region to look at first") for s in content["summary"])


def test_audit_section_equals_the_api(world):
    """Can the evaluation be trusted? The report's audit is spacelens.audit's (A against B), its
    MAP@R over all queries is evaluate's, and the page shows the sentence and the top items."""
    from html import escape

    home, out = world["home"], world["out"]
    au = json.loads(Path(out["json"]).read_text())["audit"]
    ref = spacelens.audit("A", label_field="label", other="B", home=home)
    d = ref.to_dict()
    assert au["answer"] == ref.answer and "flagged by both" in au["answer"]
    assert {k: v["n"] for k, v in au["kinds"].items()} == {k: v["n"] for k, v in d["kinds"].items()}
    assert set(au["kinds"]) == {"duplicate", "label_error", "outlier"}          # no split column: no leaks
    for kind in au["kinds"]:
        want = ref.to_frame(kind)["id"].head(5).tolist()
        assert [i["id"] for i in au["top"][kind]] == want
    assert au["versus"]["kinds"] == {k: {n: v[n] for n in ("both", "only_a", "only_b")}
                                     for k, v in d["versus"]["kinds"].items()}
    assert au["n_flagged"] == len(d["items"])
    m = "mean_average_precision_at_r"
    ev = spacelens.evaluate("A", label_field="label", clustering=False, home=home)
    for name in ("label_error", "clean", "any"):
        got = au["effect"]["sets"][name]["metrics"][m]
        assert got["all"] == pytest.approx(ev[m], abs=1e-12)
        assert got["kept"] == pytest.approx(d["effect"]["sets"][name]["metrics"][m]["kept"], abs=1e-12)
    html = Path(out["html"]).read_text()
    section = html[html.index('<section id="audit">'):]
    section = section[:section.index("</section>")]
    assert "Can the evaluation be trusted?" in section
    assert escape(ref.answer.split(";")[0]) in section
    for kind in au["kinds"]:
        for item in au["top"][kind]:
            assert escape(item["id"]) in section


def test_page_is_self_contained_with_every_section(world):
    html = Path(world["out"]["html"]).read_text()
    for s in SECTIONS:
        assert f'id="{s}"' in html, s
    assert "<script" not in html.lower()
    # no external reference: every src/href is a data: URI
    refs = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)', html)
    assert refs and all(r.startswith("data:") for r in refs)
    assert not re.search(r"url\((?!data:)", html)
    assert html.count("data:image/svg+xml;base64,") >= 5     # curve, histogram, groups, mixing, retrieval
    assert "in B, " in html and "of class 2&#x27;s neighbours are class 5" in html
    assert "Regions to look at first" in html and "label=" in html
    mask = os.umask(0)
    os.umask(mask)
    assert Path(world["out"]["html"]).stat().st_mode & 0o777 == 0o666 & ~mask   # shareable, not mkstemp's 0600


def test_cli_report(cli, home, tmp_path):
    from conftest import make_labeled

    d = make_labeled(tmp_path, n=200)
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spacelens.add(d.vectors, d.csv, dataset_name="items", experiment_name="e", space_name="x", home=home)
        spacelens.add(d.vectors + rng.normal(size=d.vectors.shape).astype(np.float32), dataset_name="items",
                      experiment_name="e", space_name="y", home=home)
    r = cli("report", "x", "y", "-o", tmp_path / "r.html", "-k", "10", check=True)
    assert "report written to" in r.out
    assert (tmp_path / "r.html").exists() and (tmp_path / "r.json").exists()
    content = json.loads((tmp_path / "r.json").read_text())
    assert "retrieval" not in content and "noise" not in content     # no labels, no baseline: those are left out
    html = (tmp_path / "r.html").read_text()
    assert 'id="agreement"' in html and 'id="retrieval"' not in html
    bad = cli("report", "x", "y", "-o", tmp_path / "r.pdf")
    assert bad.code == 1 and "does not end in .html" in bad.err
    with pytest.raises(SpacelensError):
        spacelens.report("x", "y", tmp_path / "r.txt", home=home)


@pytest.mark.browser
def test_renders_in_headless_chromium_without_errors_or_requests(world):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    path = Path(world["out"]["html"]).resolve()
    with chromium() as browser:
        ctx = browser.new_context(viewport={"width": 1100, "height": 900})
        page = ctx.new_page()
        console, requests, failed = [], [], []
        page.on("console", lambda m: console.append((m.type, m.text)))
        page.on("pageerror", lambda e: console.append(("pageerror", str(e))))
        page.on("request", lambda r: requests.append(r.url))
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        for s in SECTIONS:
            assert page.locator(f"section#{s}").count() == 1, s
        # every plot decoded and drew (an undecodable data: URI leaves naturalWidth 0)
        sizes = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
        assert len(sizes) >= 5 and all(ok and w > 100 for ok, w in sizes), sizes
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        ctx.close()
    errors = [t for t in console if t[0] in ("error", "pageerror")]
    assert not errors, errors
    external = [u for u in requests if not (u.startswith("file://") or u.startswith("data:"))]
    assert not external and not failed, (external, failed)


# -- hostile text (#23) ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    import _hostile

    tmp = tmp_path_factory.mktemp("hostile-report")
    os.environ["SPACELENS_NO_PROGRESS"] = "1"
    _hostile.build(tmp / "home", derived=False)
    out = spacelens.report(_hostile.A, _hostile.B, tmp / "report.html", label_field=_hostile.CLASS_COL, k="10",
                           home=tmp / "home")
    return Path(out["html"]).read_text()


def test_hostile_text_is_escaped_in_the_report(hostile_report):
    """Ids, column names and values holding markup, a <script>, an attribute breaker, 5,000
    characters and right-to-left text come out as text: escaped, never as elements or attributes."""
    from html import escape
    from html.parser import HTMLParser

    import _hostile as h

    html = hostile_report
    for raw in (h.IMG, h.SCRIPT, h.CLASS_COL, h.SCORE_COL, "<img src=y", "<svg", "\"' autofocus"):
        assert raw not in html, raw
    assert escape(h.IMG) in html and escape(h.CLASS_COL) in html and escape(h.SCRIPT) in html
    assert h.ARABIC in html and h.HEBREW in html and h.A in html and h.B in html
    assert escape(h.LONG) in html   # whole, not cut
    elements, attrs = [], []

    class Scan(HTMLParser):
        def handle_starttag(self, tag, a):
            elements.append(tag)
            attrs.extend((tag, k, v or "") for k, v in a)

    Scan().feed(html)
    assert "script" not in elements and "svg" not in elements
    assert not [a for a in attrs if a[1].startswith("on") or a[1] == "autofocus"], "an attribute was injected"
    assert all(v.startswith("data:image/") for t, k, v in attrs if k in ("src", "href"))
    assert {v for t, k, v in attrs if t == "img" and k == "src"} and "x" not in {v for t, k, v in attrs if k == "src"}
    # the page's own policy: no script of any kind, no base URL, no form, no plugin
    policy = re.search(r"http-equiv='Content-Security-Policy' content=\"([^\"]+)\"", html).group(1)
    assert "default-src 'none'" in policy and "script-src" not in policy and "base-uri 'none'" in policy


# -- the answer first (issue 24) ------------------------------------------------------------------

def test_report_opens_with_the_apis_answer(world):
    """The first section after the title holds the answer's sentences, and the JSON's answer is
    the API's (the same baseline and label field)."""
    from html import unescape

    home, out = world["home"], world["out"]
    content = json.loads(Path(out["json"]).read_text())
    ans = spacelens.answer("A", "B", label_field="label", baseline="A2", home=home)
    assert content["answer"] == ans
    assert [s["key"] for s in ans["sentences"]] == ["retrieval", "agreement", "where"]
    html = Path(out["html"]).read_text()
    body = html.split("</h1>", 1)[1]
    first = re.match(r"\s*<section id=\"(\w+)\">(.*?)</section>", body, re.S)
    assert first and first.group(1) == "answer"
    items = [unescape(re.sub(r"<[^>]+>", "", li)) for li in re.findall(r"<li>(.*?)</li>", first.group(2), re.S)]
    assert items == [s["text"] for s in ans["sentences"]]


def test_report_has_two_maps_short_headers_and_unbroken_intervals(world):
    html = Path(world["out"]["html"]).read_text()
    maps = re.search(r'<section id="maps">(.*?)</section>', html, re.S).group(1)
    imgs = re.findall(r'<img alt="PCA map of (\w)" src="data:image/png;base64,([^"]+)"', maps)
    assert [a for a, _ in imgs] == ["A", "B"]
    import base64

    for _, data in imgs:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    # headers name the spaces by alias only, never by their full names
    for th in re.findall(r"<th[^>]*>(.*?)</th>", html):
        assert th not in ("A2",) and "A2" not in th, th
    assert "<th>B − A</th>" in html and "<th>A</th>" in html
    # every interval is a no-wrap span, in tables and in sentences; cells and headers do not wrap
    css = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    assert re.search(r"\.ci\{white-space:nowrap\}", css)
    assert re.search(r"th,td\{[^}]*white-space:nowrap", css)
    text = re.sub(r'<span class="ci">[^<]*</span>', "", html)
    assert not re.search(r"[+\-−]?\d\.\d+ to [+\-−]?\d\.\d+", re.sub(r"<style>.*?</style>", "", text, flags=re.S))


def test_heatmap_cells_and_colour_bar_share_one_unit(world):
    from spacelens.report.figures import composition_change

    content = json.loads(Path(world["out"]["json"]).read_text())
    svg = composition_change(content)
    assert "percentage points" in svg


def test_baseline_is_proposed_for_the_report(home, tmp_path):
    from conftest import make_labeled

    data = make_labeled(tmp_path, n=200, n_classes=4, seed=1)
    rng = np.random.default_rng(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, exp, seed, step in (("a.e2", "a", 0, 2), ("a.e1", "a", 0, 1), ("b.e2", "b", 0, 2),
                                      ("a-s1.e2", "a-s1", 1, 2), ("b.e1", "b", 0, 1)):
            params = {"lr": 1e-3, "seed": seed, "loss": "arc" if exp == "b" else "tri"}
            spacelens.add((data.vectors + 0.5 * rng.normal(size=data.vectors.shape)).astype(np.float32),
                          data.csv, dataset_name="items", experiment_name=exp, space_name=name, params=params,
                          step=step, split="val", home=home)
    out = spacelens.report("a.e2", "b.e2", tmp_path / "r.html", label_field="label", k=10, home=home)
    assert out["baseline"] == "a-s1.e2" and out["answer"]["baseline_source"] == "proposed"
    assert [c["experiment"] for c in out["training"]["curves"]] == ["a", "b"]
    html = Path(out["html"]).read_text()
    assert 'id="training"' in html and 'alt="training curves"' in html
    none = spacelens.report("a.e2", "b.e2", tmp_path / "r2.html", baseline="none", k=10, home=home)
    assert none["baseline"] is None and "noise" not in none


def test_report_audits_spaces_that_embed_one_split_of_a_two_split_dataset(tmp_path):
    """The dataset's split column has train and val, the spaces only val (as the demo's): the
    audit section runs without a split (nothing can leak) instead of failing the report."""
    import numpy as np
    import pandas as pd

    import spacelens

    h = tmp_path / "h"
    rng = np.random.default_rng(0)
    n = 200
    t = pd.DataFrame({"id": [f"i{i}" for i in range(n)], "label": rng.integers(0, 4, n),
                      "split": np.where(np.arange(n) < 100, "train", "val")})
    val = t[t["split"] == "val"]
    for name in ("A", "B"):
        spacelens.add(rng.normal(size=(len(val), 6)).astype(np.float32), t if name == "A" else None,
                      ids=val["id"].to_numpy(), dataset_name="d", experiment_name=name, space_name=name, home=h)
    out = spacelens.report("A", "B", tmp_path / "r.html", label_field="label", baseline=False, home=h)
    audited = spacelens.audit("A", label_field="label", other="B", home=h)
    assert out["audit"]["split"] == audited.to_dict()["splits"] and out["audit"]["answer"] == audited.answer
