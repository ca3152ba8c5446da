"""After ``atmt-bot directory import`` every part of a running bot uses the new
directory: the notifications it sends and the language it answers in, not the
directory file the process started with."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from fakes.botapp import EXAMPLE_DIRECTORY, card_of, make_settings, texts
from fakes.connector import FakeConnector
from fakes.notify_support import (
    MANAGER,
    WORKER,
    Person,
    delivered_text,
    draft,
    introduce,
    wait_until,
)
from sqlalchemy import text

from access.directory import parse_directory
from bot.app import RUNTIME
from bot.cli import main
from dialogs.cards import help_card
from dialogs.i18n import Translator
from dialogs.menus import menu_for

SETTINGS = {"notifier_enabled": True, "notifier_interval": 0.05, "notify_backoff": 0.01}
PKS = "pohjoinen-keski-suomi"
OLD_YOUTH_SV = "Unga arbetssökande"
NEW_YOUTH_SV = "Ungdomar som söker jobb"
# An approver of the PKS area whose Teams speaks a language the bot does not: the
# bot answers in the area's default language.
APPROVER_DE = Person(
    "approver-de",
    "contact@pks-area.example.fi",
    "29:approver-de",
    "00000000-0000-0000-0000-0000000000d1",
    "de-DE",
)


async def _import(
    content: dict[str, Any], db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``atmt-bot directory import FILE`` as an operator runs it beside the bot."""
    path = tmp_path / "directory-new.yaml"
    path.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # no .env of the developer
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("ATMT_DIRECTORY", str(EXAMPLE_DIRECTORY))
    # The command runs its own event loop, as in its own process.
    assert await asyncio.to_thread(main, ["directory", "import", str(path)]) == 0


def _example() -> dict[str, Any]:
    content: dict[str, Any] = yaml.safe_load(EXAMPLE_DIRECTORY.read_text(encoding="utf-8"))
    return content


def _approver_help(content: dict[str, Any], translator: Translator, locale: str) -> list[str]:
    """The texts of the help card the area's approver gets (help is built by role)."""
    directory = parse_directory(content)
    menu = menu_for(directory, directory.roles_of(APPROVER_DE.email), worker=False, locale=locale)
    return texts(help_card(translator.get(locale), menu))


async def test_notifications_use_the_directory_imported_while_running(
    db_url: str,
    start_bot: Any,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = await start_bot(make_settings(db_url, **SETTINGS))
    runtime = server.app[RUNTIME]
    for person in (MANAGER, WORKER):
        await introduce(http, server, connector, person)
    content = _example()
    [youth] = [s for s in content["service_areas"] if s["code"] == "youth"]
    assert youth["sv"].startswith(OLD_YOUTH_SV)
    youth["sv"] = NEW_YOUTH_SV
    await _import(content, db_url, tmp_path, monkeypatch)
    assert runtime.directory_refresher is not None
    await runtime.directory_refresher.refresh()  # what every process does each minute

    assert runtime.service is not None
    await runtime.service.requests.submit(
        MANAGER.email, draft(runtime.service.clock.today()), idempotency_key="in-force"
    )

    # The worker is told in Swedish, with the service area's name now in force.
    [told] = (await connector.wait_for_activities(2, conversation_id=WORKER.conversation_id))[1:]
    said = delivered_text(told)
    assert "har sökts för dig" in said
    assert NEW_YOUTH_SV in said
    assert OLD_YOUTH_SV not in said

    # The rest (approvers, admins without a conversation) settles before the bot stops.
    async def settled() -> bool:
        async with runtime.engine.connect() as conn:
            open_rows = await conn.execute(
                text("SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')")
            )
            return open_rows.scalar_one() == 0

    await wait_until(settled)


async def test_answers_use_the_area_language_imported_while_running(
    db_url: str,
    start_bot: Any,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = await start_bot(make_settings(db_url))
    runtime = server.app[RUNTIME]
    translator = Translator.load()
    await introduce(http, server, connector, APPROVER_DE)  # writes "apua": the help card
    [before] = connector.sent(APPROVER_DE.conversation_id)
    content = _example()
    assert texts(card_of(before.body)) == _approver_help(content, translator, "fi")

    [area] = [a for a in content["areas"] if a["code"] == PKS]
    assert area["default_locale"] == "fi"
    area["default_locale"] = "en"
    await _import(content, db_url, tmp_path, monkeypatch)
    assert runtime.directory_refresher is not None
    await runtime.directory_refresher.refresh()

    await introduce(http, server, connector, APPROVER_DE)
    after = connector.sent(APPROVER_DE.conversation_id)[-1]
    assert texts(card_of(after.body)) == _approver_help(content, translator, "en")
