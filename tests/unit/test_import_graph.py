"""The import graph of src/: no circle between modules, nor between top-level packages.

Read with grimp from the code's own imports, those inside functions included: an import
moved into a function to dodge a circle is still a circle.
"""

from __future__ import annotations

import grimp
import pytest

PACKAGE = "tasksift"


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope="module")
def module_edges() -> dict[str, set[str]]:
    graph = grimp.build_graph(PACKAGE)
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def top_level(module: str) -> str:
    """``tasksift.search.dense`` -> ``tasksift.search``; ``tasksift.errors`` stays."""
    return ".".join(module.split(".")[:2])


def test_no_circle_between_modules(module_edges: dict[str, set[str]]) -> None:
    assert circles(module_edges) == []


def test_no_circle_between_packages(module_edges: dict[str, set[str]]) -> None:
    packages: dict[str, set[str]] = {}
    for source, targets in module_edges.items():
        mine = top_level(source)
        packages.setdefault(mine, set()).update(
            top_level(t) for t in targets if top_level(t) != mine
        )
    assert circles(packages) == []


def test_the_finder_finds_a_circle() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []
