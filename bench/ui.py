"""Benchmark: the analyzer page, from request to both maps drawn, at 100k and 1M points per map.

For each size a registry is built with two spaces of one dataset (10 labelled clusters), a
stored PCA-method map of each and a stored comparison (synthetic coordinates and Jaccard
values: this measures the page, not the map or comparison computations). The real server
(`create_app`, uvicorn) serves it to headless Debian Chromium (software WebGL, the flags of
tests/test_browser.py); the page is opened with both spaces chosen and coloured by label.

Measured per size:

- cold: navigation start to both maps drawn (in-page clock, after the frame is painted), first
  page load after the server started (its table cache empty)
- warm: the same on later loads (median of --repeats)
- bytes a point a map: all point data the page received (two maps, the colouring, the
  histogram bins; frame headers included) / (2 x N)
- baseline, same run: the map's coordinates as a JSON list of numbers (what a plain JSON API
  sends), fetched and parsed in the same page, against the binary frame fetched and decoded
- frame: one redraw of one map (what each hover or selection change costs in software WebGL)

    OMP_NUM_THREADS=2 .venv/bin/python bench/ui.py --sizes 100000 1000000
Writes bench/results/ui.json.

``--scale-page`` (issue 28): the same page on a pair whose comparison is *not* stored, at a size
where the budget rule (spacelens.budget) samples it: seconds to the sampled answer strip and to
both maps drawn, the jobs the page started by itself (only the answer), and with ``--shots DIR``
screenshots before, during and after the full comparison the panel's button starts.

    OMP_NUM_THREADS=2 .venv/bin/python bench/ui.py --scale-page --sizes 1000000 --shots /tmp/shots
Writes bench/results/ui_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--enable-unsafe-swiftshader"]
K = 10


def machine() -> dict:
    """What each results file says about the machine it was measured on."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()[0],
            "date": time.strftime("%Y-%m-%d")}


def build_registry(home: Path, n: int, seed: int = 0, comparison: bool = True, dim: int = 4) -> None:
    """Dataset of n items, spaces A and B (``dim`` dimensions), a stored 'pca' map of each, and
    (``comparison``) a stored A/B comparison."""
    import pandas as pd

    import spacelens
    from spacelens.registry import Registry

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    table = pd.DataFrame({"id": [f"item{i:07d}" for i in range(n)], "label": labels,
                          "caption": pd.Series([f"an item of class {c}" for c in range(10)])[labels].to_numpy()})
    base = None if comparison else rng.normal(size=(n, dim)).astype(np.float32)
    for name in ("A", "B"):
        # without a stored comparison (--scale-page) B is A blurred, so that agreement has something to show
        vectors = (rng.normal(size=(n, dim)).astype(np.float32) if comparison
                   else base + np.float32(0.6) * rng.normal(size=(n, dim)).astype(np.float32))
        spacelens.add(vectors, table if name == "A" else None, dataset_name="items", experiment_name=f"run{name}",
                      space_name=name, home=home)
    reg = Registry(home)
    centers = rng.normal(size=(10, 2)) * 6
    for name in ("A", "B"):
        rec = reg.space(name)
        coords = (centers[rng.permutation(10)][labels] + rng.normal(size=(n, 2))).astype(np.float32)
        faith = {"k": K, "knn_preservation": 0.0, "trustworthiness": 0.0, "trust_items": 0, "trust_sampled": True}
        reg.put_artifact("projection", name, {"method": "pca", "metric": "cosine", "k": K, "trust_sample": 2000},
                         {"coords": coords, "knn_preservation": np.zeros(n, np.float32),
                          "trustworthiness": np.full(n, np.nan, np.float32)},
                         info={"faithfulness": faith, "n_rows": n, "content_hash": rec.content_hash,
                               "synthetic": True})
    if not comparison:
        return
    shared = rng.binomial(K, 0.4, n)
    jac = (shared / (2 * K - shared)).astype(np.float32)
    reg.put_artifact("comparison", "A", {"k": K, "metric_a": "cosine", "metric_b": "cosine", "include_self": False,
                                         "engine": "exact", "engine_params": {}},
                     {"rows": np.arange(n, dtype=np.int64), "jaccard": jac},
                     info={"mean": float(jac.mean()), "k": K, "synthetic": True}, other="B")


