"""Neighbour verbs: ``knn`` (build/cache a graph), ``query``, ``embeddings load|ls|delete``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from spacelens import api
from spacelens.cli._common import HomeOption, JsonOption, console, engine_params, home_arg, print_json
from spacelens.errors import SpacelensError
from spacelens.neighbors.engines import ENGINE_NAMES, INDEX_MODELS

_PANEL = "Neighbours"
MetricOption = typer.Option("cosine", "--metric", "-m", help="Distance: cosine (1 - cos), l2 (squared "
                            "euclidean) or dot (negative inner product).")
ParamOption = typer.Option(None, "--param", "-p", help="Engine setting KEY=VALUE, repeatable: hnsw M, "
                           "ef_construction, ef_search; ivf nlist, nprobe.")




def _fmt(v, width: int = 40) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    s = str(v)
    return s if len(s) <= width else s[: width - 1] + "…"


# -- knn --------------------------------------------------------------------------------------
def knn(
    space: str = typer.Argument(..., help="Space whose kNN graph to build."),
    k: int = typer.Option(10, "-k", help="Neighbours per item (self excluded)."),
    metric: str = MetricOption,
    engine: str = typer.Option("exact", "--engine", "-e", help=f"One of: {', '.join(ENGINE_NAMES)}."),
    param: Optional[List[str]] = ParamOption,
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler for --engine dask: "
                                            "threads, processes (a local cluster) or an address tcp://HOST:PORT."),
    recall: bool = typer.Option(False, "--recall", help="Also measure the engine's recall@k against exact "
                                "search on 1,000 random items."),
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """Build the kNN graph of a space and cache it in the registry (reused by compare, evaluate, query).

    A graph cached for a larger k serves any smaller k at no cost; ties are broken by lower row.
    """
    import time

    from spacelens.neighbors import knn_graph, measure_recall
    from spacelens.neighbors.engines import is_exact

    reg = home_arg(home)
    params = engine_params(param, scheduler)
    t0 = time.perf_counter()
    g = knn_graph(reg, space, k, metric=metric, engine=engine, **params)
    seconds = time.perf_counter() - t0
    out = {"space": space, "k": g.k, "metric": metric, "engine": g.engine, "params": params,
           "n_rows": len(g.indices), "seconds": round(seconds, 3),
           "mean_distance": float(g.distances.mean()) if g.distances.size else None}
    if recall:
        out["recall"] = (1.0 if is_exact(engine) else
                         measure_recall(reg.load_vectors(space), engine, g.k, metric, graph=g, **params))
    if as_json:
        print_json(out)
        return
    extra = f", recall@{g.k} {out['recall']:.4f}" if recall else ""
    console.print(f"kNN graph of [bold]{space}[/bold]: {out['n_rows']:,} items x k={g.k} ({metric}, "
                  f"{g.engine}{', ' + str(params) if params else ''}) in {seconds:.2f} s{extra}")


# -- query ------------------------------------------------------------------------------------
_MARKS = {"kept": ("=", "bold green"), "lost": ("-", "red"), "gained": ("+", "blue")}


def _neighbour_table(title: str, rows: list[dict], status: dict, meta_cols: list[str]) -> Table:
    """One space's neighbours; with ``status`` (id -> kept/lost/gained) each row marked and coloured."""
    t = Table(title=title, title_justify="left")
    t.add_column("#", justify="right")
    if status:
        t.add_column("", no_wrap=True)
    t.add_column("id", no_wrap=True)
    t.add_column("distance", justify="right")
    for c in meta_cols:
        t.add_column(c, overflow="ellipsis", max_width=40)
    for rank, n in enumerate(rows, 1):
        what = status.get(n["id"])
        mark, style = _MARKS.get(what, ("", None))
        lead = [str(rank)] + ([f"{mark} {what}"] if status else [])
        t.add_row(*lead, n["id"], f"{n['distance']:.4f}", *[_fmt(n.get(c)) for c in meta_cols], style=style)
    return t


