"""The audit (spacelens.audit): planted problems found with precision and recall, the effect on
MAP@R equal to a brute-force re-evaluation without the flagged queries, two spaces, the CLI."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import pytest

import spacelens
from spacelens.audit import planted_problems
from spacelens.audit.effect import nested_difference
from spacelens.audit.label_errors import class_thresholds, find_label_errors, self_confidence
from spacelens.evaluate.retrieval import retrieval_metrics


def _pr(got, truth) -> tuple[float, float]:
    got, truth = set(map(int, got)), set(map(int, truth))
    tp = len(got & truth)
    return tp / max(len(got), 1), tp / max(len(truth), 1)


@pytest.fixture(scope="module")
def planted():
    return planted_problems(3000, seed=5, n_classes=12)


@pytest.fixture
def registered(home, planted):
    spacelens.add(planted.vectors, planted.table(), dataset_name="toy", experiment_name="exp", space_name="A",
                  id_field="id")
    return planted


def _rows(frame, kind):
    return frame.loc[frame["kind"] == kind, "row"].to_numpy()


def test_planted_problems_found_with_precision_and_recall(registered):
    p = registered
    res = spacelens.audit("A", label_field="label", split_field="split")
    f = res.to_frame()
    for kind, truth in (("leak", p.leaks), ("duplicate", p.duplicates), ("label_error", p.label_errors),
                        ("outlier", p.outliers)):
        prec, rec = _pr(_rows(f, kind), truth)
        assert prec >= 0.8 and rec >= 0.8, (kind, prec, rec)
    pairs = {frozenset((m["a"], m["b"])) for m in res["mixed_classes"]}
    assert pairs == {frozenset(x) for x in p.mixed_pairs}
    # every flagged item has a score, a reason in words and its evidence; leaks name their partner
    assert f["reason"].str.len().min() > 20 and f["evidence"].notna().all() and f["score"].notna().all()
    leak = f[f["kind"] == "leak"].iloc[0]
    assert p.sources[int(leak["row"])] == int(p.ids.tolist().index(leak["partner_id"]))
    assert repr(leak["partner_id"]) in leak["reason"]
    errs = f[f["kind"] == "label_error"]
    assert (errs["suggested_label"] != errs["label"]).all()
    # the answer comes first and says the same as the figures
    s = res.answer
    assert s.startswith(f"{res['kinds']['leak']['n'] / res['splits']['n_query']:.1%} of queries")
    assert f"{res['kinds']['label_error']['n']:,} likely label errors" in s
    assert "MAP@R" in s and "95% CI" in s
    d = res.to_dict()
    assert d["answer"] == s and len(d["items"]) == len(f) and d["duplicate_threshold"]["rule"]


def _brute_knn(x, q_rows, ref_rows, k):
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = xn[q_rows] @ xn[ref_rows].T
    return np.argsort(-sim, axis=1, kind="stable")[:, :k]


def test_effect_equals_brute_force_evaluation_without_the_flagged_queries(registered):
    p = registered
    res = spacelens.audit("A", label_field="label", split_field="split")
    eff = res["effect"]["sets"]
    m = "mean_average_precision_at_r"
    q = np.flatnonzero(p.splits == "query")
    ref = np.flatnonzero(p.splits == "reference")
    lab = np.asarray(p.labels)
    ev = spacelens.evaluate("A", label_field="label", query_split="query", reference_split="reference",
                            clustering=False)
    assert eff["leak"]["metrics"][m]["all"] == pytest.approx(ev[m], abs=1e-12)
    for name in ("leak", "label_error"):
        flagged = set(_rows(res.to_frame(), name).tolist())
        kept = np.array([r for r in q if r not in flagged])
        assert len(kept) < len(q)
        k = int(pd.Series(lab[ref]).value_counts().max())
        idx = _brute_knn(p.vectors.astype(np.float64), kept, ref, k)
        want = retrieval_metrics(idx, lab[kept], lab[ref], ref_includes_query=False).metrics[m]
        got = eff[name]["metrics"][m]
        assert got["kept"] == pytest.approx(want, abs=1e-12)
        assert got["difference"] == pytest.approx(got["kept"] - got["all"], abs=1e-15)
        lo, hi = got["ci95"]
        assert lo <= got["difference"] <= hi
    # leaked queries retrieve their copy first: leaving them out lowers P@1, and the interval says so
    p1 = eff["leak"]["metrics"]["precision_at_1"]
    assert p1["difference"] < 0 and p1["ci95"][1] < 0


def test_nested_difference_interval_bootstrap_and_delta_method_agree():
    rng = np.random.default_rng(0)
    s = rng.random(4000)
    f = rng.random(4000) < 0.1
    s[f] += 0.5                                   # flagged queries score higher: leaving them out lowers the mean
    boot = nested_difference(s, f, seed=1)
    delta = nested_difference(s, f, seed=1, n_resamples=10**6)   # over BOOTSTRAP_MAX_WORK: the delta method
    assert boot["difference"] == pytest.approx(s[~f].mean() - s.mean())
    assert "bootstrap" in boot["interval"] and "delta" in delta["interval"]
    for i in (0, 1):
        assert boot["ci95"][i] == pytest.approx(delta["ci95"][i], abs=0.004)
    assert boot["ci95"][1] < 0
    none = nested_difference(s, np.zeros(4000, bool))
    assert none["difference"] == 0 and none["ci95"] == [0, 0]
    nan = np.array([np.nan, 1.0, 0.0, 1.0])
    assert nested_difference(nan, np.array([True, True, False, False]))["n"] == 3


def test_label_errors_hand_worked():
    # 6 items, k = 2: class 0 = rows 0-2, class 1 = rows 3-5; row 2's neighbours are both class 1
    codes = np.array([0, 0, 0, 1, 1, 1])
    idx = np.array([[1, 2], [0, 2], [3, 4], [4, 5], [3, 5], [3, 4]])
    conf = self_confidence(idx, codes)
    assert conf.tolist() == [1.0, 1.0, 0.0, 1.0, 1.0, 1.0]   # row 2 still holds label 0
    t = class_thresholds(conf, codes, 2)
    assert t.tolist() == pytest.approx([2 / 3, 1.0])
    f = find_label_errors(idx, codes, np.array(["a", "b"], dtype=object))
    assert f.rows.tolist() == [2] and f.extra["suggested"].tolist() == [1] and f.score.tolist() == [1.0]
    assert "2 of its 2 nearest neighbours are labelled 'b'" in f.reason[0]
    # excluded rows are not flagged
    assert len(find_label_errors(idx, codes, np.array(["a", "b"]), exclude=np.eye(6, dtype=bool)[2])) == 0


def test_threshold_by_hand_and_arrays(planted):
    p = planted
    res = spacelens.audit(p.vectors, labels=p.labels, splits=p.splits, threshold=0.0, effect=False)
    f = res.to_frame()
    # at distance 0 only exact copies are duplicates; every one of them is byte-identical
    assert set(f.loc[f["kind"] == "leak", "evidence"]) == {"exact"}
    assert res["kinds"]["leak"]["n"] == res["kinds"]["leak"]["exact"] > 0
    assert "set by hand" in res["kinds"]["leak"]["rule"]
    assert res["effect"] is None
    no_labels = spacelens.audit(p.vectors)
    assert set(no_labels["kinds"]) == {"duplicate", "outlier"} and no_labels["mixed_classes"] is None


def test_two_spaces_tell_the_data_from_the_model(home, planted):
    p = planted
    rng = np.random.default_rng(1)
    b = p.vectors + 0.01 * rng.normal(size=p.vectors.shape).astype(np.float32)
    # B places 20 clean items of class c003 among class c004: label errors of B only
    clean = np.setdiff1d(np.flatnonzero(p.labels == "c003"),
                         np.concatenate([p.label_errors, p.outliers, p.leaks, p.duplicates]))[:20]
    donors = np.flatnonzero(p.labels == "c004")[:20]
    b[clean] = b[donors] + 0.02 * rng.normal(size=(20, b.shape[1])).astype(np.float32)
    spacelens.add(p.vectors, p.table(), dataset_name="toy", experiment_name="e", space_name="A", id_field="id")
    spacelens.add(b, dataset_name="toy", experiment_name="e", space_name="B", ids=p.ids)
    res = spacelens.audit("A", label_field="label", other="B", effect=False)
    v = res["versus"]["kinds"]["label_error"]
    assert v["both"] >= 0.8 * len(p.label_errors) * 0.8
    fb = spacelens.audit("B", label_field="label", effect=False).to_frame()
    only_b = set(_rows(fb, "label_error")) - set(_rows(res.to_frame(), "label_error"))
    assert len(set(clean.tolist()) & only_b) >= 16 and v["only_b"] >= 16
    assert "flagged by both" in res.answer


def test_cli_audit_through_the_entry_point(cli, registered):
    out = cli("audit", "A", "--label-field", "label", "--split-field", "split", "--json", check=True).json()
    assert out["answer"].startswith(f"{out['kinds']['leak']['share'] * out['n_items'] / out['splits']['n_query']:.1%}")
    assert {it["kind"] for it in out["items"]} >= {"leak", "duplicate", "label_error", "outlier"}
    txt = cli("audit", "A", "--label-field", "label", "--split-field", "split", "--top", "3", check=True).out
    first = txt.strip().splitlines()[0]
    assert first.startswith(out["answer"][:40])
    assert "most certain 3 of" in txt
    bad = cli("audit", "A", "--label-field", "nope")
    assert bad.code == 1 and "nope" in bad.err and "Traceback" not in bad.err
    bad = cli("audit", "A", "--split-field", "label", "--query-split", "zzz")
    assert bad.code == 1 and "zzz" in bad.err and "Traceback" not in bad.err


def test_hostile_labels_and_ids(home, cli):
    from _hostile import IMG, QUOTE, SCRIPT, hostile_ids

    p = planted_problems(600, seed=3, n_classes=6)
    names = {f"c{i:03d}": v for i, v in enumerate([IMG, SCRIPT, QUOTE, "قطة", "כלב", "{partner}"])}
    ids = (hostile_ids() * 4)[:len(p.ids)]
    ids = [f"{s} #{i}" for i, s in enumerate(ids)]
    table = pd.DataFrame({"id": ids, "label": [names[x] for x in p.labels], "split": p.splits})
    spacelens.add(p.vectors, table, dataset_name="bad", experiment_name="e", space_name="H", id_field="id")
    res = spacelens.audit("H", label_field="label", split_field="split")
    page = res._repr_html_()
    assert "<script>" not in page and "<img" not in page and html.escape(SCRIPT) in page or len(res.to_frame()) == 0
    f = res.to_frame()
    assert set(f["id"]) <= set(ids)
    out = cli("audit", "H", "--label-field", "label", "--split-field", "split", "--json", check=True).json()
    assert out["answer"] == res.answer
    cli("audit", "H", "--label-field", "label", "--split-field", "split", check=True)