def serve(home: Path):
    """The analyzer app plus one bench-only route: a map as JSON number lists (the baseline)."""
    import uvicorn
    from fastapi.responses import JSONResponse

    from spacelens.registry import Registry
    from spacelens.server import create_app
    from spacelens.views.data import load_map, normalise

    app = create_app(home)
    reg = Registry(home)

    @app.get("/bench/json-map/{space}")
    def json_map(space: str):
        x, y, _ = normalise(load_map(reg, space, "pca").coords)
        return JSONResponse({"x": x.tolist(), "y": y.tolist()})

    app.router.routes.insert(0, app.router.routes.pop())  # before the static page mount
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    return srv, f"http://127.0.0.1:{port}/"


LOAD_QUERY = f"?dataset=items&a=A&b=B&method=pca&color=label&k={K}"
DRAWN = "['A','B'].every(s => window.__sl && window.__sl.maps[s].root.dataset.drawn === '1') && document.body.dataset.ready"
READ = """() => {
  const m = window.__sl.maps;
  const api = performance.getEntriesByType('resource').filter(e => e.name.includes('/api/'));
  const frames = api.filter(e => /\\/map\\?|\\/colors\\?|\\/comparison\\?/.test(e.name));
  return { drawn_ms: Math.max(m.A.drawnAt, m.B.drawnAt), n: m.A.n,
           bytes: frames.reduce((s, e) => s + e.encodedBodySize, 0),
           phases: { A: m.A.phases, B: m.B.phases },
           requests: api.map(e => [e.name.split('/api/')[1].slice(0, 40), Math.round(e.startTime), Math.round(e.responseEnd), e.encodedBodySize]) };
}"""
BASELINE = """async () => {
  const t0 = performance.now();
  const r = await fetch('bench/json-map/A');
  const text = await r.text();
  const t1 = performance.now();
  const obj = JSON.parse(text);
  const x = Float32Array.from(obj.x), y = Float32Array.from(obj.y);
  const t2 = performance.now();
  const r2 = await fetch('api/spaces/A/map?method=pca');
  const buf = await r2.arrayBuffer();
  const t3 = performance.now();
  const n = new DataView(buf).getUint32(4, true);
  const head = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 8, n)));
  const bx = new Float32Array(buf, 8 + n + head.buffers[0].offset, head.buffers[0].length);
  const t4 = performance.now();
  return { json_bytes: text.length, json_fetch_ms: t1 - t0, json_parse_ms: t2 - t1, points: x.length,
           bin_bytes: buf.byteLength, bin_fetch_ms: t3 - t2, bin_decode_ms: t4 - t3, same: bx[7] === x[7] };
}"""
FRAME = """async () => {
  const p = window.__sl.maps.A.plot;
  const times = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await new Promise(r => { p.subscribe('draw', r, 1); p.redraw(); });
    times.push(performance.now() - t);
  }
  return Math.min(...times);
}"""


def measure(url: str, browser, repeats: int) -> dict:
    loads = []
    for i in range(1 + repeats):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.perf_counter()
        page.goto(url + LOAD_QUERY)
        page.wait_for_function(DRAWN, timeout=600_000, polling=50)
        wall = time.perf_counter() - t0
        rec = page.evaluate(READ)
        rec["wall_s"] = round(wall, 3)
        if i == repeats:  # last page: baseline and frame time too
            rec["baseline"] = page.evaluate(BASELINE)
            rec["frame_ms"] = page.evaluate(FRAME)
        loads.append(rec)
        page.close()
    return {"cold": loads[0], "warm": loads[1:]}


# -- the page at scale (issue 28): no comparison stored, the budget rule samples it -----------------
SAMPLED_SHOWN = "document.querySelector('#answer .sampled-note') !== null"
OFFER_SHOWN = "document.querySelector('#histogram .scale-offer') !== null"
JOBS = "fetch('api/jobs').then(r => r.json()).then(js => js.map(j => ({kind: j.kind, full: j.params.full === true, status: j.status})))"


