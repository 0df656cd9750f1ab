"""A real Jupyter server (JupyterLab or Notebook 7) started by a test, and Chromium pages on it.

Used by the notebook widget's browser tests. The server runs offline on a free localhost port
with token auth and its own config, runtime, IPython and spacelens folders under a temporary
root, on one notebook written there. ``open_notebook`` waits until the notebook's kernel is
idle and ``run_cell`` checks that the cell really ran: JupyterLab and Notebook 7 silently drop
a Shift+Enter pressed before the notebook's session has a kernel (the cell keeps ``[ ]:``, the
cursor moves on, nothing is sent), which once left the widget test waiting 10 minutes for a
map that nothing had asked for.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _web import free_port

TOKEN = "spacelens-test-token"

# The two front ends: the module to run, the URL path of a notebook, the app's config section.
APPS = {
    "jupyterlab": {"module": "jupyterlab", "path": "lab/tree", "section": "LabApp"},
    "notebook": {"module": "notebook", "path": "notebooks", "section": "JupyterNotebookApp"},
}
# No "get notified about Jupyter news?" toast over the cells, no update check (nothing online).
NO_NEWS = {"fetchNews": "false", "checkForUpdates": False}


def notebook_json(cells: list[str]) -> dict:
    """An nbformat-4 notebook of code cells, with the python3 kernel."""
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None, "outputs": [],
                       "source": src} for i, src in enumerate(cells)]}


@dataclass
class Server:
    app: str
    base: str
    root: Path

    def url(self, notebook: str) -> str:
        return f"{self.base}/{APPS[self.app]['path']}/{notebook}?token={TOKEN}"


@contextmanager
def jupyter(app: str, root: Path, notebooks: dict[str, dict], src: Path) -> Iterator[Server]:
    """Run ``python -m jupyterlab`` or ``python -m notebook`` on ``root`` holding ``notebooks``.

    The kernel gets ``src`` first on its PYTHONPATH (this checkout's spacelens), a scratch
    SPACELENS_HOME and no progress bars. The server's output goes to ``root/server.log``.
    """
    spec = APPS[app]
    for name, nb in notebooks.items():
        (root / name).write_text(json.dumps(nb))
    settings = root / ".config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps(NO_NEWS))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
           "JUPYTER_CONFIG_DIR": str(root / ".config"), "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
           "IPYTHONDIR": str(root / ".ipython"), "SPACELENS_HOME": str(root / ".spacelens"),
           "SPACELENS_NO_PROGRESS": "1", "MPLBACKEND": "Agg"}
    args = [sys.executable, "-m", spec["module"], "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={TOKEN}", "--allow-root", f"--ServerApp.root_dir={root}",
            # window.jupyterapp: the test asks the app whether the notebook's kernel is ready
            f"--{spec['section']}.expose_app_in_browser=True"]
    if app == "jupyterlab":
        args += [f"--LabApp.workspaces_dir={root / '.ws'}", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                 "--LabApp.news_url=None"]
    log_path = root / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(args, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2)
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"{app} did not start:\n{log_path.read_text()[-3000:]}") from None
                    time.sleep(0.5)
            yield Server(app, base, root)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def own_bundle(error) -> bool:
    """Whether an uncaught error was thrown in Jupyter's own code (its first stack frame)."""
    frames = [ln for ln in (error.stack or "").splitlines() if ln.strip().startswith("at ")]
    return bool(frames) and any(f"/static/{app}/" in frames[0] for app in ("notebook", "lab"))


KERNEL_IDLE = """() => {
    const w = window.jupyterapp?.shell?.currentWidget;
    return w?.sessionContext?.session?.kernel?.status === 'idle';
}"""


@contextmanager
def open_notebook(browser, server: Server, notebook: str, *, width: int = 1400, height: int = 1000):
    """A page on ``notebook``, yielded once its cells show and its kernel is idle.

    ``page.errors`` collects uncaught page errors (their stacks), except those thrown inside
    the front end's own bundles (``/static/notebook/``, ``/static/lab/``): Notebook 7.6's
    shortcuts plugin throws "Cannot read properties of undefined (reading 'schema')" on a
    notebook that only runs ``1+1``. The console goes to ``root/console-APP.log``.
    """
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    page.errors = []
    page.on("pageerror", lambda e: None if own_bundle(e) else page.errors.append(e.stack or str(e)))
    with open(server.root / f"console-{server.app}.log", "a") as console:
        page.on("console", lambda m: console.write(f"{m.type}: {m.text}\n"))
        try:
            page.goto(server.url(notebook), wait_until="domcontentloaded")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            page.wait_for_function(KERNEL_IDLE, timeout=120_000, polling=200)
            yield page
        finally:
            ctx.close()


def cell(page, i: int):
    return page.locator(".jp-Notebook .jp-Cell").nth(i)


def run_cell(page, i: int, expect: str | None = None, timeout: float = 120_000) -> str:
    """Run cell ``i`` with Shift+Enter and check the kernel took it; with ``expect``, wait for
    that text in its output and return the output's text."""
    c = cell(page, i)
    c.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    # queued or run: the prompt shows [*] or [n]; a dropped execution leaves [ ] at once
    prompt = c.locator(".jp-InputPrompt").first
    try:
        page.wait_for_function("(el) => /\\[(\\*|\\d+)\\]/.test(el.textContent)", arg=prompt.element_handle(),
                               timeout=10_000, polling=100)
    except Exception as exc:
        raise AssertionError(f"cell {i} was not run (its prompt is {prompt.inner_text()!r}): "
                             "the notebook's kernel was not ready") from exc
    if expect is None:
        return ""
    out = c.locator(".jp-OutputArea-output")
    out.filter(has_text=expect).first.wait_for(timeout=timeout)
    return out.all_inner_texts()[-1]


def ink(png: bytes) -> int:
    """Pixels of a screenshot that are not the white background."""
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int((np.abs(a - 255).sum(axis=2) > 60).sum())
