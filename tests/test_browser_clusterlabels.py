"""Cluster labels on the maps (issue 26, item 3; web/src/clusterlabels.ts).

On a pair with four well-separated blobs, each of one class (one class name is HTML, which must
show as text): coloured by the class, each blob gets exactly its class's label, inside the blob
(checked against the blob's points' screen positions from regl-scatterplot), no two labels
overlap, and the controls' "labels" checkbox hides and restores them; coloured by a numeric
column, the labels name the over-represented class; items hidden by a filter lose their label;
zoomed into one blob, every label sits on points in view. The region and placement logic is checked against hand-worked examples.
Screenshots of the digits pair (the demo's spaces) go to test-artifacts/views/clusterlabels-*.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from _web import js, open_page, require_page, serving, shot, wait_ready

pytestmark = [pytest.mark.browser, pytest.mark.slow]

require_page()

import spacelens  # noqa: E402

CLASSES = ["<b>x</b>", "alpha & beta", "gamma", "d'elta \"q\""]
PER = 300


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    home = tmp_path_factory.mktemp("browser-clusterlabels") / "home"
    rng = np.random.default_rng(7)
    cls = np.repeat(np.arange(4), PER)
    corners = np.array([[-10, -10], [10, -10], [-10, 10], [10, 10]], dtype=np.float64)
    table = pd.DataFrame({"id": [f"item{i:04d}" for i in range(len(cls))],
                          "label": np.array(CLASSES, dtype=object)[cls],
                          "score": rng.normal(size=len(cls))})
    for name, rot in (("A", 0.0), ("B", 0.7)):
        c = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]])
        centres = np.zeros((4, 6))
        centres[:, :2] = corners @ c.T
        x = (centres[cls] + rng.normal(size=(len(cls), 6))).astype(np.float32)
        spacelens.add(x, table if name == "A" else None, dataset_name="d", experiment_name=name, space_name=name,
                      home=home)
        spacelens.project(name, method="pca", home=home)
    yield home, cls
    mp.undo()


LABELS = """(side) => Array.from(document.querySelectorAll(`#map-${side.toLowerCase()} .cluster-label`)).map(el => {
  const r = el.getBoundingClientRect(), c = window.__sl.maps[side].canvas.getBoundingClientRect();
  return { text: el.querySelector('span').textContent, value: el.dataset.value, share: Number(el.dataset.share),
           lift: Number(el.dataset.lift), ax: Number(el.dataset.x), ay: Number(el.dataset.y), x: r.left + r.width / 2 - c.left, y: r.top + r.height / 2 - c.top,
           box: [r.left, r.top, r.right, r.bottom], html: el.innerHTML, visible: el.offsetParent !== null };
})"""

# screen positions of every point of a map, and its dataset rows
POINTS = """(side) => { const m = window.__sl.maps[side];
  return { rows: Array.from(m.rows), xy: Array.from(m.rows, (_, p) => m.plot.getScreenPosition(p)),
           w: m.canvas.clientWidth, h: m.canvas.clientHeight }; }"""


def labels(page, side):
    return page.evaluate(LABELS, side)


def wait_labels(page, count=None, mode=None):
    cond = "Number(document.body.dataset.clusterLabels || 0) > 0"
    if count is not None:
        cond += f" && ['a','b'].every(s => document.querySelectorAll(`#map-${{s}} .cluster-label`).length === {count})"
    if mode is not None:
        cond += f" && ['a','b'].every(s => document.querySelector(`#map-${{s}} .cluster-labels`)?.dataset.mode === '{mode}')"
    page.wait_for_function(cond, timeout=60_000, polling=100)


def overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def check_on_blobs(page, side, cls, timeout: float = 20):
    """``on_blobs``, read again until it holds or ``timeout`` s have passed: a camera move (a late
    fit, a resize as the answer strip grows) moves the points a frame before the labels follow,
    and a reading in between compares the labels of one view with the points of the next."""
    end = time.monotonic() + timeout
    while True:
        try:
            return on_blobs(page, side, cls)
        except AssertionError:
            if time.monotonic() > end:
                raise
            page.wait_for_timeout(200)


def on_blobs(page, side, cls):
    """Each label is its blob's class; its anchor (the region's centre, where the label is centred
    unless that would cross the map's edge) is inside the blob's screen extent and on its points,
    and the label itself over the blob, not over another."""
    got = labels(page, side)
    pts = page.evaluate(POINTS, side)
    xy = np.array(pts["xy"], dtype=float)
    of = cls[np.array(pts["rows"])]
    assert sorted(lb["value"] for lb in got) == sorted(CLASSES), got
    for lb in got:
        assert lb["text"] == lb["value"] and lb["share"] == 1.0   # one class a blob: no percentage
        mine = xy[of == CLASSES.index(lb["value"])]
        lo, hi = mine.min(0), mine.max(0)
        assert lo[0] <= lb["ax"] <= hi[0] and lo[1] <= lb["ay"] <= hi[1], (lb, lo, hi)
        assert np.hypot(*(mine - [lb["ax"], lb["ay"]]).T).min() < 8    # on the blob's points
        c0 = page.locator(f"#map-{side.lower()} canvas").bounding_box()
        box = [lb["box"][0] - c0["x"], lb["box"][1] - c0["y"], lb["box"][2] - c0["x"], lb["box"][3] - c0["y"]]
        assert overlap(box, [*lo, *hi])
        for c in range(4):   # and off every other blob
            if CLASSES[c] != lb["value"]:
                other = xy[of == c]
                assert not overlap(box, [*other.min(0), *other.max(0)])
    boxes = [lb["box"] for lb in got]
    assert not any(overlap(boxes[i], boxes[j]) for i in range(len(boxes)) for j in range(i))
    return got


def test_labels_name_the_blobs(world, browser):
    home, cls = world
    with serving(home) as url, open_page(browser, 1440, 900) as page:
        page.goto(f"{url}?dataset=d&a=A&b=B&method=pca&color=label")
        wait_ready(page, 1)
        wait_labels(page, 4, "dominant")
        for side in "AB":
            got = check_on_blobs(page, side, cls)
            # hostile class names are text: no <b> element, the markup shown literally
            assert "<b>" not in "".join(lb["html"] for lb in got)
            assert any(lb["text"] == "<b>x</b>" for lb in got)
        assert page.locator("#map-a .cluster-label b").count() == 0
        shot(page, "clusterlabels-blobs")

        # one click hides them, another brings them back
        box = page.locator("#cluster-labels")
        assert box.is_checked()
        box.click()
        page.wait_for_function("document.querySelectorAll('.cluster-labels:not([hidden])').length === 0")
        assert not any(lb["visible"] for side in "AB" for lb in labels(page, side))
        assert js(page, "window.__sl.clusterLabels.isOn()") is False
        box.click()
        wait_labels(page, 4)
        assert all(lb["visible"] for side in "AB" for lb in labels(page, side))

        # coloured by a numeric column: the over-represented class of the label column
        page.select_option("#color", "score")
        wait_labels(page, 4, "lift")
        for side in "AB":
            got = check_on_blobs(page, side, cls)
            assert all(abs(lb["lift"] - 4.0) < 0.05 for lb in got)   # 100% here vs 25% overall
        assert page.locator("#map-a .cluster-labels").get_attribute("data-by") == "label"

        # filters: with gamma's items hidden (the maps' filter, as filter.ts applies it) gamma's
        # label goes, the other three stay; a mask given to the labels alone does the same
        hide = "(rows) => { const m = new Uint8Array(%d).fill(1); for (const r of rows) m[r] = 0; return m; }" % len(cls)
        gamma = np.flatnonzero(cls == CLASSES.index("gamma")).tolist()
        page.evaluate(f"(rows) => {{ const m = ({hide})(rows); for (const s of ['A','B']) window.__sl.maps[s].setVisible(m); }}", gamma)
        wait_labels(page, 3)
        assert all("gamma" not in [lb["value"] for lb in labels(page, s)] for s in "AB")
        page.evaluate("for (const s of ['A','B']) window.__sl.maps[s].setVisible(null)")
        wait_labels(page, 4)
        page.evaluate(f"(rows) => window.__sl.clusterLabels.update(({hide})(rows))", gamma)
        wait_labels(page, 3)
        page.evaluate("window.__sl.clusterLabels.update(null)")
        wait_labels(page, 4)
        check_on_blobs(page, "A", cls)

        # zoomed into one blob: the labels in view sit on points in view
        page.select_option("#color", "label")
        wait_labels(page, 4, "dominant")
        runs = js(page, "Number(document.body.dataset.clusterLabels)")
        # the camera on the middle half of A's gamma blob (as a wheel zoom would; B follows)
        page.evaluate("""(rows) => { const m = window.__sl.maps.A; const xs = [], ys = [];
          for (const r of rows) { xs.push(m.x[m.pos[r]]); ys.push(m.y[m.pos[r]]); }
          const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
          const w = x1 - x0, h = y1 - y0;
          m.plot.zoomToArea({ x: x0 + w / 4, y: y0 + h / 4, width: w / 2, height: h / 2 }, { transition: false }); }""",
                      np.flatnonzero(cls == CLASSES.index("gamma")).tolist())
        page.wait_for_function(f"Number(document.body.dataset.clusterLabels) > {runs}")
        page.wait_for_timeout(500)   # the last throttled recompute
        for side in "AB":
            got = labels(page, side)
            pts = page.evaluate(POINTS, side)
            xy = np.array(pts["xy"], dtype=float)
            inside = (xy[:, 0] >= 0) & (xy[:, 0] < pts["w"]) & (xy[:, 1] >= 0) & (xy[:, 1] < pts["h"])
            assert inside.sum() < len(xy) / 2          # really zoomed in
            if side == "A" or inside.sum() >= 100:     # (B is rotated: its view may hold few points)
                assert got, side
            of = cls[np.array(pts["rows"])]
            for lb in got:
                mine = xy[inside & (of == CLASSES.index(lb["value"]))]
                assert len(mine) and np.hypot(*(mine - [lb["ax"], lb["ay"]]).T).min() < 8, lb
        assert "gamma" in [lb["value"] for lb in labels(page, "A")]
        shot(page, "clusterlabels-zoomed")


HAND = """() => {
  const L = window.__sl.clusterLabels;
  // 200 x 100 px, cells of 10 px: P = 20 points of slot 0 at (15, 15); Q = 9 of slot 1 and 3 of
  // slot 2 at (105, 55); R = 3 of slot 1, 3 of slot 2, 2 of slot 3 at (175, 85)
  const pts = [];
  const add = (x, y, slot, k) => { for (let i = 0; i < k; i++) pts.push([x, y, slot]); };
  add(15, 15, 0, 20); add(105, 55, 1, 9); add(105, 55, 2, 3); add(175, 85, 1, 3); add(175, 85, 2, 3); add(175, 85, 3, 2);
  add(500, 50, 0, 5);  // off the screen
  const g = L.binPoints(pts.map(p => p[0]), pts.map(p => p[1]), pts.map(p => p[2]), [1, 0, 0, 0, 1, 0], 200, 100, 10);
  const labelable = new Uint8Array(33).fill(1);
  const dominant = L.findLabelRegions(g, { mode: 'dominant', labelable, minPoints: 5 });
  const overall = new Float64Array(33); overall.set([0.7, 0.1, 0.1, 0.1]);
  const lift = L.findLabelRegions(g, { mode: 'lift', labelable, overall, minPoints: 5 });
  const place = L.placeLabels([
    { x: 50, y: 50, w: 40, h: 18, key: 1 },    // kept
    { x: 60, y: 55, w: 40, h: 18, key: 2 },    // overlaps the first: dropped
    { x: 150, y: 50, w: 40, h: 18, key: 1 },   // the same key 100 px away: dropped
    { x: 195, y: 5, w: 40, h: 18, key: 3 },    // kept, moved inside: centre (180, 9)
    { x: 100, y: 95, w: 40, h: 18 },           // kept, moved inside: centre (100, 91)
  ], 200, 100);
  // the labels' data -> screen transform (the map's own) against regl-scatterplot's getScreenPosition
  const v = window.__sl.maps.A, t = v.screenTransform();
  const affine = [0, 7, 42].map((i) => { const q = v.plot.getScreenPosition(i);
    return [t[0] * v.x[i] + t[1] * v.y[i] + t[2] - q[0], t[3] * v.x[i] + t[4] * v.y[i] + t[5] - q[1]]; });
  return { n: g.n, dominant, lift, place, affine };
}"""


def test_region_logic_hand_worked(world, page1440):
    home, _ = world
    page = page1440
    with serving(home) as url:
        page.goto(f"{url}?dataset=d&a=A&b=B&method=pca&color=label")
        wait_ready(page, 1)
        got = page.evaluate(HAND)
    assert got["n"] == 40   # the five points off the screen are not binned
    pick = lambda rs: [(r["slot"], r["n"], r["count"], round(r["share"], 3), round(r["lift"], 3), r["x"], r["y"])  # noqa: E731
                       for r in rs]
    # dominant: P (all slot 0) and Q (slot 1, 9 of 12); R has no majority (3 of 8 at most)
    assert pick(got["dominant"]) == [(0, 20, 20, 1.0, 1.0, 15, 15), (1, 12, 9, 0.75, 1.0, 105, 55)]
    # lift against overall shares 0.7/0.1/0.1/0.1: P is 1/0.7 = 1.43 < 1.5 (not over-represented);
    # Q slot 1 at 0.75/0.1 = 7.5; R slot 1 (tied with slot 2, the first kept) at 0.375/0.1 = 3.75
    assert pick(got["lift"]) == [(1, 12, 9, 0.75, 7.5, 105, 55), (1, 8, 3, 0.375, 3.75, 175, 85)]
    assert got["place"]["kept"] == [0, 3, 4]
    assert got["place"]["at"] == [[50, 50], [180, 9], [100, 91]]
    assert np.abs(got["affine"]).max() < 0.01   # CSS px


def test_digits_pair_screenshots(tmp_path_factory, browser):
    """The demo's digits pair (raw pixels vs an MLP's hidden layer, UMAP maps) with labels, at both sizes."""
    pytest.importorskip("umap")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    from demo import mlp_hidden
    from triplet_vs_arcface import digits_table

    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    home = tmp_path_factory.mktemp("browser-clusterlabels-digits") / "home"
    table, images = digits_table()
    x = images.reshape(len(table), -1).astype(np.float32)
    train = (table["split"] == "train").to_numpy()
    spacelens.add(x, table, dataset_name="digits", experiment_name="pixels", space_name="digits.pixels", home=home)
    spacelens.add(mlp_hidden(x, table["label"].to_numpy(), train), dataset_name="digits", experiment_name="mlp",
                  space_name="digits.mlp", home=home)
    for s in ("digits.pixels", "digits.mlp"):
        spacelens.project(s, method="umap", home=home)
    spacelens.compare("digits.pixels", "digits.mlp", k=10, home=home)
    with serving(home) as url:
        for w, h in ((1440, 900), (1280, 720)):
            with open_page(browser, w, h) as page:
                page.goto(f"{url}?dataset=digits&a=digits.pixels&b=digits.mlp&method=umap&color=label&k=10")
                wait_ready(page, 1)
                wait_labels(page, mode="dominant")
                page.wait_for_timeout(300)
                values = {lb["value"] for side in "AB" for lb in labels(page, side)}
                assert values <= {str(d) for d in range(10)} and len(values) >= 8, values
                shot(page, "clusterlabels-digits")
                page.select_option("#color", "coincidence")
                wait_labels(page, mode="lift")
                page.wait_for_timeout(300)
                shot(page, "clusterlabels-digits-agreement")
    mp.undo()
