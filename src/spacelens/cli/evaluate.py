"""Evaluation verbs: ``evaluate`` (metrics of one labeled space) and ``leaderboard`` (rank spaces)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from spacelens import api, catalogue
from spacelens.cli._common import BudgetOption, FullOption, HomeOption, JsonOption, console, home_arg, print_json
from spacelens.cli._table import Col, print_fitted
from spacelens.errors import SpacelensError
from spacelens.evaluate.leaderboard import settings_text

# Labels, order and definitions come from the one catalogue of figures (as on every surface).
_ORDER = list(catalogue.METRIC_NAMES)
_SHORT = {m: catalogue.short(m) for m in _ORDER}
_EXPLAIN = {m: catalogue.definition(m) for m in _ORDER}


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.4f}" if isinstance(x, float) else str(x)


def _parse_k(k: str):
    if k in ("max_bin_count", "all"):
        return k
    try:
        value = int(k)
    except ValueError:
        value = 0
    if value < 1:
        raise SpacelensError(f"-k {k!r} is not valid",
                             "Use 'max_bin_count' (default), 'all' or a positive whole number")
    return value


def evaluate(
    space: str = typer.Argument(..., help="Name of the space to evaluate."),
    label_field: str = typer.Option(..., "--label-field", "-l", help="Dataset column holding each item's label."),
    metric: str = typer.Option("cosine", "--metric", "-m", help="Distance for the kNN metrics: cosine, l2 or dot."),
    k: str = typer.Option("max_bin_count", "-k", "--k", help="Neighbours per query: 'max_bin_count' (the "
                          "largest class size, minus self: exact R-precision and MAP@R), 'all', or a number."),
    query_split: Optional[str] = typer.Option(None, "--query-split", help="Use only items whose split column "
                                              "has this value as queries (e.g. val)."),
    reference_split: Optional[str] = typer.Option(None, "--reference-split", help="Search them among items with "
                                                  "this split value (e.g. train). Default: the whole space."),
    split_field: str = typer.Option("split", "--split-field", help="Dataset column holding the split."),
    per_class: bool = typer.Option(False, "--per-class", help="Also print the metrics per label, worst first."),
    avg_of_avgs: bool = typer.Option(False, "--avg-of-avgs", help="Average per-label means (every label "
                                     "counts the same) instead of averaging over queries."),
    clustering: bool = typer.Option(True, "--clustering/--no-clustering", help="Compute NMI and AMI "
                                    "(k-means with one cluster per label; the slow part on large spaces)."),
    cluster_field: Optional[str] = typer.Option(None, "--cluster-field", help="Dataset column with a precomputed "
                                                "cluster id per item, used instead of k-means for NMI/AMI."),
    kmeans_restarts: int = typer.Option(3, "--kmeans-restarts", min=1, help="k-means runs (best kept)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of k-means."),
    engine: str = typer.Option("auto", "--engine", help="kNN engine: auto (exact when estimated under a minute, "
                               "else ivf at --recall), exact, ivf, hnsw or dask."),
    recall: float = typer.Option(0.95, "--recall", help="Target recall of an approximate search (measured against "
                                 "exact search on 1,000 random queries, reported with its 95% CI)."),
    sample: Optional[int] = typer.Option(None, "--sample", help="Score only this many random queries, searched "
                                         "exactly among all references: each kNN metric with its 95% CI; NMI/AMI "
                                         "with theirs (k-means restarts compared on a sample of items; the fits "
                                         "cost as in a full run: add --no-clustering to skip them)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler (threads, processes, "
                                            "or a scheduler address) for --engine dask."),
    vs: Optional[str] = typer.Option(None, "--vs", help="Another space of the dataset: which of the two retrieves "
                                     "better, per query on the same queries and reference items (those both "
                                     "embed; any left out are counted) (paired bootstrap 95% CI, "
                                     "randomization p-value, per-class wins, a verdict)."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="With --vs: a reseeded run of SPACE, to read "
                                           "the difference against what seeds alone change. Default with --vs: a "
                                           "reseeded run found automatically (same dataset, split and step; the "
                                           "experiment's parameters equal SPACE's but the seed); 'none' for no "
                                           "baseline."),
    full: bool = FullOption,
    budget: Optional[float] = BudgetOption,
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """Retrieval and clustering metrics of a labeled space, as pytorch-metric-learning computes them.

    Metrics: precision_at_1, r_precision, mean_average_precision_at_r (MAP@R),
    mean_average_precision, mean_reciprocal_rank (from each query's k nearest neighbours, self
    excluded; R = other items with the query's label; queries whose label has no other item
    are left out) and NMI, AMI (k-means clustering vs labels). The result is stored with the
    space: see it with 'spacelens show SPACE', rank spaces with 'spacelens leaderboard DATASET'.

    With --vs OTHER: which of the two spaces retrieves better on the same queries and the
    same reference items (the items both embed: a space over more items is restricted to
    them, and the output says how many were left out), with paired 95% intervals and
    p-values (and --baseline, a reseeded run, to read it against).

    Example: spacelens evaluate run1.val --label-field label --query-split val --reference-split train;
    spacelens evaluate triplet.val --vs arcface.val --label-field label --baseline triplet2.val
    """
    params = {"scheduler": scheduler} if scheduler is not None else None
    if vs is not None or baseline is not None:
        _versus(space, vs, baseline, label_field, metric, _parse_k(k), split_field, query_split, reference_split,
                engine, params, seed, as_json, home, full, budget)
        return
    res = api.evaluate(space, label_field=label_field, metric=metric, k=_parse_k(k), split_field=split_field,
                       query_split=query_split, reference_split=reference_split, per_class=per_class,
                       avg_of_avgs=avg_of_avgs, clustering=clustering, cluster_field=cluster_field,
                       n_init=kmeans_restarts, seed=seed, engine=engine, engine_params=params, recall=recall,
                       sample=sample, full=full, budget=budget, home=home_arg(home))
    if as_json:
        print_json(res)
        return
    info = res["info"]
    from spacelens.cli._insight import print_budget

    print_budget(info.get("budget"))
    if info.get("stored"):
        console.print("[dim]a stored full evaluation with these settings answers (run with --full to compute "
                      "it again)[/dim]")
    split = info["split"]
    where = (f", queries {split['field']}={split['query']} vs {split['reference'] or 'all items'}" if split else "")
    table = Table(title=f"evaluation of {res['space']} (labels {label_field!r}, {metric}, k={info['k']}{where})",
                  title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    cis = (info.get("sample") or {}).get("ci95") or {}
    if cis:
        table.add_column("95% CI", justify="right")
    table.add_column("definition", style="dim")
    for m in _ORDER:
        if m in res:
            ci = ([f"{cis[m][0]:.4f}-{cis[m][1]:.4f}" if cis.get(m) and cis[m][0] is not None else ""]
                  if cis else [])
            table.add_row(m, _fmt(res[m]), *ci, _EXPLAIN[m] + (" (avg of per-label avgs)" if avg_of_avgs
                                                           and m in catalogue.RETRIEVAL_METRICS else ""))
    console.print(table)
    console.print(f"{info['n_queries']:,} queries ({info['n_lone']:,} lone, left out of the kNN metrics), "
                  f"{info['n_reference']:,} references, {info['n_classes']:,} labels; neighbours: {info['knn']}; "
                  f"clustering: {info['clustering'] or 'skipped'}; {info['seconds']:.2f} s", highlight=False)
    if (info.get("sample") or {}).get("n"):
        s_ = info["sample"]
        console.print(f"kNN metrics estimated from {s_['n']:,} random queries of {s_['population']:,} "
                      f"(seed {s_['seed']}), each searched exactly among all references; 95% CI per metric",
                      highlight=False)
    if info.get("recall"):
        r = info["recall"]
        console.print(f"approximate neighbours ({info['engine']}): recall@{r['k']} vs exact {r['mean']:.3f} "
                      f"(95% CI {r['ci95'][0]:.3f}-{r['ci95'][1]:.3f}, {r['n_queries']:,} random queries); "
                      "the kNN metrics rest on them", highlight=False)
    if per_class:
        pt = Table(title="per label, worst MAP@R first", title_justify="left")
        pt.add_column("label", style="bold")
        pt.add_column("queries", justify="right")
        for m in catalogue.RETRIEVAL_METRICS:
            pt.add_column(_SHORT[m], justify="right")
        for row in res["per_class"]:
            pt.add_row(str(row["label"]), f"{row['n_queries']:,}", 
                       *[_fmt(row[m]) for m in catalogue.RETRIEVAL_METRICS])
        console.print(pt)


def _versus(space, vs, baseline, label_field, metric, k, split_field, query_split, reference_split, engine, params,
            seed, as_json, home, full=False, budget=None) -> None:
    """``evaluate A --vs B``: the paired comparison (rendering in cli/_insight.py)."""
    if vs is None:
        raise SpacelensError("--baseline reads a comparison of two spaces", "Add --vs OTHER_SPACE")
    from spacelens.cli._insight import baseline_choice, print_answer, print_versus

    reg = home_arg(home)
    baseline, base_source = baseline_choice(reg, space, vs, baseline)
    out = api.evaluate_versus(space, vs, label_field=label_field, baseline=baseline, metric=metric,
                              k=None if k == "max_bin_count" else k, split_field=split_field,
                              query_split=query_split, reference_split=reference_split, engine=engine,
                              engine_params=params, seed=seed, full=full, budget=budget, home=reg)
    res = api.compare(space, vs, metric_a=metric, metric_b=metric, baseline=baseline, seed=seed, full=full,
                      budget=budget, home=reg)
    ans = api.answer(space, vs, metric=metric, seed=seed, comparison=res, versus=out, baseline_source=base_source,
                     full=full, budget=budget, home=reg)
    if as_json:
        print_json({**out, "answer": ans})
        return
    print_answer(ans)
    print_versus(out)


def leaderboard(
    dataset: str = typer.Argument(..., help="Dataset whose evaluated spaces to rank."),
    by: str = typer.Option("mean_average_precision_at_r", "--by", help="Metric to rank by (higher is better): "
                           + ", ".join(_ORDER) + "."),
    label_field: Optional[str] = typer.Option(None, "--label-field", "-l",
                                              help="Only evaluations on this label column."),
    metric: Optional[str] = typer.Option(None, "--metric", "-m", help="Only evaluations with this distance."),
    k: Optional[int] = typer.Option(None, "-k", "--k", help="Only evaluations at this k."),
    prune: bool = typer.Option(False, "--prune", help="Delete evaluations superseded by a later one of the same "
                               "space and settings (they are never shown), then rank."),
    clean: bool = typer.Option(False, "--clean", help="Beside the metric, its value with the leaked queries and "
                               "likely label errors left out (from each space's audit; audited now where none "
                               "is stored)."),
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """Rank the evaluated spaces of a dataset, best first (run 'spacelens evaluate' on each first).

    Only evaluations with the same settings (label column, distance, k, query/reference
    split, averaging, engine) are comparable: each set of settings is ranked in its own
    table, its settings in the line above it. A space appears once per settings, with its
    latest evaluation. Narrow with --label-field / --metric / -k; remove a stray evaluation
    with 'spacelens rm evaluation SPACE --label-field COL'.
    """
    reg = home_arg(home)
    pruned = api.prune_evaluations(dataset, home=reg) if prune else []
    rows = api.leaderboard(dataset, by=by, label_field=label_field, metric=metric, k=k, clean=clean, home=reg)
    if as_json:
        print_json(rows)
        return
    for r in pruned:
        console.print(f"[red]removed[/red] superseded evaluation of {r['space']} ({settings_text(r['settings'])}, "
                      f"{r['evaluated_at'][:16].replace('T', ' ')})")
    if not rows:
        console.print(f"no evaluations of spaces of {dataset!r} yet" + (" with these settings" if
                      label_field or metric or k is not None else "")
                      + ": run 'spacelens evaluate SPACE --label-field COL'")
        return
    groups = [[r for r in rows if r["group"] == g] for g in sorted({r["group"] for r in rows})]
    console.print(f"[bold]leaderboard of {dataset}[/bold], ranked by {_SHORT[by]} ({by}, higher is better)")
    if len(groups) > 1:
        console.print(f"{len(groups)} different evaluation settings, each ranked on its own: rows of different "
                      "settings are not comparable (narrow with --label-field, --metric, -k)")
    for group in groups:
        _print_group(group, by)
    if clean:
        console.print("[dim]clean: each space's figure without the queries its own audit flags as leaked (a "
                      "near-duplicate in the reference split; only with a split) or as likely label errors, with "
                      "the paired change; 'spacelens audit SPACE' lists them[/dim]")
    notes = sorted({r["clean"]["note"] for r in rows if clean and r["clean"]["value"] is None})
    for note in notes:
        console.print(f"[dim]clean: none for some rows ({escape(note)})[/dim]")
    hidden = len(api.superseded_evaluations(dataset, home=reg)) if not prune else 0
    if hidden:
        console.print(f"[dim]{hidden} older evaluation(s) with the same space and settings are hidden (the latest "
                      "counts); delete them with --prune[/dim]")


def _print_group(rows: list[dict], by: str) -> None:
    """One ranked table: what every row shares goes in the line above it, not in columns."""
    shared = [settings_text(rows[0]["settings"])]
    cols = [Col("#", justify="right"), Col("space")]
    values = [[str(r["rank"]), r["space"]] for r in rows]
    for key, header, drop in (("experiment", "experiment", None), ("n_queries", "queries", 9)):
        seen = {r[key] for r in rows}
        if len(seen) == 1:
            v = seen.pop()
            if v is not None:
                shared.append(f"experiment {v}" if key == "experiment" else f"{v:,} queries")
            continue
        if drop is None:  # the experiment column goes first where each space's name already starts with it
            drop = 10 if all(r["space"].startswith(str(r["experiment"])) for r in rows) else 1
        cols.append(Col(header, justify="right" if key == "n_queries" else "left", drop=drop))
        for v, r in zip(values, rows):
            v.append(f"{r[key]:,}" if isinstance(r[key], int) else str(r[key] or "-"))
    metrics = [by] + [m for m in _ORDER if m != by and any(r[m] is not None for r in rows)]
    for i, m in enumerate(metrics):
        cols.append(Col(_SHORT[m], justify="right", style="bold green" if m == by else None,
                        drop=0 if m == by else 1 + i))
        for v, r in zip(values, rows):
            v.append(_fmt(r[m]))
        if m == metrics[0] and "clean" in rows[0]:   # beside it: the same without leaks and label errors
            cm = rows[0]["clean"]["metric"]
            cols.append(Col(f"{_SHORT[cm]} without leaks & label errors", justify="right", drop=0))
            for v, r in zip(values, rows):
                c = r["clean"]
                v.append("-" if c["value"] is None else f"{_fmt(c['value'])} ({c['difference']:+.3f}, "
                         f"{c['left_out']:,} left out)")
    console.print()
    console.print(f"[bold]{' · '.join(shared)}[/bold]  ({len(rows)} space{'s' if len(rows) != 1 else ''})",
                  soft_wrap=False)
    print_fitted(console, cols, values)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Evaluate")(evaluate)
    app.command(rich_help_panel="Evaluate")(leaderboard)
    from spacelens.cli.audit import audit

    app.command(rich_help_panel="Evaluate")(audit)
