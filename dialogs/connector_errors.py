"""What a failed call to the Bot Connector says: its HTTP status and ``Retry-After``.

botbuilder's connector client raises msrest's ``ErrorResponseException`` /
``HttpOperationError``, whose ``response`` is a ``requests.Response``
(``status_code``, ``headers``); the Microsoft 365 Agents SDK's client raises aiohttp
errors (``ClientResponseError.status`` and ``.headers``). :func:`connector_failure` reads
either, so the notifier's retry decision (``bot.delivery.classify``) and every log line
about a failed send, card update or member lookup examine connector errors in this one
place, and a port of the framework changes only this module (docs/decisions.md).

* ``status`` ``None``: no answer at all (time-out, connection refused or reset, DNS).
* ``retryable``: no answer, 408, 412, 429 or any 5xx; 400, 401, 403 (the bot was
  blocked or removed), 404 (the conversation is gone) are permanent.
* ``retry_after``: seconds, from ``Retry-After`` as seconds or as an HTTP date.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["RETRYABLE_STATUSES", "ConnectorFailure", "connector_failure", "retry_after_seconds"]

RETRYABLE_STATUSES = frozenset({408, 412, 429})


@dataclass(frozen=True)
class ConnectorFailure:
    status: int | None
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in RETRYABLE_STATUSES or self.status >= 500

    def log_fields(self) -> dict[str, Any]:
        """For a log line's ``extra``: the status (``None`` = no answer)."""
        return {"status": self.status}


def connector_failure(error: BaseException, *, now: float | None = None) -> ConnectorFailure:
    """The status and ``Retry-After`` of whatever a connector call raised."""
    response = getattr(error, "response", None)
    status: Any = None
    headers: Any = None
    if response is not None:  # msrest: a requests.Response (or aiohttp's, in tests)
        status = getattr(response, "status_code", None) or getattr(response, "status", None)
        headers = getattr(response, "headers", None)
    if status is None:  # aiohttp.ClientResponseError and the like
        status = getattr(error, "status", None)
        headers = getattr(error, "headers", None)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        return ConnectorFailure(None)
    raw = _header(headers, "Retry-After")
    return ConnectorFailure(status, retry_after_seconds(raw, now=now))


def _header(headers: Any, name: str) -> str | None:
    if headers is None or not hasattr(headers, "get"):
        return None
    try:
        value = headers.get(name) or headers.get(name.lower())
    except Exception:  # an odd mapping: no header
        return None
    return value if isinstance(value, str) else None


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds (never negative): delta-seconds or an HTTP date;
    ``None`` when missing or unreadable."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
