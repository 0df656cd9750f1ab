"""The registry as an experiments view: training curves read from stored results, and what
differs between two runs of one recipe.

Only stored results are read (a GET never computes): a training curve is built from the
exact comparisons and the evaluations that ``spacelens evolution`` (or ``compare`` /
``evaluate``) already stored; epochs without them are gaps, counted in ``missing``, and the
curve names the command that fills them.
"""

from __future__ import annotations

import json
from collections import Counter

from spacelens import catalogue
from spacelens.errors import SpacelensError
from spacelens.registry import Registry, record_dict

# Two experiments are runs of one recipe when their params have the same keys and differ in at
# most this many values (a reseeded run differs in its seed only).
MAX_RECIPE_DIFFERENCES = 3


# -- what differs between runs ---------------------------------------------------------------
def flat_params(params: dict | None, prefix: str = "") -> dict:
    """Nested params as one level of dotted keys (``optimizer.lr``); lists stay values."""
    out: dict = {}
    for k, v in (params or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flat_params(v, f"{key}."))
        else:
            out[key] = v
    return out


def _same(x, y) -> bool:
    return json.dumps(x, sort_keys=True, default=str) == json.dumps(y, sort_keys=True, default=str)


def param_differences(a: dict | None, b: dict | None) -> list[dict]:
    """The flattened params whose values differ between ``a`` and ``b`` (a key missing on one
    side differs), in key order: ``[{"key", "a", "b"}]``; a missing value is ``None``."""
    fa, fb = flat_params(a), flat_params(b)
    return [{"key": k, "a": fa.get(k), "b": fb.get(k)} for k in sorted(set(fa) | set(fb))
            if k not in fa or k not in fb or not _same(fa[k], fb[k])]


def run_pairs(reg: Registry, max_differences: int = MAX_RECIPE_DIFFERENCES) -> list[dict]:
    """Pairs of experiments that are runs of one recipe: the same param keys, at most
    ``max_differences`` values differ (at least one). Fewest differences first; each pair says
    which params differ (``differ``: key, a, b) and how many are equal (``n_same``)."""
    exps = [e for e in reg.list("experiments") if flat_params(e.params)]
    out = []
    for i, ea in enumerate(exps):
        for eb in exps[i + 1:]:
            fa, fb = flat_params(ea.params), flat_params(eb.params)
            if set(fa) != set(fb):
                continue
            diff = param_differences(ea.params, eb.params)
            if 0 < len(diff) <= max_differences:
                out.append({"a": ea.name, "b": eb.name, "differ": diff, "n_same": len(fa) - len(diff)})
    out.sort(key=lambda p: (len(p["differ"]), p["a"], p["b"]))
    return out


def varying_params(reg: Registry) -> list[str]:
    """The flattened param keys whose value is not the same in every experiment that has params."""
    flats = [flat_params(e.params) for e in reg.list("experiments")]
    flats = [f for f in flats if f]
    keys = sorted(set().union(*flats)) if flats else []
    return [k for k in keys if len(flats) > 1 and not all(k in f and _same(f[k], flats[0].get(k)) for f in flats)]


# -- training curves from stored results -----------------------------------------------------
def _stored_jaccards(reg: Registry) -> dict[tuple[frozenset, int], float]:
    """Mean Jaccard of every stored exact, self-excluded, cosine comparison, by (pair, k); the
    latest when several."""
    from spacelens.compare.core import KIND
    from spacelens.neighbors.engines import is_exact

    out: dict = {}
    for art in sorted(reg.find_artifacts(kind=KIND), key=lambda a: a.id):
        p = art.params
        if (not is_exact(p.get("engine")) or p.get("include_self") or p.get("metric_a") != "cosine"
                or p.get("metric_b") != "cosine" or (art.info or {}).get("mean") is None):
            continue
        out[(frozenset((art.space, art.other_space)), int(p["k"]))] = float(art.info["mean"])
    return out


def _default_split(spaces) -> str | None:
    splits = sorted({s.split for s in spaces}, key=str)
    return "val" if "val" in splits else splits[0]