def query(
    space: str = typer.Argument(..., help="Space to search."),
    item_id: str = typer.Option(..., "--id", help="Id of the item whose neighbours to show."),
    k: int = typer.Option(10, "-k", help="Number of neighbours."),
    vs: Optional[str] = typer.Option(None, "--vs", help="A second space of the same dataset: show both side by "
                                     "side, each neighbour marked kept (in both), lost (in SPACE only) or gained "
                                     "(in the --vs space only)."),
    metric: str = MetricOption,
    columns: Optional[str] = typer.Option(None, "--columns", help="Comma-separated metadata columns to show "
                                          "(default: the first four)."),
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """Show an item's nearest neighbours in a space, with their metadata.

    Uses a cached kNN graph when there is one, else one exact pass over the space.
    Example: spacelens query run1.val --id item00042 -k 10 --vs run2.val (the neighbours kept,
    lost and gained from run1.val to run2.val).
    """
    res = api.query(space, item_id, k=k, vs=vs, metric=metric, home=home_arg(home))
    if as_json:
        print_json(res)
        return
    lists = list(res["spaces"].items())
    meta = [c for c in (lists[0][1][0] if lists and lists[0][1] else {}) if c not in ("id", "row", "distance")]
    if columns:
        wanted = [c.strip() for c in columns.split(",") if c.strip()]
        unknown = [c for c in wanted if c not in meta]
        if unknown:
            raise SpacelensError(f"No metadata column {', '.join(map(repr, unknown))}",
                                 f"Columns are: {', '.join(meta) or 'none'}")
        meta = wanted
    else:
        meta = meta[: 4 if vs is None else 2]
    item = ", ".join(f"{c}={_fmt(v)}" for c, v in res["item"].items() if c in meta)
    console.print(f"[bold]{res['query']}[/bold]" + (f" ({item})" if item else "")
                  + f": {res['k']} nearest by {res['metric']}")
    status = {}
    if vs is not None:
        for what in ("kept", "lost", "gained"):
            status.update({x: what for x in res[what]})
    tables = [_neighbour_table(f"{name}  [dim]{res['sources'][name]}[/dim]", rows, status, meta)
              for name, rows in lists]
    if len(tables) == 1:
        console.print(tables[0])
        return
    grid = Table.grid(padding=(0, 2))
    for _ in tables:
        grid.add_column()
    grid.add_row(*tables)
    console.print(grid)
    a, b = (name for name, _ in lists)
    console.print(f"from {a} to {b}: [bold green]{len(res['kept'])} kept[/bold green] (=), [red]{len(res['lost'])} "
                  f"lost[/red] (-, in {a} only), [blue]{len(res['gained'])} gained[/blue] (+, in {b} only) of "
                  f"{res['k']}; Jaccard {res['jaccard']:.3f}, overlap {res['overlap']:.3f}")
    for what in ("lost", "gained"):
        if res[what]:
            console.print(f"  {what}: {', '.join(res[what])}")


# -- embeddings (named indexes) ---------------------------------------------------------------
embeddings_app = typer.Typer(help="Named search indexes over a space: build, list, delete.",
                             no_args_is_help=True)


@embeddings_app.command("load")
def embeddings_load(
    index_name: str = typer.Argument(..., help="Name for the index (replaces an index of that name)."),
    space: str = typer.Argument(..., help="Space to index."),
    model: str = typer.Option("exact", "--model", help=f"One of: {', '.join(INDEX_MODELS)} (exact: flat, brute force)."),
    similarity: str = typer.Option("cosine", "--similarity", help="cosine, l2 or dot."),
    param: Optional[List[str]] = ParamOption,
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """Build a search index over a space and store it in the registry under INDEX_NAME."""
    rec = api.build_index(index_name, space, model=model, similarity=similarity, home=home_arg(home),
                          **engine_params(param))
    if as_json:
        print_json(rec)
        return
    verb = "replaced" if rec.pop("replaced", False) else "built"
    console.print(f"[green]{verb}[/green] index [bold]{rec['name']}[/bold] on {rec['space']}: {rec['model']}, "
                  f"{rec['similarity']}, {rec['n_rows']:,} x {rec['dim']}, {rec['bytes'] / 2**20:.1f} MiB "
                  f"in {rec['seconds']:.2f} s")


@embeddings_app.command("ls")
def embeddings_ls(
    space: Optional[str] = typer.Option(None, "--space", help="Only indexes of this space."),
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """List the named search indexes."""
    recs = api.list_indexes(space, home=home_arg(home))
    if as_json:
        print_json(recs)
        return
    if not recs:
        console.print("[dim]no indexes[/dim] (build one with 'spacelens embeddings load INDEX_NAME SPACE')")
        return
    t = Table(title="Indexes", title_justify="left")
    for c in ("name", "space", "model", "similarity", "params", "n_rows", "dim", "MiB", "created_at"):
        t.add_column(c, justify="right" if c in ("n_rows", "dim", "MiB") else "left")
    for r in recs:
        t.add_row(r["name"], r["space"], r["model"], r["similarity"],
                  ", ".join(f"{k}={v}" for k, v in r["params"].items()), f"{r['n_rows']:,}", str(r["dim"]),
                  f"{r['bytes'] / 2**20:.1f}", r["created_at"][:16].replace("T", " "))
    console.print(t)


@embeddings_app.command("delete")
def embeddings_delete(
    index_name: str = typer.Argument(..., help="Index to remove."),
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """Remove a named search index (the space itself is kept)."""
    rec = api.delete_index(index_name, home=home_arg(home))
    if as_json:
        print_json({"removed": rec["name"], "space": rec["space"]})
        return
    console.print(f"[red]removed[/red] index {rec['name']} (of space {rec['space']})")


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel=_PANEL)(knn)
    app.command(rich_help_panel=_PANEL)(query)
    app.add_typer(embeddings_app, name="embeddings", rich_help_panel=_PANEL)
