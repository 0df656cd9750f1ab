"""The answer's figures for the shown items (issue 26): spacelens.answer_subset.subset_figures
against independent recomputations: the subset's mean Jaccard from brute-force neighbours
(tests/_spaces.brute_jaccard), its t interval from scipy, MAP@R of each query by brute force
(queries restricted to the subset, searched among all reference items), and, for the whole
dataset, exactly evaluate_versus's figures. Awkward subsets too: items only one space holds,
none, a handful, hostile labels, rows out of range, spaces of two datasets."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _spaces import brute_jaccard
from scipy import stats as sps

import spacelens
from spacelens.answer_subset import MIN_UNITS, ScoreCache, subset_figures, subset_jaccard
from spacelens.api import open_registry
from spacelens.errors import NotFoundError, SpacelensError
from spacelens.evaluate.paired import paired_difference

N, D, C, K = 300, 12, 5, 10
MAP = "mean_average_precision_at_r"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Dataset d: A (blurred), B (sharper), H (B's vectors, every other item only), E (A's vectors
    plus noise, never compared); dataset other: O."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    h = tmp_path_factory.mktemp("subset") / "home"
    rng = np.random.default_rng(26)
    lab = rng.integers(0, C, N)
    lab[:C] = np.arange(C)
    centres = rng.normal(size=(C, D)) * 1.5
    xa = (centres[lab] + 1.2 * rng.normal(size=(N, D))).astype(np.float32)
    xb = (centres[lab] + 0.8 * rng.normal(size=(N, D))).astype(np.float32)
    xe = (xa + 0.5 * rng.normal(size=(N, D))).astype(np.float32)
    ids = np.array([f"i{i:03d}" for i in range(N)])
    table = pd.DataFrame({"id": ids, "label": [f"class {x}" for x in lab]})
    half = np.arange(0, N, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spacelens.add(xa, table, dataset_name="d", experiment_name="A", space_name="A", home=h)
        spacelens.add(xb, dataset_name="d", experiment_name="B", space_name="B", ids=list(ids), home=h)
        spacelens.add(xb[half], dataset_name="d", experiment_name="H", space_name="H", ids=list(ids[half]), home=h)
        spacelens.add(xe, dataset_name="d", experiment_name="E", space_name="E", ids=list(ids), home=h)
        spacelens.add(rng.normal(size=(40, D)).astype(np.float32), pd.DataFrame({"id": [f"o{i}" for i in range(40)]}),
                      dataset_name="other", experiment_name="O", space_name="O", home=h)
        spacelens.compare("A", "B", k=K, home=h)      # stored: the exact path
    yield {"home": h, "reg": open_registry(h), "xa": xa, "xb": xb, "xe": xe, "lab": lab, "half": half}
    mp.undo()


# -- independent references -------------------------------------------------------------------------

def brute_ap_at_r(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """AP@R of every item as a query among all the others (cosine; ties to the lower row), NaN
    for an item alone in its class: (1/R) sum over the first R ranks of precision at each hit."""
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    s = u.astype(np.float64) @ u.T.astype(np.float64)
    np.fill_diagonal(s, -np.inf)
    out = np.full(len(x), np.nan)
    for i in range(len(x)):
        r = int((labels == labels[i]).sum()) - 1
        if r == 0:
            continue
        order = np.argsort(-s[i], kind="stable")[:r]
        rel = labels[order] == labels[i]
        out[i] = float((np.cumsum(rel) / np.arange(1, r + 1))[rel].sum() / r)
    return out


def t_ci(v):
    v = np.asarray(v, dtype=np.float64)
    lo, hi = sps.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=v.std(ddof=1) / np.sqrt(len(v)))
    return max(0.0, lo), min(1.0, hi)


def some_rows(n: int, seed: int, among=None) -> np.ndarray:
    among = np.arange(N) if among is None else among
    return np.sort(np.random.default_rng(seed).choice(among, n, replace=False))


# -- agreement --------------------------------------------------------------------------------------

def test_agreement_of_the_shown_items_from_the_stored_comparison(world):
    rows = some_rows(120, 1)
    got = subset_figures(world["reg"], "A", "B", rows, k=K)
    ag = got["agreement"]
    want = brute_jaccard(world["xa"], world["xb"], K)
    assert got["n_items"] == ag["n_items"] == 120 and ag["source"] == "stored comparison" and not ag["sampled"]
    assert ag["mean"] == pytest.approx(want[rows].mean(), abs=1e-6)
    assert ag["ci95"] == pytest.approx(t_ci(want[rows]), abs=1e-6)
    assert ag["all_items"]["mean"] == pytest.approx(want.mean(), abs=1e-6)
    assert got["retrieval"] is None and "mean kNN Jaccard" in got["sentence"]
    assert f"{want[rows].mean():.3f}" in got["sentence"] and f"all items {want.mean():.3f}" in got["sentence"]


def test_agreement_without_a_stored_comparison_searches_the_shown_items(world):
    """A vs E was never compared: the sampled-Jaccard path; a subset no larger than the sample is
    measured whole (the same values as brute force), a larger one is sampled and says so."""
    reg = world["reg"]
    want = brute_jaccard(world["xa"], world["xe"], K)
    rows = some_rows(90, 2)
    got = subset_figures(reg, "A", "E", rows, k=K)
    ag = got["agreement"]
    assert ag["source"] != "stored comparison" and not ag["sampled"] and ag["n"] == 90
    assert ag["mean"] == pytest.approx(want[rows].mean(), abs=1e-6)
    assert ag["ci95"] == pytest.approx(t_ci(want[rows]), abs=1e-6)
    assert ag["all_items"]["mean"] == pytest.approx(want.mean(), abs=1e-6)     # 300 <= 2,000: every item
    # the all-items sample (here 20 of 300) holds ~6 of the 90, under half of a sample of 30:
    # 30 of the 90 are drawn and searched, each value that item's own Jaccard; the interval
    # shrinks with the population
    s = subset_jaccard(reg, "A", "E", rows, k=K, n_sample=30, n_all=20, seed=4)
    assert np.isin(s["all_rows"], rows).sum() < 15
    assert len(s["rows"]) == 30 and set(s["rows"]) <= set(rows)
    assert np.allclose(s["jaccard"], want[s["rows"]], atol=1e-6)
    assert np.allclose(s["all_jaccard"], want[s["all_rows"]], atol=1e-6)
    # a sample of all 300 items holds every shown one: they are read from it, no search, exact
    whole = subset_jaccard(reg, "A", "E", rows, k=K, n_sample=30, n_all=300, seed=4)
    assert np.array_equal(whole["rows"], rows) and np.allclose(whole["jaccard"], want[rows], atol=1e-6)
    # and a sample of 200 holds ~60 of the 90, over half of 30: those ~60 are the figure's items
    part = subset_jaccard(reg, "A", "E", rows, k=K, n_sample=30, n_all=200, seed=4)
    inside = np.intersect1d(part["all_rows"], rows)
    assert len(inside) >= 15 and np.array_equal(part["rows"], inside)
    assert np.allclose(part["jaccard"], want[inside], atol=1e-6)
    got = subset_figures(reg, "A", "E", rows, k=K, n_sample=30, n_all=20, seed=4)
    ag = got["agreement"]
    assert ag["sampled"] and ag["n"] == 30 and ag["n_items"] == 90 and "sampled" in ag["note"]
    lo, hi = ag["ci95"]
    v = want[s["rows"]]
    half = sps.t.ppf(0.975, 29) * v.std(ddof=1) / np.sqrt(30) * np.sqrt((90 - 30) / 89)
    assert (lo, hi) == pytest.approx((v.mean() - half, v.mean() + half), abs=1e-6)
    assert "30 sampled of 90 shown" in got["sentence"]
    # with a cache (the server's): the all-items sample is searched once for every filter, and the
    # figures are the same as without it
    cache = ScoreCache()
    for r in (rows, some_rows(60, 9)):
        cached = subset_figures(reg, "A", "E", r, k=K, n_sample=30, n_all=20, seed=4, cache=cache)["agreement"]
        plain = subset_figures(reg, "A", "E", r, k=K, n_sample=30, n_all=20, seed=4)["agreement"]
        assert cached == plain
    assert len(cache) == 1


# -- retrieval --------------------------------------------------------------------------------------

def test_retrieval_on_the_shown_queries_equals_brute_force(world):
    reg, lab = world["reg"], world["lab"]
    rows = some_rows(150, 3)
    got = subset_figures(reg, "A", "B", rows, k=K, label_field="label")
    r = got["retrieval"]
    pa, pb = brute_ap_at_r(world["xa"], lab), brute_ap_at_r(world["xb"], lab)
    ok = ~np.isnan(pa[rows])
    assert r["n_queries"] == ok.sum() and r["n_reference"] == N
    assert r["mean_a"] == pytest.approx(pa[rows][ok].mean(), abs=1e-9)
    assert r["mean_b"] == pytest.approx(pb[rows][ok].mean(), abs=1e-9)
    ref = paired_difference(pa[rows], pb[rows], interval="bootstrap", seed=0)
    assert r["difference"] == pytest.approx(ref["difference"], abs=1e-9)
    assert r["ci95"] == pytest.approx(ref["ci95"], abs=1e-9)
    assert "among all 300 reference items" in r["reference"] and r["sample"] is None
    assert got["sentence"].startswith("On the 150 shown items ")
    assert f"{r['n_queries']:,} queries" in got["sentence"]


def test_every_row_shown_gives_evaluate_versus_figures(world):
    reg = world["reg"]
    got = subset_figures(reg, "A", "B", np.arange(N), k=K, label_field="label")["retrieval"]
    vs = spacelens.evaluate_versus("A", "B", label_field="label", home=world["home"])["metrics"][MAP]
    for key in ("mean_a", "mean_b", "difference", "ci95"):
        assert got[key] == pytest.approx(vs[key], abs=1e-12), key
    assert got["n_queries"] == vs["n"]


def test_items_only_one_space_holds(world):
    """H holds every other item: the shown items it lacks are not counted, and queries are searched
    among the items both hold, as evaluate_versus does."""
    reg, lab, half = world["reg"], world["lab"], world["half"]
    rows = some_rows(100, 5)
    got = subset_figures(reg, "A", "H", rows, k=K, label_field="label")
    inside = np.intersect1d(rows, half)
    assert got["n_rows"] == 100 and got["n_items"] == len(inside)
    pos = np.searchsorted(half, inside)
    pa = brute_ap_at_r(world["xa"][half], lab[half])[pos]
    ph = brute_ap_at_r(world["xb"][half], lab[half])[pos]
    r = got["retrieval"]
    ok = ~np.isnan(pa)
    assert r["n_queries"] == ok.sum() and r["n_reference"] == len(half)
    assert r["mean_a"] == pytest.approx(pa[ok].mean(), abs=1e-9)
    assert r["mean_b"] == pytest.approx(ph[ok].mean(), abs=1e-9)
    want = brute_jaccard(world["xa"][half], world["xb"][half], K)[pos]
    assert got["agreement"]["mean"] == pytest.approx(want.mean(), abs=1e-6)
    whole = subset_figures(reg, "A", "H", np.arange(N), label_field="label")["retrieval"]
    vs = spacelens.evaluate_versus("A", "H", label_field="label", home=world["home"])["metrics"][MAP]
    assert (whole["difference"], whole["ci95"]) == (pytest.approx(vs["difference"]), pytest.approx(vs["ci95"]))


def test_sampled_retrieval_counts_the_sampled_queries_shown(world):
    from spacelens.evaluate.versus import per_query_scores

    reg, lab = world["reg"], world["lab"]
    rows = some_rows(200, 6)
    got = subset_figures(reg, "A", "B", rows, k=K, label_field="label", sample=80)
    r = got["retrieval"]
    drawn = per_query_scores(reg, "A", label_field="label", sample=80)["rows"]
    shown = np.intersect1d(drawn, rows)
    pa, pb = brute_ap_at_r(world["xa"], lab), brute_ap_at_r(world["xb"], lab)
    assert r["sample"]["n"] == 80 and r["n_queries"] == len(shown) >= MIN_UNITS
    assert r["mean_a"] == pytest.approx(pa[shown].mean(), abs=1e-9)
    assert r["mean_b"] == pytest.approx(pb[shown].mean(), abs=1e-9)
    assert f"{len(shown)} of the 80 sampled queries" in got["sentence"]


def test_a_narrow_filter_draws_its_sample_from_the_shown_queries(world):
    """The answer's sample of 30 holds few of 100 shown queries: 30 are drawn among the shown
    ones instead (the same draw in A and B), each searched among all 300 references; their
    figures are brute force's. A filter no larger than the sample gets every shown query."""
    from spacelens.evaluate.versus import per_query_scores

    reg, lab = world["reg"], world["lab"]
    pa, pb = brute_ap_at_r(world["xa"], lab), brute_ap_at_r(world["xb"], lab)
    rows = np.arange(100)     # the answer's 30 random queries of 300 hold ~10 of these
    answer_draw = per_query_scores(reg, "A", label_field="label", sample=30)["rows"]
    assert np.isin(answer_draw, rows).sum() < 15
    got = subset_figures(reg, "A", "B", rows, k=K, label_field="label", sample=30)
    r = got["retrieval"]
    drawn = per_query_scores(reg, "A", label_field="label", sample=30, queries=rows)["rows"]
    assert np.array_equal(drawn, per_query_scores(reg, "B", label_field="label", sample=30, queries=rows)["rows"])
    assert len(drawn) == 30 and np.isin(drawn, rows).all()
    assert r["sample"]["from_shown"] and r["sample"]["n"] == 30 and r["n_queries"] == 30
    assert r["sample"]["population"] == int((~np.isnan(pa[rows])).sum())
    assert r["mean_a"] == pytest.approx(pa[drawn].mean(), abs=1e-9)
    assert r["mean_b"] == pytest.approx(pb[drawn].mean(), abs=1e-9)
    ref = paired_difference(pa[drawn], pb[drawn], interval="bootstrap", seed=0)
    assert r["ci95"] == pytest.approx(ref["ci95"], abs=1e-9)
    assert f"30 queries sampled of the {r['sample']['population']} shown" in got["sentence"]
    # no larger than the sample: every shown query, exactly
    small = np.arange(40, 65)
    r = subset_figures(reg, "A", "B", small, k=K, label_field="label", sample=30)["retrieval"]
    ok = ~np.isnan(pa[small])
    assert r["sample"]["from_shown"] and r["n_queries"] == ok.sum()
    assert r["mean_b"] - r["mean_a"] == pytest.approx((pb[small][ok] - pa[small][ok]).mean(), abs=1e-9)
    # a wide filter keeps the answer's own sample (no new search)
    wide = subset_figures(reg, "A", "B", np.arange(N), k=K, label_field="label", sample=30)["retrieval"]
    assert not wide["sample"]["from_shown"] and wide["n_queries"] == 30


