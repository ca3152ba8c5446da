"""Outage: Teams' connector is down for a stretch, then back. Nothing is
delivered while it is down, nothing is given up, and once it is back every
notification arrives exactly once (counted by idempotency key at the fake connector)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import aiohttp
from fakes.botapp import make_settings
from fakes.connector import FakeConnector, Fault
from fakes.notify_support import draft, notification_keys, seed_conversations, wait_until
from sqlalchemy import select

from bot.app import RUNTIME
from storage.domain_tables import OUTBOX
from storage.outbox_queue import OutboxQueue

REQUESTS = 20
OUTAGE_SECONDS = 3.0
SETTINGS = {
    "notifier_enabled": True,
    "notifier_interval": 0.02,
    "notify_backoff": 0.01,
    "notify_backoff_max": 0.3,
    "notify_timeout": 1.5,
    # Enough attempts to outlive the outage at the capped back-off.
    "notify_teams_attempts": 60,
    "notify_max_attempts": 60,
}
STAFF = (
    "manager@laukaa.example.fi",
    "contact@pks-area.example.fi",
    "deputy@pks-area.example.fi",
    "admin@pks-area.example.fi",
)


async def test_connector_outage_then_every_notification_exactly_once(
    db_url: str, start_bot: Any, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    connector.fail_next(*(Fault(503) for _ in range(100_000)))  # down until recover()
    server = await start_bot(make_settings(db_url, **SETTINGS))
    runtime = server.app[RUNTIME]
    workers = [f"outage{i:02d}@laukaa.example.fi" for i in range(REQUESTS)]
    await seed_conversations(runtime.engine, connector, STAFF + tuple(workers))
    service = runtime.service
    today = service.clock.today()
    for i, email in enumerate(workers):
        request = await service.requests.submit(
            "manager@laukaa.example.fi",
            draft(today, worker_email=email, worker_name=f"Katko Työntekijä {i}"),
            idempotency_key=f"outage-submit-{i}",
        )
        await service.requests.approve(
            "contact@pks-area.example.fi", request.id, idempotency_key=f"outage-approve-{i}"
        )

    queue = OutboxQueue(runtime.engine)
    await asyncio.sleep(OUTAGE_SECONDS)
    during = await queue.counts()
    assert not connector.sent(), "nothing can arrive while Teams is down"
    assert "failed" not in during, "no notification was given up during the outage"
    refused = [r for r in connector.requests if r.kind == "activities" and r.status == 503]
    assert len(refused) >= REQUESTS  # the dispatcher kept trying

    connector.recover()

    async def settled() -> bool:
        counts = await queue.counts()
        return not (counts.keys() - {"sent", "skipped"})

    await wait_until(settled, within=120, step=0.2)
    counts = await queue.counts()
    assert counts == {"sent": 6 * REQUESTS, "skipped": REQUESTS}
    async with runtime.engine.connect() as conn:
        sent_keys = set(
            (
                await conn.execute(
                    select(OUTBOX.c.idempotency_key).where(OUTBOX.c.status == "sent")
                )
            ).scalars()
        )
    delivered = Counter(notification_keys(connector.sent()))
    assert set(delivered) == sent_keys
    assert max(delivered.values()) == 1, delivered.most_common(3)
