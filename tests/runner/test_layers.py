"""The shape of the house: modules import each other in one direction only, and the engine never imports the
dashboard. Imports inside functions (loaded on first use) and under TYPE_CHECKING are not counted."""

from __future__ import annotations

import ast
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for folder in ("runner", "tui") for path in (PROJECT / folder).rglob("*.py")}


def imported_at_load(path: Path) -> set[str]:
    """The project modules `path` imports when it is itself imported."""
    found: set[str] = set()
    for statement in ast.parse(path.read_text()).body:
        if isinstance(statement, ast.If) and "TYPE_CHECKING" in ast.unparse(statement.test):
            continue
        for node in ast.walk(statement):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                break
    return {name for name in found if name in MODULES}


GRAPH = {name: imported_at_load(path) for name, path in MODULES.items()}


def test_no_module_imports_one_that_imports_it_back() -> None:
    cycles: list[list[str]] = []

    def visit(name: str, trail: list[str], done: set[str]) -> None:
        for imported in sorted(GRAPH[name]):
            if imported in trail:
                cycles.append([*trail[trail.index(imported) :], imported])
            elif imported not in done:
                visit(imported, [*trail, imported], done)
        done.add(name)

    finished: set[str] = set()
    for name in sorted(GRAPH):
        visit(name, [name], finished)
    assert cycles == []


def test_the_engine_side_never_imports_the_dashboard() -> None:
    upward = {name: sorted(i for i in imported if i.startswith("tui")) for name, imported in GRAPH.items()}
    assert {name: found for name, found in upward.items() if name.startswith("runner") and found} == {}


def test_the_bottom_layer_imports_nothing_above_it() -> None:
    bottom = {"runner.model", "runner.errors", "runner.values", "runner.version", "runner.paths", "runner.pausing"}
    bottom.add("runner.awake_clock")  # the clock runner.pausing keeps time by
    bottom.add("runner.policies")  # the values of run_if and halt that the model holds
    for name in bottom:
        assert GRAPH[name] <= bottom | {"runner"}, name
