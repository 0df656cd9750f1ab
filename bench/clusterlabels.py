"""Benchmark: the cluster labels of the analyzer's maps (web/src/clusterlabels.ts) at 1M points a map.

The registry of bench/ui.py (two spaces of one dataset, 10 labelled clusters, stored PCA maps
and a stored comparison; synthetic coordinates) is served to headless Debian Chromium and opened
coloured by label. Measured in the page, per size (median of --repeats):

- labels: one recompute of both maps' labels (what each camera move costs once throttled to
  animation frames): binning the points in view, regions, placement, DOM
- labels after recolour: the first recompute under a new colouring (per-point categories rebuilt;
  coloured by agreement the labels name the over-represented class of the label column)
- baselines, same run: one frame of both maps after a camera move (regl-scatterplot's redraw, in
  software WebGL), what the page already pays for each move; and the floor of any pass over the
  points, one read of every x coordinate of both maps (how busy the machine is)

Each recompute bins at most about MAX_BINNED (250,000) points in view a map (a uniform sample beyond).

Screenshots (--shots DIR): both colourings and a zoomed view, at 1440x900 and 1280x720.

    OMP_NUM_THREADS=2 .venv/bin/python bench/clusterlabels.py --sizes 1000000 --shots test-artifacts/views
Writes bench/results/clusterlabels.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from ui import CHROMIUM, CHROMIUM_ARGS, K, build_registry, serve  # noqa: E402  (the same registry and server)

RECOMPUTE = """() => { const L = window.__sl.clusterLabels; L.recompute(); return L.stats.ms; }"""
FRAME = """() => new Promise((resolve) => {
  const ms = ['A', 'B'].map(s => window.__sl.maps[s]);
  const v = Array.from(ms[0].plot.get('cameraView'));
  v[12] += 1e-3;   // a tiny pan of A; B follows (linked cameras)
  let left = 2;
  const t0 = performance.now();
  for (const m of ms) m.plot.subscribe('draw', () => { if (--left === 0) resolve(performance.now() - t0); }, 1);
  ms[0].plot.view(v);
})"""
FLOOR = """() => { const t0 = performance.now(); let s = 0;
  for (const m of [window.__sl.maps.A, window.__sl.maps.B]) { const x = m.x; for (let i = 0; i < m.n; i++) s += x[i]; }
  return performance.now() - t0 + (s === 12345 ? 1e-9 : 0); }"""
LABELLED = "Number(document.body.dataset.clusterLabels || 0) > 0 && document.querySelectorAll('.cluster-label').length > 0"


def measure(url: str, n: int, repeats: int, shots: Path | None) -> dict:
    from playwright.sync_api import sync_playwright

    out: dict = {"n": n}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for w, h in ((1440, 900), (1280, 720)):
            page = browser.new_page(viewport={"width": w, "height": h})
            page.goto(f"{url}?dataset=items&a=A&b=B&method=pca&color=label&k={K}")
            page.wait_for_function("document.body.dataset.ready && ['A','B'].every(s => window.__sl.maps[s].root.dataset.drawn === '1')",
                                   timeout=600_000, polling=500)
            page.wait_for_function(LABELLED, timeout=120_000, polling=200)
            page.wait_for_timeout(1000)
            if w == 1440:
                out["labels_ms"] = [page.evaluate(RECOMPUTE) for _ in range(repeats)]
                out["frame_ms"] = [page.evaluate(FRAME) for _ in range(repeats)]
                out["floor_ms"] = [page.evaluate(FLOOR) for _ in range(repeats)]
                out["points_in_view"] = page.evaluate("window.__sl.clusterLabels.stats.points")
                out["labels_shown"] = page.locator(".cluster-label").count()
            if shots:
                page.screenshot(path=str(shots / f"clusterlabels-1m-{w}x{h}.png"))
            runs = page.evaluate("Number(document.body.dataset.clusterLabels)")
            page.select_option("#color", "coincidence")
            page.wait_for_function(f"Number(document.body.dataset.clusterLabels) > {runs} && "
                                   "document.querySelector('.cluster-labels').dataset.mode === 'lift'",
                                   timeout=300_000, polling=200)
            page.wait_for_timeout(1000)
            if w == 1440:
                out["labels_after_recolour_ms"] = page.evaluate("window.__sl.clusterLabels.stats.ms")
                out["labels_lift_ms"] = [page.evaluate(RECOMPUTE) for _ in range(repeats)]
            if shots:
                page.screenshot(path=str(shots / f"clusterlabels-1m-agreement-{w}x{h}.png"))
                page.select_option("#color", "label")
                page.wait_for_timeout(3000)
                box = page.locator("#map-a canvas").bounding_box()
                page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
                for _ in range(3):
                    page.mouse.wheel(0, -300)
                    page.wait_for_timeout(400)
                page.wait_for_timeout(2000)
                page.screenshot(path=str(shots / f"clusterlabels-1m-zoomed-{w}x{h}.png"))
            page.close()
        browser.close()
    for key in ("labels_ms", "frame_ms", "labels_lift_ms", "floor_ms"):
        out[key.replace("_ms", "_median_ms")] = statistics.median(out[key])
        out[key.replace("_ms", "_min_ms")] = min(out[key])
    out["labels_over_frame"] = out["labels_median_ms"] / out["frame_median_ms"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--shots", type=Path, default=None)
    args = ap.parse_args()
    if args.shots:
        args.shots.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.sizes:
        home = Path(tempfile.mkdtemp(prefix="sl-bench-labels-"))
        try:
            build_registry(home, n)
            srv, url = serve(home)
            try:
                rows.append(measure(url, n, args.repeats, args.shots))
            finally:
                srv.should_exit = True
        finally:
            shutil.rmtree(home, ignore_errors=True)
    print("median (min) ms, both maps")
    print(f"{'points/map':>11} {'labels':>14} {'lift':>14} {'recolour':>9} {'frame':>16} {'floor':>12} {'labels/frame':>13}")
    for r in rows:
        cell = lambda k: f"{r[k + '_median_ms']:.1f} ({r[k + '_min_ms']:.1f})"  # noqa: E731
        print(f"{r['n']:>11,} {cell('labels'):>14} {cell('labels_lift'):>14} {r['labels_after_recolour_ms']:>9.1f} "
              f"{cell('frame'):>16} {cell('floor'):>12} {r['labels_over_frame']:>13.3f}")
    res = HERE / "results" / "clusterlabels.json"
    res.write_text(json.dumps({"machine": platform.platform(), "rows": rows}, indent=2))
    print(f"wrote {res}")


if __name__ == "__main__":
    main()
