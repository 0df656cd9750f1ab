"""Core modules and the CLI never import heavy optional packages at import time."""

import subprocess
import sys

HEAVY = ("torch", "fastapi", "uvicorn", "dask", "distributed", "umap", "numba", "matplotlib",
         "pytorch_metric_learning")


def test_import_spacelens_and_cli_stays_light():
    code = ("import sys, spacelens, spacelens.cli, spacelens.neighbors, spacelens.compare, "
            "spacelens.evaluate, spacelens.project\n"
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"imported at startup: {out}"
