"""Invariants every measure and verb must keep, checked on small generated spaces (hypothesis).

- identity: a space against itself (or an identical copy) agrees perfectly and wins nothing;
- order: neither the dataset's row order nor the order embeddings are given in (npz with ids)
  changes any figure, per item (by id) or summary;
- transformations: cosine figures survive a rotation and per-row positive scaling, l2 ones a
  rotation and a translation;
- subsets: two spaces over different items give what the spaces restricted to the shared items
  give;
- awkward inputs (duplicate rows, zero rows, one class, a constant space, too few items) give
  a clear answer or a SpacelensError, never a numpy/faiss/sklearn traceback or a NaN shown as
  a number.

Each measure is one :class:`Measure` line in ``MEASURES`` (the verb that computes it and how
to read its figure off the result); the tests run each verb once per example and check every
measure of that verb. Data are drawn from seeded normals, and an example is only used where
the measures that read neighbour order have no near-tie there (``_spaces.boundary_clear``,
``ranking_clear``): equal figures are then a fair demand of a transformed copy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from _spaces import (
    Case,
    Data,
    add,
    boundary_clear,
    distances,
    fresh_home,
    make_data,
    map_neighbours,
    quiet,
    random_rotation,
    ranking_clear,
    same_label,
)
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

import spacelens
from spacelens.api import open_registry
from spacelens.errors import SpacelensError
from spacelens.evaluate.versus import VERSUS_METRICS, per_query_scores

LABEL = "label"
TOL = 1e-6          # float tolerance on figures computed from the same neighbours


# -- the catalogue of measures ---------------------------------------------------------------

@dataclass(frozen=True)
class Measure:
    """One figure: ``verb`` computes it, ``value`` reads it off the verb's result (None: not
    defined there), ``per_item`` its value per item id (when the verb gives one), ``identity``
    what it must be for a space against itself (pair verbs)."""

    name: str
    verb: str
    value: Callable[[Any], Any]
    per_item: Callable[[Any], dict] | None = None
    identity: float | None = None
    known: dict = field(default_factory=dict)   # invariant -> why it does not hold yet (strict xfail)


def _by_id(ids, values) -> dict:
    return {str(i): float(v) for i, v in zip(ids, values)}


def _per_query(metric: str):
    return lambda r: _by_id(r["query_ids"], r["per_query"]["scores"][metric])


_RETRIEVAL = ("precision_at_1", "r_precision", "mean_average_precision_at_r", "mean_average_precision",
              "mean_reciprocal_rank")

MEASURES: list[Measure] = [
    # compare: kNN agreement of two spaces
    Measure("jaccard", "compare", lambda c: c.mean, lambda c: _by_id(c.ids, c.jaccard), identity=1.0),
    Measure("overlap@k (mutual kNN)", "compare", lambda c: c.info["overlap"],
            lambda c: _by_id(c.ids, c.overlap_k[c.k]), identity=1.0),
    Measure("cknna", "compare", lambda c: c.info["cknna"], identity=1.0),
    Measure("linear cka", "compare", lambda c: c.info["cka"], identity=1.0),
    Measure("unbiased cka", "compare", lambda c: c.info["cka_unbiased"], identity=1.0),
    # evolution: the same Jaccard, epoch to epoch
    Measure("evolution jaccard_prev", "evolution", lambda e: e.epochs[1].jaccard_prev, identity=1.0),
    Measure("evolution jaccard_last", "evolution", lambda e: e.epochs[0].jaccard_last, identity=1.0),
    # evaluate: retrieval and clustering against the labels
    *(Measure(m, "evaluate", lambda r, m=m: r["result"][m],
              _per_query(m) if m in VERSUS_METRICS else None) for m in _RETRIEVAL),
    *(Measure(m, "evaluate", lambda r, m=m: r["result"][m]) for m in ("NMI", "AMI")),
    *(Measure(f"{m} (cluster column)", "evaluate", lambda r, m=m: r["given_clusters"][m]) for m in ("NMI", "AMI")),
    # evaluate --vs: paired difference B - A per retrieval metric
    *(Measure(f"versus {m} difference", "versus", lambda v, m=m: v["metrics"][m]["difference"], identity=0.0)
      for m in VERSUS_METRICS),
    *(Measure(f"versus {m} mean_a", "versus", lambda v, m=m: v["metrics"][m]["mean_a"]) for m in VERSUS_METRICS),
    *(Measure(f"versus {m} mean_b", "versus", lambda v, m=m: v["metrics"][m]["mean_b"]) for m in VERSUS_METRICS),
    # project: faithfulness of a (PCA) map
    Measure("kNN preservation", "project", lambda p: p.faithfulness["knn_preservation"],
            lambda p: _by_id(p.ids, p.per_item)),
    Measure("trustworthiness", "project", lambda p: p.faithfulness["trustworthiness"],
            lambda p: _by_id(p.ids, p.trust_per_item)),
]

PAIR_VERBS = ("compare", "evolution", "versus")
VERBS = ("compare", "evolution", "evaluate", "versus", "project")


def measures_of(verb: str) -> list[Measure]:
    return [m for m in MEASURES if m.verb == verb]


# -- running the verbs -----------------------------------------------------------------------

def build(root, data: Data, a: np.ndarray, b: np.ndarray, verb: str, *, order=None, given_order=None,
          npz: bool = False, subset_a=None, subset_b=None):
    """A fresh registry: the dataset (rows in ``order``), space "a" and "b" (embeddings given in
    ``given_order``, by id, through an .npz file when ``npz``; ``subset_*``: the item positions
    a space holds), and for evolution the two spaces logged as steps 0 and 1."""
    home = fresh_home(root)
    n = len(data.ids)
    given_order = np.arange(n) if given_order is None else np.asarray(given_order)
    with quiet():
        table = data.table(order)
        for name, x, sub in (("a", a, subset_a), ("b", b, subset_b)):
            pos = given_order if sub is None else np.asarray([p for p in given_order if p in set(sub)])
            add(home, name, x[pos], table, ids=data.ids[pos], via_npz=(home / "files") if npz else None)
            table = None
        if verb == "evolution":
            for step, x in enumerate((a, b)):
                spacelens.log_space(f"ev{step}", x[given_order], dataset="d", experiment="ev",
                                    ids=list(data.ids[given_order]), step=step, split="val", home=home)
    return home


def run(verb: str, home, metric: str, k: int, a: str = "a", b: str = "b"):
    """The verb's result (for evaluate: with the per-query scores and their item ids)."""
    with quiet():
        if verb == "compare":
            return spacelens.compare(a, b, k=k, metric_a=metric, metric_b=metric, engine="exact", home=home)
        if verb == "evolution":
            return spacelens.evolution("ev", split="val", k=k, metric=metric, home=home)
        if verb == "evaluate":
            res = spacelens.evaluate(a, label_field=LABEL, metric=metric, engine="exact", home=home)
            reg = open_registry(home)
            pq = per_query_scores(reg, a, label_field=LABEL, metric=metric, engine="exact")
            given = spacelens.evaluate(a, label_field=LABEL, metric=metric, engine="exact", cluster_field="cluster",
                                       home=home)
            return {"result": res, "per_query": pq, "query_ids": reg.load_ids(reg.space(a).dataset)[pq["rows"]],
                    "given_clusters": given}
        if verb == "versus":
            return spacelens.evaluate_versus(a, b, label_field=LABEL, metric=metric, engine="exact", home=home)
        if verb == "project":
            return spacelens.project(a, method="pca", metric=metric, k=k, home=home)
    raise AssertionError(verb)


