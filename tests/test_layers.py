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


# -- the run talks to objectives through their declared hooks only --------------------------------
TRAINING = PACKAGE / "training"
#: Names the run gives an objective (``loss_module``, ``loss``) and an update's output (``out``, ``result``).
LOSS_NAMES, OUTPUT_NAMES = ("loss",), ("out", "result")


def _objective_classes() -> set[str]:
    import inspect

    import gild_torchrl.objectives as objectives

    names = set()
    for module_name in (p.stem for p in (PACKAGE / "objectives").glob("*.py")):
        module = __import__(f"gild_torchrl.objectives.{module_name}", fromlist=["_"])
        names |= {n for n, c in vars(module).items() if inspect.isclass(c) and issubclass(c, objectives.BaseLossWrapper)}
    return names


def _root_name(node: ast.AST) -> str:
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""


def _probes(source: str, classes: set[str]) -> list[str]:
    """Where ``source`` asks an objective by its class (isinstance, issubclass, type), probes its attributes
    (getattr, hasattr) or sniffs an update's output for a key (``"key" in out``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args = node.args
            if node.func.id in ("isinstance", "issubclass") and len(args) == 2:
                if {n.id for n in ast.walk(args[1]) if isinstance(n, ast.Name)} & classes:
                    found.append(f"line {node.lineno}: {node.func.id} against an objective class")
            elif node.func.id in ("getattr", "hasattr", "type") and args and any(
                    word in _root_name(args[0]).lower() for word in LOSS_NAMES):
                found.append(f"line {node.lineno}: {node.func.id}({_root_name(args[0])}, ...)")
        elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
            if any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops) and any(
                    _root_name(c) in OUTPUT_NAMES or "loss" in _root_name(c).lower() for c in node.comparators):
                found.append(f"line {node.lineno}: {node.left.value!r} looked up in {_root_name(node.comparators[0])}")
    return found


def test_the_probe_finder_finds_what_the_run_did_before_the_hooks():
    """The loop's lines before the objectives declared their hooks: each is found."""
    before = '''
if progress.rewarded and isinstance(loss_module, MetaLookaheadLoss) and not loss_module.meta_started:
    loss_module.start_meta_learning()
if getattr(loss_module, "bc_fit_metrics", None):
    pass
if diagnostics_per_update and "meta_step" in result and loss_module.diagnostics_due:
    pass
network = getattr(loss_module, "network_params", None)
ok = isinstance(value, torch.Tensor) and "collector.total_frames" in command_line_keys()
'''
    found = _probes(before, _objective_classes())
    assert sorted(line.split(":")[0] for line in found) == ["line 2", "line 4", "line 6", "line 8"], found


def test_the_run_asks_objectives_only_through_their_hooks():
    """No module of ``gild_torchrl/training`` tests an objective's class, probes its attributes or sniffs its
    output's keys: what it needs is on :class:`~gild_torchrl.objectives.ObjectiveHooks`."""
    classes = _objective_classes()
    assert {"BaseLossWrapper", "MetaLookaheadLoss", "GILDLoss", "ILLoss", "MetaCriticLoss"} <= classes
    found = {path.name: probes for path in sorted(TRAINING.glob("*.py"))
             if (probes := _probes(path.read_text(encoding="utf-8"), classes))}
    assert found == {}


def test_each_run_reads_shared_parts_not_the_other_runs_helpers():
    """The off-policy and on-policy runs share :mod:`~gild_torchrl.training.session`'s parts and import neither
    each other nor anything by a string (``importlib``): the algorithm's kind picks its run."""
    files = _module_files()
    graph = {name: _imports(path, set(files)) for name, path in files.items()}
    off, on = "gild_torchrl.training.off_policy", "gild_torchrl.training.on_policy"
    assert "gild_torchrl.training.session" in graph[off] & graph[on]
    assert on not in graph[off] and off not in graph[on]
    assert "gild_torchrl.training.loop" not in files
    uses_importlib = [path.name for path in sorted(TRAINING.glob("*.py")) if "importlib.import_module" in path.read_text()]
    assert uses_importlib == []
