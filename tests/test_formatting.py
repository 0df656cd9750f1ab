"""spacelens.formatting: numbers as tables and sentences print them, on hand-worked cases.

The interval rule (``fmt_ci`` / ``ci_digits``): an interval that excludes 0 gets more decimals
until both ends are nonzero and distinct at that precision (at most 6), so it never reads as if
it touched 0; one that includes 0 keeps the requested decimals."""

from __future__ import annotations

import math

import pytest

from spacelens.evaluate.versus import verdict
from spacelens.formatting import CI_MAX_DIGITS, ci_digits, fmt, fmt_ci, fmt_p, format_p


@pytest.mark.parametrize("ci, digits, sign, want", [
    ([0.00047, 0.00238], 3, True, "+0.0005 to +0.0024"),      # the case: 3 decimals read "+0.000"
    ([-0.00238, -0.00047], 3, True, "-0.0024 to -0.0005"),    # the same below 0
    ([0.00047, 0.00238], 4, True, "+0.0005 to +0.0024"),      # 4 already show it
    ([0.000047, 0.000238], 4, True, "+0.00005 to +0.00024"),
    ([-0.0004, 0.002], 3, True, "-0.000 to +0.002"),          # includes 0: 3 decimals stay
    ([-0.012, 0.034], 3, True, "-0.012 to +0.034"),
    ([0.0, 0.002], 3, True, "+0.000 to +0.002"),              # touches 0: it does include it
    ([0.01, 0.05], 3, True, "+0.010 to +0.050"),              # already clear: unchanged
    ([0.1231, 0.1234], 3, False, "0.1231 to 0.1234"),         # both ends equal at 3 decimals
    ([0.12, 0.12], 3, False, "0.120 to 0.120"),               # a point: no decimals can part its ends
    ([1e-9, 2e-9], 3, True, "+0.000000 to +0.000000"),        # capped at 6 decimals
    ([0.0049, 0.0051], 3, True, "+0.0049 to +0.0051"),     # not "+0.005 to +0.005"
])
def test_fmt_ci_adds_digits_until_the_sign_shows(ci, digits, sign, want):
    assert fmt_ci(ci, digits, sign) == want


def test_ci_digits_rule_written_out():
    """The rule against a direct reading of it, over many intervals."""
    import numpy as np

    rng = np.random.default_rng(0)
    for _ in range(2000):
        lo, hi = sorted(rng.normal(scale=10.0 ** rng.uniform(-6, 0), size=2))
        d = ci_digits([lo, hi])
        if lo <= 0 <= hi:
            assert d == 3
            continue
        clear = lambda n: float(f"{lo:.{n}f}") != 0 and float(f"{hi:.{n}f}") != 0 and \
            f"{lo:.{n}f}" != f"{hi:.{n}f}"  # noqa: E731
        assert 3 <= d <= CI_MAX_DIGITS
        assert clear(d) or d == CI_MAX_DIGITS           # clear, or capped
        assert d == 3 or not clear(d - 1)              # and no more decimals than needed


def test_missing_values():
    assert fmt_ci(None) == "-" and fmt_ci([None, None]) == "-" and ci_digits([None, 0.1]) == 3
    assert fmt(None) == "-" and fmt(math.nan) == "-" and fmt(0.5, 2, True) == "+0.50"
    assert fmt_p(None) == "-" and fmt_p(0.0004) == "< 0.001" and format_p(0.034) == "p = 0.034"
    assert ci_digits([math.inf, 1.0]) == 3


def test_verdict_shows_the_interval_with_enough_digits():
    m = {"ci95": [0.00047, 0.00238], "difference": 0.0014, "mean_a": 0.5110, "mean_b": 0.5124,
         "p_value": 0.002, "n": 1000}
    s = verdict("A", "B", m, {"a": 1, "b": 5, "classes": 8})
    assert s == ("B retrieves better than A: MAP@R 0.5124 vs 0.5110, a difference of 0.0014 (95% CI +0.0005 to "
                 "+0.0024, p = 0.002, 1,000 queries); B is ahead in 5 of 8 classes.")
    # A ahead: the interval of winner - loser, digits alike
    m2 = {**m, "ci95": [-0.00238, -0.00047], "difference": -0.0014, "mean_a": 0.5124, "mean_b": 0.5110}
    assert "a difference of 0.0014 (95% CI +0.0005 to +0.0024" in verdict("A", "B", m2, {"a": 5, "b": 1, "classes": 8})
    # an interval that includes 0 keeps 3 decimals
    m3 = {**m, "ci95": [-0.0004, 0.002]}
    assert "95% CI -0.000 to +0.002" in verdict("A", "B", m3, {"a": 1, "b": 5, "classes": 8})
