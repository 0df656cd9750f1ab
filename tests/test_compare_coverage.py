"""The honest-CI proof for compare (issue 15, item 4): on hidden data, over 200 small problems,
the 95% interval of ``compare --sample`` and the exact check beside an approximate compare
contain the exact mean Jaccard about 95% of the time.

The exact per-item Jaccard of every problem is computed independently, vectorised over the
200 problems (float64 brute force, one batched distance tensor); the library runs its own
search for each problem's sample (its real code path: sample, exact search, Jaccard, t
interval with the finite population correction).
"""

from __future__ import annotations

import numpy as np
import pytest

from spacelens.compare.sampled import exact_check, sampled_jaccard
from spacelens.stats import mean_ci

N_PROBLEMS, N, D, K, SAMPLE = 200, 160, 8, 10, 40


def _problems():
    """200 hidden pairs of spaces: B is A seen through noise (weakly related, as in the issue)."""
    rng = np.random.default_rng(15)
    labels = rng.integers(0, 5, size=(N_PROBLEMS, N))
    centres = rng.normal(size=(N_PROBLEMS, 5, D)) * 1.5
    a = np.take_along_axis(centres, labels[..., None], axis=1) + rng.normal(size=(N_PROBLEMS, N, D))
    b = a + rng.normal(scale=rng.uniform(0.3, 1.5, size=(N_PROBLEMS, 1, 1)), size=a.shape)
    return a.astype(np.float32), b.astype(np.float32)


def _brute_knn(x):
    """k nearest (cosine, self excluded, ties by lower index) of every item of every problem."""
    u = x.astype(np.float64)
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    d = 1 - np.einsum("pid,pjd->pij", u, u)
    d[:, np.arange(N), np.arange(N)] = np.inf
    return np.argsort(d, axis=-1, kind="stable")[..., :K]


def _jaccard(ga, gb):
    both = np.sort(np.concatenate([ga, gb], axis=-1), axis=-1)
    shared = (both[..., 1:] == both[..., :-1]).sum(-1)
    return shared / (2 * K - shared)


@pytest.fixture(scope="module")
def hidden():
    a, b = _problems()
    exact = _jaccard(_brute_knn(a), _brute_knn(b))      # (problems, items)
    return a, b, exact


def test_sampled_compare_ci_covers_the_exact_mean(hidden):
    a, b, exact = hidden
    covered = 0
    for p in range(N_PROBLEMS):
        rows, values = sampled_jaccard(a[p], b[p], K, n_sample=SAMPLE, seed=p)
        np.testing.assert_allclose(values, exact[p, rows], atol=1e-6)   # sampled items are exact
        _, lo, hi = mean_ci(values, population=N)
        covered += lo <= exact[p].mean() <= hi
    rate = covered / N_PROBLEMS
    assert 0.91 <= rate <= 0.985, rate
    assert 0.05 < exact.mean() < 0.6 and exact.mean(axis=1).std() > 0.02   # problems that differ


def test_exact_check_of_an_approximate_compare_covers_the_exact_mean(hidden):
    """The approximate graphs' per-item values stand in as exact values plus a bias: the check's
    interval is about the exact mean whatever they are, and it flags the biased mean."""
    a, b, exact = hidden
    covered = flagged = 0
    for p in range(N_PROBLEMS):
        approx = np.clip(exact[p] + 0.08, 0, 1)
        check = exact_check(a[p], b[p], approx, K, n_sample=SAMPLE, seed=1000 + p)
        lo, hi = check["ci95"]
        covered += lo <= exact[p].mean() <= hi
        flagged += not check["approx_inside_ci"]
        assert check["n"] == SAMPLE and lo <= check["mean"] <= hi
    assert 0.91 <= covered / N_PROBLEMS <= 0.985, covered
    assert flagged / N_PROBLEMS > 0.8, flagged
