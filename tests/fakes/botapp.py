"""Helpers to run the real bot app in tests and read what it sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from bot.config import Settings

__all__ = ["EXAMPLE_DIRECTORY", "card_of", "make_settings", "post_activity", "texts"]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DIRECTORY = ROOT / "examples" / "directory.yaml"


def make_settings(db_url: str, **overrides: Any) -> Settings:
    """Settings for a test app: the given database, example directory, anonymous."""
    values: dict[str, Any] = {
        "database_url": db_url,
        "directory_path": EXAMPLE_DIRECTORY,
        "app_id": "",
        "app_password": "",
        "app_tenant_id": "",
        "default_locale": "fi",
        # The outbox dispatcher would send proactive messages to the fake
        # connector in every test; its own tests turn it on.
        "notifier_enabled": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def post_activity(
    http: aiohttp.ClientSession, server: TestServer, activity: Any, **kwargs: Any
) -> tuple[int, bytes]:
    """POST to ``/api/messages`` (JSON unless ``data=`` is given); (status, body)."""
    if "data" not in kwargs:
        kwargs["json"] = activity
    async with http.post(server.make_url("/api/messages"), **kwargs) as response:
        return response.status, await response.read()


def card_of(body: dict[str, Any]) -> dict[str, Any]:
    """The single Adaptive Card attached to a sent activity."""
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    content: dict[str, Any] = attachment["content"]
    return content


def texts(node: Any) -> list[str]:
    """Every TextBlock text of a card, in order."""
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "TextBlock":
            found.append(node["text"])
        for value in node.values():
            found.extend(texts(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(texts(item))
    return found
