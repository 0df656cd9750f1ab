"""Shared CLI plumbing: consoles, error handling, JSON output, the --home option."""

from __future__ import annotations

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

HOME_HELP = "Registry folder (default: $SPACELENS_HOME, else ~/.spacelens)."
# The verb's own --home (spacelens ls --home X) has no envvar: it would shadow the global
# --home given before the verb (spacelens --home X ls), which reads $SPACELENS_HOME.
HomeOption = typer.Option(None, "--home", help="Registry folder (default: the --home given before the verb, "
                          "else $SPACELENS_HOME, else ~/.spacelens).")
GlobalHomeOption = typer.Option(None, "--home", envvar="SPACELENS_HOME", show_envvar=True, help=HOME_HELP)
JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables.")
FullOption = typer.Option(False, "--full", help="The full result whatever it costs (with progress and time left), "
                          "instead of a sample when it would take longer than the budget; stored, it is then "
                          "used everywhere.")
BudgetOption = typer.Option(None, "--budget", metavar="SECONDS", help="Answer from a sample (95% intervals) when "
                            "the full result would take longer than this, above 100,000 items (default 60, or "
                            "$SPACELENS_BUDGET).")


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
    """JSON on stdout (numbers as numbers, NaN as null, paths and numpy values as plain values):
    the one encoder every surface uses (:mod:`spacelens.jsonable`)."""
    from spacelens.jsonable import dumps

    sys.stdout.write(dumps(obj, indent=2) + "\n")


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


# The --home given before the verb (or $SPACELENS_HOME), set by the root callback on every run.
_global = {"home": None}


def set_global_home(home: Optional[Path]) -> None:
    _global["home"] = home


def home_path(home: Optional[Path]) -> Path:
    """The registry folder: the verb's --home, else the global one, else $SPACELENS_HOME or ~/.spacelens."""
    from spacelens.registry import default_home

    chosen = home or _global["home"]
    return Path(chosen).expanduser() if chosen else default_home()


def home_arg(home: Optional[Path], create: bool = False):
    """The registry for a --home value. Only verbs that add (``create=True``) may start a new
    registry: anything else on a folder without one is a typo, not a wish for an empty registry."""
    from spacelens.api import open_registry

    path = home_path(home)
    if not create and not (path / "registry.sqlite").is_file():
        raise SpacelensError(f"No registry at {path} — check --home / SPACELENS_HOME, or add something first "
                             "with 'spacelens add'")
    return open_registry(path)


def parse_kind(kind: str, extra: tuple[str, ...] = ()) -> str:
    """``kind`` as a registry table name (datasets, experiments, spaces) or one of ``extra``;
    an unknown kind names the choices as --help does, with the closest one."""
    import difflib

    from spacelens.registry import KIND_ALIASES, KINDS

    key = kind.lower()
    if key in KIND_ALIASES:
        return KIND_ALIASES[key]
    for e in extra:
        if key in (e, e + "s"):
            return e
    choices = [*KINDS, *(e + "s" for e in extra)]
    close = difflib.get_close_matches(key, [*KIND_ALIASES, *choices], n=1, cutoff=0.6)
    guess = KIND_ALIASES.get(close[0], close[0]) if close else None
    hint = f"Did you mean {guess!r}? " if guess else ""
    raise SpacelensError(f"Unknown kind {kind!r}", f"{hint}Use one of: {', '.join(choices)}")
