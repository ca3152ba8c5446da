"""Notifier benchmark: the outbox dispatcher against a connector enforcing Teams limits.

1. A fresh database gets ``conversations`` users with stored conversation references
   (one tenant) whose ``serviceUrl`` is a :class:`bench.connector.BenchConnector`
   with ``limits=True`` (7 sends/s per conversation, 50/s per tenant, ``429`` +
   ``Retry-After`` over them).
2. One real ``AccessService.requests.submit`` writes genuine outbox rows; the worker's row is
   the model for ``notifications`` more ``request.submitted``/worker rows, spread
   round-robin over the users (plain text messages, as most notifications are).
3. The bot's own dispatcher (:func:`bot.composition.build_delivery`, settings as in
   production: the per-conversation and per-tenant token buckets at 7/s and 50/s)
   runs until every row is ``sent`` or ``failed``.

Reported: the sustained rate (rows delivered ÷ seconds from start to the last
delivery) ÷ 50/s, ``lost`` = rows never delivered (dead letters included),
``duplicates`` = deliveries of an idempotency key beyond the first (counted by the
connector from ``channelData.atmtNotification``).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from bench.connector import PER_TENANT_PER_SECOND, BenchConnector
from bench.load import BOT_ID, TENANT_ID
from bench.server import bench_settings, migrate

__all__ = ["measure_notifier"]


def _reference(service_url: str, index: int) -> dict[str, Any]:
    return {
        "activityId": f"in-{index}",
        "user": {"id": f"29:notify-{index}", "aadObjectId": f"aad-notify-{index}"},
        "bot": {"id": BOT_ID, "name": "A-TMT"},
        "conversation": {
            "id": f"a:notify-{index}",
            "conversationType": "personal",
            "tenantId": TENANT_ID,
        },
        "channelId": "msteams",
        "locale": "fi-FI",
        "serviceUrl": service_url,
    }


async def measure_notifier(database_url: str, options: Any) -> dict[str, Any]:
    """Run the dispatcher over ``options.notifications`` rows; see the module doc."""
    from botbuilder.integration.aiohttp import CloudAdapter

    from access.model import RequestDraft, RequestKind
    from bot.auth import create_authentication
    from bot.composition import build_delivery, compose
    from dialogs.i18n import Translator
    from storage.db import create_engine, create_session_factory
    from storage.domain_tables import OUTBOX

    await migrate(database_url)
    settings = bench_settings(database_url)
    engine = create_engine(database_url)
    connector = BenchConnector(limits=True)
    await connector.start()
    try:
        services = await compose(settings, create_session_factory(engine))
        refs = services.refs
        conversations = options.notify_conversations
        for index in range(conversations):
            await refs.save(
                user_key=f"aad-notify-{index}",
                reference=_reference(connector.service_url, index),
                tenant_id=TENANT_ID,
                locale="fi-FI",
                email=f"notify{index}@example.fi",
            )
        # One genuine submit: its worker row is the model of the benchmark's rows.
        service = services.access
        area = services.directory().area_of("kuopio")
        assert area is not None
        today = datetime.now(UTC).date()
        request = await service.requests.submit(
            "manager@kuopio.example.fi",
            RequestDraft(
                kind=RequestKind.GRANT,
                municipality="kuopio",
                worker_name="Testi Työntekijä",
                worker_email="notify-model@kuopio.example.fi",
                worker_job_title="Työvalmentaja",
                service_areas=(area.service_areas[0],),
                level=area.access_levels[0],
                start=today,
                end=today + timedelta(days=90),
                justification="Asiakastyö.",
                confirmations=frozenset(area.requires),
            ),
            idempotency_key="bench-notify-model",
        )
        async with engine.begin() as conn:
            model = (
                (
                    await conn.execute(
                        select(OUTBOX).where(
                            OUTBOX.c.request_id == request.id, OUTBOX.c.audience == "worker"
                        )
                    )
                )
                .one()
                ._mapping
            )
            # The model request's own rows are not part of the measurement.
            await conn.execute(
                OUTBOX.update().where(OUTBOX.c.request_id == request.id).values(status="sent")
            )
            now = datetime.now(UTC)
            rows = [
                {
                    "id": f"bench-n-{n}",
                    "request_id": request.id,
                    "template": model["template"],
                    "audience": model["audience"],
                    "recipient": f"notify{n % conversations}@example.fi",
                    "params": model["params"],
                    "idempotency_key": f"bench-n-{n}",
                    "created_at": now,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                }
                for n in range(options.notifications)
            ]
            await conn.execute(insert(OUTBOX), rows)

        adapter = CloudAdapter(create_authentication(settings))
        notifier = build_delivery(
            services,
            engine=engine,
            adapter=adapter,
            translator=Translator.load(fallback="fi"),
            approvals=None,
        )
        total = options.notifications
        started = time.perf_counter()
        last_delivery = started
        delivered = 0
        deadline = started + max(60.0, total / PER_TENANT_PER_SECOND * 4)
        while time.perf_counter() < deadline:
            handled = await notifier.run_once()
            if connector.total_sent != delivered:
                delivered = connector.total_sent
                last_delivery = time.perf_counter()
            async with engine.connect() as conn:
                open_rows = (
                    await conn.execute(
                        select(func.count())
                        .select_from(OUTBOX)
                        .where(OUTBOX.c.status.in_(("pending", "sending")))
                    )
                ).scalar_one()
            if open_rows == 0:
                break
            if not handled:
                await asyncio.sleep(0.05)
        elapsed = last_delivery - started
        unique = len(connector.delivered)
        rate = unique / elapsed if elapsed > 0 else 0.0
        return {
            "ratio": round(rate / PER_TENANT_PER_SECOND, 3),
            "lost": total - unique,
            "duplicates": connector.duplicates,
            "detail": (
                f"{unique}/{total} delivered in {elapsed:.1f} s = {rate:.1f}/s vs "
                f"{PER_TENANT_PER_SECOND}/s, {connector.refused} refused with 429, "
                f"{conversations} conversations"
            ),
        }
    finally:
        await connector.close()
        await engine.dispose()
