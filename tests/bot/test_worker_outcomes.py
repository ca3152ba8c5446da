"""The named worker hears every outcome of a request about them - rejected, cancelled
by the requester, expired - once each, in their own language and in neutral words
(the approver's reason goes to the requester only)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from fakes.botapp import make_settings
from fakes.connector import FakeConnector
from fakes.manager_chat import FixedClock
from fakes.notify_support import APPROVER_A, MANAGER, WORKER, draft, introduce

from bot.app import RUNTIME

SETTINGS = {"notifier_enabled": True, "notifier_interval": 0.05, "notify_backoff": 0.01}
REASON = "Tehtävät eivät edellytä käyttöoikeutta"


async def test_the_worker_hears_each_outcome_once_in_their_language(
    db_url: str, start_bot: Any, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    clock = FixedClock()
    server = await start_bot(make_settings(db_url, **SETTINGS), clock=clock)
    service = server.app[RUNTIME].service
    for person in (MANAGER, WORKER):  # the worker's Teams speaks Swedish
        await introduce(http, server, connector, person)
    before = len(connector.sent(WORKER.conversation_id))

    rejected = await service.requests.submit(
        MANAGER.email, draft(clock.today()), idempotency_key="w-submit-1"
    )
    await service.requests.reject(APPROVER_A.email, rejected.id, REASON, idempotency_key="w-reject")
    cancelled = await service.requests.submit(
        MANAGER.email, draft(clock.today()), idempotency_key="w-submit-2"
    )
    await service.requests.cancel(MANAGER.email, cancelled.id, idempotency_key="w-cancel")
    expired = await service.requests.submit(
        MANAGER.email, draft(clock.today()), idempotency_key="w-submit-3"
    )
    clock.advance(days=60)
    assert [r.id for r in await service.jobs.expire(idempotency_key="w-expire")] == [expired.id]

    told = await connector.wait_for_activities(before + 6, conversation_id=WORKER.conversation_id)
    await asyncio.sleep(0.3)  # nothing more comes
    # (Teams text escapes Markdown: "example\\.fi")
    texts = sorted(
        r.body["text"].replace("\\", "") for r in connector.sent(WORKER.conversation_id)[before:]
    )
    assert len(texts) == 6 and told
    outcomes = [t for t in texts if not t.startswith("Behörighet till kunddatasystemet")]
    assert outcomes == [
        f"Ansökan {rejected.number} om din behörighet till A-TMT har avslagits. "
        f"Mer information får du av sökanden ({MANAGER.email}).",
        f"Ansökan {cancelled.number} om din behörighet till A-TMT har återtagits och "
        f"genomförs inte. Mer information får du av sökanden ({MANAGER.email}).",
        f"Ansökan {expired.number} om din behörighet till A-TMT förföll eftersom den inte "
        f"behandlades i tid. Sökanden ({MANAGER.email}) kan vid behov göra en ny ansökan.",
    ]
    assert all(REASON not in t for t in texts)
