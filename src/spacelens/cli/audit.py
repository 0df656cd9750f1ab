"""The ``audit`` verb: can this evaluation be trusted? (:mod:`spacelens.audit`)

The answer sentence first, then what was found per kind with its rule, the effect of leaving
the flagged queries out, and the most certain flagged items. ``--json``: everything."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from spacelens import api
from spacelens.cli._common import HomeOption, JsonOption, console, home_arg, print_json
from spacelens.cli._table import Col, print_fitted


def audit(
    space: str = typer.Argument(..., help="Name of the space to audit."),
    label_field: Optional[str] = typer.Option(None, "--label-field", "-l", help="Dataset column with labels: adds "
                                              "likely label errors, mixed classes and the effect on MAP@R."),
    split_field: Optional[str] = typer.Option(None, "--split-field", "-s", help="Dataset column with the split: "
                                              "adds near-duplicates across splits (leaks)."),
    query_split: Optional[str] = typer.Option(None, "--query-split", help="The split whose items are queries "
                                              "(default: the smallest)."),
    reference_split: Optional[str] = typer.Option(None, "--reference-split", help="The reference split "
                                                  "(default: every other split)."),
    vs: Optional[str] = typer.Option(None, "--vs", help="A second space of the same dataset: which flags both "
                                     "raise (likely the data's problem) and which only one (likely the model's)."),
    threshold: Optional[float] = typer.Option(None, "--threshold", min=0, help="Near-duplicate distance (default: "
                                              "from the space's own nearest-neighbour distances, stated)."),
    k: int = typer.Option(10, "-k", "--k", min=1, help="Neighbours every detector reads."),
    metric: str = typer.Option("cosine", "--metric", "-m", help="Distance: cosine, l2 or dot."),
    engine: str = typer.Option("auto", "--engine", help="kNN engine (auto, exact, ivf, hnsw, dask)."),
    outliers_by_class: bool = typer.Option(False, "--outliers-by-class", help="Also flag items far from their "
                                           "neighbours for their own class."),
    top: int = typer.Option(15, "--top", min=0, help="Flagged items to list (most certain first)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap intervals."),
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """Leaks, duplicates, likely label errors, outliers and mixed classes of a space, found from
    its kNN graph, with what leaving the flagged queries out does to MAP@R (paired 95% CI).

    Example: spacelens audit run1.val --label-field label --split-field split
    """
    reg = home_arg(home)
    res = api.audit(space, label_field=label_field, split_field=split_field, query_split=query_split,
                    reference_split=reference_split, other=vs, k=k, metric=metric, engine=engine,
                    threshold=threshold, outliers_by_class=outliers_by_class, seed=seed, home=reg)
    if as_json:
        print_json(res.to_dict())
        return
    d = res.to_dict()
    console.print(f"[bold]{escape(res.answer)}[/bold]", soft_wrap=True)
    rows = [[kind.replace("_", " "), f"{v['n']:,}", f"{v['share']:.2%}", v["rule"]] for kind, v in d["kinds"].items()]
    if d.get("mixed_classes") is not None:
        rows.append(["mixed classes", f"{len(d['mixed_classes']):,}", "", d["mixed_rule"]])
    print_fitted(console, [Col("found"), Col("n", "right"), Col("share", "right"), Col("rule", wrap=True, drop=1)],
                 [[escape(c) for c in r] for r in rows], title=f"audit of {escape(res.space)}")
    for p in (d.get("mixed_classes") or [])[:top]:
        console.print(f"  mixed: {escape(p['reason'])}", soft_wrap=True)
    eff = (d.get("effect") or {})
    if eff:
        from spacelens.audit.result import effect_sentence

        console.print(f"[dim]effect ({escape(eff['queries']['note'])}):[/dim]")
        for name, entry in eff["sets"].items():
            s = effect_sentence(name, entry)
            if s:
                console.print(f"  {escape(s)}", soft_wrap=True)
    g = d["graph"]
    if not g["exact"] and g.get("recall"):
        console.print(f"[dim]approximate neighbours ({g['engine']}): recall {g['recall']['mean']:.3f}[/dim]")
    if d.get("versus"):
        console.print(escape(d["versus"]["sentence"]), soft_wrap=True)
    items = d["items"][:top]
    if items:
        cols = [Col("kind"), Col("id"), Col("score", "right"), Col("reason", wrap=True), Col("evidence", wrap=True,
                                                                                           drop=1)]
        print_fitted(console, cols, [[escape(str(r["kind"])), escape(str(r["id"])), f"{r['score']:.2f}",
                                      escape(str(r["reason"])), escape(str(r["evidence"]))] for r in items],
                     title=f"most certain {len(items)} of {len(d['items']):,} flagged items")


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Evaluate")(audit)
