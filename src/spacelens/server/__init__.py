"""The analyzer web app (FastAPI): ``create_app(home)``; the page itself is built from web/.

FastAPI is imported only when the app is asked for. What the routes answer is built in
:mod:`spacelens.views` (UI-neutral), which the notebook widget reads too, without a web server.
"""

__all__ = ["create_app", "frontend_built", "static_dir"]


def __getattr__(name):
    if name in __all__:
        from spacelens.server import app

        return getattr(app, name)
    raise AttributeError(f"module 'spacelens.server' has no attribute {name!r}")
