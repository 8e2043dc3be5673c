"""Which package may import which: read from the source, so that an import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gild_torchrl"


def _module_files() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__.py``)."""
    files = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports (any depth, any place), or names in a string such as ``"pkg.mod:fn"``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value.split(":")[0]]
        for name in names:
            parts = name.split(".")  # importing a.b.c runs a, a.b and a.b.c
            found |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & modules
    return found


def _reachable(start: set[str], graph: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), list(start)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph[module])
    return seen


def test_training_never_imports_the_analysis():
    """The analysis reads what runs write (``training.run_dir``, ``training.grid``); the run needs nothing of it."""
    files = _module_files()
    graph = {name: _imports(path, set(files)) for name, path in files.items()}
    training = {name for name in files if name.startswith("gild_torchrl.training")}
    assert "gild_torchrl.training.grid" in training and "gild_torchrl.analysis.runs" in files
    assert "gild_torchrl.training.grid" in graph["gild_torchrl.analysis.runs"]  # the graph sees the other direction
    reached = _reachable(training, graph)
    assert sorted(m for m in reached if m.startswith("gild_torchrl.analysis")) == []