def _num(x) -> float | None:
    return None if x is None else float(x)


def differences(verb: str, got, want, invariant: str, only: str | None = None) -> list[str]:
    """Every measure of ``verb`` whose figure (summary or per item, by id) differs: those that
    keep ``invariant`` (or just the measure named ``only``)."""
    out = []
    for m in measures_of(verb):
        if (m.name != only) if only is not None else invariant in m.known:
            continue
        g, w = _num(m.value(got)), _num(m.value(want))
        if (g is None) != (w is None) or (g is not None and not math.isclose(g, w, rel_tol=TOL, abs_tol=TOL)
                                          and not (math.isnan(g) and math.isnan(w))):
            out.append(f"{m.name}: {g!r} != {w!r}")
        if m.per_item is not None:
            gi, wi = m.per_item(got), m.per_item(want)
            if set(gi) != set(wi):
                out.append(f"{m.name} per item: different items")
                continue
            bad = [i for i in wi if not (math.isclose(gi[i], wi[i], abs_tol=TOL)
                                         or (math.isnan(gi[i]) and math.isnan(wi[i])))]
            if bad:
                out.append(f"{m.name} per item differs for {len(bad)} items, e.g. {bad[0]}: "
                           f"{gi[bad[0]]} != {wi[bad[0]]}")
    return out


