"""Browsing the registry: datasets, experiments, spaces and the stored results' listings.

``/registry`` (everything at once), ``/datasets``, ``/datasets/{name}``, ``/experiments``,
``/experiments/{name}``, ``/spaces``, ``/spaces/{name}``, ``/comparisons``, ``/evaluations``,
``/maps``, ``/info``, ``/catalogue``; the experiments view: ``/leaderboard?dataset=`` (as
``spacelens.leaderboard``), ``/evolution?experiment=`` (a training curve from stored results
only) and ``/experiments-view`` (what the Registry tab leads with).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from spacelens.registry import record_dict
from spacelens.server.context import ServerContext, context
from spacelens.views.data import METHODS, list_comparisons, list_evaluations, list_maps, plain

router = APIRouter()


def dataset_summary(ctx: ServerContext, d) -> dict:
    out = record_dict(d)
    out["spaces"] = [s.name for s in ctx.reg.spaces_of(dataset=d.name)]
    return out


def space_summary(ctx: ServerContext, s) -> dict:
    out = record_dict(s)
    out["maps"] = sorted({m["method"] for m in list_maps(ctx.reg, s.name)
                          if m["space"] == s.name and m["method"] and not m["align_to"]})
    return out


@router.get("/info")
def info(ctx: ServerContext = Depends(context)):
    from spacelens.version import __version__
    from spacelens.server import frontend

    return {"version": __version__, "methods": METHODS, "frontend_built": frontend.frontend_built(),
            "image_roots": [str(r) for r in ctx.image_roots], "max_k": ctx.max_k}


@router.get("/catalogue")
def catalogue():
    """Every reported figure's name, labels, definition and reading rules (:mod:`spacelens.catalogue`)."""
    from spacelens import catalogue as cat

    return cat.as_json()


@router.get("/registry")
def registry(ctx: ServerContext = Depends(context)):
    reg = ctx.reg
    return plain({"datasets": [dataset_summary(ctx, d) for d in reg.list("datasets")],
                  "experiments": [record_dict(e) for e in reg.list("experiments")],
                  "spaces": [space_summary(ctx, s) for s in reg.list("spaces")],
                  "comparisons": list_comparisons(reg), "evaluations": list_evaluations(reg),
                  "maps": list_maps(reg)})


@router.get("/leaderboard")
def leaderboard(dataset: str, by: str = "mean_average_precision_at_r", label_field: str | None = None,
                metric: str | None = None, k: int | None = None, ctx: ServerContext = Depends(context)):
    """``spacelens.leaderboard(dataset, ...)``: stored evaluations ranked within groups of equal settings."""
    from spacelens.evaluate.leaderboard import leaderboard as _leaderboard

    return plain(_leaderboard(ctx.reg, dataset, by=by, label_field=label_field, metric=metric, k=k))


@router.get("/evolution")
def evolution(experiment: str, split: str | None = None, k: int | None = None, ctx: ServerContext = Depends(context)):
    """The ``evolution`` figures of an experiment from stored comparisons and evaluations (no computing)."""
    from spacelens.views.experiments import stored_curve

    return plain(stored_curve(ctx.reg, experiment, split=split, k=k))


@router.get("/experiments-view")
def experiments_view(ctx: ServerContext = Depends(context)):
    """Leaderboards, training curves and what differs between runs of one recipe (stored results only)."""
    from spacelens.views.experiments import experiments_view as _view

    return plain(_view(ctx.reg))


@router.get("/datasets")
def datasets(ctx: ServerContext = Depends(context)):
    return plain([dataset_summary(ctx, d) for d in ctx.reg.list("datasets")])


@router.get("/datasets/{name}")
def dataset(name: str, ctx: ServerContext = Depends(context)):
    out = dataset_summary(ctx, ctx.tables.entry(ctx.reg, name)["record"])
    out["columns"] = ctx.tables.columns(ctx.reg, name)
    return plain(out)


@router.get("/experiments")
def experiments(ctx: ServerContext = Depends(context)):
    return plain([record_dict(e) for e in ctx.reg.list("experiments")])


@router.get("/experiments/{name}")
def experiment(name: str, ctx: ServerContext = Depends(context)):
    out = record_dict(ctx.reg.experiment(name))
    out["spaces"] = [s.name for s in ctx.reg.spaces_of(experiment=name)]
    return plain(out)


@router.get("/spaces")
def spaces(dataset: str | None = None, ctx: ServerContext = Depends(context)):
    if dataset is not None:
        ctx.reg.dataset(dataset)
    return plain([space_summary(ctx, s) for s in ctx.reg.spaces_of(dataset=dataset)])


@router.get("/spaces/{name}")
def space(name: str, ctx: ServerContext = Depends(context)):
    out = space_summary(ctx, ctx.reg.space(name))
    out["evaluations"] = list_evaluations(ctx.reg, name)
    out["comparisons"] = [c for c in list_comparisons(ctx.reg) if name in (c["a"], c["b"])]
    return plain(out)


@router.get("/comparisons")
def comparisons(dataset: str | None = None, ctx: ServerContext = Depends(context)):
    if dataset is not None:
        ctx.reg.dataset(dataset)
    return plain(list_comparisons(ctx.reg, dataset))


@router.get("/evaluations")
def evaluations(space: str | None = None, ctx: ServerContext = Depends(context)):
    return plain(list_evaluations(ctx.reg, space))


@router.get("/maps")
def maps(space: str | None = None, ctx: ServerContext = Depends(context)):
    if space is not None:
        ctx.reg.space(space)
    return plain(list_maps(ctx.reg, space))
