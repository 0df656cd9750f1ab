"""What a report on two spaces says: every figure gathered through :mod:`spacelens.api`.

The content is one JSON-ready dict (the ``--json`` of ``spacelens report``); the HTML page
(:mod:`.html`) and its plots (:mod:`.figures`) only render it. Sections:

- ``agreement``: per k mean Jaccard, overlap@k, CKNNA and chance; linear and unbiased CKA.
- ``noise`` (with a baseline): per k the per-item agreement difference against the baseline.
- ``where``: the groups of items whose neighbourhoods changed together (the regions to look
  at first, described by their metadata); with a label field agreement per label; the items
  that changed most, with their neighbours kept, lost and gained.
- ``structure`` (with a label field): neighbour-label composition and the pairs that changed.
- ``retrieval`` (with a label field): ``evaluate A --vs B`` (and the baseline).
- ``audit`` (with a label field): can the evaluation be trusted? :func:`spacelens.api.audit` of A
  against B: its answer, per kind the count and the most certain items, which flags both spaces
  raise, and what leaving the flagged queries out does to MAP@R (paired 95% CI).
- ``summary``: the plain sentences a reader needs, in order.
- ``answer``: the answer first (:func:`spacelens.api.answer`, the same dict): which retrieves
  better, how alike, where they differ most; A, B (and C, the baseline) named once.
- ``maps``: both spaces' PCA maps (their faithfulness; the page draws them).
- ``training``: per experiment with epochs, its ``evolution`` (only when cheap, see
  :func:`training`).

A baseline not given is proposed (a reseeded run of A: :func:`spacelens.answer.propose_baseline`;
``baseline=False``: none), and a label field not given is the one of a stored evaluation, as
:func:`spacelens.api.answer` does, so the report's answer is the API's.
"""

from __future__ import annotations

import datetime as _dt

from spacelens import api
from spacelens.jsonable import jsonable

TRAINING_MAX_EPOCHS = 30          # the training curve is drawn only when it is cheap:
TRAINING_MAX_ROWS = 2_000_000     # at most this many epochs, and epochs x items at most this
CHANGED_ITEMS = 20      # rows in the "changed most" table
CHANGED_DETAIL = 5      # of which this many with their neighbour lists
CHANGE_GROUPS = 8       # groups of items that changed together, at most
MIXING_NOTEWORTHY = 0.02  # a class pair's share change worth a summary sentence


def build(a: str, b: str, *, baseline: str | bool | None = None, label_field: str | None = None, k="5,10,20",
          metric_a: str = "cosine", metric_b: str = "cosine", seed: int = 0, full: bool = False,
          budget: float | None = None, home=None) -> dict:
    """The report's content for spaces ``a`` and ``b`` (see the module docstring). ``full`` /
    ``budget``: as every verb (:mod:`spacelens.budget`); a sampled report says so first."""
    from spacelens.answer import choose_label_field, propose_baseline

    reg = api.open_registry(home)
    if isinstance(baseline, str) and baseline.lower() == "none":
        baseline = False
    base_source = "given" if baseline else None
    if baseline is None:
        baseline = propose_baseline(reg, a, exclude=(b,))
        base_source = "proposed" if baseline else None
    baseline = baseline or None
    label_source = "given" if label_field else None
    if label_field is None:
        label_field = choose_label_field(reg, a, b)
        label_source = "stored evaluation" if label_field else None
    res = api.compare(a, b, k=k, metric_a=metric_a, metric_b=metric_b, baseline=baseline, seed=seed,
                      by=label_field, full=full, budget=budget, home=reg)
    d = res.to_dict(per_item=False)
    info = res.info
    out: dict = {"title": f"{a} vs {b}", "space_a": a, "space_b": b, "baseline": baseline,
                 "baseline_source": base_source, "label_field": label_field, "label_source": label_source, "k": res.k, "n_items": info["n_items"],
                 "created": _dt.datetime.now().isoformat(timespec="seconds"),
                 "settings": {"metric_a": metric_a, "metric_b": metric_b, "engine": info.get("engine"),
                              "ks": info.get("ks"), "seed": seed}}
    out["agreement"] = {"curve": d.get("curve", {}), "jaccard": d.get("similarity"), "overlap": d.get("overlap"),
                        "cknna": d.get("cknna"), "cka": d.get("cka"), "cka_unbiased": d.get("cka_unbiased"),
                        "chance": d.get("chance"), "histogram": d.get("histogram"), "quantiles": d.get("quantiles")}
    if res.baseline is not None:
        base = res.baseline.to_dict(per_item=False)
        out["noise"] = {"baseline": baseline, "curve": base.get("curve", {}), "jaccard": base.get("similarity"),
                        "histogram": base.get("histogram"), "cka": base.get("cka"),
                        "cka_unbiased": base.get("cka_unbiased"), "reading": d.get("baseline_reading"),
                        "difference": d.get("baseline_difference", {})}
    changed = api.changed_items(res, k=res.k, columns=[label_field] if label_field else None, home=reg)
    top = changed.head(CHANGED_ITEMS)
    where: dict = {"changed_most": [{key: jsonable(v) for key, v in row.items()}
                                    for row in top.to_dict(orient="records")],
                   "details": [api.neighbour_changes(res, id=str(i), k=res.k, home=reg)
                               for i in top["id"].head(CHANGED_DETAIL)]}
    if label_field:
        where["by"] = d.get("by")
    groups = api.change_groups(res, k=res.k, top=CHANGE_GROUPS, home=reg)
    for g in groups["groups"]:        # the page lists a few ids; the JSON keeps every member
        g["first_ids"] = g["ids"][:5]
    where["groups"] = groups
    out["where"] = where
    if label_field:
        out["structure"] = api.composition(res, label_field=label_field, k=res.k, home=reg)
        out["retrieval"] = api.evaluate_versus(a, b, label_field=label_field, baseline=baseline, metric=metric_a,
                                               seed=seed, full=full, budget=budget, home=reg)
        out["audit"] = audit_section(reg, a, b, label_field, seed=seed, full=full)
    out["summary"] = summary(out)
    out["answer"] = api.answer(a, b, metric=metric_a, seed=seed, comparison=res, versus=out.get("retrieval"),
                               baseline_source=base_source, full=full, budget=budget, home=reg)
    out["sampled"] = out["answer"].get("sampled")
    out["maps"] = {alias: _map(reg, name) for alias, name in (("A", a), ("B", b))}
    out["training"] = training(reg, a, b, label_field=label_field, metric=metric_a, full=full, budget=budget)
    return out


