"""No import circles among the modules of ``functions/``.

A circle means two modules can only be understood (and tested, and cold-started) together.
Every import counts, also those inside functions and under ``TYPE_CHECKING``: a lazy import
hides a circle from the interpreter, not from a reader. The walk is checked on a planted
circle first, so it cannot pass by finding nothing.

One circle is still known and waits for the split of ``chatflow.ws`` into a package per
concept (the AWS transport on its own, the bulk poster taking an explicit context): it is
listed below, and this test fails when it goes away as well as when a new one appears, so
the list stays true.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "functions"

KNOWN = {frozenset({"chatflow.ws.lean_bulk", "chatflow.ws.lean_gateway"})}


def _modules(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            found[".".join(parts)] = path
    return found


def _imported(module: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        yield from (name for name in names if name in known and name != module)


def circles(root: Path) -> list[frozenset[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    known = _modules(root)
    graph = {m: sorted(set(_imported(m, p, known))) for m, p in known.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(frozenset(group))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_walk_finds_a_planted_circle_through_lazy_and_relative_imports(
    tmp_path: Path,
) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import thing\n")
    (package / "b.py").write_text("def f():\n    from . import c\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n"
    )
    (package / "d.py").write_text("import pkg.a\n")  # imports into the circle, not part of it
    assert circles(tmp_path) == [frozenset({"pkg.a", "pkg.b", "pkg.c"})]


@pytest.mark.unit
def test_functions_have_no_import_circle_but_the_known_one() -> None:
    found = set(circles(ROOT))
    assert found - KNOWN == set(), f"new import circles: {sorted(map(sorted, found - KNOWN))}"
    assert KNOWN - found == set(), (
        f"gone, take them off KNOWN: {sorted(map(sorted, KNOWN - found))}"
    )
    assert frozenset({"chatflow.container", "chatflow.ws.runtime"}) not in found
