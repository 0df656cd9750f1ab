"""``spacelens ui`` (alias ``spacelens run``): serve the analyzer page for a registry."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import List, Optional

import typer

from spacelens.cli._common import HomeOption, console, err_console, home_arg
from spacelens.errors import SpacelensError


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise SpacelensError(f"Cannot listen on {host}:{port} ({exc.strerror or exc})",
                                 "Pass another --port (or --port 0 for any free one)") from None


def ui(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on. The default serves this "
                             "machine only; 0.0.0.0 makes the page (and your registry) reachable from the network."),
    port: int = typer.Option(8501, "--port", "-p", help="Port to listen on (0: any free port)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a web browser."),
    images: Optional[List[Path]] = typer.Option(None, "--images", help="Folder whose image files may be "
                                                "shown (tooltips, neighbour tables) when a dataset column holds "
                                                "image paths (repeatable). Without it: image URLs, and files under "
                                                "a dataset's own image folder ('spacelens add --images')."),
    allow_host: Optional[List[str]] = typer.Option(None, "--allow-host", help="Another name the page may be "
                                                   "opened by (e.g. behind a proxy; repeatable). Requests naming "
                                                   "any other host are refused."),
    token: bool = typer.Option(False, "--token", help="Require the access token even on this machine's "
                               "loopback address (other users of a shared machine). Beyond loopback it is "
                               "always required."),
    home: Optional[Path] = HomeOption,
):
    """Serve the analyzer: two linked maps of two spaces, agreement histogram, kNN queries.

    Pick a dataset, space A and space B, a map method (PCA, UMAP, PCA->UMAP) and a colouring (a metadata column, or per-item agreement "coincidence"). Maps and comparisons not computed yet are computed from the page. Stop with Ctrl-C.

    On a non-loopback --host the page needs an access token, generated at start and part of the
    address printed (it is then kept in a cookie).

    Example: spacelens ui --home ./registry --port 8501
    """
    from spacelens.server.app import create_app, frontend_built, static_dir
    from spacelens.server.security import WILDCARD, is_loopback

    if not frontend_built():
        raise SpacelensError(f"The analyzer page is not built (no {static_dir() / 'index.html'})",
                             "Build it once with 'make web' (that is: cd web && npm ci && npm run build) "
                             "in the spacelens source folder, then run 'spacelens ui' again")
    import uvicorn

    reg = home_arg(home)
    port = _free_port(host) if port == 0 else port
    _check_port(host, port)
    app = create_app(reg, image_roots=images or (), host=host, allowed_hosts=allow_host or (), token=token or None)
    wildcard = host in WILDCARD
    shown = "127.0.0.1" if wildcard or host == "localhost" else (f"[{host}]" if ":" in host else host)
    query = f"?token={app.state.token}" if app.state.token else ""
    url = f"http://{shown}:{port}/{query}"
    if not is_loopback(host):
        err_console.print(f"[yellow]note:[/yellow] listening on {host}: anyone who can reach this machine and has "
                          "the address below (with its token) can read the registry through the page", highlight=False)
    console.print(f"spacelens analyzer: [bold]{url}[/bold]  (registry {reg.home}; Ctrl-C to stop)", soft_wrap=True)
    if wildcard:
        import socket

        console.print(f"  from other machines: http://{socket.getfqdn()}:{port}/{query}", soft_wrap=True,
                      highlight=False)

    def warm() -> None:  # read the newest datasets' tables now, not on the page's first request
        try:
            for d in reg.list("datasets")[-2:]:
                app.state.tables.entry(reg, d.name)
        except Exception:  # the page will report problems itself
            pass

    threading.Thread(target=warm, daemon=True, name="spacelens-warm").start()
    if not no_browser:
        import webbrowser

        threading.Timer(1.0, lambda: webbrowser.open(url)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("ui", rich_help_panel="See")(ui)
    app.command("run", rich_help_panel="See", help="Alias of 'spacelens ui'.")(ui)
