"""The answer first: which of two spaces retrieves better, how alike their neighbourhoods are,
and where they differ most, in up to three short sentences, each with the figures it rests on.

This module only *reads* results that the core verbs computed (a
:class:`~spacelens.compare.Comparison` from ``compare`` and the dict of ``evaluate_versus``):
every number in a sentence is a field of those results, never recomputed another way, so the
sentence and the tables under it always agree. It sits beside :mod:`spacelens.compare` and
:mod:`spacelens.evaluate` (it reads both, and neither reads it); :func:`spacelens.api.answer`
runs the verbs and calls :func:`build_answer`.

Naming: the spaces are called A and B (and C, the seed baseline); the first sentence that
mentions each alias defines it once, e.g. "A (digits-triplet.epoch_20.val)".

The baseline is proposed automatically (:func:`propose_baseline`): a space of the same dataset,
split and step whose experiment has the same model, training data and parameters as A's
experiment except its seed (``seed``, ``random_seed``, ``random_state`` or ``manual_seed``,
at any depth of the parameters), which must differ.
"""

from __future__ import annotations

import numpy as np

from spacelens.catalogue import PRIMARY_METRIC, short
from spacelens.formatting import ci_digits, fmt, fmt_ci, format_p
from spacelens.jsonable import jsonable
from spacelens.stats import excludes_zero

SEED_KEYS = ("seed", "random_seed", "random_state", "manual_seed")
TOP_CLASSES = 3          # classes named in the "where" sentence
# Placeholders of the aliases in sentence templates (control characters: never in a name or label).
_MARK = {"A": "\x01A\x02", "B": "\x01B\x02", "C": "\x01C\x02"}


# -- the seed baseline ----------------------------------------------------------------------------

def _split_seed(params, path: tuple = ()) -> tuple[object, dict]:
    """``(params without seed keys, {path: seed})``, at any depth of nested dicts."""
    if not isinstance(params, dict):
        return params, {}
    rest, seeds = {}, {}
    for key, value in params.items():
        if key in SEED_KEYS:
            seeds[path + (key,)] = value
            continue
        rest[key], inner = _split_seed(value, path + (key,))
        seeds.update(inner)
    return rest, seeds


def is_reseed(exp_a, exp_b) -> bool:
    """Whether experiment ``exp_b`` is ``exp_a``'s recipe with another seed: the same model name,
    training dataset and parameters but the seed keys, which both have and which differ."""
    if exp_a.name == exp_b.name or exp_a.model_name != exp_b.model_name or exp_a.train_dataset != exp_b.train_dataset:
        return False
    rest_a, seeds_a = _split_seed(exp_a.params or {})
    rest_b, seeds_b = _split_seed(exp_b.params or {})
    return bool(seeds_a) and set(seeds_a) == set(seeds_b) and rest_a == rest_b and seeds_a != seeds_b


def reseeded_runs(reg, space: str, exclude=()) -> list[str]:
    """Spaces that are reseeded runs of ``space`` (:func:`is_reseed` experiments; same dataset,
    split and step), the first-registered experiment first, within it the latest space first.
    Spaces whose vectors were pruned are left out: a baseline is compared and evaluated anew."""
    rec = reg.space(space)
    exp = reg.experiment(rec.experiment)
    skip = {rec.name, *exclude}
    experiments = {e.name: e for e in reg.list("experiments")}
    found = []
    for s in reg.spaces_of(dataset=rec.dataset):
        if s.name in skip or s.split != rec.split or s.step != rec.step or s.pruned_at is not None:
            continue
        other = experiments.get(s.experiment)
        if other is not None and is_reseed(exp, other):
            found.append((other.id, -s.id, s.name))
    return [name for *_, name in sorted(found)]


def propose_baseline(reg, space: str, exclude=()) -> str | None:
    """The seed baseline of ``space``: its first reseeded run (:func:`reseeded_runs`), or None."""
    runs = reseeded_runs(reg, space, exclude)
    return runs[0] if runs else None


def choose_label_field(reg, a: str, b: str) -> str | None:
    """The label column of ``a``'s (else ``b``'s) latest stored evaluation, when the dataset still
    has it; None when neither space was evaluated."""
    from spacelens.evaluate.core import ARTIFACT

    for name in (a, b):
        arts = reg.find_artifacts(kind=ARTIFACT, space=name)
        cols = set(reg.table_columns(reg.space(name).dataset))
        for art in sorted(arts, key=lambda x: -x.id):
            field = art.params.get("label_field")
            if field in cols and art.space == name:
                return field
    return None


# -- the sentences ----------------------------------------------------------------------------------

