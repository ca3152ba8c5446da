"""JSON logs carry ids only."""

from __future__ import annotations

import io
import json
import logging

from bot.logging_setup import JsonFormatter, configure_logging


def test_only_allowed_fields_are_written() -> None:
    record = logging.LogRecord("bot", logging.INFO, __file__, 1, "turn", None, None)
    record.__dict__.update(
        conversation_id="a:conversation-1", email="manager@laukaa.example.fi", name_of_user="x"
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["conversation_id"] == "a:conversation-1"
    assert "email" not in entry and "name_of_user" not in entry
    assert entry["level"] == "INFO" and entry["msg"] == "turn"


def test_exceptions_are_logged_without_their_message() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream)
    try:
        try:
            raise ValueError("manager@laukaa.example.fi")
        except ValueError:
            logging.getLogger("bot.test").exception("failed")
        [line] = stream.getvalue().splitlines()
        entry = json.loads(line)
        assert entry["error_type"] == "ValueError"
        assert "example.fi" not in line
        assert entry["stack"] and all(":" in frame for frame in entry["stack"])
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.setLevel(logging.WARNING)
