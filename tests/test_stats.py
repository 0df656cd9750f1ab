"""The shared interval helpers (spacelens.stats) on hand-worked data, against scipy.stats.

Coverage, p-value uniformity and power are tested on simulated data in test_paired.py and
test_compare_coverage.py; here each helper's number is checked against an independent one.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from spacelens.formatting import fmt_p, format_p
from spacelens.stats import excludes_zero, mean_ci, sign_flip_pvalue, t_interval, t_quantile


def test_t_interval_hand_worked_and_scipy():
    # d = 1..5: mean 3, sample sd sqrt(2.5), se = sqrt(2.5 / 5) = sqrt(0.5); df 4, t_0.975 = 2.7764
    d = [1.0, 2.0, 3.0, 4.0, 5.0]
    mean, lo, hi = t_interval(d)
    assert mean == 3.0
    assert (hi - lo) / 2 == pytest.approx(2.7764 * math.sqrt(0.5), rel=1e-3)
    ref = sps.t.interval(0.95, df=4, loc=3.0, scale=sps.sem(d))
    assert (lo, hi) == pytest.approx(ref, rel=2e-3)   # Cornish-Fisher t quantile: ~0.1% at df 4


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_t_interval_matches_scipy_at_moderate_n(level):
    d = np.random.default_rng(3).normal(-0.05, 0.2, size=40)   # negative values: no clipping here
    mean, lo, hi = t_interval(d, level)
    ref = sps.t.interval(level, df=39, loc=d.mean(), scale=sps.sem(d))
    assert mean == pytest.approx(d.mean())
    assert (lo, hi) == pytest.approx(ref, rel=1e-5, abs=1e-9)
    assert lo < 0 or hi < 0


def test_t_interval_degenerate_sizes():
    assert all(math.isnan(x) for x in t_interval([]))
    m, lo, hi = t_interval([0.4])
    assert m == 0.4 and math.isnan(lo) and math.isnan(hi)


def test_mean_ci_finite_population_correction_hand_worked():
    # v = .2, .4, .6, .8 drawn from N = 7: sd = sqrt(0.2/3), se = sd / 2, fpc = sqrt((7 - 4) / 6)
    v = [0.2, 0.4, 0.6, 0.8]
    mean, lo, hi = mean_ci(v, population=7)
    se = math.sqrt(0.2 / 3) / 2 * math.sqrt(3 / 6)
    assert mean == pytest.approx(0.5)
    ref = sps.t.interval(0.95, df=3, loc=0.5, scale=se)
    assert (lo, hi) == pytest.approx(ref, rel=2e-3)
    assert mean_ci(v, population=4)[1:] == pytest.approx((0.5, 0.5))   # the whole population: exact
    # without a population it is the plain t interval (clipped to [0, 1], here inside it)
    assert mean_ci(v)[1:] == pytest.approx(t_interval(v)[1:])


def test_mean_ci_clips_to_unit_range():
    _, lo, _ = mean_ci([0.0, 0.0, 0.0, 0.1])
    assert lo == 0.0 and t_interval([0.0, 0.0, 0.0, 0.1])[1] < 0
    assert mean_ci([1.0, 1.0, 0.95])[2] == 1.0
    assert mean_ci([0.3]) == (0.3, 0.0, 1.0)   # one value: nothing known but the range
    assert all(math.isnan(x) for x in mean_ci([]))


def test_t_quantile_is_the_interval_quantile():
    for df in (4, 39):
        assert t_quantile(0.975, df) == pytest.approx(sps.t.ppf(0.975, df), rel=2e-3 if df < 10 else 1e-5)


def test_sign_flip_pvalue_exact_small_case_and_zero():
    # d = (1, 1, 1): of the 8 sign patterns only +++ and --- reach |sum| = 3: p = 2/8
    p, _ = sign_flip_pvalue(np.ones(3), n_resamples=100_000, seed=1)
    assert p == pytest.approx(0.25, abs=0.01)
    assert sign_flip_pvalue(np.zeros(5)) == (1.0, "all differences are 0")


def test_excludes_zero_and_format_p():
    assert excludes_zero([0.01, 0.2]) and excludes_zero([-0.3, -0.1])
    assert not excludes_zero([-0.1, 0.1]) and not excludes_zero([0.0, 0.2]) and not excludes_zero([None, None])
    assert [format_p(p) for p in (0.0341, 0.0004, None, float("nan"))] == ["p = 0.034", "p < 0.001", "p = -", "p = -"]
    assert [fmt_p(p) for p in (0.0341, 0.0004, None, float("nan"))] == ["0.034", "< 0.001", "-", "-"]


def test_old_import_paths_give_the_same_helpers():
    import importlib

    compare, sampled, stats = (importlib.import_module(f"spacelens.{m}")
                               for m in ("compare", "compare.sampled", "stats"))
    assert compare.mean_ci is stats.mean_ci and sampled.mean_ci is stats.mean_ci
