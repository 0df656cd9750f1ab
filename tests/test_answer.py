"""The answer first (issue 24): ``spacelens.answer`` states which space retrieves better, how alike
the neighbourhoods are and where they differ most, with the very numbers of ``evaluate_versus`` and
``compare``; the seed baseline is found automatically (same experiment parameters but the seed);
``compare``, ``evaluate --vs`` and ``answer`` print the answer first."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import spacelens
from spacelens.answer import is_reseed, propose_baseline, reseeded_runs
from spacelens.catalogue import PRIMARY_METRIC
from spacelens.registry import Registry

A, B, C, DECOY = "triplet.e3.val", "arcface.e3.val", "triplet-s1.e3.val", "triplet-lr.e3.val"
BASE = {"lr": 0.001, "loss": {"name": "triplet", "margin": 0.1}, "seed": 0, "epochs": 3}


def _world(home, tmp_path, *, reseed: bool = True):
    from conftest import make_labeled

    data = make_labeled(tmp_path, n=300, n_classes=5, seed=3)
    rng = np.random.default_rng(3)
    a = data.vectors
    b = a + 1.5 * rng.normal(size=a.shape)
    b[data.labels == 1] += 3 * rng.normal(size=(int((data.labels == 1).sum()), a.shape[1]))  # class 1 blurs in B
    a2 = a + 0.4 * rng.normal(size=a.shape)
    kw = dict(dataset_name="items", step=3, split="val", home=home)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spacelens.add(a, data.csv, experiment_name="triplet", space_name=A, params=BASE, model_name="net", **kw)
        spacelens.add(b.astype(np.float32), experiment_name="arcface", space_name=B, model_name="net",
                      params={**BASE, "loss": {"name": "arcface", "margin": 0.5}}, **kw)
        if reseed:
            spacelens.add(a2.astype(np.float32), experiment_name="triplet-s1", space_name=C, model_name="net",
                          params={**BASE, "seed": 1}, **kw)
            # the reseeded experiment at another epoch: not a baseline of epoch 3
            spacelens.add(a2[::-1].copy().astype(np.float32), experiment_name="triplet-s1", space_name="triplet-s1.e2.val",
                          model_name="net", params={**BASE, "seed": 1}, **{**kw, "step": 2})
        # a decoy: another seed, but also another learning rate
        spacelens.add((a + 0.4 * rng.normal(size=a.shape)).astype(np.float32), experiment_name="triplet-lr",
                      space_name=DECOY, model_name="net", params={**BASE, "seed": 2, "lr": 0.01}, **kw)
    return data


# -- the automatic seed baseline ------------------------------------------------------------------

def test_the_reseeded_run_is_proposed_and_the_decoy_is_not(home, tmp_path):
    _world(home, tmp_path)
    reg = Registry(home)
    assert reseeded_runs(reg, A) == [C]          # not the other epoch, not the decoy (lr differs), not B
    assert propose_baseline(reg, A) == C
    assert propose_baseline(reg, C) == A          # the relation is symmetric
    assert propose_baseline(reg, DECOY) is None   # its recipe differs from every other one
    assert propose_baseline(reg, B) is None       # another loss: not a reseed of anything
    assert propose_baseline(reg, A, exclude=(C,)) is None


def test_no_reseeded_run_gives_none(home, tmp_path):
    _world(home, tmp_path, reseed=False)
    reg = Registry(home)
    assert propose_baseline(reg, A) is None
    ans = spacelens.answer(A, B, label_field="label", home=home)
    assert ans["baseline"] is None and ans["baseline_source"] is None
    assert "baseline" not in ans["sentences"][0]["figures"] and "C (" not in ans["text"]


def test_is_reseed_hand_examples():
    class E:
        def __init__(self, name, params, model="m", train=None):
            self.name, self.params, self.model_name, self.train_dataset = name, params, model, train

    base = E("a", {"opt": {"lr": 1}, "train": {"seed": 1}})
    assert is_reseed(base, E("b", {"opt": {"lr": 1}, "train": {"seed": 2}}))       # nested seed
    assert not is_reseed(base, E("b", {"opt": {"lr": 2}, "train": {"seed": 2}}))   # lr differs too
    assert not is_reseed(base, E("b", {"opt": {"lr": 1}, "train": {"seed": 1}}))   # same seed: a rerun
    assert not is_reseed(base, E("b", {"opt": {"lr": 1}, "train": {"seed": 2}}, model="other"))
    assert not is_reseed(E("a", {}), E("b", {}))                                   # no seed recorded
    assert not is_reseed(base, E("b", {"opt": {"lr": 1}, "random_state": 2}))      # seed kept elsewhere


# -- the numbers are those of evaluate_versus and compare ------------------------------------------

def test_answer_numbers_are_the_verbs_numbers(home, tmp_path):
    data = _world(home, tmp_path)
    ans = spacelens.answer(A, B, label_field="label", home=home)
    assert (ans["baseline"], ans["baseline_source"], ans["label_source"]) == (C, "proposed", "given")
    assert [s["key"] for s in ans["sentences"]] == ["retrieval", "agreement", "where"]

    vs = spacelens.evaluate_versus(A, B, label_field="label", baseline=C, home=home)
    r = ans["sentences"][0]["figures"]
    m = vs["metrics"][PRIMARY_METRIC]
    assert (r["mean_a"], r["mean_b"], r["difference"], r["ci95"], r["p_value"], r["n_queries"]) == (
        m["mean_a"], m["mean_b"], m["difference"], m["ci95"], m["p_value"], m["n"])
    bm = vs["baseline"]["metrics"][PRIMARY_METRIC]
    assert (r["baseline"]["difference"], r["baseline"]["ci95"]) == (bm["difference"], bm["ci95"])
    assert r["beyond_seed_noise"] == vs["baseline"]["beyond"][PRIMARY_METRIC]
    assert r["winner"] == "A"            # B blurs class 1 and adds noise: A retrieves better
    assert m["ci95"][1] < 0

    cmp = spacelens.compare(A, B, k=10, baseline=C, home=home)
    g = ans["sentences"][1]["figures"]
    assert (g["k"], g["mean_jaccard"], g["chance"], g["n_items"]) == (10, cmp.mean, cmp.info["chance"], 300)
    bd = cmp.info["baseline_difference"]["10"]["jaccard"]
    assert (g["baseline"]["mean_jaccard"], g["baseline"]["difference"], g["baseline"]["ci95"]) == (
        cmp.baseline.mean, bd["difference"], bd["ci95"])
    # chance, independently: the mean Jaccard of two random 10-subsets of the 299 other items
    rng = np.random.default_rng(0)
    shared = np.array([len(set(rng.choice(299, 10, replace=False)) & set(rng.choice(299, 10, replace=False)))
                       for _ in range(20000)])
    assert g["chance"] == pytest.approx(np.mean(shared / (20 - shared)), abs=0.001)

    # where: the classes whose MAP@R changed most, checked against two plain evaluations
    where = ans["sentences"][2]
    ea = {r_["label"]: r_[PRIMARY_METRIC] for r_ in spacelens.evaluate(A, label_field="label", per_class=True,
                                                                       clustering=False, home=home)["per_class"]}
    eb = {r_["label"]: r_[PRIMARY_METRIC] for r_ in spacelens.evaluate(B, label_field="label", per_class=True,
                                                                       clustering=False, home=home)["per_class"]}
    diffs = sorted(((eb[c] - ea[c], c) for c in ea), key=lambda t: -abs(t[0]))
    assert [c["label"] for c in where["classes"]] == [c for _, c in diffs[:3]]
    for c in where["classes"]:
        assert c["difference"] == pytest.approx(eb[c["label"]] - ea[c["label"]], abs=1e-12)
        expected = np.flatnonzero(data.table["label"].to_numpy() == c["label"])
        assert c["rows"] == expected.tolist()
        assert c["ids"] == data.table["id"].to_numpy()[expected].tolist()

    # every sentence states what it rests on; each full name appears once, then its alias
    t = ans["text"]
    assert f"{m['n']:,} queries" in ans["sentences"][0]["text"] and "95% CI" in ans["sentences"][0]["text"]
    assert f"{cmp.mean:.3f}" in ans["sentences"][1]["text"] and f"chance {cmp.info['chance']:.3f}" in t
    assert "queries" in where["text"] and "no interval" in where["text"]
    for name in (A, B, C):
        assert t.count(name) == 1, name
    assert f"A ({A})" in t and f"B ({B})" in t and f"C ({C}, found automatically)" in t
    json.dumps(ans)            # JSON-ready


def test_label_field_from_a_stored_evaluation_and_items_without_labels(home, tmp_path):
    _world(home, tmp_path)
    ans = spacelens.answer(A, B, baseline=False, home=home)
    assert ans["label_field"] is None and [s["key"] for s in ans["sentences"]] == ["agreement", "where"]
    cmp = spacelens.compare(A, B, k=10, home=home)
    items = ans["sentences"][1]["items"]
    order = np.argsort(cmp.rows)
    lowest = cmp.jaccard.min()
    assert items["jaccard"] == pytest.approx(float(lowest))
    assert items["rows"] == cmp.rows[cmp.jaccard == lowest].tolist()
    assert len(order) == items["n_items"] == 300
    spacelens.evaluate(A, label_field="label", clustering=False, home=home)   # now a label column is known
    ans = spacelens.answer(A, B, baseline=False, home=home)
    assert (ans["label_field"], ans["label_source"]) == ("label", "stored evaluation")
    assert ans["sentences"][0]["key"] == "retrieval"


# -- the CLI leads with the answer ---------------------------------------------------------------

def test_cli_prints_the_answer_first(cli, home, tmp_path):
    _world(home, tmp_path)
    ans = spacelens.answer(A, B, label_field="label", home=home)
    first = ans["sentences"][0]["text"]

    out = cli("compare", A, B, "--label-field", "label", check=True).out
    assert out.splitlines()[0] == first
    assert out.splitlines()[1] == ans["sentences"][1]["text"]
    assert "similarity (mean Jaccard)" in out.split(ans["sentences"][2]["text"], 1)[1]   # tables after it

    out = cli("evaluate", A, "--vs", B, "--label-field", "label", check=True).out
    assert out.splitlines()[0] == first

    out = cli("answer", A, B, "--label-field", "label", check=True).out
    assert out.splitlines()[:3] == [s["text"] for s in ans["sentences"]]

    got = cli("compare", A, B, "--label-field", "label", "--json", "--no-items", check=True).json()
    assert got["answer"] == ans
    got = cli("evaluate", A, "--vs", B, "--label-field", "label", "--json", check=True).json()
    assert got["answer"] == ans and got["baseline"]["space"] == C

    # without a baseline the tables and the answer have none
    out = cli("compare", A, B, "--baseline", "none", check=True).out
    assert out.splitlines()[0].startswith("Neighbourhoods of A (") and "reseeded" not in out.splitlines()[0]


def test_answer_rejects_spaces_of_two_datasets(home, tmp_path):
    from conftest import make_labeled

    _world(home, tmp_path)
    other = make_labeled(tmp_path, n=50, name="other")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spacelens.add(other.vectors, other.csv, dataset_name="other", experiment_name="o", space_name="o", home=home)
    with pytest.raises(spacelens.SpacelensError):
        spacelens.answer(A, "o", home=home)


def test_a_large_pair_is_answered_from_samples_within_the_budget(monkeypatch, tmp_path):
    """Above the budget rule's size, labels found in a stored evaluation give a *sampled* paired
    evaluation (the same random queries in A and B), and the answer says so in its first line."""
    import numpy as np
    import pandas as pd

    import spacelens
    from spacelens import budget

    h = tmp_path / "home"
    rng = np.random.default_rng(0)
    t = pd.DataFrame({"id": [f"i{i}" for i in range(400)], "label": rng.integers(0, 3, 400)})
    spacelens.add(rng.normal(size=(400, 4)).astype(np.float32), t, dataset_name="d", experiment_name="e",
                  space_name="A", home=h)
    spacelens.add(rng.normal(size=(400, 4)).astype(np.float32), dataset_name="d", experiment_name="f",
                  space_name="B", home=h)
    spacelens.evaluate("A", label_field="label", clustering=False, home=h)
    monkeypatch.setattr(budget, "FULL_ALWAYS_MAX_ITEMS", 100)
    monkeypatch.setattr(budget, "DEFAULT_SAMPLE", 150)
    ans = spacelens.answer("A", "B", budget=1e-9, home=h)
    assert [s["key"] for s in ans["sentences"]] == ["retrieval", "agreement", "where"]
    assert ans["sampled"].startswith("Sampled answer (150 random items of 400 for the comparison; 150 random "
                                     "queries of 400 for the paired evaluation)")
    assert "150 sampled queries of 400" in ans["sentences"][0]["text"]
    assert ans["sentences"][0]["figures"]["sample"] == {"n": 150, "population": 400}
    # full=True: no sample anywhere, and no sampled line
    full = spacelens.answer("A", "B", budget=1e-9, full=True, home=h)
    assert "sampled" not in full and full["sentences"][0]["figures"]["sample"] is None