AUDIT_TOP = 5      # most certain flagged items per kind in the report


def audit_section(reg, a: str, b: str, label_field: str, *, seed: int = 0, full: bool = False) -> dict:
    """The audit of A against B by ``label_field`` (with the dataset's ``split`` column, when it
    has one of two or more values: leaks across it), in brief: the answer, per kind the count and
    the ``AUDIT_TOP`` most certain items (who flags each), the mixed class pairs and the effect on
    the metrics. The effect is sampled at scale as the audit itself decides."""
    rec = reg.space(a)
    from spacelens.audit.core import holds_splits
    from spacelens.audit.store import default_params, stored_audit

    split = "split" if "split" in reg.table_columns(rec.dataset) and holds_splits(reg, rec, "split") else None
    from spacelens.budget import FULL_ALWAYS_MAX_ITEMS

    n = max(rec.n_rows, reg.space(b).n_rows)
    key = default_params(label_field, split, seed=seed)
    res = stored_audit(reg, a, key, other=b)
    if res is None and not full and n > FULL_ALWAYS_MAX_ITEMS:
        # the audit builds both spaces' kNN graphs: at this size not inside a report asked for in a minute
        cmd = f"spacelens audit {a} -l {label_field}" + (" -s split" if split else "") + f" --vs {b}"
        return {"skipped": f"Not audited here: at {n:,} items the audit builds both spaces' kNN graphs (minutes). "
                           f"Run '{cmd}' (or the report with --full); the report then shows it."}
    if res is None:
        res = api.audit(a, label_field=label_field, split_field=split, other=b, seed=seed, home=reg)
    d = res.to_dict()
    vs = d.get("versus") or {"kinds": {}}
    both = {(kind, r) for kind, v in vs["kinds"].items() for r in v["rows_both"]}
    top = {}
    for kind in d["kinds"]:
        rows = [i for i in d["items"] if i["kind"] == kind][:AUDIT_TOP]
        top[kind] = [{"id": i["id"], "score": i["score"], "reason": i["reason"], "evidence": i["evidence"],
                      "label": i["label"], "suggested_label": i["suggested_label"],
                      "flagged_by": "both" if (kind, i["row"]) in both else f"{a} only"} for i in rows]
    versus = {"sentence": vs.get("sentence"),
              "kinds": {k: {n: v[n] for n in ("both", "only_a", "only_b")} for k, v in vs["kinds"].items()}}
    return jsonable({"answer": d["answer"], "space": a, "other": b, "label_field": label_field, "split": d["splits"],
                     "n_items": d["n_items"], "k": d["k"], "graph": d["graph"], "kinds": d["kinds"],
                     "mixed_classes": d["mixed_classes"], "effect": d["effect"], "versus": versus, "top": top,
                     "n_flagged": len(d["items"])})


def _map(reg, space: str) -> dict:
    """A space's PCA map (stored and reused): what the page says beside its picture."""
    p = api.project(space, method="pca", home=reg)
    return {"space": space, "method": "pca", "faithfulness": jsonable(dict(p.faithfulness)), "n_items": len(p.rows)}


