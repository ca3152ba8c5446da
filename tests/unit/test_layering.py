"""access/ is the pure domain: it imports no framework and none of the outer layers."""

from __future__ import annotations

import ast
from pathlib import Path

ACCESS = Path(__file__).resolve().parents[2] / "access"

FORBIDDEN = (
    "bot",
    "dialogs",
    "storage",
    "botbuilder",
    "aiohttp",
    "sqlalchemy",
    "alembic",
    "asyncpg",
    "aiosqlite",
    "pydantic",
    "pydantic_settings",
    "msal",
)


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: stays inside access/
                continue
            found.append((node.lineno, node.module or ""))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and getattr(node.func, "id", getattr(node.func, "attr", ""))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def _violations() -> list[str]:
    out = []
    for path in sorted(ACCESS.rglob("*.py")):
        for line, module in _imports(path):
            top = module.split(".")[0].lower()
            if top in FORBIDDEN:
                out.append(f"{path.relative_to(ACCESS.parent)}:{line} imports {module}")
    return out


def test_access_imports_no_framework_and_no_outer_layer() -> None:
    assert _violations() == []


def test_the_check_would_catch_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import sqlalchemy.orm\nfrom storage.db import x\nfrom botbuilder.core import y\n"
        "import importlib\nimportlib.import_module('aiohttp')\n"
    )
    modules = [m.split(".")[0] for _, m in _imports(bad)]
    assert [m for m in modules if m in FORBIDDEN] == [
        "sqlalchemy",
        "storage",
        "botbuilder",
        "aiohttp",
    ]
