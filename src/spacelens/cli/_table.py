"""Tables that fit the terminal without cutting names.

rich shrinks every column of a table that is too wide, names included (``digit…``), and at
80 columns it cuts numbers down to ``0…``. Here each column says whether it may wrap
(free text), and which columns may be left out: optional columns, most important first,
are added while the table still fits; the caller says which ones were (so a user knows to
widen the terminal or use ``--json``). Names and numbers are never cut.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table


@dataclass
class Col:
    header: str
    justify: str = "left"
    style: str | None = None
    wrap: bool = False      # free text (a list of columns, params) may wrap onto more lines
    drop: int = 0           # 0: always shown; otherwise dropped in decreasing order of this rank


def _build(cols: list[Col], rows: list[list[str]], keep: list[int], **table_kw) -> Table:
    table = Table(**table_kw)
    for i in keep:
        c = cols[i]
        table.add_column(c.header, justify=c.justify, style=c.style, no_wrap=not c.wrap,
                         overflow="fold")
    for row in rows:
        table.add_row(*[row[i] for i in keep])
    return table


def fitted_table(console: Console, cols: list[Col], rows: list[list[str]], **table_kw) -> tuple[Table, list[str]]:
    """A rich Table of ``rows`` that fits ``console.width`` with every shown cell whole.

    Returns ``(table, left_out)``: the headers of the optional columns left out to make it fit
    (optional columns are added lowest ``drop`` first, each if it still fits). Columns that must
    stay are kept even if they alone are too wide (the line then runs on; a name is never shortened).
    """
    def need(keep: list[int]) -> int:
        table = _build(cols, rows, keep, **table_kw)
        return Measurement.get(console, console.options.update_width(100_000), table).minimum

    keep = [i for i, c in enumerate(cols) if not c.drop]
    left_out = []
    for i in sorted((i for i, c in enumerate(cols) if c.drop), key=lambda i: cols[i].drop):
        trial = sorted(keep + [i])
        if need(trial) <= console.width:
            keep = trial
        else:
            left_out.append(i)
    table = _build(cols, rows, keep, **table_kw)
    width = need(keep)
    if width > console.width:  # the required columns alone: let the line run on rather than cut a name
        table.min_width = width
    return table, [cols[i].header for i in sorted(left_out)]


def print_fitted(console: Console, cols: list[Col], rows: list[list[str]], **table_kw) -> list[str]:
    """Print :func:`fitted_table` (wider than the terminal only when the required columns need it)
    and a dim line naming what was left out; returns the headers left out."""
    table, left_out = fitted_table(console, cols, rows, **table_kw)
    need = table.min_width or 0
    console.print(table, width=max(console.width, need), crop=False)
    if left_out:
        console.print(f"[dim]not shown at {console.width} columns: {', '.join(left_out)} "
                      "(widen the terminal, or use --json)[/dim]")
    return left_out