def training(reg, a: str, b: str, *, label_field: str | None = None, metric: str = "cosine", full: bool = False,
             budget: float | None = None) -> dict:
    """Per experiment of ``a`` and ``b`` with epochs (spaces of the same split and run logged with a
    step): its evolution, when cheap (at most TRAINING_MAX_EPOCHS epochs and TRAINING_MAX_ROWS
    epochs x items; stored comparisons and evaluations are reused). ``{"curves": [...],
    "skipped": [{"experiment", "reason"}]}``."""
    from spacelens.evolution import epoch_spaces, evolution

    out: dict = {"curves": [], "skipped": []}
    seen = set()
    for alias, name in (("A", a), ("B", b)):
        rec = reg.space(name)
        if rec.step is None or (rec.experiment, rec.split, rec.run) in seen:
            continue
        seen.add((rec.experiment, rec.split, rec.run))
        spaces = epoch_spaces(reg, rec.experiment, rec.split, rec.run)
        if len(spaces) < 2:
            continue
        cost = sum(s.n_rows for s in spaces)
        if len(spaces) > TRAINING_MAX_EPOCHS or cost > TRAINING_MAX_ROWS:
            out["skipped"].append({"experiment": rec.experiment, "reason": f"{len(spaces)} epochs of "
                                   f"{spaces[-1].n_rows:,} items: run 'spacelens evolution {rec.experiment}'"})
            continue
        ev = evolution(rec.experiment, split=rec.split, run=rec.run, label_field=label_field, metric=metric,
                       full=full, budget=budget, home=reg).to_dict()
        ev["alias"], ev["space"], ev["step"] = alias, name, rec.step
        out["curves"].append(jsonable(ev))
    return out


def summary(c: dict) -> list[str]:
    """The plain sentences, most important first."""
    a, b, k = c["space_a"], c["space_b"], c["k"]
    ag = c["agreement"]
    cur = ag["curve"].get(str(k), {})
    s = []
    over = cur.get("overlap")
    if over is not None:
        s.append(f"At k = {k}, an item keeps on average {over * k:.1f} of its {k} nearest neighbours from {a} to {b} "
                 f"(overlap@k {over:.3f}, mean Jaccard {cur.get('mean', float('nan')):.3f}; chance would keep "
                 f"{cur.get('overlap_chance', 0) * k:.2f}).")
    if ag.get("cknna") is not None or ag.get("cka_unbiased") is not None:
        from spacelens.compare.cka import cka_rows

        rows = cka_rows(c["settings"]["metric_a"], c["settings"]["metric_b"])
        s.append(f"Alignment: CKNNA {_fmt(ag.get('cknna'))}, unbiased CKA {_fmt(ag.get('cka_unbiased'))} "
                 f"(linear CKA {_fmt(ag.get('cka'))}; CKA {rows}"
                 + (", as Huh et al., not Kornblith et al.'s raw features" if rows == "on L2-normalised rows" else "")
                 + "); 0 means unrelated, 1 the same up to rotation and scale.")
    noise = c.get("noise")
    if noise:
        reading = noise.get("difference", {}).get(str(k), {}).get("reading")
        if reading:
            r = reading.split(": ", 1)[-1]          # drop the "k=10: " prefix
            s.append(f"Against {noise['baseline']} (a reseeded run of {a}), at k = {k}: {r}.")
    by = c.get("where", {}).get("by")
    if by and by.get("least") and by.get("most"):
        lo, hi = by["least"][0], by["most"][0]
        s.append(f"By {by['column']}: neighbourhoods changed most for {lo['group']} (mean Jaccard {lo['mean']:.3f}) "
                 f"and least for {hi['group']} ({hi['mean']:.3f}); overall {by['overall']:.3f}.")
    found = c.get("where", {}).get("groups") or {}
    groups = found.get("groups") or []
    if groups:
        n = found.get("n_groups", len(groups))
        s.append(f"Region to look at first (of {n} group{'s' if n > 1 else ''} of items whose neighbourhoods "
                 f"changed together): {groups[0]['description']}.")
    st = c.get("structure")
    if st and not st.get("pairs"):
        s.append("Class mixing did not change: every class has the same neighbour-label shares in both spaces.")
    if st and st.get("pairs"):
        top = st["pairs"][0]
        if abs(top["change"]) >= MIXING_NOTEWORTHY:
            s.append("Largest change in class mixing: " + st["sentences"][0] + ".")
        else:
            s.append(f"Class mixing barely changed: no class's share of neighbours from another class moved by "
                     f"{100 * MIXING_NOTEWORTHY:.0f} points or more (largest: {st['sentences'][0]}).")
    rt = c.get("retrieval")
    if rt:
        note = (rt.get("coverage") or {}).get("note")
        s.append(rt["verdict"])
        if note:     # the spaces embed different items: the verdict rests on the shared ones
            s.append(f"Retrieval is compared on the items the compared spaces all embed ({note}).")
    return s


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"
