"""The analyzer's API, one router per concern (all mounted under /api by the app factory)."""

from spacelens.server.routes import audit, changes, comparisons, figures, items, jobs, maps, query, registry, versus

ROUTERS = [registry.router, maps.router, comparisons.router, items.router, query.router, jobs.router,
           changes.router, versus.router, audit.router, figures.router]

__all__ = ["ROUTERS"]
