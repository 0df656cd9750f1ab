"""Benchmark: tracking verbs on a 100,000 x 512 float32 space (issue 3).

Prints a table and writes bench/results/track.json. Baseline in the same run: copying the
.npy file with shutil (the least any registry must pay) and numpy loading it whole.
Usage: python bench/track.py [--n 100000] [--d 512]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _measure import python_cmd, run_measured  # noqa: E402

MB = 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=512)
    args = ap.parse_args()
    n, d = args.n, args.d
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        emb = tmp / "emb.npy"
        arr = np.lib.format.open_memmap(emb, mode="w+", dtype=np.float32, shape=(n, d))
        rng = np.random.default_rng(0)
        for r0 in range(0, n, 10_000):
            arr[r0:r0 + 10_000] = rng.standard_normal((min(10_000, n - r0), d), dtype=np.float32)
        arr.flush()
        del arr
        (tmp / "items.csv").write_text("id,label\n" + "".join(f"i{i},{i % 100}\n" for i in range(n)))
        env = {"SPACELENS_HOME": str(tmp / "home"), "SPACELENS_NO_PROGRESS": "1"}
        cli = [sys.executable, "-m", "spacelens"]
        cases = [
            ("baseline: shutil.copyfile", python_cmd(f"import shutil; shutil.copyfile({str(emb)!r}, {str(tmp / 'c.npy')!r})")),
            ("baseline: np.load (full read)", python_cmd(f"import numpy as np; np.load({str(emb)!r}).sum()")),
            ("spacelens add (new dataset)", cli + ["add", "-e", str(emb), "-d", str(tmp / "items.csv"), "--dataset-name",
                                                   "items", "--experiment-name", "e", "--embedding-space-name", "a"]),
            ("spacelens add (2nd space)", cli + ["add", "-e", str(emb), "--dataset-name", "items",
                                                 "--experiment-name", "e", "--embedding-space-name", "b"]),
            ("spacelens ls", cli + ["ls"]),
            ("spacelens show", cli + ["show", "a"]),
            ("spacelens rm", cli + ["rm", "space", "b"]),
        ]
        rows = []
        for label, cmd in cases:
            r = run_measured(cmd, env)
            if r["rc"] != 0:
                raise SystemExit(f"{label} failed: {r['stderr']}")
            rows.append({"case": label, "seconds": round(r["seconds"], 3), "peak_rss_mb": round(r["peak_rss"] / MB),
                         "peak_anon_mb": round(r["peak_anon"] / MB)})
    base = rows[0]["seconds"]
    space_mb = n * d * 4 / MB
    print(f"\ntracking verbs, {n:,} x {d} float32 ({space_mb:.0f} MB), {os.cpu_count()} cores\n")
    print(f"{'case':32} {'seconds':>8} {'x copy':>7} {'peak RSS MB':>12} {'peak anon MB':>13}")
    for r in rows:
        print(f"{r['case']:32} {r['seconds']:8.2f} {r['seconds'] / base:7.2f} {r['peak_rss_mb']:12} {r['peak_anon_mb']:13}")
    out = Path(__file__).parent / "results" / "track.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"n": n, "d": d, "space_mb": space_mb, "rows": rows}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
