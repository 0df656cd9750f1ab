"""The ``answer`` verb: the answer first, in up to three sentences (``spacelens.answer``).

Registered by :mod:`spacelens.cli.compare` (it belongs to the Compare verbs)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from spacelens import api
from spacelens.cli._common import BudgetOption, FullOption, HomeOption, JsonOption, home_arg, print_json


def answer(
    space_a: str = typer.Argument(..., help="Space A (e.g. your current model)."),
    space_b: str = typer.Argument(..., help="Space B (of the same dataset)."),
    label_field: Optional[str] = typer.Option(None, "--label-field", "-l", help="Dataset column with labels: adds "
                                              "which retrieves better (paired MAP@R) and the classes that changed "
                                              "most. Default: the label column of a stored evaluation of A or B."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="A reseeded run of SPACE_A. Default: one found "
                                           "automatically (same dataset, split and step; the experiment's "
                                           "parameters equal A's but the seed); 'none' for no baseline."),
    k: int = typer.Option(10, "-k", "--k", min=1, help="Neighbours per item for the agreement sentence."),
    metric: str = typer.Option("cosine", "--metric", "-m", help="Distance of both spaces (cosine, l2, dot)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap intervals and randomization tests."),
    full: bool = FullOption,
    budget: Optional[float] = BudgetOption,
    as_json: bool = JsonOption,
    home: Optional[Path] = HomeOption,
):
    """Which of two spaces retrieves better, how alike their neighbourhoods are, and where they
    differ most: up to three sentences, each with the figures it rests on (interval, sample
    size, chance level). The numbers are those of 'spacelens evaluate A --vs B' and
    'spacelens compare A B', which print the same answer above their tables.

    Example: spacelens answer triplet.epoch_20.val arcface.epoch_20.val --label-field label
    """
    from spacelens.cli._insight import baseline_choice, print_answer

    reg = home_arg(home)
    base, source = baseline_choice(reg, space_a, space_b, baseline)
    res = api.compare(space_a, space_b, k=k, metric_a=metric, metric_b=metric, baseline=base, seed=seed, full=full,
                      budget=budget, home=reg)
    out = api.answer(space_a, space_b, label_field=label_field, metric=metric, seed=seed, comparison=res,
                     baseline_source=source, full=full, budget=budget, home=reg)
    if as_json:
        print_json(out)
        return
    print_answer(out)
