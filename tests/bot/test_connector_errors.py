"""Connector errors are examined in one place: dialogs/connector_errors.py.

The status and ``Retry-After`` of what botbuilder's connector raises (msrest's
``ErrorResponseException`` around a ``requests.Response``) and of what the Agents SDK's
raises (aiohttp's ``ClientResponseError``); and no other module reads them itself.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from aiohttp import ClientResponseError, RequestInfo
from botframework.connector.models import ErrorResponse, ErrorResponseException
from msrest import Deserializer
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from bot.delivery import classify
from dialogs.connector_errors import ConnectorFailure, connector_failure, retry_after_seconds

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC).timestamp()


def _botbuilder_error(status: int, **headers: str) -> ErrorResponseException:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    response._content = b'{"error": {"code": "x", "message": "y"}}'
    return ErrorResponseException(Deserializer({"ErrorResponse": ErrorResponse}), response)


def _aiohttp_error(status: int, **headers: str) -> ClientResponseError:
    info = RequestInfo(URL("https://smba.example/v3"), "POST", CIMultiDictProxy(CIMultiDict()))
    return ClientResponseError(
        info, (), status=status, headers=CIMultiDictProxy(CIMultiDict(headers))
    )


@pytest.mark.parametrize("make", [_botbuilder_error, _aiohttp_error])
@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (429, {"Retry-After": "7"}, ConnectorFailure(429, 7.0)),
        (429, {"retry-after": "2.5"}, ConnectorFailure(429, 2.5)),
        (503, {"Retry-After": "Sat, 31 Jan 2026 12:01:00 GMT"}, ConnectorFailure(503, 60.0)),
        (503, {"Retry-After": "soon"}, ConnectorFailure(503, None)),
        (412, {}, ConnectorFailure(412)),
        (403, {}, ConnectorFailure(403)),
    ],
)
def test_status_and_retry_after_of_either_framework(
    make: Any, status: int, headers: dict[str, str], expected: ConnectorFailure
) -> None:
    assert connector_failure(make(status, **headers), now=NOW) == expected


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        *[(None, True), (408, True), (412, True), (429, True), (500, True), (503, True)],
        *[(400, False), (401, False), (403, False), (404, False)],
    ],
)
def test_what_is_worth_another_try(status: int | None, retryable: bool) -> None:
    assert ConnectorFailure(status).retryable is retryable


@pytest.mark.parametrize(
    "error", [TimeoutError(), ConnectionResetError(), ValueError("not JSON"), KeyError("x")]
)
def test_no_answer_has_no_status(error: BaseException) -> None:
    assert connector_failure(error) == ConnectorFailure(None)
    assert connector_failure(error).log_fields() == {"status": None}


def test_retry_after_values() -> None:
    later = format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True)
    assert retry_after_seconds(later, now=NOW) == 30.0
    earlier = format_datetime(datetime.fromtimestamp(NOW - 30, UTC), usegmt=True)
    assert retry_after_seconds(earlier, now=NOW) == 0.0
    assert retry_after_seconds("-5") == 0.0
    for junk in (None, "", " ", "nan", "inf", "Sun, 99 Foo 2026", "1e999"):
        assert retry_after_seconds(junk) is None, junk


def test_the_notifier_classifies_with_it() -> None:
    found = classify(_botbuilder_error(429, **{"Retry-After": "3"}))
    assert (found.status, found.retry_after, found.retryable) == (429, 3.0, True)
    gone = classify(_aiohttp_error(404))
    assert (gone.status, gone.retryable) == (404, False)


def _reads(path: Path) -> list[str]:
    """``x.status_code`` reads and ``"Retry-After"`` lookups (``.get(...)``, ``[...]``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "status_code"
            and isinstance(node.ctx, ast.Load)
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .status_code")
        looked_up = (
            node.args[0]
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            else node.slice
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
            else None
        )
        if isinstance(looked_up, ast.Constant) and str(looked_up.value).lower() == "retry-after":
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: Retry-After")
    return found


#: Microsoft Graph (e-mail) is no Bot Connector: its client reads its own responses.
NOT_THE_CONNECTOR = {"bot/graph.py"}


def test_no_other_module_examines_connector_errors_itself() -> None:
    found = []
    for package in ("bot", "dialogs"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = str(path.relative_to(ROOT))
            if path.name == "connector_errors.py" or relative in NOT_THE_CONNECTOR:
                continue
            found += _reads(path)
    assert not found, "\n".join(found)
