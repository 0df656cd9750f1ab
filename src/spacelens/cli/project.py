"""Map verb: ``project`` (2D maps of a space, with how faithful each one is, and PNG plots)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from spacelens import api
from spacelens.cli._common import HomeOption, JsonOption, console, home_arg, print_json

_NAMES = {"pca": "PCA", "umap": "UMAP", "pca-umap": "PCA → UMAP"}


def _fmt(x, ci=None) -> str:
    if x is None:
        return "n/a (k >= n/2)"
    if ci and ci[0] is not None and ci[1] - ci[0] > 0:
        return f"{x:.4f} ({ci[0]:.4f}-{ci[1]:.4f})"
    return f"{x:.4f}"


def project(
    space: str = typer.Argument(..., help="Name of the space to map."),
    method: str = typer.Option("umap", "--method", "-m", help="pca, umap (from the space's cached kNN graph), "
                               "pca-umap (PCA to 50 dims, then UMAP) or all (the three side by side)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of UMAP (a map is stored per seed)."),
    n_neighbors: int = typer.Option(15, "--n-neighbors", help="UMAP's n_neighbors (the space needs at least "
                                    "n_neighbors + 1 items)."),
    metric: str = typer.Option("cosine", "--metric", help="Distance in the space: cosine or l2 (dot: PCA only)."),
    k: int = typer.Option(10, "--k", "-k", help="Neighbours per item for the faithfulness measures (and for "
                          "the comparison used by --color coincidence)."),
    trust_sample: int = typer.Option(2000, "--trust-sample", "--sample", min=1, help="Faithfulness (both "
                                     "measures) is estimated on this many random items when the space is larger, "
                                     "each searched exactly among all items; reported with a 95% CI."),
    align_to: Optional[str] = typer.Option(None, "--align-to", help="Rotate/reflect/scale/shift the map onto "
                                           "OTHER_SPACE's map (same method) by Procrustes on shared ids."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a PNG scatter of the map(s) here."),
    color: Optional[str] = typer.Option(None, "--color", help="Colour points by this dataset column, or by "
                                        "'coincidence' (per-item kNN Jaccard with --vs, from a stored comparison)."),
    vs: Optional[str] = typer.Option(None, "--vs", help="The other space for --color coincidence."),
    recompute: bool = typer.Option(False, "--recompute", help="Ignore a stored map and compute it again."),
    layout: str = typer.Option("auto", "--layout", help="UMAP layout: auto (from 200,000 items: a PCA start "
                               "and epochs in parallel on all cores, ~3x faster, not bit-for-bit reproducible; "
                               "below: seeded), seeded (reproducible at any size) or parallel."),
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """2D maps of a space (PCA, UMAP, PCA -> UMAP) and how far each can be trusted.

    Each map is stored in the registry per (space, method, settings) and reused. Faithfulness:
    kNN preservation (share of each item's k nearest neighbours in the full space that are
    also among its k nearest in the map) and trustworthiness (scikit-learn's definition:
    penalises map neighbours that are far in the full space). Both are kept per item, so
    points the map misplaces can be shaded.

    Examples: spacelens project run1.val --method all;
    spacelens project run1.val --plot map.png --color label;
    spacelens project run2.val --align-to run1.val --plot map2.png --color coincidence --vs run1.val
    """
    res = api.project(space, method=method, seed=seed, n_neighbors=n_neighbors, metric=metric, k=k,
                      trust_sample=trust_sample, align_to=align_to, recompute=recompute, plot=plot, color=color,
                      vs=vs, layout=layout, home=home_arg(home))
    maps = res if isinstance(res, dict) else {res.method: res}
    if as_json:
        out = {"space": space, "maps": {m: p.summary() for m, p in maps.items()}}
        if plot is not None:
            out["plot"] = str(plot)
        print_json(out)
        return
    first = next(iter(maps.values()))
    f0 = first.faithfulness
    title = f"maps of {space} ({len(first.coords):,} items, {metric}, k={f0['k']}"
    title += f", aligned to {align_to})" if align_to else ")"
    table = Table(title=title, title_justify="left")
    table.add_column("", style="bold")
    for m in maps:
        table.add_column(_NAMES.get(m, m), justify="right")
    n_items = len(first.coords)
    sampled = any(p.faithfulness.get("knn_preservation_items", n_items) < n_items for p in maps.values())
    table.add_row(f"kNN preservation@{f0['k']}" + ("*" if sampled else ""),
                  *[_fmt(p.faithfulness["knn_preservation"], p.faithfulness.get("knn_preservation_ci95"))
                    for p in maps.values()])
    table.add_row(f"trustworthiness@{f0['k']}" + ("*" if f0.get("trust_sampled") else ""),
                  *[_fmt(p.faithfulness["trustworthiness"], p.faithfulness.get("trustworthiness_ci95"))
                    for p in maps.values()])
    table.add_row("map seconds", *["stored" if p.cached else f"{(p.info.get('seconds') or {}).get('map') or 0:.2f}"
                                   for p in maps.values()])
    if align_to:
        table.add_row("Procrustes rms", *[f"{p.info['aligned']['rms']:.4g}" for p in maps.values()])
    console.print(table)
    notes = ["kNN preservation: share of each item's k nearest (full space) also among its k nearest in the map"]
    if sampled or f0.get("trust_sampled"):
        notes.append(f"* estimated on {f0.get('n_items', f0['trust_items']):,} random items of {len(first.coords):,}, "
                     "each searched exactly among all items; 95% CI in brackets")
    if align_to:
        a = first.info["aligned"]
        notes.append(f"aligned on {a['n_shared']:,} shared ids: scale {a['scale']:.4g}")
    if plot is not None:
        notes.append(f"plot written to {plot}")
    for n in notes:
        console.print(n, style="dim")


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="See")(project)
