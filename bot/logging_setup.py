"""JSON logging: one object per line on stderr.

Only identifiers go into logs (activity, conversation and Entra object ids, error
types) — never names, e-mail addresses, message text or exception messages, which
may carry personal data. Pass extra fields with ``logger.info("...", extra={...})``;
only keys in :data:`ALLOWED_FIELDS` are written.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = [
    "ALLOWED_FIELDS",
    "DATA_LOGGERS",
    "JsonFormatter",
    "LibraryDataFilter",
    "configure_logging",
]

ALLOWED_FIELDS = frozenset(
    {
        "event",
        "activity_id",
        "activity_type",
        "channel_id",
        "conversation_id",
        "tenant_id",
        "user_key",
        "error_type",
        "status",
        "path",
        "method",
        "locale",
        "dialog_id",
        "reason",
        "host",
        "port",
        "duration_ms",
        # outbox dispatcher and approvals: ids and counters, never people
        "outbox_id",
        "request_id",
        "template",
        "channel",
        "attempts",
        "delay",
        "verb",
        # audit key and checkpoints: key ids, row numbers and hashes, never people
        "key_id",
        "seq",
        "checkpoint",
        "trigger",
    }
)


#: Libraries that write SQL parameters, HTTP headers or bodies (personal data, tokens)
#: in their INFO and DEBUG records: only their warnings and errors are written,
#: whatever ``LOG_LEVEL`` says (tests/bot/test_logs_privacy.py).
DATA_LOGGERS = (
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "alembic",
    "msrest",
    "msal",
    "azure",
    "urllib3",
    "requests_oauthlib",
    "aiohttp.client",
)


class LibraryDataFilter(logging.Filter):
    """Drops records below WARNING from :data:`DATA_LOGGERS`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        name = record.name
        return not any(name == p or name.startswith(p + ".") for p in DATA_LOGGERS)


class JsonFormatter(logging.Formatter):
    """Format records as JSON; exceptions as their type and stack frames only."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ALLOWED_FIELDS:
            if key in record.__dict__:
                entry[key] = record.__dict__[key]
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, _exc, tb = record.exc_info
            entry["error_type"] = exc_type.__name__
            # Frames only (file, line, function): an exception's message, and even a
            # source line, may contain personal data.
            entry["stack"] = [
                f"{frame.filename}:{frame.lineno} in {frame.name}"
                for frame in traceback.extract_tb(tb)
            ]
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Route the root logger to ``stream`` (stderr) in JSON at ``level``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(LibraryDataFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # aiohttp's access log would write client addresses and paths with ids; keep it
    # at WARNING so only problems show.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
