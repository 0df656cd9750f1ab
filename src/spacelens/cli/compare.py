"""The ``compare`` verb: how similar two spaces of one dataset are, item by item (or all pairs)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from spacelens import api
from spacelens.cli._common import (BudgetOption, FullOption, HomeOption, JsonOption, console, engine_params, home_arg,
                                   print_json)
from spacelens.errors import SpacelensError

_IMAGE_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg")
_BLOCKS = " ▏▎▍▌▋▊▉█"


def _bar(share: float, width: int = 40) -> str:
    """A unicode bar of ``share`` (0..1) of ``width`` cells, in eighths of a cell."""
    eighths = int(round(max(0.0, min(1.0, share)) * width * 8))
    return "█" * (eighths // 8) + (_BLOCKS[eighths % 8] if eighths % 8 else "")


def _split_positionals(args: list[str], histogram: bool) -> tuple[list[str], Optional[str]]:
    """``SPACE_A SPACE_B [FILE]``: the optional FILE of ``--histogram FILE`` lands among positionals."""
    files = [a for a in args if a.lower().endswith(_IMAGE_SUFFIXES)]
    if histogram and len(args) == 3 and len(files) == 1:
        return [a for a in args if a != files[0]], files[0]
    return args, None


def _f(x, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _print_histogram(hist: dict, base_hist: Optional[dict] = None) -> None:
    total = max(sum(hist["counts"]), 1)
    btotal = max(sum(base_hist["counts"]), 1) if base_hist else 1
    t = Table(box=None, show_header=True, pad_edge=False, header_style="bold")
    t.add_column("shared/k  Jaccard" if hist["kind"] == "shared" else "Jaccard")
    t.add_column("items", justify="right")
    t.add_column("", no_wrap=True)
    if base_hist:
        t.add_column("baseline", no_wrap=True)
    for i, (label, c) in enumerate(zip(hist["labels"], hist["counts"])):
        row = [label, f"{c:,}", f"[blue]{_bar(c / total)}[/blue] {100 * c / total:.1f}%"]
        if base_hist:
            bc = base_hist["counts"][i] if i < len(base_hist["counts"]) else 0
            row.append(f"[yellow]{_bar(bc / btotal, 24)}[/yellow] {100 * bc / btotal:.1f}%")
        t.add_row(*row)
    console.print(t)


def _print_comparison(res) -> None:
    info = res.info
    base = res.baseline
    metrics = info["metric_a"] if info["metric_a"] == info["metric_b"] else f"{info['metric_a']} / {info['metric_b']}"
    engine = info["engine"] + (f" {info['engine_params']}" if info.get("engine_params") else "")
    conv = ", self counted among its k (seed convention)" if info["include_self"] else ""
    curve = info.get("curve", {})
    at = f"k = {res.k}" + (" (headline; the k curve below has the others)" if len(curve) > 1 else "")
    console.print(f"[bold]{res.space_a}[/bold] vs [bold]{res.space_b}[/bold]: {info['n_items']:,} items, "
                  f"{at}, {metrics}, {engine}{conv}")
    if info.get("n_dropped"):
        console.print(f"  compared on shared items: {info['n_dropped']:,} dropped "
                      f"({info['n_a'] - info['n_items']:,} only in {res.space_a}, "
                      f"{info['n_b'] - info['n_items']:,} only in {res.space_b})")
    t = Table(box=None, show_header=False, pad_edge=False)
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")
    sim = f"[bold green]{res.mean:.4f}[/bold green]"
    if "sample" in info:
        lo, hi = info["sample"]["ci95"]
        sim += f"  (95% CI {lo:.4f} - {hi:.4f}; {info['sample']['n']:,} sampled items)"
    t.add_row("similarity (mean Jaccard)", sim)
    chance = info["chance"]
    ratio = f" ({res.mean / chance:.1f}x chance)" if chance and chance > 0 else ""
    t.add_row("chance level", f"{chance:.4f}{ratio}")
    if base is not None:
        t.add_row("baseline", f"[bold yellow]{base.mean:.4f}[/bold yellow]  ({base.space_a} vs its reseeded run "
                  f"{base.space_b}, k = {base.k})")
    if "cka" in info:
        cka = _f(info["cka"], 4)
        if base is not None and "cka" in base.info:
            cka += f"  (baseline {_f(base.info['cka'], 4)})"
        if info.get("cka_items", info["n_items"]) != info["n_items"]:
            cka += f"  (on {info['cka_items']:,} random items)"
        from spacelens.compare.cka import cka_rows

        cka += f"  [dim]{cka_rows(info['metric_a'], info['metric_b'])}[/dim]"
        t.add_row("linear CKA", cka)
    q = info.get("quantiles", {})
    t.add_row("quantiles", "  ".join(f"{float(p) * 100:g}%: {v:.3f}" for p, v in q.items()))
    if "recall" in info:
        r = info["recall"]
        ci = r.get("ci95") or {}

        def _rec(side, name):
            lo_hi = ci.get(side)
            return f"{_f(r[side])} ({name}" + (f", 95% CI {lo_hi[0]:.3f}-{lo_hi[1]:.3f})" if lo_hi else ")")

        missed = "" if r.get("reached", True) else f"  [bold red]below the target {r['target']:g}[/bold red]"
        t.add_row("approximation", f"recall@{r['k']} vs exact: {_rec('a', res.space_a)}, {_rec('b', res.space_b)} "
                  f"on {r['n_queries']:,} random queries; the similarity is within ±{r['max_error']:.3f} of "
                  f"exact{missed}")
        if "exact_check" in info:
            c = info["exact_check"]
            t.add_row("exact on a sample", f"{c['mean']:.4f}  (95% CI {c['ci95'][0]:.4f} - {c['ci95'][1]:.4f}; "
                      f"exact neighbours of {c['n']:,} random items)")
    console.print(t)
    _print_histogram(info["histogram"], base.info["histogram"] if base is not None else None)
    if len(curve) > 1:
        _print_curve(res)
    if base is not None:
        console.print(f"[bold]reading (k = {res.k}):[/bold] {info['baseline_reading']}")


def _print_curve(res) -> None:
    """The k curve, the headline k marked; with a baseline, the reading at each k (it can change)."""
    info, curve = res.info, res.info["curve"]
    ct = Table(title="k curve", title_justify="left", show_header=True, header_style="bold")
    ct.add_column("k", justify="right", no_wrap=True)
    ct.add_column("mean Jaccard", justify="right", no_wrap=True)
    if "sample" in info:
        ct.add_column("95% CI", justify="right", no_wrap=True)
    if res.baseline is not None:
        ct.add_column("baseline", justify="right", no_wrap=True)
    ct.add_column("chance", justify="right", no_wrap=True)
    if res.baseline is not None:
        ct.add_column("reading", overflow="fold")
    for kk in sorted(curve, key=int):
        point = curve[kk]
        headline = int(kk) == res.k
        row = [f"{kk} ◀" if headline else kk, f"{point['mean']:.4f}"]
        if "sample" in info:
            row.append(" - ".join(f"{x:.3f}" for x in point["ci95"]))
        if res.baseline is not None:
            row.append(_f(point.get("baseline"), 4))
        row.append(f"{point['chance']:.4f}")
        if res.baseline is not None:
            row.append(point.get("reading", "-"))
        ct.add_row(*row, style="bold" if headline else None)
    console.print(ct)
    console.print("[dim]◀ headline k (10 when in the curve; choose another with --primary-k)[/dim]")


def _print_matrix(mat) -> None:
    def table(values, title):
        t = Table(title=title, header_style="bold")
        t.add_column("")
        for name in mat.spaces:
            t.add_column(name, justify="right")
        for name, row in zip(mat.spaces, values):
            t.add_row(name, *(_f(float(v)) for v in row))
        console.print(t)

    table(mat.jaccard, f"{mat.dataset}: mean kNN Jaccard (k = {mat.k}, {mat.info['metric']}, {mat.info['engine']})")
    if mat.cka is not None:
        from spacelens.compare.cka import cka_rows

        table(mat.cka, f"{mat.dataset}: linear CKA ({cka_rows(mat.info['metric'])})")
    pruned = mat.info.get("pruned") or []
    if pruned:
        console.print(f"[dim]Left out, their vectors pruned: {', '.join(pruned)} (their stored results remain: "
                      "spacelens evolution shows them).[/dim]")


def compare(
    spaces: Optional[List[str]] = typer.Argument(None, metavar="SPACE_A SPACE_B",
                                                 help="The two spaces to compare (of one dataset)."),
    k: str = typer.Option("10", "-k", "--k", help="Neighbours per item, or a k curve: -k 1,5,10,50,100 (one graph for "
                          "the largest k; the headline is at k = 10 when listed, else at the first k)."),
    primary: Optional[int] = typer.Option(None, "--primary-k", min=1, help="The k of the headline and of the "
                                          "baseline reading, when the curve has several (added to it if missing)."),
    metric: Optional[str] = typer.Option(None, "--metric", "-m", help="Metric of both spaces (cosine, l2, dot)."),
    metric_a: Optional[str] = typer.Option(None, "--metric-a", "-ma", help="Metric of space A (default cosine)."),
    metric_b: Optional[str] = typer.Option(None, "--metric-b", "-mb", help="Metric of space B (default cosine)."),
    approx: bool = typer.Option(False, "--approx", help="Approximate kNN graphs (ivf unless --engine says "
                                "otherwise); prints the engines' measured recall and what it means for the result."),
    engine: Optional[str] = typer.Option(None, "--engine", "-e", help="kNN engine: auto (default: exact when "
                                         "estimated under a minute, else ivf at --recall), exact, ivf, hnsw or dask."),
    recall: float = typer.Option(0.95, "--recall", help="Target recall of approximate graphs: their search effort "
                                 "grows until the recall measured against exact search on 1,000 random items "
                                 "reaches it (reported with its 95% CI)."),
    param: Optional[List[str]] = typer.Option(None, "--param", "-p", help="Engine setting KEY=VALUE, repeatable "
                                              "(hnsw M, ef_construction, ef_search; ivf nlist, nprobe)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address (engine dask)."),
    sample: Optional[int] = typer.Option(None, "--sample", help="Exact neighbours for N random items only: "
                                         "the mean with a 95% confidence interval (fast for millions of items)."),
    seed: int = typer.Option(0, "--seed", help="Seed of --sample and of the recall queries."),
    include_self: bool = typer.Option(False, "--include-self", help="Count each item among its own k neighbours "
                                      "(the seed tool's convention, which inflates the score): to compare with "
                                      "old figures."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="A reseeded run of SPACE_A: also compare A "
                                           "with it and print that figure beside A vs B, to read A vs B against. "
                                           "Default: a reseeded run found automatically (a space of the same "
                                           "dataset, split and step whose experiment's parameters equal A's but "
                                           "the seed); 'none' for no baseline."),
    label_field: Optional[str] = typer.Option(None, "--label-field", "-l", help="Dataset column with labels, for "
                                              "the answer's retrieval sentence (which retrieves better, paired "
                                              "MAP@R) and the classes that changed most. Default: the label "
                                              "column of a stored evaluation of A or B."),
    show_answer: bool = typer.Option(True, "--answer/--no-answer", help="Lead with the answer (up to three "
                                     "sentences: which retrieves better, how alike, where they differ most)."),
    histogram: bool = typer.Option(False, "--histogram", metavar="[FILE]", help="Also write a PNG histogram (and "
                                   "k curve) to FILE (default compare-A-vs-B-kK.png)."),
    export: Optional[Path] = typer.Option(None, "--export", help="Write per-item values (id, row, jaccard) to a "
                                          ".parquet or .csv file."),
    all_dataset: Optional[str] = typer.Option(None, "--all", metavar="DATASET", help="Similarity matrix of all "
                                              "spaces of DATASET (reuses one cached graph per space)."),
    heatmap: Optional[Path] = typer.Option(None, "--heatmap", help="With --all: write the matrix as a PNG heatmap."),
    cka: bool = typer.Option(True, "--cka/--no-cka", help="Also compute linear CKA (a k-free global measure)."),
    items: bool = typer.Option(True, "--items/--no-items", help="With --json: include per-item values."),
    by: Optional[str] = typer.Option(None, "--by", help="A dataset column (e.g. label): mean agreement and its 95% "
                                     "CI per value, least and most agreeing first."),
    groups: bool = typer.Option(False, "--groups", help="Also find groups of items whose neighbourhoods changed "
                                "together (the regions to look at first), ranked by size x disagreement and "
                                "described by the dataset's metadata."),
    export_changes: Optional[Path] = typer.Option(None, "--export-changes", help="Write the changed-items table "
                                                  "(id, row, jaccard, overlap, kept, changed, every metadata "
                                                  "column; with --groups the group rank), most changed first, to "
                                                  "a .csv or .parquet file."),
    precompute: bool = typer.Option(False, "--precompute", hidden=True, help="Accepted for compatibility "
                                    "(graphs are always precomputed and cached)."),
    full: bool = FullOption,
    budget: Optional[float] = BudgetOption,
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """How similar are two embedding spaces of one dataset? Per item: the Jaccard index of its
    k nearest neighbours in A and in B (self excluded; neighbours at equal distance, e.g.
    duplicate rows, are ranked by lower row, in both spaces); the similarity is the mean.

    Prints the mean, quantiles, a histogram, the chance level for this N and k and linear
    CKA (under cosine on L2-normalised rows, as Huh et al.; Kornblith et al. use raw features). Per-item values are stored in the registry (for colouring maps). Spaces over
    different items of one dataset are compared on their shared items.

    Leads with the answer: which retrieves better (with labels), how alike the neighbourhoods
    are against chance and the seed baseline, and where they differ most (spacelens answer).

    Examples: spacelens compare run1.val run2.val -k 1,5,10,50 --histogram;
    spacelens compare big.a big.b --sample 2000; spacelens compare --all items --heatmap m.png
    """
    reg = home_arg(home)
    params = engine_params(param, scheduler)
    ma = metric_a or metric or "cosine"
    mb = metric_b or metric or "cosine"
    positional, hist_file = _split_positionals(list(spaces or []), histogram)
    if all_dataset is not None:
        if positional:
            raise SpacelensError("--all DATASET compares all spaces of a dataset; do not name spaces too",
                                 "Run either 'spacelens compare A B' or 'spacelens compare --all DATASET'")
        mat = api.compare_all(all_dataset, k=k, metric=ma, approx=approx, include_self=include_self,
                              engine=engine, engine_params=params, cka=cka, recall=recall, home=reg)
        out = mat.to_dict()
        if heatmap is not None:
            from spacelens.compare.plots import heatmap_png

            out["heatmap"] = str(heatmap_png(mat, heatmap))
        if as_json:
            print_json(out)
            return
        _print_matrix(mat)
        if heatmap is not None:
            console.print(f"heatmap written to {out['heatmap']}")
        return
    if len(positional) != 2:
        raise SpacelensError(f"compare needs two spaces, got {len(positional)}"
                             + (f" ({', '.join(positional)})" if positional else ""),
                             "Run 'spacelens compare SPACE_A SPACE_B' (or --all DATASET for all pairs)")
    if heatmap is not None:
        raise SpacelensError("--heatmap draws the matrix of --all DATASET", "Use --histogram for two spaces")
    for target in (export, export_changes):
        if target is not None and target.suffix.lower() not in (".parquet", ".csv"):
            raise SpacelensError(f"Cannot export to {target.name!r}: unknown format {target.suffix or '(none)'}",
                                 "Use a .parquet or .csv file name")
    if (groups or export_changes is not None) and sample is not None:
        raise SpacelensError("--groups and --export-changes need every item's neighbours; --sample has a few",
                             "Drop --sample (the graphs are cached, so a full compare is reused)")
    full = full or groups or export_changes is not None   # every item's neighbours: the full graphs
    a, b = positional
    from spacelens.cli._insight import baseline_choice, print_answer

    baseline, base_source = baseline_choice(reg, a, b, baseline)
    res = api.compare(a, b, k=k, metric_a=ma, metric_b=mb, approx=approx, sample=sample,
                      include_self=include_self, baseline=baseline, engine=engine, engine_params=params, seed=seed,
                      cka=cka, by=by, primary_k=primary, recall=recall, full=full, budget=budget, home=reg)
    ans = (api.answer(a, b, label_field=label_field, metric=ma, seed=seed, comparison=res,
                      baseline_source=base_source, full=full, budget=budget, home=reg) if show_answer else None)
    written = {}
    if histogram:
        from spacelens.compare.plots import histogram_png

        target = hist_file or f"compare-{a}-vs-{b}-k{res.k}.png".replace("/", "_")
        written["histogram"] = str(histogram_png(res, target))
    if export is not None:
        written["export"] = str(_export(res, export))
    found = api.change_groups(res, k=res.k, home=reg) if groups else None
    if export_changes is not None:
        table = api.changed_items(res, k=res.k, columns="all", groups=found, home=reg)
        written["changes"] = str(_write_table(table, export_changes))
    if as_json:
        out = res.to_dict(per_item=items)
        if found is not None:
            out["groups"] = found
        if ans is not None:
            out["answer"] = ans
        out.update(written)
        print_json(out)
        return
    if ans is None or not ans.get("sampled"):
        from spacelens.cli._insight import print_budget

        print_budget(res.info.get("budget"))
    print_answer(ans)
    _print_comparison(res)
    from spacelens.cli._insight import print_agreement, print_baseline_difference, print_by_group

    print_agreement(res)
    print_baseline_difference(res)
    if "by" in res.info:
        print_by_group(res.info["by"])
    if found is not None:
        from spacelens.cli._insight import print_change_groups

        print_change_groups(found)
    for what, path in written.items():
        console.print(f"{what} written to {path}")


def _export(res, path: Path) -> Path:
    return _write_table(res.to_frame(), path)


def _write_table(df, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def register(app: typer.Typer) -> None:
    from spacelens.cli.answer import answer

    app.command("answer", rich_help_panel="Compare")(answer)
    app.command("compare", rich_help_panel="Compare")(compare)