def stable(verb: str, data: Data, metric: str, result=None) -> bool:
    """Whether the verb's neighbour-reading measures have no near-tie on ``data`` (see module doc)."""
    da, db = distances(data.a, metric), distances(data.b, metric)
    if verb in ("compare", "evolution"):
        return boundary_clear(da, data.k) and boundary_clear(db, data.k)
    if verb in ("evaluate", "versus"):
        upto = max(np.unique(data.labels, return_counts=True)[1]) - 1     # k = max_bin_count
        rel = same_label(data.labels)
        return ranking_clear(da, rel, upto) and (verb == "evaluate" or ranking_clear(db, rel, upto))
    if verb == "project":   # the map's k-neighbour sets, the space's ranks of map neighbours, the PCA plane
        x = np.asarray(data.a, np.float64)
        if metric == "cosine":
            x = x / np.linalg.norm(x, axis=1, keepdims=True)
        ev = np.linalg.svd(x - x.mean(0), compute_uv=False) ** 2
        plane = len(ev) < 3 or (ev[1] - ev[2]) > 1e-2 * ev[0]
        coords = np.asarray(result.coords, np.float64)
        return (plane and boundary_clear(distances(coords, "l2"), data.k, eps=1e-4)
                and ranking_clear(da, map_neighbours(coords, data.k), len(da) - 1))
    raise AssertionError(verb)


def verbs_for(invariant: str, verbs=VERBS):
    """Test parameters ``(verb, only)``: each verb for its measures that keep ``invariant``, and
    each measure known not to keep it alone, as a strict xfail (it flips when fixed)."""
    out = []
    for verb in verbs:
        out.append(pytest.param(verb, None, id=verb))
        out += [pytest.param(verb, m.name, id=f"{verb}-{m.name}",
                             marks=pytest.mark.xfail(strict=True, reason=m.known[invariant]))
                for m in measures_of(verb) if invariant in m.known]
    return out


# -- generated examples ----------------------------------------------------------------------

cases = st.builds(Case, seed=st.integers(0, 2**31 - 1), n=st.integers(20, 80), d=st.integers(2, 16),
                  k=st.integers(3, 8), n_classes=st.integers(2, 5))

# no shrinking: examples are derandomized (a failure names its example), and it keeps the module fast
SETTINGS = dict(deadline=None, derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.filter_too_much])


@pytest.mark.parametrize("verb", PAIR_VERBS)
@given(case=cases)
@settings(max_examples=10, **SETTINGS)
def test_a_space_against_itself_is_the_identity(verb, case, tmp_path):
    """A vs A (one name twice, and an identical copy): every agreement 1 (every item 1), every
    difference 0 with p near 1, and the verdict calls no winner."""
    data = make_data(case)
    home = build(tmp_path, data, data.a, data.a.copy(), verb)
    for b in (["a", "b"] if verb != "evolution" else ["b"]):
        res = run(verb, home, "cosine", case.k, "a", b)
        for m in measures_of(verb):
            if m.identity is not None:
                assert m.value(res) == pytest.approx(m.identity, abs=1e-6), (m.name, b)
            if m.per_item is not None and m.identity is not None:
                assert set(m.per_item(res).values()) == {m.identity}, (m.name, b)
        if verb == "versus":
            for metric in VERSUS_METRICS:
                assert res["metrics"][metric]["p_value"] >= 0.9
                assert res["metrics"][metric]["ci95"] == [0.0, 0.0]
            assert res["verdict"].startswith("no clear winner"), res["verdict"]


@pytest.mark.parametrize("verb, only", verbs_for("order"))
@given(case=cases, data_seed=st.integers(0, 2**31 - 1))
@settings(max_examples=10, **SETTINGS)
def test_figures_do_not_depend_on_row_or_id_order(verb, only, case, data_seed, tmp_path):
    """The dataset's rows permuted, and the embeddings given (npz with ids) in a third order:
    the same figures, per item by id and in summary."""
    data = make_data(case)
    want = run(verb, build(tmp_path, data, data.a, data.b, verb), "cosine", case.k)
    assume(stable(verb, data, "cosine", want))
    rng = np.random.default_rng(data_seed)
    n = case.n
    home = build(tmp_path, data, data.a, data.b, verb, order=rng.permutation(n), given_order=rng.permutation(n),
                 npz=True)
    got = run(verb, home, "cosine", case.k)
    assert not differences(verb, got, want, "order", only)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