def measure_scale(url: str, browser, shots: Path | None, after_timeout: float) -> dict:
    """Open the page on a pair whose comparison is not stored (the budget samples it): seconds from
    navigation to the sampled answer strip and to both maps drawn (in-page clock); what ran on open
    (the jobs); the offer in the histogram panel. ``shots``: 1440x900 screenshots before, during
    and after (or, past ``after_timeout`` seconds, cancelled) the full comparison the button starts."""
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(url + LOAD_QUERY)
    page.wait_for_function(SAMPLED_SHOWN, timeout=600_000, polling=50)
    answer_ms = page.evaluate("performance.now()")
    page.wait_for_function(DRAWN, timeout=600_000, polling=50)
    drawn_ms = page.evaluate("Math.max(window.__sl.maps.A.drawnAt, window.__sl.maps.B.drawnAt)")
    page.wait_for_function(OFFER_SHOWN, timeout=60_000, polling=100)
    time.sleep(2)   # anything the page would start by itself has been posted by now
    rec = {"answer_s": round(answer_ms / 1000, 2), "maps_drawn_s": round(drawn_ms / 1000, 2),
           "jobs_on_open": page.evaluate(JOBS), "offer": page.inner_text("#histogram .scale-offer"),
           "sampled_line": page.get_attribute("#answer .sampled-note .short", "title"),
           "colour": page.evaluate("window.__sl.state.colors && window.__sl.state.colors.header.kind")}
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "scale-1-before-1440x900.png"))
        page.click("#histogram .compute")
        page.wait_for_function("(() => { const p = document.querySelector('#histogram .progress');"
                               " return p && !p.hidden && /%/.test(p.textContent) })()", timeout=600_000, polling=200)
        time.sleep(3)
        page.screenshot(path=str(shots / "scale-2-during-1440x900.png"))
        rec["during"] = page.inner_text("#histogram .progress")
        t0 = time.perf_counter()
        try:
            page.wait_for_function("window.__sl.state.comparison !== null && window.__sl.state.colors"
                                   " && window.__sl.state.colors.header.kind === 'coincidence'",
                                   timeout=after_timeout * 1000, polling=500)
            page.wait_for_function("document.querySelector('#answer').dataset.state === 'done'"   # asked again
                                   " && !document.querySelector('#answer .sampled-note')", timeout=600_000)
            rec["full_compare_s"] = round(time.perf_counter() - t0 + 3, 1)
            page.screenshot(path=str(shots / "scale-3-after-1440x900.png"))
        except Exception:  # noqa: BLE001 - too long for this run: Cancel it, and show that
            page.click("#histogram .cancel")
            page.wait_for_function("document.querySelector('#histogram .progress')?.dataset.status === 'cancelled'"
                                   " || document.querySelector('#histogram .progress')?.hidden", timeout=120_000)
            rec["cancelled_after_s"] = round(time.perf_counter() - t0, 1)
            page.screenshot(path=str(shots / "scale-3-cancelled-1440x900.png"))
        rec["jobs_after"] = page.evaluate(JOBS)
    page.close()
    return rec


def main_scale(args) -> None:
    from playwright.sync_api import sync_playwright

    results = {"machine": machine(), "chromium_args": CHROMIUM_ARGS, "dim": args.dim, "sizes": {}}
    root = args.keep or Path(tempfile.mkdtemp(prefix="spacelens-bench-ui-scale-"))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            results["chromium"] = browser.version
            for n in args.sizes:
                home = root / f"home-scale-{n}-d{args.dim}-blur"
                if not (home / "registry.sqlite").exists():
                    t0 = time.perf_counter()
                    build_registry(home, n, comparison=False, dim=args.dim)
                    print(f"n={n:,}: registry built in {time.perf_counter() - t0:.1f} s", flush=True)
                srv, url = serve(home)
                try:
                    rec = measure_scale(url, browser, args.shots if n == args.sizes[-1] else None, args.after_timeout)
                    rec["load_avg"] = round(os.getloadavg()[0], 1)
                finally:
                    srv.should_exit = True
                    time.sleep(0.5)
                results["sizes"][f"{n}-d{args.dim}"] = {"n": n, "dim": args.dim, **rec}
                print(json.dumps({"n": n, **rec}), flush=True)
            browser.close()
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print("\n| points/map | dim | answer strip s | maps drawn s | jobs started on open |\n|---|---|---|---|---|")
    for r in results["sizes"].values():
        print(f"| {r['n']:,} | {r['dim']} | {r['answer_s']} | {r['maps_drawn_s']} | "
              f"{', '.join(j['kind'] for j in r['jobs_on_open'])} |")
    out = HERE / "results" / "ui_scale.json"
    out.parent.mkdir(exist_ok=True)
    if out.exists():   # other sizes measured before keep their rows (each with its machine's load)
        old = json.loads(out.read_text()).get("sizes", {})
        results["sizes"] = {**old, **results["sizes"]}
    out.write_text(json.dumps(results, indent=1))
    print(f"\nwrote {out}")


