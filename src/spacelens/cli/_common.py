"""Shared CLI plumbing: consoles, error handling, JSON output, the --home option."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from spacelens.errors import SpacelensError

# Piped output is for files and logs: do not squeeze tables into 80 columns there.
_width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
console = Console(highlight=False, width=_width)
err_console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 400)

HomeOption = typer.Option(None, "--home", envvar="SPACELENS_HOME", show_envvar=True,
                          help="Registry folder (default ~/.spacelens).")
JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables.")


@contextmanager
def handle_errors():
    """Turn library errors into one red line and exit code 1; Ctrl-C into exit 130."""
    try:
        yield
    except SpacelensError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc.message}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/red]: nothing was changed")
        sys.exit(130)


def print_json(obj: Any) -> None:
    """JSON on stdout (numbers as numbers, paths and numpy scalars as plain values)."""
    def default(o):
        if hasattr(o, "tolist"):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        if hasattr(o, "__dataclass_fields__"):
            from dataclasses import asdict
            return asdict(o)
        return str(o)

    sys.stdout.write(json.dumps(obj, indent=2, default=default) + "\n")


def engine_params(items: Optional[list[str]], scheduler: Optional[str] = None) -> dict:
    """Engine settings from repeated ``-p KEY=VALUE`` (numbers parsed), plus a Dask scheduler."""
    from spacelens.errors import SpacelensError

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SpacelensError(f"Engine setting {item!r} is not KEY=VALUE", "Write e.g. -p nprobe=32")
        for conv in (int, float):
            try:
                out[key] = conv(value)
                break
            except ValueError:
                continue
        else:
            out[key] = value
    if scheduler:
        out["scheduler"] = scheduler
    return out


def home_arg(home: Optional[Path]):
    """The registry for a --home value (None: $SPACELENS_HOME or ~/.spacelens)."""
    from spacelens.api import open_registry

    return open_registry(home)
