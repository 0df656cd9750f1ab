"""Finding items by text at a million rows (issue 26, item 1): the matches route and the search
box's suggestions, in-process (FastAPI TestClient, the dataset's table already cached, as after
the page's first search), against the floor of one Arrow substring scan of the text column.

    OMP_NUM_THREADS=2 python bench/search.py [--n 1000000] [--repeat 5]

A generated dataset: ids ``item0000000``..., a caption (free text, ~40 characters), a category
column (20 bird names), an integer label; space A holds every item, B 90% of them (the matches
route keeps the items both hold). Times are the median of ``--repeat`` runs; the table prints
milliseconds, matches and the ratio to the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results" / "search.json"
BIRDS = ["heron", "ibis", "stork", "crane", "egret", "plover", "curlew", "dunlin", "godwit", "avocet",
         "lapwing", "snipe", "ruff", "knot", "sanderling", "turnstone", "oystercatcher", "redshank", "greenshank", "whimbrel"]


def build(n: int, home: Path) -> pd.DataFrame:
    import spacelens

    rng = np.random.default_rng(0)
    bird = np.array(BIRDS)[rng.integers(0, len(BIRDS), n)]
    colour = np.array(["red", "green", "blue", "grey", "black", "white"])[rng.integers(0, 6, n)]
    table = pd.DataFrame({
        "id": [f"item{i:07d}" for i in range(n)],
        "caption": pd.Series(np.char.add(np.char.add(np.char.add("a ", colour), " bird seen near the "),
                                         np.array(["lake", "shore", "river", "marsh"])[rng.integers(0, 4, n)])).astype("str"),
        "kind": pd.Categorical(bird),
        "label": rng.integers(0, 100, n),
    })
    vec = rng.normal(size=(n, 4)).astype(np.float32)
    sub = np.sort(rng.choice(n, int(n * 0.9), replace=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spacelens.add(vec, table, dataset_name="big", experiment_name="e", space_name="A", home=home)
        spacelens.add(vec[sub], dataset_name="big", experiment_name="e", space_name="B",
                      ids=table["id"].to_numpy()[sub], home=home)
    return table


def timed(fn, repeat: int) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    os.environ.setdefault("SPACELENS_NO_PROGRESS", "1")
    import pyarrow as pa
    import pyarrow.compute as pc
    from fastapi.testclient import TestClient

    from spacelens.server import create_app
    from spacelens.views import binary
    from spacelens.views.search import find_items

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        t0 = time.perf_counter()
        table = build(args.n, home)
        print(f"built {args.n:,} rows in {time.perf_counter() - t0:.1f} s")
        ids = table["id"].to_numpy()
        caption = pa.array(table["caption"].array)
        client = TestClient(create_app(home), base_url="http://127.0.0.1")
        client.get("/api/datasets/big/matches", params={"q": "warm"})   # the table read once, as the page's first search
        rows = []

        def add(case, fn, n_of=None):
            sec, out = timed(fn, args.repeat)
            rows.append({"case": case, "ms": sec * 1000, "matches": n_of(out) if n_of else None})

        add("baseline: pyarrow match_substring, caption only", lambda: pc.match_substring(caption, "shore", ignore_case=True),
            lambda a: int(pc.sum(a).as_py()))
        cache: dict = {}
        add("find_items 'shore' (ids + 3 columns)", lambda: find_items(table, ids, "shore", id_field="id", cache=cache), len)
        for q, spaces in [("shore", None), ("shore", "A,B"), ("heron", "A,B"), ("42", "A,B"), ("kind:heron", "A,B"),
                          ("item00012", "A,B")]:
            def call(q=q, spaces=spaces):
                r = client.get("/api/datasets/big/matches", params={"q": q, "limit": 50, "spaces": spaces})
                assert r.status_code == 200, r.text
                return r.content
            add(f"GET matches q={q!r} spaces={spaces or '-'}", call, lambda c: binary.decode(c)[0]["n"])
        for q in ["shore", "item00012"]:
            add(f"GET search (suggestions, 12) q={q!r} spaces=A,B",
                lambda q=q: client.get("/api/datasets/big/search", params={"q": q, "limit": 12, "spaces": "A,B"}).json(), len)
    base = rows[0]["ms"]
    print(f"\n{args.n:,} rows, median of {args.repeat}; x = time / baseline\n")
    print("| case | ms | x baseline | matches |\n|---|---|---|---|")
    for r in rows:
        r["x_baseline"] = r["ms"] / base
        found = "" if r["matches"] is None else f"{r['matches']:,}"
        print(f"| {r['case']} | {r['ms']:.0f} | {r['x_baseline']:.1f} | {found} |")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"date": str(date.today()), "machine": platform.processor() or platform.machine(),
                                   "n": args.n, "repeat": args.repeat, "rows": rows}, indent=1))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