def stored_curve(reg: Registry, experiment: str, *, split: str | None = None, k: int | None = None,
                 jaccards: dict | None = None, evaluations: list[dict] | None = None) -> dict:
    """The ``evolution`` figures of ``experiment`` from stored results only.

    Per epoch of one split and run (``split=None``: "val" if logged, else the first split; the
    latest run, as ``evolution`` follows): ``jaccard_prev``, the mean kNN Jaccard (exact, cosine,
    self excluded) to the previous epoch at ``k`` (default: the k with the most stored pairs,
    10 on a tie), and the primary metric (MAP@R) of the evaluation settings most of its epochs
    were evaluated with. A figure nobody stored is ``None`` (counted in ``missing``); ``command``
    is the ``spacelens evolution`` line that computes and stores them.
    """
    from spacelens.evaluate.leaderboard import leaderboard, settings_text
    from spacelens.evolution import epoch_spaces

    reg.experiment(experiment)  # NotFoundError with a hint when unknown
    stepped = [s for s in reg.spaces_of(experiment=experiment) if s.step is not None]
    if not stepped:
        raise SpacelensError(f"Experiment {experiment!r} has no spaces logged with a step (epoch)",
                             "Log them with spacelens.log_space(..., step=epoch, split=...)")
    split = _default_split(stepped) if split is None else split
    spaces = epoch_spaces(reg, experiment, split)
    names = [s.name for s in spaces]
    jacc = _stored_jaccards(reg) if jaccards is None else jaccards
    pairs = [frozenset((x, y)) for x, y in zip(names, names[1:])]
    if k is None:
        ks = Counter(kk for (pair, kk) in jacc if pair in set(pairs))
        k = min(ks, key=lambda kk: (-ks[kk], kk != 10, kk)) if ks else 10
    prev = [None] + [jacc.get((p, k)) for p in pairs]
    rows = leaderboard(reg, spaces[0].dataset) if evaluations is None else evaluations
    mine = [r for r in rows if r["space"] in set(names) and r.get(catalogue.PRIMARY_METRIC) is not None]
    groups = Counter(json.dumps(r["settings"], sort_keys=True) for r in mine)
    settings = json.loads(min(groups, key=lambda g: (-groups[g], g))) if groups else None
    by_space = {r["space"]: r for r in mine if json.dumps(r["settings"], sort_keys=True)
                == json.dumps(settings, sort_keys=True)}
    metric = [by_space[n][catalogue.PRIMARY_METRIC] if n in by_space else None for n in names]
    label = settings["label_field"] if settings else None
    command = (f"spacelens evolution {experiment} --split {split} -k {k}"
               + (f" --label-field {label}" if label else " --label-field LABEL_COLUMN"))
    return {"experiment": experiment, "dataset": spaces[0].dataset, "split": split, "run": spaces[0].run,
            "k": k, "metric": catalogue.PRIMARY_METRIC, "settings": settings,
            "settings_text": settings_text(settings) if settings else None,
            "steps": [int(s.step) for s in spaces], "spaces": names, "jaccard_prev": prev,
            "metric_values": metric,
            "missing": {"jaccard_prev": sum(v is None for v in prev[1:]), "metric": sum(v is None for v in metric)},
            "command": command}


def stored_curves(reg: Registry) -> list[dict]:
    """:func:`stored_curve` of every experiment with spaces logged with a step."""
    from spacelens.evaluate.leaderboard import leaderboard

    jacc = _stored_jaccards(reg)
    boards: dict[str, list[dict]] = {}
    out = []
    for e in reg.list("experiments"):
        stepped = [s for s in reg.spaces_of(experiment=e.name) if s.step is not None]
        if not stepped:
            continue
        ds = stepped[0].dataset
        if ds not in boards:
            boards[ds] = leaderboard(reg, ds)
        try:
            out.append(stored_curve(reg, e.name, jaccards=jacc, evaluations=boards[ds]))
        except SpacelensError as err:  # e.g. two spaces with one step: say so, keep the others
            out.append({"experiment": e.name, "error": str(err)})
    return out


def experiments_view(reg: Registry) -> dict:
    """What the page's Registry tab leads with: each dataset's leaderboard, the training curve
    of each experiment logged by epoch, the pairs of runs of one recipe with what differs, and
    the param keys that vary across experiments."""
    from spacelens.evaluate.leaderboard import leaderboard

    return {"leaderboards": {d.name: leaderboard(reg, d.name) for d in reg.list("datasets")},
            "curves": stored_curves(reg), "run_pairs": run_pairs(reg), "varying_params": varying_params(reg),
            "experiments": [record_dict(e) for e in reg.list("experiments")]}
