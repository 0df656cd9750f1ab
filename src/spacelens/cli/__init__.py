"""The ``spacelens`` command line: a thin skin over :mod:`spacelens.api`.

Each verb group lives in its own module exposing ``register(app)``. Errors from the
library (:class:`~spacelens.errors.SpacelensError`) print as one red line and exit 1;
warnings print as one yellow line; no traceback reaches the user.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings
from pathlib import Path
from typing import Optional

import typer

from spacelens.cli._common import GlobalHomeOption, err_console, handle_errors, set_global_home

app = typer.Typer(
    name="spacelens",
    help="Track, compare, evaluate and see embedding spaces.\n\n"
    "The registry lives in --home (before or after the verb), else $SPACELENS_HOME, else ~/.spacelens. "
    "Start with 'spacelens add --help'.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

# Verb groups, in the order they appear in --help. Each module defines register(app).
VERB_MODULES = ["track", "neighbors", "compare", "evaluate", "report", "project", "evolution", "ui"]


def _register_all() -> None:
    for name in VERB_MODULES:
        modname = f"spacelens.cli.{name}"
        if importlib.util.find_spec(modname) is not None:
            importlib.import_module(modname).register(app)


@app.callback()
def _root(home: Optional[Path] = GlobalHomeOption) -> None:
    """Options before the verb (spacelens --home X ls); each verb reads them through home_arg."""
    set_global_home(home)


_register_all()


def main() -> None:
    """Console entry point."""
    def show(message, category, filename, lineno, file=None, line=None):
        err_console.print(f"[yellow]warning:[/yellow] {message}", highlight=False, soft_wrap=True)

    warnings.showwarning = show
    with handle_errors():
        app(standalone_mode=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
