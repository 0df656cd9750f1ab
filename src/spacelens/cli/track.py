"""Tracking verbs: ``add``, ``ls``, ``show``, ``rm``, ``gc``, ``prune``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from spacelens import api
from spacelens.cli._common import HomeOption, JsonOption, console, home_arg, parse_kind, print_json
from spacelens.cli._table import Col, print_fitted
from spacelens.errors import SpacelensError
from spacelens.evaluate.leaderboard import settings_text
from spacelens.registry import KINDS, record_dict


def _fmt_num(x) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:.4g}" if isinstance(x, float) else str(x)


def add(
    embeddings: Path = typer.Option(..., "-e", "--embeddings", help="Embeddings file: .npy, .npz "
                                    "(one array, or 'embeddings' + 'ids') or Parquet (id column + vector column)."),
    dataset: Optional[Path] = typer.Option(None, "-d", "--dataset", help="Metadata table (CSV or Parquet), "
                                           "one row per item. Needed the first time a dataset name is used."),
    dataset_name: str = typer.Option(..., "--dataset-name", "-dn", help="Name of the dataset."),
    experiment_name: str = typer.Option(..., "--experiment-name", "-en", help="Name of the experiment "
                                        "(created when new)."),
    space_name: str = typer.Option(..., "--embedding-space-name", "--space-name", "-sn",
                                   help="Name of the new embedding space."),
    model_name: Optional[str] = typer.Option(None, "--model-name", "-mn", help="Model that produced the space."),
    id_field: Optional[str] = typer.Option(None, "--id-field", help="Id column of the dataset (and of a "
                                           "Parquet embeddings file). Default: 'id' if present, else row number."),
    params: Optional[str] = typer.Option(None, "--params", help="Experiment parameters as a JSON object, "
                                         "e.g. '{\"loss\": \"triplet\", \"lr\": 0.001}'."),
    train_dataset: Optional[str] = typer.Option(None, "--train-dataset", help="Registered dataset the model "
                                                "was trained on."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a space of the same name."),
    step: Optional[int] = typer.Option(None, "--step", help="Training step / epoch the space was logged at "
                                       "(what 'spacelens evolution' orders by)."),
    split: Optional[str] = typer.Option(None, "--split", help="Split of the items (e.g. val), for evolution."),
    dtype: str = typer.Option("float32", "--dtype", help="Storage on disk: float32, or float16 (half the "
                              "bytes; readers still get float32; for epoch logs, see the README)."),
    images: Optional[Path] = typer.Option(None, "--images", help="Folder the dataset's image column names "
                                          "files in (paths relative to it); the page shows them in tooltips "
                                          "and neighbour tables. Sets or replaces the dataset's folder."),
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """Register an embedding space, with its dataset and experiment when they are new.

    Rows are matched to the dataset by id when the embeddings carry ids; otherwise row i
    must be dataset row i. Everything is copied into the registry in one atomic step.

    Example: spacelens add -e emb.npy -d items.csv --dataset-name items
    --experiment-name run1 --embedding-space-name run1-val
    """
    space = api.add(embeddings, dataset, dataset_name=dataset_name, experiment_name=experiment_name,
                    space_name=space_name, model_name=model_name, id_field=id_field, overwrite=overwrite,
                    params=_parse_params(params), train_dataset=train_dataset, step=step, split=split,
                    dtype=dtype, images=images, home=home_arg(home, create=True))
    if as_json:
        print_json(record_dict(space))
        return
    console.print(f"[green]added[/green] space [bold]{space.name}[/bold]: {space.n_rows:,} x {space.dim} "
                  f"{space.dtype}, dataset [bold]{space.dataset}[/bold], experiment [bold]{space.experiment}[/bold]")


def _parse_params(text: Optional[str]) -> Optional[dict]:
    if text is None:
        return None
    import json

    from spacelens.errors import SpacelensError

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpacelensError(f"--params is not valid JSON ({exc.msg} at column {exc.colno})",
                             "Pass an object such as '{\"lr\": 0.001}'") from None
    if not isinstance(value, dict):
        raise SpacelensError("--params must be a JSON object", "Pass an object such as '{\"lr\": 0.001}'")
    return value


_COLUMNS = {
    "datasets": ["name", "n_rows", "id_field", "columns", "content_hash", "created_at"],
    "experiments": ["name", "model_name", "train_dataset", "params", "created_at"],
    "spaces": ["name", "dataset", "experiment", "n_rows", "dim", "dtype", "step", "split", "created_at", "pruned_at"],
}
# Shown only when some row differs from this (every space float32: no dtype column).
_USUAL = {"dtype": "float32"}


# Columns left out, highest first, when a table would not fit the terminal (0: always shown).
_DROP = {
    "datasets": {"content_hash": 6, "created_at": 5, "id_field": 4, "columns": 3, "n_rows": 1},
    "experiments": {"created_at": 5, "train_dataset": 4, "model_name": 3, "params": 2},
    "spaces": {"created_at": 8, "dtype": 7, "step": 6, "split": 5, "experiment": 4, "dataset": 3, "dim": 2,
               "n_rows": 1},
}


def _cell(key, value) -> str:
    if value is None:
        return ""
    if key == "columns":
        return ", ".join(c["name"] for c in value)
    if key == "created_at":
        return value[:16].replace("T", " ")
    if key == "pruned_at":   # the vectors are gone, the stored results stay
        return f"vectors pruned {value[:10]}"
    if key == "content_hash":
        return value[:12]
    if key == "params":  # nested settings (a loss with its distance ...) show by name; `show` has all
        def short(v):
            return v.get("name", "{...}") if isinstance(v, dict) else "[...]" if isinstance(v, list) else v
        return ", ".join(f"{k}={short(v)}" for k, v in value.items())
    return _fmt_num(value)


def ls(
    kind: Optional[str] = typer.Argument(None, help="datasets, experiments or spaces (default: all three)."),
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """List registered datasets, experiments and spaces."""
    kinds = KINDS if kind is None else [parse_kind(kind)]
    reg = home_arg(home)
    data = {k: [record_dict(r) for r in reg.list(k)] for k in kinds}
    if as_json:
        print_json(data if kind is None else data[kinds[0]])
        return
    for k in kinds:
        if not data[k]:
            console.print(f"[dim]no {k}[/dim]")
            continue
        cols = [c for c in _COLUMNS[k] if c == "name" or any(rec.get(c) not in (None, {}, [], _USUAL.get(c))
                                                             for rec in data[k])]
        spec = [Col(c, justify="right" if c in ("n_rows", "dim", "step") else "left",
                    wrap=c in ("columns", "params"), drop=_DROP[k].get(c, 0)) for c in cols]
        print_fitted(console, spec, [[_cell(c, rec.get(c)) for c in cols] for rec in data[k]],
                     title=k.capitalize(), title_justify="left")


def show(
    name: str = typer.Argument(..., help="Name of a dataset, experiment or space."),
    kind: Optional[str] = typer.Option(None, "--kind", help="dataset, experiment or space, when a name is ambiguous."),
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """Everything known about one entity: shape, hash, lineage, statistics, derived results."""
    info = api.show(name, parse_kind(kind) if kind else None, home=home_arg(home))
    if as_json:
        print_json(info)
        return
    table = Table(title=f"{info['kind']} {info['name']}", title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in info.items():
        if key in ("kind", "name", "id"):
            continue
        if key == "stats":
            for sk, sv in value.items():
                table.add_row(f"stats.{sk}", _fmt_num(sv))
        elif key == "pruned_at":
            if value:
                table.add_row("vectors", f"[yellow]pruned on {value[:10]}[/yellow]: the stored results below remain; "
                              "anything that needs the vectors refuses")
        elif key == "derived":
            for d in value:
                table.add_row(f"derived.{d['kind']}", _derived_line(d))
        elif key == "columns":
            table.add_row(key, ", ".join(f"{c['name']} ({c['dtype']})" for c in value))
        elif isinstance(value, (list, tuple)) and key != "shape":
            table.add_row(key, ", ".join(map(str, value)) or "-")
        elif isinstance(value, dict):
            table.add_row(key, ", ".join(f"{k}={v}" for k, v in value.items()) or "-")
        else:
            table.add_row(key, " x ".join(map(_fmt_num, value)) if key == "shape" else _cell(key, value))
    console.print(table)


def _derived_line(d: dict) -> str:
    """One readable line for a derived result, naming the other space of a comparison."""
    info = d.get("info") or {}
    if d["kind"] == "comparison" and d.get("other_space"):
        parts = [f"vs {d['other_space']}: mean Jaccard {_fmt_num(info.get('mean'))} at k = {info.get('k')}"]
        if isinstance(info.get("chance"), float):
            parts.append(f"chance {info['chance']:.4f}")
        if isinstance(info.get("cka"), float):
            parts.append(f"linear CKA {info['cka']:.3f}")
        return ", ".join(parts)
    if d["kind"] == "evaluation":
        from spacelens.evaluate import evaluation_settings

        from spacelens.catalogue import short

        scores = ", ".join(f"{short(m)} {info[m]:.4f}" for m in ("mean_average_precision_at_r", "precision_at_1", "NMI")
                           if isinstance(info.get(m), float))
        return f"{settings_text(evaluation_settings(info))}: {scores or 'no scores'}"
    other = f" vs {d['other_space']}" if d.get("other_space") else ""
    summary = ", ".join(f"{k}={_fmt_num(v)}" for k, v in info.items() if isinstance(v, (int, float)))[:160]
    return f"{d.get('name') or ''}{other} {summary}".strip()


def rm(
    kind: str = typer.Argument(..., help="dataset, experiment, space or evaluation."),
    name: str = typer.Argument(..., help="Name of the entity to remove (for evaluation: of the evaluated space)."),
    cascade: bool = typer.Option(False, "--cascade", help="Also remove what depends on it (spaces of a "
                                 "dataset or experiment)."),
    label_field: Optional[str] = typer.Option(None, "--label-field", "-l", help="rm evaluation: only those on "
                                              "this label column."),
    metric: Optional[str] = typer.Option(None, "--metric", "-m", help="rm evaluation: only those with this distance."),
    k: Optional[int] = typer.Option(None, "-k", "--k", help="rm evaluation: only those at this k."),
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """Remove a dataset, experiment or space (refuses if others depend on it, unless --cascade),
    or the stored evaluations of a space.

    Derived results (kNN graphs, comparisons, maps, evaluations) of removed spaces go with them.

    Example: spacelens rm evaluation run1.val --label-field alcohol (a stray leaderboard row)
    """
    table = parse_kind(kind, extra=("evaluation",))
    if table != "evaluation" and (label_field or metric or k is not None):
        raise SpacelensError("--label-field, --metric and -k select evaluations to remove",
                             f"Drop them to remove the {table[:-1]}, or run 'spacelens rm evaluation SPACE ...'")
    if table == "evaluation":
        rows = api.remove_evaluations(name, label_field=label_field, metric=metric, k=k, home=home_arg(home))
        removed = [f"evaluation of {r['space']} ({settings_text(r['settings'])})" for r in rows]
    else:
        removed = api.rm(kind, name, cascade=cascade, home=home_arg(home))
    if as_json:
        print_json({"removed": removed})
        return
    for r in removed:
        console.print(f"[red]removed[/red] {r}")


def gc(
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """Delete files in the registry that nothing references (left by an interrupted write)."""
    removed = home_arg(home).gc()
    if as_json:
        print_json({"removed_files": removed})
        return
    console.print(f"removed {len(removed)} unreferenced file(s)")


def prune(
    experiment: str = typer.Argument(..., help="Experiment whose epoch logs (spaces with a step) to prune."),
    keep_last: Optional[int] = typer.Option(None, "--keep-last", help="Keep the last N steps of each run and split."),
    keep_every: Optional[int] = typer.Option(None, "--keep-every", help="Keep every step divisible by M."),
    keep_best: Optional[str] = typer.Option(None, "--keep-best", help="Keep the step with the best stored value "
                                            "of this metric (e.g. MAP@R), from stored evaluations."),
    label_field: Optional[str] = typer.Option(None, "--label-field", "-l", help="--keep-best: the evaluations on "
                                              "this label column."),
    split: Optional[str] = typer.Option(None, "--split", help="Only spaces of this split (default: all)."),
    run: Optional[str] = typer.Option(None, "--run", help="Only spaces of this training run (default: all)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Prune. Without it, only show what would be pruned."),
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """Remove the vector files of old epochs, keeping their records and stored results.

    Evaluations and comparisons stored before the prune stay, so 'spacelens evolution' still
    shows the pruned epochs' figures; kNN graphs and search indexes of pruned spaces go with
    their vectors. The last step of each run and split is always kept. Shows the plan and the
    bytes it frees; nothing changes without --yes.

    Example: spacelens prune triplet --keep-last 5 --keep-every 10 --keep-best MAP@R --yes
    """
    plan = api.prune(experiment, keep_last=keep_last, keep_every=keep_every, keep_best=keep_best,
                     label_field=label_field, split=split, run=run, dry_run=not yes, home=home_arg(home))
    if as_json:
        print_json(plan.to_dict())
        return
    for w in plan.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
    if not plan.prune:
        console.print(f"nothing to prune in {experiment} ({len(plan.keep)} kept, "
                      f"{len(plan.already_pruned)} pruned before)")
        return
    verb = "[red]pruned[/red]" if plan.applied else "would prune"
    for p in plan.prune:
        console.print(f"{verb} {p['space']} (step {p['step']}): {_bytes(p['bytes'])}, "
                      f"{p['results']} stored result(s) kept")
    kept = ", ".join(f"{k['step']} ({'; '.join(k['why'])})" for k in plan.keep[:8])
    more = f" and {len(plan.keep) - 8} more" if len(plan.keep) > 8 else ""
    console.print(f"kept steps: {kept}{more}")
    if plan.applied:
        console.print(f"{len(plan.prune)} space(s) pruned: {_bytes(plan.bytes_freed)} freed after the grace "
                      "period readers get (default 10 minutes, as for 'rm')")
    else:
        console.print(f"[bold]dry run[/bold]: {len(plan.prune)} space(s), {_bytes(plan.bytes_freed)} would be "
                      "freed. Pass --yes to prune")


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n} B"


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Track")(add)
    app.command(rich_help_panel="Track")(ls)
    app.command(rich_help_panel="Track")(show)
    app.command(rich_help_panel="Track")(rm)
    app.command(rich_help_panel="Track")(gc)
    app.command(rich_help_panel="Track")(prune)
