"""Numbers as people read them, shared by the terminal tables and the HTML report."""

from __future__ import annotations

import math


def fmt(x, digits: int = 3, sign: bool = False) -> str:
    """``x`` with ``digits`` decimals (``+`` sign with ``sign``); ``-`` for a missing or NaN value."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


CI_MAX_DIGITS = 6   # fmt_ci adds decimals up to this many


def ci_digits(ci, digits: int = 3, cap: int = CI_MAX_DIGITS) -> int:
    """Decimals to print interval ``ci`` with so that it reads as what it is.

    An interval that excludes 0 gets more decimals than ``digits`` until both ends are
    nonzero at that precision and differ from each other (at most ``cap``): [+0.00047,
    +0.00238] prints as "+0.0005 to +0.0024", not "+0.000 to +0.002", which looks as if it
    touched 0. An interval that includes 0 (or is missing) keeps ``digits``. The page
    (web/src/versus.ts) applies the same rule.
    """
    if not ci or ci[0] is None or ci[1] is None:
        return digits
    lo, hi = float(ci[0]), float(ci[1])
    if not (math.isfinite(lo) and math.isfinite(hi)) or not (lo > 0 or hi < 0) or lo == hi:
        return digits       # includes 0, or a point (no decimals would part its ends)
    d = digits
    while d < cap:
        a, b = f"{lo:.{d}f}", f"{hi:.{d}f}"      # as printed
        if float(a) != 0 and float(b) != 0 and a != b:
            break
        d += 1
    return max(d, digits)


def fmt_ci(ci, digits: int = 3, sign: bool = False) -> str:
    """A 95% interval ``[low, high]`` as ``low to high``; ``-`` when there is none. With more
    decimals than ``digits`` where that is what shows an interval that excludes 0 does so
    (:func:`ci_digits`)."""
    if not ci or ci[0] is None:
        return "-"
    d = ci_digits(ci, digits)
    return f"{fmt(ci[0], d, sign)} to {fmt(ci[1], d, sign)}"


def fmt_p(p) -> str:
    """A p-value for a table cell: ``0.034`` / ``< 0.001``; ``-`` when missing (as the page shows it)."""
    if p is None or not math.isfinite(p):
        return "-"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def format_p(p: float) -> str:
    """``p = 0.034`` / ``p < 0.001``; ``p = -`` for a missing p-value."""
    cell = fmt_p(p)
    return f"p {cell}" if cell.startswith("<") else f"p = {cell}"