# -- exploring at scale (issue 26): filters, brushing and search on a million points ---------------
EXPLORE_READY = ("document.body.dataset.ready && ['A','B'].every(s => window.__sl.maps[s].root.dataset.drawn === '1')")
CHARTS_READY = "document.querySelectorAll('#facets .facet').length > 0"
# One step, timed in the page: run it, then wait until the browser has painted twice (both maps).
TIMED = """async (step) => {
  const sl = window.__sl;
  const paint = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  await paint();
  const t0 = performance.now();
  document.body.dataset.filterMs = '';
  await step(sl);
  const js = Number(document.body.dataset.filterMs || NaN);
  await paint();
  return [performance.now() - t0, js];
}"""
EXPLORE_STEPS = {
    # baseline: one repaint of both maps with nothing changed (what any hover or selection costs)
    "repaint both maps (baseline)": "async (sl) => { sl.maps.A.plot.redraw(); sl.maps.B.plot.redraw(); }",
    "filter: click one category (label)": "async (sl) => sl.facets.pick('label', [3])",
    "filter: add a second category": "async (sl) => sl.facets.pick('label', [5])",
    "filter: brush agreement range": "async (sl) => sl.facets.pick('agreement', [8, 20], true)",
    "filter: drop all filters": "async (sl) => sl.facets.clear()",
    "filter: a narrow agreement range (top 2 bins, ~120 shown)": "async (sl) => sl.facets.pick('agreement', [38, 39], true)",
"search: find 'class 7' (100k matches), select them": "async (sl) => sl.find.show('class 7')",
    "search: filter to the matches": "async (sl) => sl.find.filter(true)",
    "search: drop the search filter": "async (sl) => sl.find.filter(false)",
    "select rows in both maps (10k)": "async (sl) => { sl.state.selection; const r = new Uint32Array(10000).map((_, i) => i * 7); sl.maps.A.selectRows(r); sl.maps.B.selectRows(r); }",
}

# run before each timed repeat (untimed), so that each repeat does the same work
EXPLORE_PREP = {
    "filter: drop all filters": "async (sl) => sl.facets.pick('agreement', [8, 20], true)",
    "search: drop the search filter": "async (sl) => sl.find.filter(true)",
}


# run after each timed repeat (untimed), so that the next repeat (and step) starts from no filter
EXPLORE_AFTER = {
    "filter: a narrow agreement range (top 2 bins, ~120 shown)": "async (sl) => sl.facets.clear()",
}


def measure_explore(url: str, browser, repeats: int, shots: Path | None) -> dict:
    """Each exploring step timed in the page (median of ``repeats``), with the baseline repaint."""
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(url + LOAD_QUERY)
    page.wait_for_function(EXPLORE_READY, timeout=600_000, polling=100)
    page.locator("#facets-panel").scroll_into_view_if_needed()   # the charts load once the panel is in view
    page.wait_for_function(CHARTS_READY, timeout=600_000, polling=100)
    out = {}
    for name, step in EXPLORE_STEPS.items():
        times, js = [], []
        for _ in range(repeats):
            if name in EXPLORE_PREP:
                page.evaluate(f"({EXPLORE_PREP[name]})(window.__sl)")
            total, own = page.evaluate(f"({TIMED})({step})")
            times.append(total)
            js.append(own)
            if name in EXPLORE_AFTER:
                page.evaluate(f"({EXPLORE_AFTER[name]})(window.__sl)")
            elif name.startswith("filter:") and "drop" not in name:   # each repeat starts from the same filters
                page.evaluate(f"({step.replace('sl.facets.pick', 'sl.facets.pick')})(window.__sl)")
        own = [t for t in js if t == t]   # the page's own code, painting aside (filters only)
        out[name] = {"ms": round(statistics.median(times), 1), "all_ms": [round(t, 1) for t in times],
                     "js_ms": round(statistics.median(own), 1) if own else None}
        if shots and name.startswith("filter: brush"):
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "explore-1M-filtered-1440x900.png"))
        print(f"  {name}: {out[name]['ms']} ms (page code {out[name]['js_ms']} ms)", flush=True)
    out["charts_render_ms"] = float(page.evaluate("Number(document.querySelector('#facets').dataset.ms)"))
    # the overlays' own cost for the last view (both maps): contours and cluster labels
    out["density_ms"] = page.evaluate("['A','B'].map(s => (window.__sl.density.info(window.__sl.maps[s]) || {}).ms)")
    out["labels"] = page.evaluate("window.__sl.clusterLabels.stats")
    print(f"  charts {out['charts_render_ms']} ms, contours {out['density_ms']} ms, labels {out['labels']}", flush=True)
    page.close()
    return out


