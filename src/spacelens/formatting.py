"""Numbers as people read them, shared by the terminal tables and the HTML report."""

from __future__ import annotations

import math


def fmt(x, digits: int = 3, sign: bool = False) -> str:
    """``x`` with ``digits`` decimals (``+`` sign with ``sign``); ``-`` for a missing or NaN value."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def fmt_ci(ci, digits: int = 3, sign: bool = False) -> str:
    """A 95% interval ``[low, high]`` as ``low to high``; ``-`` when there is none."""
    if not ci or ci[0] is None:
        return "-"
    return f"{fmt(ci[0], digits, sign)} to {fmt(ci[1], digits, sign)}"


def fmt_p(p) -> str:
    """A p-value for a table cell: ``0.034`` / ``< 0.001``; ``-`` when missing (as the page shows it)."""
    if p is None or not math.isfinite(p):
        return "-"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def format_p(p: float) -> str:
    """``p = 0.034`` / ``p < 0.001``; ``p = -`` for a missing p-value."""
    cell = fmt_p(p)
    return f"p {cell}" if cell.startswith("<") else f"p = {cell}"
