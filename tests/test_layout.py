"""The house's layout holds: calls go one way (cli → api, importers, demo → gis; gis imports none of
them), nothing imports the command line, and no module or room imports itself back through others."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("gis", "api", "importers", "cli", "demo", "maps")
#: which room may import which (a room is a top-level package, or a domain room of gis/)
ALLOWED = {
    "gis": {"gis"},
    "gis.grids": {"gis", "gis.grids"},
    "gis.registry": {"gis", "gis.grids", "gis.registry", "gis.access"},
    "gis.cases": {"gis", "gis.grids", "gis.registry", "gis.cases", "gis.tracks", "gis.access"},
    "gis.tracks": {"gis", "gis.grids", "gis.tracks", "gis.access"},
    "gis.access": {"gis", "gis.grids", "gis.access"},
    "gis.analytics": {"gis", "gis.grids", "gis.cases", "gis.access", "gis.analytics"},
    "gis.ogc": {"gis", "gis.grids", "gis.registry", "gis.cases", "gis.access", "gis.ogc"},
    "importers": {"gis", "gis.grids", "gis.registry", "gis.cases", "gis.tracks", "gis.access", "importers"},
    "api": {
        "gis",
        "gis.grids",
        "gis.registry",
        "gis.cases",
        "gis.tracks",
        "gis.access",
        "gis.analytics",
        "gis.ogc",
        "importers",
        "maps",
        "api",
    },
    "maps": {"gis", "maps"},
    "demo": {"gis", "gis.grids", "gis.registry", "gis.cases", "gis.tracks", "gis.access", "importers", "demo"},
    "cli": {
        "gis",
        "gis.grids",
        "gis.registry",
        "gis.cases",
        "gis.tracks",
        "gis.access",
        "gis.analytics",
        "importers",
        "api",
        "demo",
        "cli",
    },
}
ROOMS = ("gis.grids", "gis.registry", "gis.cases", "gis.tracks", "gis.access", "gis.analytics", "gis.ogc")


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _room(module: str) -> str:
    return next((r for r in ROOMS if module == r or module.startswith(r + ".")), module.split(".")[0])


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each module's imports of the project's own modules (also those inside functions)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for t in targets:
                if t in modules and t != name:
                    graph[name].add(t)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m) :] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_calls_go_one_way_and_nothing_imports_the_command_line():
    modules = _modules()
    graph = _imports(modules)
    wrong = sorted(
        f"{a} imports {b}"
        for a, targets in graph.items()
        for b in targets
        if _room(b) not in ALLOWED[_room(a)] and not (a.startswith("gis.") and b in ("gis", "gis.sql"))
    )
    assert not wrong, wrong


def test_no_import_cycle_between_modules_or_rooms():
    graph = _imports(_modules())
    assert _cycle(graph) is None, _cycle(graph)
    rooms: dict[str, set[str]] = defaultdict(set)
    for a, targets in graph.items():
        rooms[_room(a)] |= {_room(b) for b in targets if _room(b) != _room(a)}
    assert _cycle(rooms) is None, _cycle(rooms)