# -- awkward subsets and bad input ------------------------------------------------------------------

def test_no_item_shown(world):
    got = subset_figures(world["reg"], "A", "B", [], k=K, label_field="label")
    assert got["n_items"] == 0 and got["retrieval"] is None and got["agreement"]["mean"] is None
    assert got["sentence"].startswith("None of the shown items")
    got = subset_figures(world["reg"], "A", "H", [1, 3, 5], k=K, label_field="label")   # only in A
    assert got["n_rows"] == 3 and got["n_items"] == 0 and got["sentence"].startswith("None of the shown items")


def test_a_handful_of_items_gets_no_interval(world):
    rows = [0, 1, 2, 7, 11]
    got = subset_figures(world["reg"], "A", "B", rows, k=K, label_field="label")
    r, ag = got["retrieval"], got["agreement"]
    assert r["too_few"] and r["ci95"] is None and r["winner"] is None and ag["too_few"] and ag["ci95"] is None
    pa = brute_ap_at_r(world["xa"], world["lab"])
    assert r["mean_a"] == pytest.approx(np.nanmean(pa[rows]))
    assert "too few for an interval" in got["sentence"] and "95% CI" not in got["sentence"]


def test_hostile_labels(tmp_path):
    """Labels that are markup, right-to-left text and 5,000 characters: the figures are brute force's."""
    import _hostile

    h = tmp_path / "home"
    built = _hostile.build(h, derived=False)
    reg = open_registry(h)
    labels = built["table"][_hostile.CLASS_COL].to_numpy()
    rows = np.arange(0, _hostile.N, 3)
    got = subset_figures(reg, _hostile.A, _hostile.B, rows, k=_hostile.K, label_field=_hostile.CLASS_COL)
    xa, xb = reg.load_vectors(reg.space(_hostile.A)), reg.load_vectors(reg.space(_hostile.B))
    pa, pb = brute_ap_at_r(xa, labels), brute_ap_at_r(xb, labels)
    assert got["retrieval"]["mean_a"] == pytest.approx(pa[rows].mean(), abs=1e-9)
    assert got["retrieval"]["difference"] == pytest.approx((pb[rows] - pa[rows]).mean(), abs=1e-9)
    assert got["agreement"]["mean"] == pytest.approx(brute_jaccard(xa, xb, _hostile.K)[rows].mean(), abs=1e-6)
    assert "<" not in got["sentence"]     # the sentence names A and B, never a label


