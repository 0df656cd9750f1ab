"""Density contours and draw order on the analyzer's maps (issue 26, item 4), in headless Chromium.

The pair: 3,000 items in two well-separated blobs of very different size (a tight one of ~1,800
items, a wide one of ~1,200), space B the same blobs turned a quarter and jittered; the dataset
lists every item of class c0 first, then c1, both classes spread over both blobs.

Checked against references the page does not compute itself: where regl-scatterplot's
getScreenPosition puts each blob's items (their mean is the blob's centre on screen), the contour
overlay's pixels (the browser rasterises its SVG), the drawn colours' pixels, and the maps' own linking state (hover, lasso, query).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from _web import hover_point, js, open_page, require_page, selected_rows, serving, shot, wait_ready

pytestmark = [pytest.mark.browser, pytest.mark.slow]

require_page()

import spacelens  # noqa: E402
from spacelens import api  # noqa: E402

N, K = 3000, 8
QUERY = f"?dataset=blobs&a=A&b=B&method=pca&color=label&k={K}"
INFO = "window.__sl.density.info(window.__sl.maps.{side})"
FRAMES = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 50))))"
# the contour overlay (SVG) rasterised by the browser: its pixels with ink (alpha > 20), in CSS px:
# count and centroid, within r of (cx, cy) when r is given
INK = """async ([side, cx, cy, r]) => {
  const svg = document.querySelector(`#map-${side} svg.density`);
  const w = svg.clientWidth, h = svg.clientHeight, copy = svg.cloneNode(true);
  copy.setAttribute('width', w);
  copy.setAttribute('height', h);
  const img = new Image();
  img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(new XMLSerializer().serializeToString(copy));
  await img.decode();
  const c = document.createElement('canvas');
  c.width = w; c.height = h;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, w, h).data;
  let n = 0, sx = 0, sy = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (d[(y * w + x) * 4 + 3] <= 20) continue;
    const px = x + 0.5, py = y + 0.5;
    if (r !== null && (px - cx) ** 2 + (py - cy) ** 2 > r * r) continue;
    n++; sx += px; sy += py;
  }
  return { n, x: sx / n, y: sy / n };
}"""
# where regl-scatterplot draws the given dataset rows: their mean and spread on screen (CSS px)
CENTRE = """([side, rows]) => {
  const m = window.__sl.maps[side];
  const xy = rows.map(r => m.plot.getScreenPosition(m.pos[r]));
  const mx = xy.reduce((s, p) => s + p[0], 0) / xy.length, my = xy.reduce((s, p) => s + p[1], 0) / xy.length;
  const sd = Math.sqrt(xy.reduce((s, p) => s + (p[0] - mx) ** 2 + (p[1] - my) ** 2, 0) / xy.length / 2);
  return [mx, my, sd];
}"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("density") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    rng = np.random.default_rng(26)
    dense = rng.random(N) < 0.6
    va = np.where(dense[:, None], [-6.0, 0.0] + 0.3 * rng.normal(size=(N, 2)),
                  [6.0, 1.0] + 1.8 * rng.normal(size=(N, 2))).astype(np.float32)
    vb = (va[:, ::-1] * [1, -1] + 0.05 * rng.normal(size=(N, 2))).astype(np.float32)
    # a constant third coordinate: the spaces' cosine geometry (and so their PCA maps) keep the blobs
    va, vb = (np.column_stack([v, np.full(N, 30, np.float32)]) for v in (va, vb))
    labels = np.where(np.arange(N) < N // 2, "c0", "c1")   # every c0 row before every c1 row
    table = pd.DataFrame({"id": [f"p{i:04d}" for i in range(N)], "label": labels})
    spacelens.add(va, table, dataset_name="blobs", experiment_name="runA", space_name="A", home=home)
    spacelens.add(vb, dataset_name="blobs", experiment_name="runB", space_name="B", home=home)
    for s in ("A", "B"):
        api.project(s, method="pca", home=home)
    api.compare("A", "B", k=K, home=home)
    yield {"home": home, "dense": np.flatnonzero(dense).tolist(), "sparse": np.flatnonzero(~dense).tolist(),
           "labels": labels}
    mp.undo()


@pytest.fixture(scope="module")
def server(world):
    with serving(world["home"]) as url:
        yield url


@pytest.fixture
def page(browser, server):
    with open_page(browser, 1440, 900) as pg:
        pg.goto(server + QUERY)
        wait_ready(pg, 1)
        yield pg


def settle(page):
    """Until both cameras hold still and the contours had a frame to follow them."""
    cam = "Array.from(window.__sl.maps.A.plot.get('cameraView')).join()"
    before = None
    for _ in range(50):
        now = js(page, cam)
        if now == before:
            break
        before = now
        page.wait_for_timeout(150)
    js(page, FRAMES)


def inside(box, x, y, pad=0.0):
    return box["x0"] - pad <= x <= box["x1"] + pad and box["y0"] - pad <= y <= box["y1"] + pad


def test_contours_lie_over_the_dense_blob_follow_a_zoom_and_describe_only_visible_points(page, world):
    # a small map opens without contours; the checkbox turns them on
    assert js(page, "window.__sl.density.get()") is False
    assert not page.locator("#density").is_checked()
    assert page.evaluate(INK, ["a", 0, 0, None])["n"] == 0
    page.locator("#density").check()
    page.wait_for_function("document.querySelector('#map-a svg.density').dataset.levels > 0", timeout=20_000)
    page.wait_for_function("document.querySelector('#map-b svg.density').dataset.levels > 0", timeout=20_000)
    # the overlay's data -> screen transform is regl-scatterplot's getScreenPosition
    diff = js(page, """() => {
      const m = window.__sl.maps.A, t = window.__sl.density.transform(m);
      let worst = 0;
      for (let k = 0; k < 200; k++) {
        const i = (k * 7919) % m.n, [sx, sy] = m.plot.getScreenPosition(i);
        worst = Math.max(worst, Math.abs(t[0] * m.x[i] + t[1] * m.y[i] + t[2] - sx), Math.abs(t[3] * m.x[i] + t[4] * m.y[i] + t[5] - sy));
      }
      return worst; }""")
    assert diff < 0.01
    shot(page, "density-blobs")
    for side in ("A", "B"):
        dx, dy, dsd = page.evaluate(CENTRE, [side, world["dense"]])
        sx, sy, ssd = page.evaluate(CENTRE, [side, world["sparse"]])
        assert ssd > 3 * dsd   # the blobs are as made: one tight, one wide
        info = js(page, INFO.format(side=side))
        assert info["shown"] and len(info["levels"]) >= 3 and info["points"] == N
        # the innermost level rings the dense blob's centre, and nothing near the wide blob
        assert any(inside(b, dx, dy) for b in info["inner"]), (info["inner"], dx, dy)
        for b in info["inner"]:
            mx, my = (b["x0"] + b["x1"]) / 2, (b["y0"] + b["y1"]) / 2
            assert np.hypot(mx - dx, my - dy) < np.hypot(mx - sx, my - sy), (b, dx, dy, sx, sy)
        # the overlay's pixels: lines around both blobs, none away from them
        w, h = js(page, f"[window.__sl.maps.{side}.canvas.clientWidth, window.__sl.maps.{side}.canvas.clientHeight]")
        assert page.evaluate(INK, [side.lower(), dx, dy, 4 * dsd])["n"] > 50
        assert page.evaluate(INK, [side.lower(), sx, sy, 3 * ssd])["n"] > 50
        half = np.hypot(sx - dx, sy - dy) / 2
        total = page.evaluate(INK, [side.lower(), 0, 0, None])["n"]
        near = page.evaluate(INK, [side.lower(), dx, dy, half])["n"] + page.evaluate(INK, [side.lower(), sx, sy, half])["n"]
        assert near == total and total < 0.2 * w * h

    # zoom map A (a wheel, as a user does): the contours of both maps follow their blobs
    dx0, dy0, _ = page.evaluate(CENTRE, ["A", world["dense"]])
    box = page.locator("#map-a canvas").bounding_box()
    page.mouse.move(box["x"] + dx0, box["y"] + dy0 + 60)   # below the blob: it moves up, and grows
    page.mouse.wheel(0, -500)
    settle(page)
    for side in ("A", "B"):
        w, h = js(page, f"[window.__sl.maps.{side}.canvas.clientWidth, window.__sl.maps.{side}.canvas.clientHeight]")
        seen = []
        for blob in ("dense", "sparse"):
            x, y, sd = page.evaluate(CENTRE, [side, world[blob]])
            if side == "A" and blob == "dense":
                assert np.hypot(x - dx0, y - dy0) > 20 and sd > 0   # the blob moved on screen
            if 2 * sd < x < w - 2 * sd and 2 * sd < y < h - 2 * sd:   # in view: its rings are centred on it
                seen.append((blob, x, y))
                page.wait_for_function(f"{INFO.format(side=side)}.points < {N}", timeout=20_000)
                ink = page.evaluate(INK, [side.lower(), x, y, 2 * sd])
                assert ink["n"] > 50 and np.hypot(ink["x"] - x, ink["y"] - y) < 0.3 * sd, (side, blob, ink, x, y, sd)
        # the innermost level rings the densest blob in view (A: the tight one; B, where it left the view: the wide one)
        assert seen and (side == "B" or seen[0][0] == "dense"), seen
        blob, x, y = seen[0]
        page.wait_for_function(f"{INFO.format(side=side)}.inner.some(b => b.x0 <= {x} && {x} <= b.x1 && b.y0 <= {y} && {y} <= b.y1)",
                               timeout=20_000)
    shot(page, "density-blobs-zoomed")
    js(page, "window.__sl.maps.A.fit()")
    settle(page)

    # a filter that hides the dense blob: the contours are of the wide blob alone
    mask = np.zeros(N, np.uint8)
    mask[world["sparse"]] = 1
    js(page, f"window.__sl.density.rows(Uint8Array.from({mask.tolist()}))")
    js(page, FRAMES)
    info = js(page, INFO.format(side="A"))
    sx, sy, ssd = page.evaluate(CENTRE, ["A", world["sparse"]])
    dx, dy, dsd = page.evaluate(CENTRE, ["A", world["dense"]])
    assert info["points"] == len(world["sparse"])
    assert any(inside(b, sx, sy, ssd) for b in info["inner"]) and not any(inside(b, dx, dy) for b in info["inner"])
    assert page.evaluate(INK, ["a", dx, dy, 3 * dsd])["n"] == 0
    js(page, "window.__sl.density.rows(null)")
    js(page, FRAMES)
    assert js(page, INFO.format(side="A"))["points"] == N


def test_the_toggle_removes_and_returns_the_contours(page):
    page.locator("#density").check()
    page.wait_for_function("document.querySelector('#map-a svg.density').dataset.levels > 0", timeout=20_000)
    on = page.evaluate(INK, ["a", 0, 0, None])["n"]
    assert on > 200 and js(page, "window.__sl.density.get()") is True
    page.locator("#density").uncheck()
    js(page, FRAMES)
    assert page.evaluate(INK, ["a", 0, 0, None])["n"] == 0 and page.evaluate(INK, ["b", 0, 0, None])["n"] == 0
    assert js(page, "window.__sl.density.get()") is False
    page.locator("#density").check()
    js(page, FRAMES)
    assert page.evaluate(INK, ["a", 0, 0, None])["n"] == on
    # the setter the address will use moves the checkbox too
    js(page, "window.__sl.density.set(false)")
    assert not page.locator("#density").is_checked()
    # the contours never take the mouse: hovering through them still reaches the points
    assert js(page, "getComputedStyle(document.querySelector('#map-a svg.density')).pointerEvents") == "none"


def test_draw_order_favours_no_class_and_the_maps_stay_linked(page, world):
    from PIL import Image

    labels = world["labels"]
    rows_a = np.array(js(page, "Array.from(window.__sl.maps.A.rows)"))
    rows_b = np.array(js(page, "Array.from(window.__sl.maps.B.rows)"))
    # a permutation of the rows, not row order, and the same order in both maps
    assert sorted(rows_a.tolist()) == list(range(N)) and (rows_a != np.arange(N)).mean() > 0.9
    assert (rows_a == rows_b).all()
    # the last drawn points are of both classes (row order would draw only c1 last)
    last = labels[rows_a[-N // 3:]]
    assert 0.4 < (last == "c1").mean() < 0.6
    # and the drawn pixels over the overplotted dense blob show both colours about equally
    codes = js(page, "Array.from(window.__sl.state.colors.codes)")
    palette = js(page, "window.__sl.state.scale.palette")
    rgb = {c: np.array([int(palette[codes[r]][i:i + 2], 16) for i in (1, 3, 5)])
           for c, r in (("c0", 0), ("c1", N - 1))}
    assert np.abs(rgb["c0"] - rgb["c1"]).sum() > 60
    dx, dy, dsd = page.evaluate(CENTRE, ["A", world["dense"]])
    js(page, "window.__sl.clusterLabels.setOn(false)")   # a label over the blob would hide its pixels
    page.wait_for_function("[...document.querySelectorAll('#map-a .cluster-labels')].every(l => l.hidden)")
    img = np.asarray(Image.open(io.BytesIO(page.locator("#map-a canvas").first.screenshot())).convert("RGB")).astype(int)
    yy, xx = np.mgrid[:img.shape[0], :img.shape[1]]
    core = img[(xx - dx) ** 2 + (yy - dy) ** 2 <= (1.5 * dsd) ** 2]
    d0 = np.abs(core - rgb["c0"]).sum(axis=1)
    d1 = np.abs(core - rgb["c1"]).sum(axis=1)
    n0, n1 = int(((d0 < 40) & (d0 < d1)).sum()), int(((d1 < 40) & (d1 < d0)).sum())
    assert n0 + n1 > 0.5 * len(core), (n0, n1, len(core))
    assert 0.5 < n0 / max(n1, 1) < 2, (n0, n1)

    # hover in A: the same dataset row is hovered (and ringed) in B
    for point in (3, 1500, 2900):
        *_, row = hover_point(page, "A", point)
        page.wait_for_function(f"window.__sl.maps.B.plot.get('hoveredPoint') === window.__sl.maps.B.pos[{row}]", timeout=20_000)
        page.wait_for_function(f"document.querySelector('#map-b').dataset.marked === '{row}'", timeout=20_000)
        page.mouse.move(5, 5)
    # a lasso around the wide blob in A selects the same rows in B, and only that blob's rows
    sx, sy, ssd = page.evaluate(CENTRE, ["A", world["sparse"]])
    box = page.locator("#map-a canvas").bounding_box()
    cx, cy, r = box["x"] + sx, box["y"] + sy, 1.2 * ssd
    page.keyboard.down("Shift")
    page.mouse.move(cx - r, cy - r)
    page.mouse.down()
    for x, y in ((cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r), (cx - r, cy - r + 1)):
        page.mouse.move(x, y, steps=12)
    page.mouse.up()
    page.keyboard.up("Shift")
    page.wait_for_function("window.__sl.state.selection.length > 1", timeout=20_000)
    sel_a, sel_b = selected_rows(page, "A"), selected_rows(page, "B")
    assert len(sel_a) > 100 and sel_a == sel_b and sel_a <= set(world["sparse"])
    # a click on one point queries its row: the ring in B marks that row
    page.keyboard.press("Escape")
    x, y, row = hover_point(page, "A", 10)
    page.mouse.click(x, y)
    page.wait_for_function(f"window.__sl.state.queryRow === {row}", timeout=20_000)
    page.mouse.move(5, 5)
    page.wait_for_function(f"document.querySelector('#map-b').dataset.marked === '{row}'", timeout=20_000)
