"""Acceptance 3: the e-mail fallback through Microsoft Graph, and the dead letters.

A user without a conversation reference gets the e-mail; one whose Teams chat keeps
failing gets it after the Teams attempts; the fake Graph checked the token (issued
by its token endpoint for the client credentials) and the message, which is in the
recipient's language. Without e-mail the row becomes a dead letter that
``atmt-bot outbox dead`` lists and ``atmt-bot outbox retry`` re-queues."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fakes.botapp import make_settings
from fakes.connector import FakeConnector
from fakes.graph import FakeGraph
from fakes.notify_support import (
    APPROVER_A,
    APPROVER_B,
    MANAGER,
    WORKER,
    delivered_text,
    draft,
    introduce,
    wait_until,
)
from fakes.teams import TENANT_ID
from sqlalchemy import update

from bot.app import RUNTIME
from bot.cli import main as cli_main
from storage.conversation_refs import ConversationRefRepository
from storage.db import create_session_factory
from storage.domain_tables import OUTBOX
from storage.outbox_queue import OutboxQueue

BASE = {
    "notifier_enabled": True,
    "notifier_interval": 0.05,
    "notify_backoff": 0.01,
    "notify_backoff_max": 0.05,
    "notify_teams_attempts": 2,
    "notify_timeout": 2.0,
}


async def test_mail_when_there_is_no_chat_or_teams_keeps_failing(
    db_url: str,
    start_bot: Any,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    async with FakeGraph(tmp_path) as graph:
        graph.fail_next(503)  # the first sendMail fails and is retried
        server = graph.serves(await start_bot(make_settings(db_url, **BASE, **graph.settings())))
        runtime = server.app[RUNTIME]
        for person in (MANAGER, APPROVER_A, APPROVER_B):  # the worker never opened the bot
            await introduce(http, server, connector, person)
        # B's chat is unreachable (the service URL is gone): Teams fails every time.
        refs = ConversationRefRepository(create_session_factory(runtime.engine))
        stored = await refs.get(f"{TENANT_ID}:{APPROVER_B.aad}")
        assert stored is not None
        await refs.save(
            user_key=stored.user_key,
            reference=stored.reference | {"serviceUrl": "http://127.0.0.1:9/"},
        )
        request = await runtime.service.requests.submit(
            MANAGER.email, draft(runtime.service.clock.today()), idempotency_key="mail-submit"
        )
        queue = OutboxQueue(runtime.engine)

        async def delivered() -> bool:
            counts = await queue.counts()
            return counts.get("pending", 0) + counts.get("sending", 0) == 0

        await wait_until(delivered, within=30)

    by_recipient = {mail.to[0]: mail for mail in graph.sent}
    assert set(by_recipient) == {WORKER.email, APPROVER_B.email}
    worker_mail = by_recipient[WORKER.email]
    # No chat: the area's default language (Finnish).
    assert worker_mail.subject == f"A-TMT-käyttöoikeushakemus {request.number}"
    assert "Sinulle on haettu A-TMT-asiakastietojärjestelmän käyttöoikeutta" in worker_mail.body
    assert "Nuoret työnhakijat (Ohjaamo)" in worker_mail.body  # names, not codes
    assert "\\" not in worker_mail.body  # plain text, no Markdown escapes
    # Teams failed: B's own language from the chat (English).
    b_mail = by_recipient[APPROVER_B.email]
    assert b_mail.subject == f"A-TMT access request {request.number}"
    assert b_mail.body.startswith(f"New access request {request.number} awaits your decision")
    assert worker_mail.idempotency_key == f"{request.id}:1:request.submitted:worker:{WORKER.email}"
    # Every mail carried a token the fake's token endpoint issued for the client
    # credentials and the Graph scope; msal cached it (one token for all mails).
    assert all(mail.token in graph.tokens for mail in graph.sent)
    assert graph.token_requests and all(
        r["grant_type"] == "client_credentials"
        and r["client_id"] == graph.client_id
        and r["scope"] == "https://graph.microsoft.com/.default"
        for r in graph.token_requests
    )
    assert graph.rejected == [(503, "scheduled")]
    # A got the card in Teams, and nothing went to B's Teams.
    assert connector.sent(APPROVER_A.conversation_id)[-1].body.get("attachments")
    assert len(connector.sent(APPROVER_B.conversation_id)) == 1  # the help card only


async def test_wrong_credentials_end_as_a_dead_letter(
    db_url: str,
    start_bot: Any,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    async with FakeGraph(tmp_path) as graph:
        settings = graph.settings() | {"graph_client_secret": "wrong"}
        server = graph.serves(await start_bot(make_settings(db_url, **BASE, **settings)))
        runtime = server.app[RUNTIME]
        await runtime.service.requests.submit(
            MANAGER.email, draft(runtime.service.clock.today()), idempotency_key="bad-secret"
        )
        queue = OutboxQueue(runtime.engine)

        async def dead() -> bool:
            return len(await queue.dead()) == 3  # worker, approver x2 (requester: actor)

        await wait_until(dead, within=30)
        assert graph.sent == []
        assert all("invalid_client" in (item.last_error or "") for item in await queue.dead())


async def test_dead_letters_are_listed_and_retried(
    db_url: str,
    start_bot: Any,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = await start_bot(make_settings(db_url, **BASE))  # no e-mail configured
    runtime = server.app[RUNTIME]
    await introduce(http, server, connector, MANAGER)
    request = await runtime.service.requests.submit(
        MANAGER.email, draft(runtime.service.clock.today()), idempotency_key="dead-submit"
    )
    queue = OutboxQueue(runtime.engine)

    async def three_dead() -> bool:
        return len(await queue.dead()) == 3

    await wait_until(three_dead, within=30)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert await asyncio.to_thread(cli_main, ["outbox", "dead"]) == 0
    listing = capsys.readouterr().out
    assert "3 dead letters" in listing
    assert "request.submitted.worker" in listing and "no conversation with the bot" in listing

    # The worker opens the bot; the admin re-queues their notification; it arrives.
    [worker_row] = [i for i in await queue.dead() if i.audience == "worker"]
    await introduce(http, server, connector, WORKER)
    assert await asyncio.to_thread(cli_main, ["outbox", "retry", worker_row.id]) == 0
    assert "queued again" in capsys.readouterr().out
    sent = await connector.wait_for_activities(2, conversation_id=WORKER.conversation_id)
    assert "Behörighet till kunddatasystemet A-TMT har sökts" in delivered_text(sent[-1])

    async def worker_sent() -> bool:
        row = await queue.get(worker_row.id)
        return row is not None and row.status == "sent"

    await wait_until(worker_sent)
    # A second retry of a row that is no longer dead fails and changes nothing.
    assert await asyncio.to_thread(cli_main, ["outbox", "retry", worker_row.id]) == 1
    assert "not a dead letter" in capsys.readouterr().out
    # A sent row is never sent again, even if someone resets its schedule.
    async with runtime.engine.begin() as conn:
        await conn.execute(update(OUTBOX).values(next_attempt_at=None))
    await asyncio.sleep(0.3)
    assert len(connector.sent(WORKER.conversation_id)) == 2
    assert request.number
