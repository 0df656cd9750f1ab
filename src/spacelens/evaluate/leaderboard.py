"""Rank stored evaluations, only among comparable ones; remove stray or superseded ones.

Two evaluations are comparable only when every setting that changes their numbers is the
same: the label column, the distance, k (MAP@R at k = 54 is not MAP@R at k = 128), the
query/reference split, averaging and an approximate engine. The leaderboard therefore ranks
each group of settings separately, and keeps one evaluation per space and settings (the
latest: an older one with the same settings is superseded, e.g. by a run with an explicit k
equal to the default one).
"""

from __future__ import annotations

import json

from spacelens.errors import NotFoundError, SpacelensError
from spacelens.evaluate.core import ALL_METRICS, ARTIFACT
from spacelens.neighbors.engines import is_exact
from spacelens.registry import Registry

# The settings a leaderboard group shares, in the order they are described.
SETTINGS = ("label_field", "metric", "k", "split", "avg_of_avgs", "engine", "clustering")
_NOT_RESULT_PARAMS = ("scheduler",)  # where work runs, not what it computes


def evaluation_settings(info: dict) -> dict:
    """The settings of a stored evaluation (its ``info``) that decide whether two are comparable."""
    split = info.get("split")
    if split:
        field = "" if split.get("field", "split") == "split" else f"{split['field']}="
        split = f"{field}{split['query']} vs {split.get('reference') or 'all'}"
    engine = info.get("engine") or "exact"
    params = {k: v for k, v in (info.get("engine_params") or {}).items() if k not in _NOT_RESULT_PARAMS}
    if is_exact(engine):   # every exact engine (dask runs the exact search) gives the same neighbours
        engine = "exact"
    elif params:
        engine = f"{engine} {json.dumps(params, sort_keys=True, separators=(',', '='))}"
    if info.get("sample"):   # an estimate from sampled queries ranks only among estimates
        engine = f"{engine} on {int(info['sample']['n']):,} sampled queries"
    return {"label_field": info.get("label_field"), "metric": info.get("metric"), "k": info.get("k"),
            "split": split, "avg_of_avgs": bool(info.get("avg_of_avgs")), "engine": engine}


def clustering_text(key: dict | None) -> str:
    """How NMI/AMI were obtained, from the evaluation's key (``evaluation_params``)."""
    if not key:
        return "no clustering"
    if key.get("method") == "kmeans":
        return f"NMI by k-means (n_init {key.get('n_init')}, seed {key.get('seed')})"
    if key.get("method") == "column":
        return f"NMI of column {key.get('field')!r}"
    return "NMI of a given clustering"


def settings_text(settings: dict) -> str:
    """One line a person reads: ``labels 'label' · cosine · k = 54 · queries val vs train · exact``."""
    parts = [f"labels {settings['label_field']!r}", str(settings["metric"]), f"k = {settings['k']}",
             f"queries {settings['split']}" if settings.get("split") else "every item a query",
             "avg of per-label avgs" if settings.get("avg_of_avgs") else None,
             str(settings.get("engine") or "exact"), settings.get("clustering")]
    return " · ".join(p for p in parts if p)


def _key(settings: dict) -> tuple:
    return tuple(json.dumps(settings.get(s), sort_keys=True) for s in SETTINGS)


def stored_evaluations(reg: Registry, dataset: str) -> list[dict]:
    """Every stored evaluation of the spaces of ``dataset``: one row each, oldest first."""
    reg.dataset(dataset)  # NotFoundError with a hint when unknown
    rows = []
    for sp in reg.spaces_of(dataset=dataset):
        for art in reg.find_artifacts(kind=ARTIFACT, space=sp.name):
            info = art.info
            settings = {**evaluation_settings(info), "clustering": clustering_text(art.params.get("clustering"))}
            rows.append({"space": sp.name, "experiment": sp.experiment, "step": sp.step,
                         **{s: settings[s] for s in SETTINGS}, "settings": settings,
                         **{m: info.get(m) for m in ALL_METRICS},
                         "n_queries": info.get("n_queries"), "clustering": info.get("clustering"),
                         "evaluated_at": art.created_at, "evaluation_id": art.id})
    rows.sort(key=lambda r: (r["evaluated_at"], r["evaluation_id"]))
    return rows


