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


# -- no import cycles -------------------------------------------------------------------------
# A cycle, even through imports inside functions, means two modules each need the other: one
# concept split in two, or a low layer calling a high one (api -> report -> api). Every import of
# a spacelens module, at the top or inside a function, is an edge; the graph must have no cycle.
import ast  # noqa: E402
from pathlib import Path  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules() -> dict[str, Path]:
    out = {}
    for p in (SRC / "spacelens").rglob("*.py"):
        parts = list(p.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _edges(mods: dict[str, Path]) -> dict[str, set[str]]:
    graph = {m: set() for m in mods}
    for m, p in mods.items():
        pkg = m if p.name == "__init__.py" else m.rsplit(".", 1)[0]
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                for sub in ast.walk(node):
                    sub._typing_only = True
            if getattr(node, "_typing_only", False):
                continue
            if isinstance(node, ast.Import):
                targets = [(a.name, ()) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [(base, tuple(a.name for a in node.names))]
            else:
                continue
            for target, names in targets:
                subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in mods]
                cands = subs + ([target] if len(subs) < len(names) or not names else [])
                graph[m].update(c for c in cands if c in mods and c != m)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(v):
        state[v] = 1
        stack.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state:
                found = visit(w)
                if found:
                    return found
        stack.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state:
            found = visit(v)
            if found:
                return found
    return None


def test_no_import_cycles():
    cycle = _cycle(_edges(_modules()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_notebook_widget_reads_views_not_the_web_server():
    """The widget and the page share spacelens.views; the widget never imports spacelens.server."""
    graph = _edges(_modules())
    for m in graph:
        if m.startswith("spacelens.notebook") or m.startswith("spacelens.views"):
            assert not {t for t in graph[m] if t.startswith("spacelens.server")}, m
