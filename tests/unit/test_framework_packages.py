"""The botbuilder packages (4.17.1, the last release) with the Babel of requirements.lock.

botbuilder-dialogs 4.17.1 pins Babel==2.9.1, which imports ``cgi`` (removed in Python
3.13); pyproject.toml overrides the pin ([tool.uv] override-dependencies) and the lock
installs a newer Babel. botbuilder-dialogs only calls ``babel.numbers.parse_decimal``.
These tests keep the override honest (docs/decisions.md, "Python versions and the lock"):

* every botbuilder / botframework / msrest / babel module that this project's code
  imports (found by reading the code, so a new import is covered without editing this
  file) imports in a fresh interpreter with warnings as errors, and never loads ``cgi``;
* ``parse_decimal`` reads Finnish, Swedish and English numbers, directly and through
  botbuilder's own ``NumberPrompt``;
* the installed Babel is the lock's, and botbuilder-dialogs still pins the old one (when
  a release stops pinning it, the override can go).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from decimal import Decimal
from importlib.metadata import distribution, version
from pathlib import Path

import pytest
from babel.numbers import parse_decimal
from botbuilder.core import TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.dialogs.prompts import NumberPrompt, PromptOptions
from botbuilder.schema import Activity, ActivityTypes
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORK = ("botbuilder", "botframework", "msrest", "babel")
NOT_CODE = {"node_modules", "var", "dist", "build", "devTools"}


def _project_files() -> list[Path]:
    return sorted(
        path
        for path in ROOT.rglob("*.py")
        if not any(
            part.startswith(".") or part in NOT_CODE for part in path.relative_to(ROOT).parts
        )
    )


def framework_imports() -> dict[str, set[str]]:
    """Framework module -> the names the project imports from it (empty: ``import m``)."""
    found: dict[str, set[str]] = {}
    for path in _project_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in FRAMEWORK:
                        found.setdefault(alias.name, set())
            elif (
                isinstance(node, ast.ImportFrom)
                and not node.level
                and node.module
                and node.module.split(".")[0] in FRAMEWORK
            ):
                names = found.setdefault(node.module, set())
                names.update(alias.name for alias in node.names if alias.name != "*")
    return found


def _lock_version(name: str) -> str:
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            requirement = Requirement(line.split(";")[0].rstrip(" \\"))
            if canonicalize_name(requirement.name) == canonicalize_name(name):
                return str(requirement.specifier).removeprefix("==")
    raise AssertionError(f"{name} is not in requirements.lock")


def test_the_project_uses_the_framework_modules_that_were_tried_on_python_3_13() -> None:
    # The issue saw these answer a message, run a dialog, look up a member, answer an
    # Action.Execute and send proactively on 3.13; the scan must at least find them.
    assert {
        "botbuilder.core",
        "botbuilder.core.teams",
        "botbuilder.dialogs",
        "botbuilder.schema",
        "botbuilder.integration.aiohttp",
        "botframework.connector.auth",
        "babel.dates",
        "babel.messages.pofile",
    } <= set(framework_imports())


def test_every_framework_import_of_the_project_works_without_warnings_or_cgi() -> None:
    lines = ["import sys"]
    for module, names in sorted(framework_imports().items()):
        lines.append(f"import {module}")
        lines.extend(f"from {module} import {name}" for name in sorted(names))
    lines.append("assert 'cgi' not in sys.modules, 'something imported cgi'")
    # A fresh interpreter: in this one the modules are imported already, and the
    # warnings of a first import would not show.
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", "\n".join(lines)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize(
    ("text", "locale", "expected"),
    [
        ("1 234,5", "fi_FI", "1234.5"),  # typed with a plain space
        ("1\u00a0234,5", "fi_FI", "1234.5"),  # the no-break space of Finnish formatting
        ("-0,25", "fi", "-0.25"),
        ("1 234,5", "sv_FI", "1234.5"),
        ("1 234,5", "sv_SE", "1234.5"),
        ("12", "sv", "12"),
        ("1,234.5", "en_US", "1234.5"),
        ("1,234.5", "en_GB", "1234.5"),
        ("1234.5", "en", "1234.5"),
    ],
)
def test_parse_decimal_reads_finnish_swedish_and_english_numbers(
    text: str, locale: str, expected: str
) -> None:
    assert parse_decimal(text, locale=locale) == Decimal(expected)


@pytest.mark.parametrize(
    ("text", "locale", "expected"),
    [
        ("1,234.5", "en-US", "1234.5"),
        ("twelve", "en-GB", "12"),
        ("12", "fi-FI", "12"),
        ("7", "sv-SE", "7"),
    ],
)
async def test_botbuilders_number_prompt_parses_with_this_babel(
    text: str, locale: str, expected: str
) -> None:
    # NumberPrompt is where botbuilder-dialogs calls parse_decimal (with "fi_FI" etc.).
    activity = Activity(type=ActivityTypes.message, text=text, locale=locale)
    context = TurnContext(TestAdapter(), activity)
    result = await NumberPrompt("number").on_recognize(context, {}, PromptOptions())
    assert result.succeeded
    assert result.value == Decimal(expected)


def test_the_installed_babel_is_the_locked_override_of_botbuilders_pin() -> None:
    assert version("babel") == _lock_version("babel")
    assert tuple(int(part) for part in version("babel").split(".")[:2]) >= (2, 12)  # no cgi
    pins = [
        str(Requirement(line).specifier)
        for line in distribution("botbuilder-dialogs").requires or []
        if canonicalize_name(Requirement(line).name) == "babel"
    ]
    # Still pinned: the override is needed. Another pin: see whether it can go.
    assert pins == ["==2.9.1"]
