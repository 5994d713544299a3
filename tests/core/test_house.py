"""The bars of the house: read from the source (AST), not from running code.

- no import cycles among modelpress modules (every import counts, lazy ones
  inside functions too; only ``if TYPE_CHECKING:`` blocks are left out);
- core imports no plugin, and at module level only the standard library,
  modelpress and its light dependencies (no torch, transformers, optuna ...);
- core's folders import downwards only (LAYERS, the drawing in docs/architecture.md);
- a plugin imports no other plugin (plugins depend on core only);
- no module over 300 lines (core, plugins, tests, examples, bench);
- the component kinds are declared once, in ``modelpress.components.KINDS``.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from modelpress import hookspecs
from modelpress.components import KINDS

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 300
#: what core may import when a module is imported: modelpress's declared dependencies
#: (pyproject `dependencies`) and what they bring; pytest only in the pytest plugin
LIGHT = {"pluggy", "jsonschema", "referencing", "yaml", "filelock"}


#: core's layers, top first: a module imports only from its own layer or below
LAYERS = [
    {"__init__", "__main__", "cli"},
    {"api"},
    {"search"},
    {"engine"},
    {"config"},
    {"evaluate"},
    {"registry", "testing"},
    {"components", "plugin_loading"},
    {"errors", "redact", "frozen", "hookspecs"},
]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    parts = ["modelpress"] if rel.parts[0] == "core" else ["modelpress", "plugins"]
    parts += list(rel.with_suffix("").parts[1:])
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = {_module_name(p): p for folder in ("core", "plugins") for p in sorted((ROOT / folder).rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def _imports(name: str, path: Path, module_level_only: bool = False) -> set[str]:
    """Absolute names ``name`` imports (``from a import b`` gives ``a.b`` when that is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    if module_level_only:
        nodes = [n for stmt in tree.body if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                   ast.ClassDef))
                 for n in ast.walk(stmt)]
        nodes += [n for stmt in tree.body if isinstance(stmt, ast.ClassDef)
                  for body in stmt.body if not isinstance(body, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for n in ast.walk(body)]
    else:
        nodes = list(ast.walk(tree))
    found: set[str] = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in nodes:
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in SOURCES else module)
    return found


def _graph() -> dict[str, set[str]]:
    return {name: {t for t in _imports(name, path) if t in SOURCES and t != name} for name, path in SOURCES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_walk_sees_the_house():
    # guards the checks below against walking nothing
    graph = _graph()
    assert "modelpress.api" in graph and "modelpress.plugins.huggingface.lora" in graph
    assert "modelpress.engine.chain" in graph["modelpress.api"]
    assert "modelpress.search.driver" in graph["modelpress.api"]  # a lazy import counts
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, "import loops among modelpress modules: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_core_imports_no_plugin_and_nothing_heavy_at_module_level():
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    problems = []
    for name, path in SOURCES.items():
        if name.startswith("modelpress.plugins"):
            continue
        for target in _imports(name, path):
            if target.startswith("modelpress.plugins"):
                problems.append(f"{name} imports the plugin module {target}")
        allowed = stdlib | LIGHT | {"modelpress"} | ({"pytest"} if name == "modelpress.testing" else set())
        for target in _imports(name, path, module_level_only=True):
            if target.split(".")[0] not in allowed:
                problems.append(f"{name} imports {target} at module level")
    assert not problems, "\n".join(problems)


def test_module_level_walk_skips_function_bodies():
    # the heavy-import check must see a module-level import and ignore a lazy one
    path = ROOT / "core" / "engine" / "runner.py"
    lazy = _imports("modelpress.engine.runner", path) - _imports("modelpress.engine.runner", path, True)
    assert "modelpress.registry" in lazy


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    return next(i for i, names in enumerate(LAYERS) if top in names)


def test_core_imports_downwards_only():
    graph = _graph()
    core = [m for m in graph if not m.startswith("modelpress.plugins")]
    assert {m.split(".")[1] if "." in m else "__init__" for m in core} == set().union(*LAYERS), \
        "a new core folder or module: give it its place in LAYERS (and in docs/architecture.md)"
    upward = [f"{a} imports {b}" for a in sorted(core) for b in sorted(graph[a])
              if not b.startswith("modelpress.plugins") and _layer(b) < _layer(a)]
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


def test_a_plugin_imports_no_other_plugin():
    problems = []
    for name, path in SOURCES.items():
        if not name.startswith("modelpress.plugins."):
            continue
        own = name.split(".")[2]
        for target in _imports(name, path):
            parts = target.split(".")
            if target.startswith("modelpress.plugins.") and parts[2] != own:
                problems.append(f"plugin {own} ({name}) imports {target}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("folder", ["core", "plugins", "tests", "examples", "bench"])
def test_no_module_over_300_lines(folder):
    long = {str(p.relative_to(ROOT)): n for p in sorted((ROOT / folder).rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by concern): {long}"


def test_component_kinds_are_declared_once():
    kind_names = set(KINDS)
    # every kind has its register hook, and every register hook but register_commands is a kind's
    hooks = {n for n in dir(hookspecs) if n.startswith("register_")} - {"register_commands"}
    assert hooks == {k.hook for k in KINDS.values()}
    for kind in KINDS.values():
        assert kind.base.kind == kind.name, f"{kind.base.__name__}.kind says {kind.base.kind!r}"
    # no other literal collection in core lists several kinds
    problems = []
    for name, path in SOURCES.items():
        if name == "modelpress.components.kinds" or name.startswith("modelpress.plugins"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            items = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", None)
            if not isinstance(node, (ast.Dict, ast.List, ast.Tuple, ast.Set)) or items is None:
                continue
            named = {i.value for i in items if isinstance(i, ast.Constant) and i.value in kind_names}
            if len(named) >= 3:
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno} lists the kinds {sorted(named)}; "
                                f"use modelpress.components.KINDS")
    assert not problems, "\n".join(problems)


def test_core_names_no_built_in_component():
    from modelpress.cli.docgen import builtin_registry

    names = {n for r in builtin_registry().all() for n in (r.name, *r.cls.aliases)}
    assert {"HfModel", "LoRA", "LocalSystem", "tpe"} <= names
    problems = []
    for name, path in SOURCES.items():
        if name.startswith("modelpress.plugins"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and id(node) not in docstrings and node.value in names:
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno} names the built-in {node.value!r}")
    assert not problems, "core knows no concrete component:\n" + "\n".join(problems)
