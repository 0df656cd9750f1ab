"""Evaluation verbs: ``evaluate`` (metrics of one labeled space) and ``leaderboard`` (rank spaces)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from spacelens import api
from spacelens.cli._common import HomeOption, JsonOption, console, home_arg, print_json
from spacelens.errors import SpacelensError

_SHORT = {"precision_at_1": "P@1", "r_precision": "R-prec", "mean_average_precision_at_r": "MAP@R",
          "mean_average_precision": "MAP", "mean_reciprocal_rank": "MRR", "NMI": "NMI", "AMI": "AMI"}
_ORDER = ["mean_average_precision_at_r", "r_precision", "precision_at_1", "mean_average_precision",
          "mean_reciprocal_rank", "NMI", "AMI"]
_EXPLAIN = {
    "mean_average_precision_at_r": "mean over queries of (1/R) sum of P@i at correct ranks i <= R",
    "r_precision": "correct among the first R neighbours, / R",
    "precision_at_1": "nearest neighbour has the query's label",
    "mean_average_precision": "(1/R) sum of P@i at correct ranks i <= k",
    "mean_reciprocal_rank": "1 / rank of the first correct neighbour (0 if none within k)",
    "NMI": "normalised mutual information, clusters vs labels",
    "AMI": "adjusted (for chance) mutual information, clusters vs labels",
}


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
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler (threads, processes, "
                                            "or a scheduler address) for --engine dask."),
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """Retrieval and clustering metrics of a labeled space, as pytorch-metric-learning computes them.

    Metrics: precision_at_1, r_precision, mean_average_precision_at_r (MAP@R),
    mean_average_precision, mean_reciprocal_rank (from each query's k nearest neighbours, self
    excluded; R = other items with the query's label; queries whose label has no other item
    are left out) and NMI, AMI (k-means clustering vs labels). The result is stored with the
    space: see it with 'spacelens show SPACE', rank spaces with 'spacelens leaderboard DATASET'.

    Example: spacelens evaluate run1.val --label-field label --query-split val --reference-split train
    """
    params = {"scheduler": scheduler} if scheduler is not None else None
    res = api.evaluate(space, label_field=label_field, metric=metric, k=_parse_k(k), split_field=split_field,
                       query_split=query_split, reference_split=reference_split, per_class=per_class,
                       avg_of_avgs=avg_of_avgs, clustering=clustering, cluster_field=cluster_field,
                       n_init=kmeans_restarts, seed=seed, engine=engine, engine_params=params, recall=recall,
                       home=home_arg(home))
    if as_json:
        print_json(res)
        return
    info = res["info"]
    split = info["split"]
    where = (f", queries {split['field']}={split['query']} vs {split['reference'] or 'all items'}" if split else "")
    table = Table(title=f"evaluation of {res['space']} (labels {label_field!r}, {metric}, k={info['k']}{where})",
                  title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    table.add_column("definition", style="dim")
    for m in _ORDER:
        if m in res:
            table.add_row(m, _fmt(res[m]), _EXPLAIN[m] + (" (avg of per-label avgs)" if avg_of_avgs and m in _EXPLAIN
                                                           and m not in ("NMI", "AMI") else ""))
    console.print(table)
    console.print(f"{info['n_queries']:,} queries ({info['n_lone']:,} lone, left out of the kNN metrics), "
                  f"{info['n_reference']:,} references, {info['n_classes']:,} labels; neighbours: {info['knn']}; "
                  f"clustering: {info['clustering'] or 'skipped'}; {info['seconds']:.2f} s", highlight=False)
    if info.get("recall"):
        r = info["recall"]
        console.print(f"approximate neighbours ({info['engine']}): recall@{r['k']} vs exact {r['mean']:.3f} "
                      f"(95% CI {r['ci95'][0]:.3f}-{r['ci95'][1]:.3f}, {r['n_queries']:,} random queries); "
                      "the kNN metrics rest on them", highlight=False)
    if per_class:
        pt = Table(title="per label, worst MAP@R first", title_justify="left")
        pt.add_column("label", style="bold")
        pt.add_column("queries", justify="right")
        for m in _ORDER[:5]:
            pt.add_column(_SHORT[m], justify="right")
        for row in res["per_class"]:
            pt.add_row(str(row["label"]), f"{row['n_queries']:,}", *[_fmt(row[m]) for m in _ORDER[:5]])
        console.print(pt)


def leaderboard(
    dataset: str = typer.Argument(..., help="Dataset whose evaluated spaces to rank."),
    by: str = typer.Option("mean_average_precision_at_r", "--by", help="Metric to rank by (higher is better): "
                           + ", ".join(_ORDER) + "."),
    label_field: Optional[str] = typer.Option(None, "--label-field", "-l",
                                              help="Only evaluations on this label column."),
    metric: Optional[str] = typer.Option(None, "--metric", "-m", help="Only evaluations with this distance."),
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """Rank every evaluated space of a dataset, best first (run 'spacelens evaluate' on each first).

    One row per space and evaluation setting (label column, metric, k, split): only rows with
    the same settings are comparable; filter with --label-field / --metric.
    """
    rows = api.leaderboard(dataset, by=by, label_field=label_field, metric=metric, home=home_arg(home))
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(f"no evaluations of spaces of {dataset!r} yet: run 'spacelens evaluate SPACE --label-field COL'")
        return
    table = Table(title=f"leaderboard of {dataset} by {by}", title_justify="left")
    for col in ("#", "space", "experiment", "labels", "metric", "k", "split"):
        table.add_column(col, justify="right" if col in ("#", "k") else "left")
    for m in _ORDER:
        table.add_column(_SHORT[m], justify="right", style="bold green" if m == by else None)
    for r in rows:
        table.add_row(str(r["rank"]), r["space"], r["experiment"], str(r["label_field"]), str(r["metric"]),
                      str(r["k"]), r["split"] or "-", *[_fmt(r[m]) for m in _ORDER])
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Evaluate")(evaluate)
    app.command(rich_help_panel="Evaluate")(leaderboard)
