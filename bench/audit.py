"""spacelens audit vs cleanlab's Datalab on the same planted data, side by side in one run.

The data (:func:`spacelens.audit.planted_problems`, d = 32, cosine, one class per 500 items,
one blended class pair, 0.5% leaks into the query split, 0.5% duplicates, 2% label flips, 0.5%
outliers) is written once per size; each tool then runs in its own subprocess (peak memory is
per tool). Both get the vectors, the labels and (spacelens) the split column, k = 10 for both:

- spacelens: ``spacelens.audit(vectors, labels=..., splits=..., effect=False)``: one kNN graph
  (auto engine), every detector on it.
- cleanlab: ``Datalab.find_issues(features=..., issue_types={label, outlier, near_duplicate})``
  with its defaults (k = 10). Datalab has no split notion: its near-duplicate sets are split
  the same way as spacelens's (a query-split item whose set holds a reference item is a leak;
  an item whose set holds an earlier item of its own split is a duplicate). Mixed classes:
  Datalab's ``overlapping_classes`` (from the label issue manager's health summary) has no
  threshold; pairs with joint probability >= 0.01 count as flagged (our rule, stated).

Precision, recall and F1 per kind against the planted truth; seconds are of the audit call
only (data loading and imports excluded, both tools alike); peak RSS of the whole process.
cleanlab is a bench-only dependency (``pip install 'cleanlab[datalab]'``).

    OMP_NUM_THREADS=2 python bench/audit.py                      # 10k and 100k
    OMP_NUM_THREADS=2 python bench/audit.py --n 10000 --tools spacelens
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import python_cmd, run_measured  # noqa: E402

KINDS = ("leak", "duplicate", "label_error", "outlier", "mixed_classes")

SPACELENS = r"""
import json, sys, time, numpy as np
import spacelens
d = np.load(sys.argv[1], allow_pickle=False)
t = time.perf_counter()
res = spacelens.audit(d["vectors"], labels=d["labels"], splits=d["splits"], effect=False)
sec = time.perf_counter() - t
f = res.to_frame()
out = {k: f.loc[f["kind"] == k, "row"].astype(int).tolist() for k in ("leak", "duplicate", "label_error", "outlier")}
out["mixed_classes"] = [[str(p["a"]), str(p["b"])] for p in res["mixed_classes"]]
out["seconds"] = sec
out["engine"] = res["graph"]["engine"]
print(json.dumps(out))
"""

CLEANLAB = r"""
import json, sys, time, warnings, numpy as np
warnings.filterwarnings("ignore")
from cleanlab import Datalab
d = np.load(sys.argv[1], allow_pickle=False)
x, labels, splits = d["vectors"], d["labels"], d["splits"]
t = time.perf_counter()
lab = Datalab(data={"label": labels.tolist()}, label_name="label", verbosity=0)
lab.find_issues(features=x, issue_types={"label": {}, "outlier": {}, "near_duplicate": {}})
sec = time.perf_counter() - t
iss = lab.get_issues()
sets = lab.get_info("near_duplicate")["near_duplicate_sets"]
leak, dup = [], []
for i in np.flatnonzero(iss["is_near_duplicate_issue"].to_numpy()):
    s = [int(j) for j in sets[i]]
    if splits[i] == "query" and any(splits[j] == "reference" for j in s):
        leak.append(int(i))
    if any(splits[j] == splits[i] and j < i for j in s):
        dup.append(int(i))
ov = lab.get_info("label")["overlapping_classes"]
names = list(lab._label_map.values()) if hasattr(lab, "_label_map") else None
pairs = []
for _, r in ov.iterrows():
    if r["Joint Probability"] >= 0.01:
        pairs.append([str(r["Class Name A"]), str(r["Class Name B"])])
out = {"leak": leak, "duplicate": dup, "label_error": np.flatnonzero(iss["is_label_issue"].to_numpy()).tolist(),
       "outlier": np.flatnonzero(iss["is_outlier_issue"].to_numpy()).tolist(), "mixed_classes": pairs,
       "seconds": sec}
print(json.dumps(out))
"""


def _prf(got, truth) -> dict:
    got, truth = {tuple(sorted(g)) if isinstance(g, list) else g for g in got}, \
        {tuple(sorted(t)) if isinstance(t, (list, tuple)) else t for t in truth}
    tp = len(got & truth)
    p = tp / len(got) if got else (1.0 if not truth else 0.0)
    r = tp / len(truth) if truth else 1.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "flagged": len(got),
            "truth": len(truth)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--tools", nargs="+", default=["spacelens", "cleanlab"])
    ap.add_argument("--timeout", type=float, default=None, help="seconds a tool may run; past it the row says "
                    "'not finished in T s' (a lower bound on its time)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "audit.json"))
    args = ap.parse_args()
    import numpy as np

    from spacelens.audit import planted_problems

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.n:
            p = planted_problems(n, seed=0)
            path = Path(tmp) / f"planted_{n}.npz"
            np.savez(path, vectors=p.vectors, labels=np.asarray(p.labels, dtype=str),
                     splits=np.asarray(p.splits, dtype=str))
            truth = {"leak": p.leaks.tolist(), "duplicate": p.duplicates.tolist(),
                     "label_error": p.label_errors.tolist(), "outlier": p.outliers.tolist(),
                     "mixed_classes": [list(m) for m in p.mixed_pairs]}
            for tool in args.tools:
                code = SPACELENS if tool == "spacelens" else CLEANLAB
                m = run_measured(python_cmd(code) + [str(path)], env={"SPACELENS_NO_PROGRESS": "1"},
                                 timeout=args.timeout)
                if m["timed_out"]:
                    results.append({"n": len(p.vectors), "tool": tool, "seconds": None, "timed_out": args.timeout,
                                    "peak_rss_mb": m["peak_rss"] / 2**20, "kinds": {}})
                    print(f"n={len(p.vectors):,} {tool:9s} not finished in {args.timeout:.0f} s", flush=True)
                    continue
                if m["rc"] != 0:
                    print(f"{tool} at {n:,} failed:\n{m['stderr'][-2000:]}")
                    continue
                out = json.loads(m["stdout"].strip().splitlines()[-1])
                row = {"n": len(p.vectors), "tool": tool, "seconds": out["seconds"], "process_seconds": m["seconds"],
                       "peak_rss_mb": m["peak_rss"] / 2**20, "engine": out.get("engine"),
                       "kinds": {k: _prf(out[k], truth[k]) for k in KINDS}}
                results.append(row)
                print(f"n={row['n']:,} {tool:9s} {row['seconds']:7.1f} s  {row['peak_rss_mb']:6.0f} MB  "
                      + "  ".join(f"{k} P{v['precision']:.2f} R{v['recall']:.2f} F1 {v['f1']:.2f}"
                                  for k, v in row["kinds"].items()), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print("\n| N | tool | seconds | peak RSS MB | " + " | ".join(f"{k} P / R / F1" for k in KINDS) + " |")
    print("|---|---|---|---|" + "---|" * len(KINDS))
    for r in results:
        if r.get("timed_out"):
            print(f"| {r['n']:,} | {r['tool']} | not finished in {r['timed_out']:.0f} | {r['peak_rss_mb']:,.0f} (so far) | "
                  + " | ".join("-" for _ in KINDS) + " |")
            continue
        cells = [f"{v['precision']:.2f} / {v['recall']:.2f} / **{v['f1']:.2f}**" for v in r["kinds"].values()]
        print(f"| {r['n']:,} | {r['tool']} | {r['seconds']:.1f} | {r['peak_rss_mb']:,.0f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