@pytest.mark.parametrize("verb, only", verbs_for("symmetry"))
@given(case=cases, data_seed=st.integers(0, 2**31 - 1))
@settings(max_examples=6, **SETTINGS)
def test_figures_survive_the_metrics_symmetries(verb, only, metric, case, data_seed, tmp_path):
    """Cosine: space A rotated and each row scaled by a positive factor; l2: A rotated and
    shifted. Every figure of A (alone and against B) is unchanged."""
    data = make_data(case)
    want = run(verb, build(tmp_path, data, data.a, data.b, verb), metric, case.k)
    assume(stable(verb, data, metric, want))
    rng = np.random.default_rng(data_seed)
    moved = data.a.astype(np.float64) @ random_rotation(case.d, rng)
    if metric == "cosine":
        moved *= np.exp(rng.uniform(-1.5, 1.5, size=(case.n, 1)))
    else:
        moved += rng.normal(size=case.d) * 2
    got = run(verb, build(tmp_path, data, moved.astype(np.float32), data.b, verb), metric, case.k)
    assert not differences(verb, got, want, "symmetry", only)


def _subsets(case: Case, seed: int):
    rng = np.random.default_rng(seed)
    n = case.n
    sa = np.sort(rng.choice(n, size=n - rng.integers(1, n // 4 + 1), replace=False))
    sb = np.sort(rng.choice(n, size=n - rng.integers(1, n // 4 + 1), replace=False))
    return sa, sb, np.intersect1d(sa, sb)


def _subset_check(verb, case, data_seed, tmp_path):
    data = make_data(case)
    sa, sb, shared = _subsets(case, data_seed)
    assume(len(shared) > case.k + 1 and len(np.unique(data.labels[shared])) > 1)
    got = run(verb, build(tmp_path, data, data.a, data.b, verb, subset_a=sa, subset_b=sb), "cosine", case.k)
    want = run(verb, build(tmp_path, data, data.a, data.b, verb, subset_a=shared, subset_b=shared), "cosine",
               case.k)
    assert not differences(verb, got, want, "subsets")


@given(case=cases, data_seed=st.integers(0, 2**31 - 1))
@settings(max_examples=10, **SETTINGS)
def test_compare_over_different_subsets_is_compare_over_the_shared_items(case, data_seed, tmp_path):
    """Spaces over different items are compared on the shared items, with neighbours among
    them: exactly what the spaces restricted to those items give (Jaccard, overlap, CKNNA, CKA)."""
    _subset_check("compare", case, data_seed, tmp_path)


@given(case=cases, data_seed=st.integers(0, 2**31 - 1))
@settings(max_examples=10, **SETTINGS)
def test_versus_over_different_subsets_is_versus_over_the_shared_items(case, data_seed, tmp_path):
    """evaluate A --vs B over different items: both scored on the shared queries among the
    shared references, as the spaces restricted to the shared items are."""
    _subset_check("versus", case, data_seed, tmp_path)


# -- awkward inputs ----------------------------------------------------------------------------

def _walk_numbers(x, where="result"):
    """Every float in a JSON-like result, with where it is."""
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _walk_numbers(v, f"{where}.{k}")
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            yield from _walk_numbers(v, f"{where}[{i}]")
    elif isinstance(x, (float, np.floating)):
        yield where, float(x)


def _shown(verb: str, res) -> Any:
    """What a user is given to read: the JSON-ready form of the result."""
    if verb == "compare":
        return res.to_dict(per_item=True)
    if verb == "evolution":
        return res.to_dict()
    if verb == "evaluate":
        return dict(res["result"])
    if verb == "project":
        return {"faithfulness": res.faithfulness}
    return res


def clear_answer(verb: str, home, metric: str, k: int, a="a", b="b") -> str:
    """Run the verb: a SpacelensError, or figures that are numbers or None (never NaN/inf)."""
    try:
        res = run(verb, home, metric, k, a, b)
    except SpacelensError as e:
        return f"error: {e}"
    bad = [w for w, v in _walk_numbers(_shown(verb, res)) if not math.isfinite(v)]
    bad += [m.name for m in measures_of(verb) if m.value(res) is not None and not math.isfinite(m.value(res))]
    assert not bad, f"{verb}: NaN/inf shown as a number at {bad[:5]}"
    return "ok"


def _awkward(kind: str, seed: int = 0, n: int = 40, d: int = 6):
    data = make_data(Case(seed, n, d, 5, 3))
    a = data.a.copy()
    if kind == "duplicate rows":
        a[1::4] = a[0::4][: len(a[1::4])]
    elif kind == "zero rows":
        a[::5] = 0
    elif kind == "one class":
        data.labels[:] = "c0"
    elif kind == "constant space":
        a[:] = a[0]
    return data, a


AWKWARD = ["duplicate rows", "zero rows", "one class", "constant space"]


@pytest.mark.parametrize("metric", ["cosine", "l2"])
@pytest.mark.parametrize("kind", AWKWARD)
@pytest.mark.parametrize("verb", VERBS)
def test_awkward_spaces_give_a_clear_answer(verb, kind, metric, tmp_path):
    data, a = _awkward(kind)
    home = build(tmp_path, data, a, data.b, verb)
    clear_answer(verb, home, metric, 5)


@pytest.mark.parametrize("kind", AWKWARD)
@pytest.mark.parametrize("verb", PAIR_VERBS)
def test_awkward_space_against_itself_is_still_the_identity(verb, kind, tmp_path):
    """Ties (duplicates, zero rows, a constant space) are broken the same way in an identical
    copy: A vs A stays the identity where the measure is defined."""
    data, a = _awkward(kind)
    home = build(tmp_path, data, a, a.copy(), verb)
    res = run(verb, home, "cosine", 5)
    for m in measures_of(verb):
        v = m.value(res)
        if m.identity is not None and v is not None and not math.isnan(v):
            assert v == pytest.approx(m.identity, abs=1e-6), m.name


def test_one_class_scores_every_neighbour_correct(tmp_path):
    """One label: every neighbour is right (all retrieval metrics 1), and the one cluster is the
    one class (NMI = AMI = 1)."""
    data, a = _awkward("one class")
    home = build(tmp_path, data, a, data.b, "evaluate")
    res = run("evaluate", home, "cosine", 5)["result"]
    for m in _RETRIEVAL + ("NMI", "AMI"):
        assert res[m] == pytest.approx(1.0), m


@pytest.mark.parametrize("verb", ["compare", "evolution", "project"])
def test_too_few_items_for_k_is_a_clear_error(verb, tmp_path):
    data = make_data(Case(1, 6, 4, 3, 2))
    home = build(tmp_path, data, data.a, data.b, verb)
    with pytest.raises(SpacelensError):
        run(verb, home, "cosine", 6)


def test_cknna_of_l2_spaces_does_not_move_with_the_space(tmp_path):
    """An l2 space's distances do not see the origin, so neither may its CKNNA: shifting space A
    by a constant vector keeps CKNNA (it used inner products of the raw rows: 0.19 -> 0.07 on
    this example). Reference: the masked unbiased HSIC computed by brute force on centred rows."""
    data = make_data(Case(0, 20, 2, 3, 2))
    k = 3
    base = run("compare", build(tmp_path, data, data.a, data.b, "compare"), "l2", k)
    shifted = run("compare", build(tmp_path, data, data.a + np.float32(5.0), data.b, "compare"), "l2", k)
    assert shifted.info["cknna"] == pytest.approx(base.info["cknna"], abs=1e-6)

    def masked(x):                       # kernel of the centred rows on each item's k-neighbour mask
        x = np.asarray(x, np.float64)
        dist = distances(x, "l2")
        nn = np.argsort(dist, axis=1)[:, :k]
        mask = np.zeros(dist.shape, bool)
        np.put_along_axis(mask, nn, True, axis=1)
        c = x - x.mean(0)
        return c @ c.T, mask

    def hsic_u(kk, ll):                  # Song et al. (2012) eq. 5, dense
        m = len(kk)
        kk, ll = kk - np.diag(np.diag(kk)), ll - np.diag(np.diag(ll))
        one = np.ones(m)
        return (np.trace(kk @ ll) + (one @ kk @ one) * (one @ ll @ one) / ((m - 1) * (m - 2))
                - 2 / (m - 2) * one @ kk @ ll @ one) / (m * (m - 3))

    (ka, ma), (kb, mb) = masked(data.a), masked(data.b)
    both = ma & mb
    ref = hsic_u(ka * both, kb * both) / np.sqrt(hsic_u(ka * ma, ka * ma) * hsic_u(kb * mb, kb * mb))
    assert base.info["cknna"] == pytest.approx(ref, abs=1e-6)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_undefined_agreement_is_none_not_nan(metric, tmp_path):
    """CKA and CKNNA of a space without variance are undefined: None (shown "-" / null), never
    a NaN in the result; the similarity matrix keeps NaN in its array and null in its JSON."""
    data, a = _awkward("constant space")
    home = build(tmp_path, data, a, data.b, "compare")
    with quiet():
        res = spacelens.compare("a", "b", k=5, metric_a=metric, metric_b=metric, engine="exact", home=home)
        mat = spacelens.compare_all("d", k=5, metric=metric, home=home)
    assert res.info["cka"] is None and res.info["cka_unbiased"] is None
    assert res.info["cknna"] is None or math.isfinite(res.info["cknna"])
    assert math.isnan(mat.cka[0, 1]) and mat.to_dict()["cka"][0][1] is None
