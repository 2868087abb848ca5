"""The front door and the engine import one way: no import circle, the runner never imports the CLI,
and ``defs/`` (Dagster definitions) imports nothing from the front door."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("orchestration", "briefing", "ingestion", "expectations")


def _modules() -> dict[str, Path]:
    mods = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            mods[name] = path
    return mods


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere (also inside functions: lazy imports count)."""
    mods = _modules()

    def owner(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in mods.items():
        found: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {owner(alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(owner(node.module))
                found |= {f"{node.module}.{alias.name}" for alias in node.names} & mods.keys()
        # a package's __init__ re-exporting its own submodules is not a circle
        graph[name] = {m for m in found if m and m != name and not name.startswith(m + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_sees_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_of_the_project_imports_itself_back():
    assert cycles(import_graph()) == []


def test_nothing_below_the_front_door_imports_it():
    graph = import_graph()
    assert [m for m, deps in graph.items() if "orchestration.cli" in deps] == []


def test_defs_hold_only_dagster_definitions_and_import_nothing_from_the_front_door():
    graph = import_graph()
    allowed = ("orchestration.defs", "orchestration.lib", "orchestration.settings")
    wrong = sorted(
        (m, d)
        for m, deps in graph.items()
        if m.startswith("orchestration.defs")
        for d in deps
        if d.startswith("orchestration.") and not d.startswith(allowed)
    )
    assert wrong == []
