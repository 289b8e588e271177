"""The packages' import graph has no circles, and the collector's layers import only downwards."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("devices", "collector", "simulator", "dashboards", "devstack", "bench")
# The collector's wiring on top: the parts below (broker, ingest, store, alerts) never reach up.
WIRING = ("service", "cli", "http_api", "workers")
LAYERS = ("broker", "ingest", "store", "alerts", "insight", "web")


def modules() -> dict[str, Path]:
    """Every module of the packages by dotted name (a package is its __init__)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, in functions and `if TYPE_CHECKING:` too.

    A lazy import still closes a circle, and a type-only one still ties the two modules.
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def graph() -> dict[str, set[str]]:
    """Module -> the modules of the packages it imports."""
    mods = modules()
    edges: dict[str, set[str]] = {}
    for name, path in mods.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                bases = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")
                    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from pkg import mod` imports the module pkg.mod when there is one
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
                bases = subs if len(subs) == len(node.names) else [base, *subs]
            for target in bases:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    targets.add(target)
        edges[name] = targets
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_the_graph_sees_lazy_and_relative_imports() -> None:
    edges = graph()
    # the test itself could pass on an empty graph: prove it reads what it must
    assert len(edges) > 100
    assert "collector.broker.codec" in edges["collector.broker.client"]
    assert "collector.service" in edges["collector.cli"]  # imported inside a function
    assert "devices.kind" in edges["devices.lineprotocol"] or (
        "devices.lineprotocol" in edges["devices.kind"]
    )


def test_find_cycle_reports_the_path() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_there_is_no_import_circle() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_collector_parts_do_not_import_the_wiring() -> None:
    wiring = {f"collector.{m}" for m in WIRING}
    bad = [
        f"{name} imports {target}"
        for name, targets in graph().items()
        if name.split(".")[:2] in [["collector", layer] for layer in LAYERS]
        for target in sorted(targets & wiring)
    ]
    assert not bad, bad
