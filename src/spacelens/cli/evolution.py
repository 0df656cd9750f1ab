"""``spacelens evolution``: how an experiment's space changes over training epochs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from spacelens.cli._common import BudgetOption, FullOption, HomeOption, JsonOption, console, home_arg, print_json


def evolution(
    experiment: str = typer.Argument(..., help="Experiment whose spaces were logged per epoch (with a step)."),
    split: str = typer.Option("val", "--split", "-s", help="Which split's spaces to follow."),
    k: int = typer.Option(10, "-k", "--k", min=1, help="Neighbours per item for the Jaccard."),
    label_field: Optional[str] = typer.Option(None, "--label-field", "-l", help="Dataset column of labels: adds "
                                              "the evaluation metrics (MAP@R, P@1, ...) of every epoch."),
    metric: str = typer.Option("cosine", "--metric", "-m", help="Distance: cosine, l2 or dot."),
    run: Optional[str] = typer.Option(None, "--run", help="Which training run to follow (default: the latest)."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also write the curves to this PNG file."),
    full: bool = FullOption,
    budget: Optional[float] = BudgetOption,
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """Is it worth training longer? Per epoch: kNN Jaccard to the previous and to the last epoch.

    Follows the experiment's spaces of one split in step (epoch) order, as logged by
    spacelens.log_space(..., step=epoch, split=...) or the pytorch-metric-learning hook
    (spacelens.integrations.pml), one training run at a time (the latest unless --run). J(prev) near 1 means the neighbourhoods have stopped moving;
    J(last) shows how far each epoch is from where training ended. With --label-field, every
    epoch is also evaluated (stored results are reused). Comparisons are stored too, so a
    second run is instant. The last line answers the question from the trend of the last
    quarter of the epochs.

    Example: spacelens evolution digits-triplet --split val -k 10 --label-field label --plot evo.png
    """
    reg = home_arg(home)
    from spacelens.evolution import evolution

    ev = evolution(experiment, split=split, k=k, label_field=label_field, metric=metric, run=run, plot=plot,
                   full=full, budget=budget, home=reg)
    if as_json:
        d = ev.to_dict()
        if plot is not None:
            d["plot"] = str(plot)
        print_json(d)
        return
    from spacelens.evolution import METRICS_SHOWN, SHORT, kept_fraction

    if ev.info.get("sampled"):
        console.print(ev.info['sampled']['line'], style='bold', soft_wrap=True, highlight=False, markup=False)

    cols = [m for m in METRICS_SHOWN if any(m in r.metrics for r in ev.epochs)]
    run_note = f", run {ev.info['run']}" if ev.info.get("run") else ""
    table = Table(title=f"evolution of {ev.experiment} ({ev.split} split{run_note}, {ev.metric}, k={ev.k})",
                  title_justify="left")
    table.add_column("epoch", justify="right", style="bold")
    table.add_column("space")
    table.add_column("J(prev)", justify="right")
    table.add_column("kept", justify="right", style="dim")
    table.add_column(f"J(last={ev.epochs[-1].step})", justify="right")
    for m in cols:
        table.add_column(SHORT[m], justify="right")
    best = ev.info.get("best", {}).get("step")
    for r in ev.epochs:
        jp = "-" if r.jaccard_prev is None else f"{r.jaccard_prev:.3f}"
        kept = "-" if r.jaccard_prev is None else f"{kept_fraction(r.jaccard_prev):.0%}"
        vals = ["-" if r.metrics.get(m) is None else f"{r.metrics[m]:.4f}" for m in cols]
        if best == r.step and cols:
            vals[0] = f"[bold green]{vals[0]}[/bold green]"
        table.add_row(str(r.step), r.space, jp, kept, f"{r.jaccard_last:.3f}", *vals)
    console.print(table)
    console.print("J = mean kNN Jaccard of each item's neighbours in the two epochs; kept = share of "
                  "neighbours an item keeps from the previous epoch.", style="dim")
    console.print(ev.verdict + ".", highlight=False)
    if ev.info.get("other_runs"):
        others = ", ".join(str(r) if r is not None else "(no run)" for r in ev.info["other_runs"])
        console.print(f"Other runs of this experiment, not shown: {others} (pick one with --run).", style="dim")
    if plot is not None:
        console.print(f"plot written to {plot}")


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Compare")(evolution)
