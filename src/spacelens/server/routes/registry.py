"""Browsing the registry: datasets, experiments, spaces and the stored results' listings.

``/registry`` (everything at once), ``/datasets``, ``/datasets/{name}``, ``/experiments``,
``/experiments/{name}``, ``/spaces``, ``/spaces/{name}``, ``/comparisons``, ``/evaluations``,
``/maps``, ``/info``, ``/catalogue``.
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


@router.get("/datasets")
def datasets(ctx: ServerContext = Depends(context)):
    return plain([dataset_summary(ctx, d) for d in ctx.reg.list("datasets")])


@router.get("/datasets/{name}")
def dataset(name: str, ctx: ServerContext = Depends(context)):
    e = ctx.tables.entry(ctx.reg, name)
    out = dataset_summary(ctx, e["record"])
    out["columns"] = e["columns"]
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
