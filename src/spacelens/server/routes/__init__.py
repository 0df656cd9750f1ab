"""The analyzer's API, one router per concern (all mounted under /api by the app factory)."""

from spacelens.server.routes import comparisons, items, jobs, maps, query, registry

ROUTERS = [registry.router, maps.router, comparisons.router, items.router, query.router, jobs.router]

__all__ = ["ROUTERS"]
