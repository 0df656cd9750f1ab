"""What the answer strip's line for the shown items costs (spacelens.answer_subset.subset_figures,
POST /api/figures), against the answer's own retrieval figure (evaluate_versus), same run.

Per case (N items, d = 64, C classes, clustered Gaussian vectors; A blurred, B sharper; their
comparison at k = 10 stored, as the page has it once the answer ran):

- versus first / again: ``evaluate_versus`` A vs B (first run builds both kNN graphs at R, the
  class size; the second reuses them): the answer's retrieval figure, the baseline.
- figures cold: ``subset_figures`` on 30% of the items with an empty ScoreCache (graphs stored:
  the page's first filter after the answer); figures warm: another 30% with the cache filled
  (every later filter); figures sampled warm: the same with 2,000 sampled queries.
- narrow: a filter keeping 1% of the items, with 2,000 sampled queries and the cache warm: the
  answer's sample holds ~20 of them, so the figures draw 500 queries among the shown items (a
  new exact search of each), timed once; "queries" is how many the figure rests on, "of
  answer" how many it would have had.
Ratios are against "versus again". Seconds are medians of ``--repeat`` runs of each call.

    OMP_NUM_THREADS=2 python bench/figures.py                  # 10k and 40k
    OMP_NUM_THREADS=2 python bench/figures.py --n 10000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def case(n: int, d: int, n_classes: int, repeat: int) -> dict:
    import numpy as np
    import pandas as pd

    import spacelens
    from spacelens.answer_subset import ScoreCache, subset_figures
    from spacelens.api import open_registry

    rng = np.random.default_rng(0)
    lab = rng.integers(0, n_classes, n)
    centres = rng.normal(size=(n_classes, d)) * 0.6
    table = pd.DataFrame({"id": [f"i{i}" for i in range(n)], "label": lab.astype(str)})
    home = Path(tempfile.mkdtemp()) / "home"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, noise in (("A", 1.0), ("B", 0.7)):
            x = (centres[lab] + noise * rng.normal(size=(n, d))).astype(np.float32)
            spacelens.add(x, table if name == "A" else None, dataset_name="d", experiment_name=name, space_name=name,
                          home=home)
        spacelens.compare("A", "B", k=10, home=home)
    reg = open_registry(home)
    versus = lambda: spacelens.evaluate_versus("A", "B", label_field="label", home=home)  # noqa: E731
    first, _ = timed(versus)
    again, _ = timed(versus, repeat)
    rows1 = np.sort(rng.choice(n, int(0.3 * n), replace=False))
    rows2 = np.sort(rng.choice(n, int(0.3 * n), replace=False))
    cold, fig = timed(lambda: subset_figures(reg, "A", "B", rows1, label_field="label", cache=ScoreCache()), repeat)
    cache = ScoreCache()
    subset_figures(reg, "A", "B", rows1, label_field="label", cache=cache)
    warm, _ = timed(lambda: subset_figures(reg, "A", "B", rows2, label_field="label", cache=cache), repeat)
    subset_figures(reg, "A", "B", rows1, label_field="label", cache=cache, sample=2000)
    warm_s, figs = timed(lambda: subset_figures(reg, "A", "B", rows2, label_field="label", cache=cache,
                                                sample=2000), repeat)
    narrow = np.sort(rng.choice(n, max(1, n // 100), replace=False))
    # once, with the page's warm cache (the answer's sample and the all-items Jaccard kept): a
    # repeat would find its own search cached
    narrow_s, fign = timed(lambda: subset_figures(reg, "A", "B", narrow, label_field="label", cache=cache,
                                                  sample=2000))
    from spacelens.evaluate.versus import per_query_scores
    held = int(np.isin(per_query_scores(reg, "A", label_field="label", sample=2000)["rows"], narrow).sum())
    return {"n": n, "d": d, "classes": n_classes, "shown": len(rows1), "versus_first_s": first, "versus_again_s": again,
            "figures_cold_s": cold, "figures_warm_s": warm, "figures_sampled_warm_s": warm_s,
            "cold_vs_versus": cold / again, "warm_vs_versus": warm / again,
            "narrow_shown": int(len(narrow)), "narrow_s": narrow_s, "narrow_queries": fign["retrieval"]["n_queries"],
            "narrow_answer_queries": held, "narrow_vs_versus": narrow_s / again,
            "sentence": fig["sentence"], "sampled_sentence": figs["sentence"], "narrow_sentence": fign["sentence"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10_000, 40_000])
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--classes-per", type=int, default=1000, help="items per class (R)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(HERE / "results" / "figures.json"))
    args = ap.parse_args()
    os.environ.setdefault("SPACELENS_NO_PROGRESS", "1")
    rows = []
    print(f"{'N':>8} {'shown':>7} {'versus 1st':>10} {'versus':>8} {'fig cold':>9} {'fig warm':>9} "
          f"{'sampled':>8} {'cold/vs':>8} {'warm/vs':>8} {'narrow':>7} {'narr/vs':>8} {'queries':>8} {'of answer':>9}")
    for n in args.n:
        r = case(n, args.d, max(2, n // args.classes_per), args.repeat)
        rows.append(r)
        print(f"{n:>8,} {r['shown']:>7,} {r['versus_first_s']:>10.2f} {r['versus_again_s']:>8.2f} "
              f"{r['figures_cold_s']:>9.2f} {r['figures_warm_s']:>9.3f} {r['figures_sampled_warm_s']:>8.3f} "
              f"{r['cold_vs_versus']:>8.2f} {r['warm_vs_versus']:>8.3f} {r['narrow_s']:>7.2f} "
              f"{r['narrow_vs_versus']:>8.3f} {r['narrow_queries']:>8,} {r['narrow_answer_queries']:>9,}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                               "omp_threads": os.environ.get("OMP_NUM_THREADS"), "python": sys.version.split()[0],
                               "cases": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
