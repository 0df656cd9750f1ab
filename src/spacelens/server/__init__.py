"""The analyzer web app (FastAPI): ``create_app(home)``; the page itself is built from web/."""

from spacelens.server.app import create_app, frontend_built, static_dir

__all__ = ["create_app", "frontend_built", "static_dir"]