def _latest(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """``(kept, superseded)``: one row per space and settings, the latest."""
    latest: dict[tuple, dict] = {}
    for r in rows:  # oldest first: a later one replaces
        latest[(r["space"], _key(r["settings"]))] = r
    kept_ids = {r["evaluation_id"] for r in latest.values()}
    return ([r for r in rows if r["evaluation_id"] in kept_ids],
            [r for r in rows if r["evaluation_id"] not in kept_ids])


def leaderboard(reg: Registry, dataset: str, *, by: str = "mean_average_precision_at_r",
                label_field: str | None = None, metric: str | None = None, k: int | None = None) -> list[dict]:
    """The stored evaluations of the spaces of ``dataset``, ranked within groups of equal settings.

    One row per space and settings (the latest evaluation). Rows carry ``group`` (1 = the
    group with the most spaces), ``settings`` (what the group shares) and ``rank`` (within
    the group, best ``by`` first); rows of different groups are never ranked together.
    Filter with ``label_field``, ``metric``, ``k``.
    """
    if by not in ALL_METRICS:
        raise SpacelensError(f"Cannot rank by {by!r}", f"Use one of: {', '.join(ALL_METRICS)}")
    rows, _ = _latest(stored_evaluations(reg, dataset))
    rows = [r for r in rows if (label_field is None or r["label_field"] == label_field)
            and (metric is None or r["metric"] == metric) and (k is None or r["k"] == k)]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(_key(r["settings"]), []).append(r)
    ordered = sorted(groups.values(), key=lambda g: (-len(g), _key(g[0]["settings"])))
    out = []
    for gi, group in enumerate(ordered, 1):
        group.sort(key=lambda r: (r[by] is None, -(r[by] or 0.0), r["space"]))
        for rank, r in enumerate(group, 1):
            out.append({**r, "group": gi, "rank": rank})
    return out


def superseded_evaluations(reg: Registry, dataset: str) -> list[dict]:
    """Evaluations hidden from the leaderboard by a later one of the same space and settings."""
    return _latest(stored_evaluations(reg, dataset))[1]


def _delete(reg: Registry, rows: list[dict]) -> None:
    by_id = {r["evaluation_id"] for r in rows}
    for sp in {r["space"] for r in rows}:
        for art in reg.find_artifacts(kind=ARTIFACT, space=sp):
            if art.id in by_id:
                reg.delete_artifact(art)


def prune_evaluations(reg: Registry, dataset: str) -> list[dict]:
    """Delete the superseded evaluations of ``dataset``'s spaces; returns what was deleted."""
    gone = superseded_evaluations(reg, dataset)
    _delete(reg, gone)
    return gone


def remove_evaluations(reg: Registry, space: str, *, label_field: str | None = None, metric: str | None = None,
                       k: int | None = None) -> list[dict]:
    """Delete the stored evaluations of ``space`` (those with the given label column, metric, k).

    Returns the deleted rows (with their settings); nothing matching is an error that lists
    what the space has.
    """
    rec = reg.space(space)
    rows = [r for r in stored_evaluations(reg, rec.dataset) if r["space"] == rec.name]
    match = [r for r in rows if (label_field is None or r["label_field"] == label_field)
             and (metric is None or r["metric"] == metric) and (k is None or r["k"] == k)]
    if not rows:
        raise NotFoundError(f"Space {rec.name!r} has no stored evaluation", "List them with 'spacelens show SPACE'")
    if not match:
        have = "; ".join(settings_text(r["settings"]) for r in rows) or "none"
        raise NotFoundError(f"Space {rec.name!r} has no evaluation with "
                            + ", ".join(f"{n}={v!r}" for n, v in (("label_field", label_field), ("metric", metric),
                                                                   ("k", k)) if v is not None),
                            f"Its evaluations: {have}")
    _delete(reg, match)
    return match