def _retrieval(v: dict) -> dict:
    m = v["metrics"][PRIMARY_METRIC]
    name = short(PRIMARY_METRIC)
    d, ci = m["difference"], m["ci95"]
    n = ci_digits(ci)
    clear = excludes_zero(ci)
    winner = None if not clear else ("B" if d > 0 else "A")
    A, B, C = _MARK["A"], _MARK["B"], _MARK["C"]
    sampled = v.get("sample")
    queries = (f"{m['n']:,} sampled queries of {sampled['population']:,}" if sampled else f"{m['n']:,} queries")
    rests = f"95% CI {fmt_ci(ci, n, sign=True)}, {format_p(m.get('p_value'))}, {queries}"
    if clear:
        win, lose = (B, A) if winner == "B" else (A, B)
        hi, lo = (m["mean_b"], m["mean_a"]) if winner == "B" else (m["mean_a"], m["mean_b"])
        text = (f"{win} retrieves better than {lose}: {name} {fmt(hi, n)} vs {fmt(lo, n)}, "
                f"{B} − {A} = {fmt(d, n, sign=True)} ({rests})")
    else:
        text = (f"No clear winner between {A} and {B}: {name} {fmt(m['mean_a'], n)} vs {fmt(m['mean_b'], n)}, "
                f"{B} − {A} = {fmt(d, n, sign=True)} ({rests}; the interval includes 0)")
    figures = {"metric": PRIMARY_METRIC, "mean_a": m["mean_a"], "mean_b": m["mean_b"], "difference": d,
               "ci95": ci, "p_value": m.get("p_value"), "n_queries": m["n"], "winner": winner,
               "interval": m.get("interval"), "test": m.get("test"),
               "sample": {"n": sampled["n"], "population": sampled["population"]} if sampled else None}
    base = v.get("baseline")
    if base:
        bm = base["metrics"][PRIMARY_METRIC]
        beyond = bool(base["beyond"][PRIMARY_METRIC])
        bn = ci_digits(bm["ci95"])
        noise = (f"{A}'s reseeded run {C} differs from {A} by {C} − {A} = {fmt(bm['difference'], bn, sign=True)} "
                 f"(95% CI {fmt_ci(bm['ci95'], bn, sign=True)})")
        text += f"; beyond seed noise: {noise}" if beyond else f"; within seed noise: {noise}"
        figures["baseline"] = {"space": base["space"], "difference": bm["difference"], "ci95": bm["ci95"],
                               "p_value": bm.get("p_value"), "n_queries": bm["n"]}
        figures["beyond_seed_noise"] = beyond
    return {"key": "retrieval", "template": text + ".", "figures": figures}


def _agreement(res) -> dict:
    info = res.info
    A, B, C = _MARK["A"], _MARK["B"], _MARK["C"]
    k, mean, chance, n = res.k, res.mean, info.get("chance"), info.get("n_items", len(res.rows))
    sample = info.get("sample")
    if sample:
        rests = (f"95% CI {fmt_ci(sample['ci95'], 3)} from {sample['n']:,} sampled items of {n:,}; "
                 f"chance {fmt(chance, 3)}")
    else:
        rests = f"{n:,} items; chance {fmt(chance, 3)}"
    text = f"Neighbourhoods of {A} and {B}: mean kNN Jaccard {fmt(mean, 3)} at k = {k} ({rests})"
    figures = {"k": k, "mean_jaccard": mean, "chance": chance, "n_items": n,
               "ci95": sample["ci95"] if sample else None}
    base = res.baseline
    if base is not None:
        bd = (info.get("baseline_difference") or {}).get(str(k), {}).get("jaccard")
        text += f", against {fmt(base.mean, 3)} for {A} vs its reseeded run {C}"
        figures["baseline"] = {"space": base.space_b, "mean_jaccard": base.mean, "k": base.k}
        if bd:
            dn = ci_digits(bd["ci95"])
            diff = (f"per item, {A}–{B} minus {A}–{C}: {fmt(bd['difference'], dn, sign=True)}, "
                    f"95% CI {fmt_ci(bd['ci95'], dn, sign=True)}")
            if excludes_zero(bd["ci95"]) and bd["difference"] > 0:
                text += f": {B} is closer to {A} than {A}'s own reseed is ({diff})"
            elif excludes_zero(bd["ci95"]):
                text += f": {B} moves {A}'s neighbourhoods more than reseeding does ({diff})"
            else:
                text += f": about as alike as two seeds of {A} ({diff})"
            figures["baseline"].update({"difference": bd["difference"], "ci95": bd["ci95"],
                                        "p_value": bd.get("p_value"), "n_items": bd.get("n")})
    return {"key": "agreement", "template": text + ".", "figures": figures}


def _class_rows(reg, res, label_field: str) -> dict:
    """Per label (as text): the dataset rows and ids of the compared items with that label."""
    from spacelens.compare.insight import group_column

    labels = group_column(reg, res, label_field)[res.rows]
    keys = np.array([str(x) for x in labels])
    out: dict = {}
    for key in np.unique(keys):
        sel = np.flatnonzero(keys == key)
        out[key] = (res.rows[sel], res.ids[sel])
    return out


