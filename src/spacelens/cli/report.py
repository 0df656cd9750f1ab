"""The ``report`` verb: one self-contained HTML page (and JSON) on how two spaces differ."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from spacelens.cli._common import BudgetOption, FullOption, HomeOption, JsonOption, console, home_arg, print_json


def report(
    space_a: str = typer.Argument(..., help="The first space (the reference, e.g. your current model)."),
    space_b: str = typer.Argument(..., help="The space to compare with it (of the same dataset)."),
    output: Path = typer.Option(Path("report.html"), "--output", "-o", help="The HTML file to write."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="A reseeded run of SPACE_A: says whether the "
                                           "differences go beyond what seeds alone change. Default: one found "
                                           "automatically (same experiment parameters but the seed); 'none' for "
                                           "none."),
    label_field: Optional[str] = typer.Option(None, "--label-field", "-l", help="Dataset column with labels: adds "
                                              "agreement per label, class mixing and which space retrieves "
                                              "better."),
    k: str = typer.Option("5,10,20", "-k", "--k", help="Neighbours per item, one or several (the largest is the "
                          "headline)."),
    metric_a: str = typer.Option("cosine", "--metric-a", "-ma", help="Metric of space A."),
    metric_b: str = typer.Option("cosine", "--metric-b", "-mb", help="Metric of space B."),
    json_output: Optional[Path] = typer.Option(None, "--json-output", help="Where to write the content as JSON "
                                               "(default: OUTPUT with .json)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap and randomization tests."),
    full: bool = FullOption,
    budget: Optional[float] = BudgetOption,
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """Write one HTML report on how two spaces of a dataset differ, and which is better.

    Sections: agreement per k (Jaccard, overlap@k, CKNNA, linear and unbiased CKA); with
    --baseline, whether it is more than noise; with --label-field, agreement per label, the
    items that changed most (and their neighbours kept, lost, gained), how class mixing
    changed and which space retrieves better (paired 95% CIs, p-values, verdict). The page
    is self-contained (plots inline, no script, nothing fetched); the same content goes to JSON.

    Example: spacelens report triplet.val arcface.val --baseline triplet2.val --label-field label -o report.html
    """
    from spacelens.report import report

    out = report(space_a, space_b, output, baseline=baseline, label_field=label_field, k=k,
                 json_output=json_output, metric_a=metric_a, metric_b=metric_b, seed=seed, full=full, budget=budget,
                 home=home_arg(home))
    if as_json:
        print_json(out)
        return
    from spacelens.cli._insight import print_answer

    print_answer(out.get("answer"))
    for sentence in out["summary"]:
        console.print(f"- {sentence}")
    console.print(f"report written to {out['html']} (content: {out['json']})")


def register(app: typer.Typer) -> None:
    app.command("report", rich_help_panel="Compare")(report)
