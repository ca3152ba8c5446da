"""dialogs/ uses botbuilder only through its public API; botbuilder's internals are
the business of bot/patches.py alone (checked there against the pinned version)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _private_uses(package: Path) -> list[str]:
    found: list[str] = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = path.relative_to(package.parent).as_posix()
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and _root_name(node.value) not in ("self", "cls")
            ):
                found.append(f"{where}:{node.lineno} {ast.unparse(node)}")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("botbuilder"):
                for alias in node.names:
                    if alias.name.startswith("_") or alias.name == "CachedBotState":
                        found.append(f"{where}:{node.lineno} imports {alias.name}")
    return found


def test_dialogs_read_no_private_framework_state() -> None:
    assert _private_uses(ROOT / "dialogs") == []


def test_the_check_finds_what_the_router_used_to_do(tmp_path: Path) -> None:
    (tmp_path / "dialogs").mkdir()
    (tmp_path / "dialogs" / "router.py").write_text(
        "from botbuilder.core.bot_state import CachedBotState\n"
        "def load(self, state, turn):\n"
        "    self._ours = state._storage\n"
        "    return turn.turn_state[state._context_service_key]\n",
        encoding="utf-8",
    )
    assert _private_uses(tmp_path / "dialogs") == [
        "dialogs/router.py:1 imports CachedBotState",
        "dialogs/router.py:3 state._storage",
        "dialogs/router.py:4 state._context_service_key",
    ]
