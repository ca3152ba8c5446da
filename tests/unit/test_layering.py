"""The four layers point one way: bot/ -> dialogs/ -> access/ <- storage/.

* access/ (the domain) imports no framework and none of the other layers;
* storage/ (SQL only) imports access/ and no bot framework or web server;
* dialogs/ (the conversations) never imports bot/ or storage/;
* nothing imports bot/ (the host) but bot/ itself and the entry points outside the
  four layers (tests, bench, scripts);
* no two modules of the project import each other, directly or round a loop.

Imports are read from the source (``import``, ``from ... import``, ``import_module``
with a literal), wherever they stand: an import inside a function is still an arrow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("access", "storage", "dialogs", "bot")

FRAMEWORKS = frozenset(
    {
        "botbuilder",
        "botframework",
        "msrest",
        "aiohttp",
        "sqlalchemy",
        "alembic",
        "asyncpg",
        "aiosqlite",
        "pydantic",
        "pydantic_settings",
        "msal",
        "jsonpickle",
    }
)

#: What each layer must never import (project packages and frameworks).
FORBIDDEN: Mapping[str, frozenset[str]] = {
    "access": frozenset({"bot", "dialogs", "storage"}) | FRAMEWORKS,
    "storage": frozenset({"bot", "dialogs", "botbuilder", "botframework", "msrest", "aiohttp"}),
    "dialogs": frozenset({"bot", "storage", "sqlalchemy", "alembic", "aiohttp"}),
    "bot": frozenset(),
}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            # ``from pkg import module`` names a module too
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                "import_module",
                "__import__",
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def project_modules(root: Path = ROOT, layers: Iterable[str] = LAYERS) -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for layer in layers:
        for path in sorted((root / layer).rglob("*.py")):
            if "migrations" in path.parts and "versions" in path.parts:
                continue  # Alembic revisions are loaded by Alembic, not imported
            modules[_module_name(path, root)] = path
    return modules


def layer_violations(root: Path = ROOT) -> list[str]:
    out: list[str] = []
    for module, path in project_modules(root).items():
        layer = module.split(".")[0]
        for line, imported in imports_of(path, module):
            top = imported.split(".")[0]
            if top in FORBIDDEN[layer]:
                out.append(f"{path.relative_to(root)}:{line} ({layer}) imports {imported}")
    return sorted(set(out))


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = project_modules(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module, path in modules.items():
        for _line, imported in imports_of(path, module):
            if imported in modules and imported != module:
                graph[module].add(imported)
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    packages: dict[str, set[str]] = {layer: set() for layer in LAYERS}
    for module, targets in graph.items():
        for target in targets:
            a, b = module.split(".")[0], target.split(".")[0]
            if a != b:
                packages[a].add(b)
    return cycles(packages)


# ---------------------------------------------------------------------- the house


def test_every_layer_imports_only_what_it_may() -> None:
    assert layer_violations() == []


def test_no_module_cycle_and_no_package_cycle() -> None:
    graph = import_graph()
    assert cycles(graph) == []
    assert package_cycles(graph) == []


def test_the_layers_are_where_the_house_says() -> None:
    modules = project_modules()
    for layer in LAYERS:
        assert any(name.split(".")[0] == layer for name in modules), layer


# ------------------------------------------------------------- the check itself


def _plant(root: Path, files: Mapping[str, str]) -> None:
    for layer in LAYERS:
        (root / layer).mkdir(parents=True, exist_ok=True)
        (root / layer / "__init__.py").write_text("")
    for name, body in files.items():
        (root / name).write_text(body)


def test_a_planted_back_import_is_found(tmp_path: Path) -> None:
    _plant(
        tmp_path,
        {
            "access/model.py": "import sqlalchemy.orm\n",
            "access/service.py": "from storage.db import x\n",
            "storage/db.py": "from botbuilder.core import Storage\n",
            "dialogs/chat.py": "from bot.config import Settings\n",
            "dialogs/other.py": "def f():\n    from storage import db\n",
            "bot/config.py": "import importlib\nimportlib.import_module('access.model')\n",
        },
    )
    assert layer_violations(tmp_path) == [
        "access/model.py:1 (access) imports sqlalchemy.orm",
        "access/service.py:1 (access) imports storage.db",
        "access/service.py:1 (access) imports storage.db.x",
        "dialogs/chat.py:1 (dialogs) imports bot.config",
        "dialogs/chat.py:1 (dialogs) imports bot.config.Settings",
        "dialogs/other.py:2 (dialogs) imports storage",
        "dialogs/other.py:2 (dialogs) imports storage.db",
        "storage/db.py:1 (storage) imports botbuilder.core",
        "storage/db.py:1 (storage) imports botbuilder.core.Storage",
    ]


def test_a_planted_cycle_is_found(tmp_path: Path) -> None:
    _plant(
        tmp_path,
        {
            "bot/cli.py": "from bot.serve import register\n",
            "bot/serve.py": "def f():\n    from bot import cli\n",
            "dialogs/chat.py": "from . import cards\nfrom access import a\n",
            "dialogs/cards.py": "from dialogs.chat import x\n",
            "access/a.py": "",
            "storage/s.py": "from access import a\n",
        },
    )
    graph = import_graph(tmp_path)
    assert cycles(graph) == [["bot.cli", "bot.serve"], ["dialogs.cards", "dialogs.chat"]]
    assert package_cycles(graph) == []
    (tmp_path / "access" / "a.py").write_text("from dialogs import chat\n")
    assert package_cycles(import_graph(tmp_path)) == [["access", "dialogs"]]
