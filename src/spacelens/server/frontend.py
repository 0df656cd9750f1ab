"""Where the built front end lives (``make web`` fills it), apart from the app so routes can ask."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def static_dir() -> Path:
    """The built page inside the package."""
    return Path(str(resources.files("spacelens.server") / "static"))


def frontend_built() -> bool:
    return (static_dir() / "index.html").is_file()