def main_explore(args) -> None:
    root = args.keep or Path(tempfile.mkdtemp(prefix="spacelens-bench-explore-"))
    results = {"machine": machine(), "chromium_args": CHROMIUM_ARGS, "sizes": {}}
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for n in args.sizes:
                home = root / f"home-{n}"
                if not (home / "registry.sqlite").exists():
                    build_registry(home, n)
                srv, url = serve(home)
                try:
                    print(f"n={n:,}", flush=True)
                    results["sizes"][str(n)] = measure_explore(url, browser, args.repeats, args.shots)
                finally:
                    srv.should_exit = True
                    time.sleep(0.5)
            browser.close()
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    steps = list(EXPLORE_STEPS)
    print("\n| step | points/map | to painted, ms | page code, ms | x baseline repaint |\n|---|---|---|---|---|")
    for n, r in results["sizes"].items():
        for st in steps:
            print(f"| {st} | {int(n):,} | {r[st]['ms']} | {r[st]['js_ms'] if r[st]['js_ms'] is not None else '–'} | "
                  f"{r[st]['ms'] / max(r[steps[0]]['ms'], 0.1):.2f} |")
    out = HERE / "results" / "ui_explore.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"\nwrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--repeats", type=int, default=3, help="warm page loads per size")
    ap.add_argument("--keep", type=Path, default=None, help="build the registries here and keep them")
    ap.add_argument("--scale-page", action="store_true",
                    help="the page at scale: no comparison stored, the answer sampled (writes ui_scale.json)")
    ap.add_argument("--dim", type=int, default=16, help="--scale-page: dimensions of the two spaces")
    ap.add_argument("--shots", type=Path, default=None,
                    help="--scale-page: 1440x900 screenshots here (before, during, after the full comparison)")
    ap.add_argument("--after-timeout", type=float, default=600,
                    help="--scale-page: seconds to wait for the full comparison before cancelling it")
    ap.add_argument("--explore", action="store_true",
                    help="filters, brushing and search timed in the page (writes ui_explore.json)")
    args = ap.parse_args()
    if not os.path.exists(CHROMIUM):
        sys.exit(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    from spacelens.server import frontend_built

    if not frontend_built():
        sys.exit("the front end is not built: run make web")
    os.environ.setdefault("SPACELENS_NO_PROGRESS", "1")
    if args.scale_page:
        return main_scale(args)
    if args.explore:
        return main_explore(args)
    results = {"machine": machine(), "chromium_args": CHROMIUM_ARGS, "sizes": {}}
    rows = []
    root = args.keep or Path(tempfile.mkdtemp(prefix="spacelens-bench-ui-"))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            results["chromium"] = browser.version
            for n in args.sizes:
                home = root / f"home-{n}"
                if not (home / "registry.sqlite").exists():
                    t0 = time.perf_counter()
                    build_registry(home, n)
                    print(f"n={n:,}: registry built in {time.perf_counter() - t0:.1f} s", flush=True)
                srv, url = serve(home)
                try:
                    m = measure(url, browser, args.repeats)
                finally:
                    srv.should_exit = True
                    time.sleep(0.5)
                warm = [r["drawn_ms"] / 1000 for r in m["warm"]]
                last = m["warm"][-1]
                b = last["baseline"]
                row = {"n": n, "cold_s": round(m["cold"]["drawn_ms"] / 1000, 2),
                       "warm_s": round(statistics.median(warm), 2),
                       "bytes_per_point_map": round(last["bytes"] / (2 * n), 2),
                       "json_bytes_per_point_map": round(b["json_bytes"] / n, 2),
                       "bin_map_bytes_per_point": round(b["bin_bytes"] / n, 2),
                       "json_fetch_parse_ms": round(b["json_fetch_ms"] + b["json_parse_ms"]),
                       "bin_fetch_decode_ms": round(b["bin_fetch_ms"] + b["bin_decode_ms"]),
                       "frame_ms": round(last["frame_ms"])}
                row["x_smaller"] = round(row["json_bytes_per_point_map"] / row["bin_map_bytes_per_point"], 1)
                row["x_faster"] = round(row["json_fetch_parse_ms"] / max(row["bin_fetch_decode_ms"], 1), 1)
                rows.append(row)
                results["sizes"][str(n)] = {"summary": row, **m}
                print(json.dumps(row), flush=True)
            browser.close()
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    head = ["points/map", "cold s", "warm s", "B/point/map", "map B/pt", "JSON B/pt", "x smaller",
            "bin fetch+decode ms", "JSON fetch+parse ms", "x faster", "frame ms"]
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        print(f"| {r['n']:,} | {r['cold_s']} | {r['warm_s']} | {r['bytes_per_point_map']} | "
              f"{r['bin_map_bytes_per_point']} | {r['json_bytes_per_point_map']} | {r['x_smaller']} | "
              f"{r['bin_fetch_decode_ms']} | {r['json_fetch_parse_ms']} | {r['x_faster']} | {r['frame_ms']} |")
    out = HERE / "results" / "ui.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