def _where_classes(reg, res, v: dict) -> dict:
    per = v["per_class"][PRIMARY_METRIC]
    label_field = v["label_field"]
    changed = [r for r in per if r["difference"] != 0]
    top = sorted(changed, key=lambda r: (-abs(r["difference"]), str(r["label"])))[:TOP_CLASSES]
    rows = _class_rows(reg, res, label_field)
    name = short(PRIMARY_METRIC)
    classes, parts = [], []
    for r in top:
        sel_rows, sel_ids = rows.get(str(r["label"]), (np.array([], np.int64), np.array([], str)))
        classes.append({"label": r["label"], "n_queries": r["n"], "mean_a": r["a"], "mean_b": r["b"],
                        "difference": r["difference"], "n_items": int(len(sel_rows)),
                        "rows": [int(x) for x in sel_rows], "ids": [str(x) for x in sel_ids]})
        parts.append(f"{label_field} {r['label']} ({name} {fmt(r['a'], 3)} → {fmt(r['b'], 3)}, "
                     f"{fmt(r['difference'], 3, sign=True)}, {r['n']:,} queries)")
    A, B = _MARK["A"], _MARK["B"]
    if classes:
        text = ("Where they differ most: " + ", ".join(parts)
                + f"; per-class means of {B} − {A}, no interval")
    else:
        text = f"Where they differ: no {label_field} class changes its {name} from {A} to {B}"
    return {"key": "where", "template": text + ".", "by": "class", "label_field": label_field,
            "metric": PRIMARY_METRIC, "classes": classes, "n_classes": len(per)}


def _where_items(res) -> dict:
    """Without labels: the items whose neighbourhoods changed most (lowest Jaccard)."""
    A, B = _MARK["A"], _MARK["B"]
    v = np.asarray(res.jaccard, dtype=np.float64)
    k, n = res.k, len(v)
    if not n:
        return {"key": "where", "template": "Where they differ: no compared item.", "by": "items", "items": None}
    lo = float(v.min())
    sel = np.flatnonzero(v == lo)
    kept = int(round(2 * k * lo / (1 + lo)))      # s shared of k: J = s / (2k - s)
    share = len(sel) / n
    if lo == 0:
        text = (f"Where they differ most: {len(sel):,} of {n:,} items ({share:.0%}) keep none of their {k} "
                f"neighbours from {A} to {B}")
    else:
        text = (f"Where they differ most: every item keeps some neighbours; the {len(sel):,} of {n:,} items "
                f"that changed most keep {kept} of their {k} (Jaccard {fmt(lo, 3)}) from {A} to {B}")
    items = {"jaccard": lo, "kept": kept, "k": k, "n": int(len(sel)), "n_items": n,
             "rows": [int(x) for x in res.rows[sel]], "ids": [str(x) for x in res.ids[sel]]}
    return {"key": "where", "template": text + ".", "by": "items", "items": items}


def _name_once(sentences: list[dict], names: dict, intro: dict) -> None:
    """Fill each sentence's ``text``: an alias's first mention defines it ("A (name)"), later ones
    are the bare alias."""
    done: set = set()
    for s in sentences:
        text = s.pop("template")
        for alias, mark in _MARK.items():
            if mark not in text:
                continue
            if alias not in done and alias in names:
                text = text.replace(mark, f"{alias} ({intro[alias]})", 1)
                done.add(alias)
            text = text.replace(mark, alias)
        s["text"] = text


def build_answer(reg, res, versus: dict | None = None, *, baseline_source: str | None = None,
                 label_source: str | None = None) -> dict:
    """The answer for the comparison ``res`` (A vs B, with its ``.baseline`` when one was given)
    and, with labels, ``versus`` (``evaluate_versus`` of the same pair and baseline).

    Returns a JSON-ready dict: ``sentences`` (up to three, each ``{"key", "text", "figures"}``:
    "retrieval" with labels, "agreement", "where"), ``text`` (the sentences joined), ``aliases``
    (A, B and C = the baseline), ``baseline`` and ``baseline_source`` ("given" or "proposed"),
    ``label_field`` and ``label_source`` ("given" or "stored evaluation")."""
    a, b = res.space_a, res.space_b
    base = res.baseline.space_b if res.baseline is not None else (versus or {}).get("baseline", {}).get("space")
    names = {"A": a, "B": b, **({"C": base} if base else {})}
    found = ", found automatically" if baseline_source == "proposed" else ""
    intro = {"A": a, "B": b, "C": f"{base}{found}"}
    sentences = []
    if versus is not None:
        sentences.append(_retrieval(versus))
    sentences.append(_agreement(res))
    sentences.append(_where_classes(reg, res, versus) if versus is not None else _where_items(res))
    _name_once(sentences, names, intro)
    out = {"space_a": a, "space_b": b, "aliases": names, "baseline": base,
           "baseline_source": baseline_source if base else None,
           "label_field": (versus or {}).get("label_field"), "label_source": label_source if versus else None,
           "k": res.k, "sentences": sentences, "text": " ".join(s["text"] for s in sentences)}
    return jsonable(out)
