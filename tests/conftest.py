"""Shared fixtures: a temporary registry home, a CLI runner through the real entry point,
small labelled datasets written to real files, and the headless browser (helpers in _web.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _web import chromium, open_page


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty registry folder, also set as $SPACELENS_HOME for API calls."""
    h = tmp_path / "home"
    monkeypatch.setenv("SPACELENS_HOME", str(h))
    monkeypatch.setenv("SPACELENS_NO_PROGRESS", "1")
    # replaced files are deleted at once (not after the 10-minute grace period readers get)
    monkeypatch.setenv("SPACELENS_TRASH_GRACE_S", "0")
    return h


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(home):
    """Run ``spacelens ARGS`` as a subprocess (the real console entry point) on ``home``."""
    def run(*args, check: bool | None = None, env: dict | None = None, timeout: float = 300) -> CliResult:
        e = {**os.environ, "SPACELENS_HOME": str(home), "SPACELENS_NO_PROGRESS": "1", "COLUMNS": "200",
             **(env or {})}
        p = subprocess.run([sys.executable, "-m", "spacelens", *map(str, args)], capture_output=True,
                           text=True, env=e, timeout=timeout)
        res = CliResult(p.returncode, p.stdout, p.stderr)
        if check is True:
            assert res.code == 0, f"exit {res.code}\nstdout:\n{res.out}\nstderr:\n{res.err}"
        return res
    return run


@dataclass
class Labeled:
    """A small clustered dataset: metadata table on disk plus embeddings."""
    csv: Path
    table: pd.DataFrame
    vectors: np.ndarray
    labels: np.ndarray


def make_labeled(tmp_path: Path, n: int = 300, d: int = 16, n_classes: int = 5, seed: int = 0,
                 name: str = "items") -> Labeled:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=n)
    centers = rng.normal(size=(n_classes, d)) * 3
    vectors = (centers[labels] + rng.normal(size=(n, d))).astype(np.float32)
    table = pd.DataFrame({"id": [f"item{i:05d}" for i in range(n)], "label": labels,
                          "caption": [f"a thing of class {c}" for c in labels], "score": rng.random(n)})
    csv = tmp_path / f"{name}.csv"
    table.to_csv(csv, index=False)
    return Labeled(csv, table, vectors, labels)


@pytest.fixture
def labeled(tmp_path) -> Labeled:
    return make_labeled(tmp_path)


@pytest.fixture(scope="module")
def browser():
    """Headless /usr/bin/chromium (Playwright), one per test module."""
    with chromium() as b:
        yield b


@pytest.fixture
def page1440(browser):
    """A 1440x900 page (the size the views are shown at); errors thrown in the page fail the test."""
    with open_page(browser, 1440, 900) as pg:
        yield pg