def test_bad_input_is_one_clear_error(world):
    reg = world["reg"]
    with pytest.raises(SpacelensError, match="Row 300 is not in dataset 'd'"):
        subset_figures(reg, "A", "B", [0, 300])
    with pytest.raises(SpacelensError, match="Row -1"):
        subset_figures(reg, "A", "B", [-1, 3])
    with pytest.raises(SpacelensError, match="different datasets"):
        subset_figures(reg, "A", "O", [0])
    with pytest.raises(NotFoundError):
        subset_figures(reg, "A", "nope", [0])
    with pytest.raises(SpacelensError, match="whole dataset row numbers"):
        subset_figures(reg, "A", "B", [0.5, 2.0])


def test_per_query_scores_are_computed_once_per_space(world, monkeypatch):
    import importlib

    versus = importlib.import_module("spacelens.evaluate.versus")
    calls = []
    real = versus.per_query_scores
    monkeypatch.setattr(versus, "per_query_scores", lambda *a, **kw: calls.append(a[1]) or real(*a, **kw))
    cache = ScoreCache(4)
    first = subset_figures(world["reg"], "A", "B", some_rows(60, 7), label_field="label", cache=cache)
    again = subset_figures(world["reg"], "A", "B", some_rows(60, 7), label_field="label", cache=cache)
    other = subset_figures(world["reg"], "A", "B", some_rows(80, 8), label_field="label", cache=cache)
    assert sorted(calls) == ["A", "B"] and len(cache) == 2
    assert first == again and other["n_items"] == 80


def test_a_comparison_of_approximate_neighbours_says_so(world):
    """A stored comparison from approximate graphs: the sentence names their recall."""
    from types import SimpleNamespace

    want = brute_jaccard(world["xa"], world["xb"], K)
    comp = SimpleNamespace(rows=np.arange(N), jaccard=want.astype(np.float32), mean=float(want.mean()),
                           info={"recall": {"a": 0.964, "b": 0.951, "k": K}})
    got = subset_figures(world["reg"], "A", "B", np.arange(50), k=K, comparison=comp)
    assert got["agreement"]["recall"]["a"] == 0.964
    assert "approximate neighbours, recall@10 0.96 (A), 0.95 (B)" in got["sentence"]
