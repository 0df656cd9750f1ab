"""Benchmark: the density contours over the analyzer's maps (issue 26, item 4), at 1M points a map.

Registries: the synthetic pair of bench/ui.py (10 labelled blobs, stored PCA maps and comparison)
at each --sizes, and (--digits) a demo-like pair on scikit-learn's digits (1,797 items: raw pixels
vs their square root, PCA maps, comparison stored). Served by the real app to headless Debian
Chromium (software WebGL, the flags of bench/ui.py).

Measured per size, in the page (performance.now):

- contours_ms: one density recompute of one map (bin the points in view into 4 px cells, blur,
  trace 4 levels with d3-contour, build the SVG paths; the browser paints them after); median of
  --repeats recomputes (the toggle turned off and on), and zoomed in on a sixteenth of the map
- order_ms: putting the map's points in their fixed shuffled draw order (density.inDrawOrder), median of 5

With --shots DIR: each pair with density on at 1440x900 and 1280x720 (density-<name>-WxH.png),
and the largest also with it off.

    OMP_NUM_THREADS=2 .venv/bin/python bench/ui_density.py --sizes 1000000 --digits --shots test-artifacts/views
Writes bench/results/ui_density.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from ui import CHROMIUM, CHROMIUM_ARGS, DRAWN, K, build_registry, serve  # noqa: E402

RECOMPUTE = """async (repeats) => {
  const d = window.__sl.density, m = window.__sl.maps.A;
  const frame = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const ms = [];
  for (let i = 0; i < repeats; i++) {
    d.set(false); await frame();
    d.set(true); await frame();
    ms.push(d.info(m).ms);
  }
  const info = d.info(m);
  return { ms, points: info.points, levels: info.levels.length, blur: info.blur, phases: info.phases };
}"""
ZOOM = """async (on) => {
  const m = window.__sl.maps.A, b = m.bounds();
  if (on) await m.plot.zoomToArea({ x: b.x + b.width * 0.3, y: b.y + b.height * 0.3, width: b.width * 0.25,
                                    height: b.height * 0.25 }, { transition: false });
  else m.fit();
  await new Promise(r => setTimeout(r, 300));
}"""
ORDER = """() => {
  const m = window.__sl.maps.A, d = window.__sl.density;
  const ms = [];
  for (let i = 0; i < 5; i++) { const t = performance.now(); d.order(m.x, m.y, m.rows, m.pos.length); ms.push(performance.now() - t); }
  return ms;
}"""


def build_digits(home: Path) -> None:
    """The demo-like pair: digits' raw pixels and their square root, PCA maps, compared at k."""
    import numpy as np

    import spacelens

    sys.path.insert(0, str(HERE.parent / "examples"))
    from triplet_vs_arcface import digits_table

    table, images = digits_table()
    x = images.reshape(len(table), -1)
    spacelens.add(x, table, dataset_name="items", experiment_name="pixels", space_name="A", home=home)
    spacelens.add(np.sqrt(x), dataset_name="items", experiment_name="sqrt", space_name="B", home=home)
    for s in ("A", "B"):
        spacelens.project(s, method="pca", home=home)
    spacelens.compare("A", "B", k=K, home=home)


def measure(url: str, browser, name: str, repeats: int, shots: Path | None, off_shot: bool) -> dict:
    rec: dict = {}
    for w, h in ((1440, 900), (1280, 720)):
        page = browser.new_page(viewport={"width": w, "height": h})
        page.goto(url + f"?dataset=items&a=A&b=B&method=pca&color=label&k={K}")
        page.wait_for_function(DRAWN, timeout=600_000, polling=50)
        rec.setdefault("default_on", page.evaluate("window.__sl.density.get()"))
        if shots is not None and off_shot:
            page.evaluate("window.__sl.density.set(false)")
            page.wait_for_timeout(300)
            page.screenshot(path=str(shots / f"density-{name}-off-{w}x{h}.png"))
        page.evaluate("window.__sl.density.set(true)")
        page.wait_for_function("document.querySelector('#map-a svg.density')?.dataset.levels > 0", timeout=60_000)
        if shots is not None:
            page.screenshot(path=str(shots / f"density-{name}-{w}x{h}.png"))
        if w == 1440:
            r = page.evaluate(RECOMPUTE, repeats)
            rec.update(n=page.evaluate("window.__sl.maps.A.n"), contours_ms=round(statistics.median(r["ms"]), 1),
                       contours_ms_all=[round(x, 1) for x in r["ms"]], points_in_view=r["points"],
                       levels=r["levels"], blur_cells=r["blur"])
            page.evaluate(ZOOM, True)
            z = page.evaluate(RECOMPUTE, repeats)
            page.evaluate(ZOOM, False)
            rec.update(zoomed_ms=round(statistics.median(z["ms"]), 1), zoomed_points=z["points"])
            rec["order_ms"] = round(statistics.median(page.evaluate(ORDER)), 1)
        page.close()
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[1_000_000])
    ap.add_argument("--digits", action="store_true", help="also the demo-like digits pair (1,797 items)")
    ap.add_argument("--repeats", type=int, default=7, help="recomputes measured per size")
    ap.add_argument("--shots", type=Path, default=None, help="screenshots here (density-<name>-WxH.png)")
    ap.add_argument("--keep", type=Path, default=None, help="build the registries here and keep them")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from spacelens.server import frontend_built

    if not frontend_built():
        sys.exit("the front end is not built: run make web")
    os.environ.setdefault("SPACELENS_NO_PROGRESS", "1")
    if args.shots is not None:
        args.shots.mkdir(parents=True, exist_ok=True)
    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "load_avg": os.getloadavg()[0], "date": time.strftime("%Y-%m-%d")},
               "chromium_args": CHROMIUM_ARGS, "pairs": {}}
    root = args.keep or Path(tempfile.mkdtemp(prefix="spacelens-bench-density-"))
    pairs = [("digits", None)] if args.digits else []
    pairs += [(f"{n // 1000}k", n) for n in args.sizes]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            results["chromium"] = browser.version
            for name, n in pairs:
                home = root / f"home-{name}"
                if not (home / "registry.sqlite").exists():
                    t0 = time.perf_counter()
                    build_digits(home) if n is None else build_registry(home, n)
                    print(f"{name}: registry built in {time.perf_counter() - t0:.1f} s", flush=True)
                srv, url = serve(home)
                try:
                    rec = measure(url, browser, name, args.repeats, args.shots, off_shot=n == max(args.sizes, default=0))
                finally:
                    srv.should_exit = True
                    time.sleep(0.5)
                results["pairs"][name] = rec
                print(json.dumps({"pair": name, **rec}), flush=True)
            browser.close()
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print("\n| pair | points/map | on by default | contours ms (all in view) | points in view | zoomed ms | draw order ms |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results["pairs"].items():
        print(f"| {name} | {r['n']:,} | {r['default_on']} | {r['contours_ms']} | {r['points_in_view']:,} | "
              f"{r['zoomed_ms']} | {r['order_ms']} |")
    out = HERE / "results" / "ui_density.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
