"""Acceptance 5 (the notification half) and the delivery pieces without a network:
every ``template.audience`` of access/notifications.py has a text in fi, sv and en
that renders with every parameter; back-off, Retry-After, error classes, the rate
limiter; the outbox claim never hands one row to two dispatchers (both databases)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fakes.botapp import EXAMPLE_DIRECTORY, texts
from fakes.card_checks import check_adaptive_card
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from access.directory import load_directory_file
from access.notifications import TEMPLATES
from access.ports import OutboxItem
from bot.delivery import DeliveryError, backoff, classify
from bot.notifier import render_card, render_text
from bot.ratelimit import RateLimiter
from dialogs.commands import Command
from dialogs.i18n import (
    LOCALES,
    LOCALES_DIR,
    Translator,
    placeholders,
    read_catalog,
    read_locale,
)
from storage.domain_tables import OUTBOX
from storage.outbox_queue import OutboxQueue

DIRECTORY = load_directory_file(EXAMPLE_DIRECTORY)
KEYS = sorted(f"{name}.{a.value}" for name, t in TEMPLATES.items() for a in t.audiences)
PARAMS = {
    "request_id": "r1",
    "number": "2026-000001",
    "kind": "grant",
    "state": "pending",
    "worker_name": "Aino *Esimerkki*",
    "worker_email": "aino@laukaa.example.fi",
    "worker_job_title": "Ohjaaja",
    "municipality": "laukaa",
    "municipality_name": "Laukaa",
    "area": "pohjoinen-keski-suomi",
    "service_areas": "youth,guidance",
    "level": "view",
    "start": "2026-02-01",
    "end": "2026-07-31",
    "effective": "2026-03-02",
    "urgent": True,
    "requester": "manager@laukaa.example.fi",
    "actor": "contact@pks-area.example.fi",
    "grant_id": "g1",
    "revoke_reason": "employment_ended",
    "reason": "Ei perusteltu",
    "question": "Miksi?",
    "note": "",
    "cause": "superseded_by_revoke",
    "batch_id": "b-1",
    "version": 3,
    "pending_limit_days": 14,
    "outcome": "unfounded",
    "reported_on": "2026-01-14",
}


def _item(key: str) -> OutboxItem:
    template, audience = key.rsplit(".", 1)
    return OutboxItem(
        id="o1",
        request_id="r1",
        template=template,
        audience=audience,
        recipient="x@example.fi",
        params=dict(PARAMS),
        idempotency_key=f"r1:1:{key}",
        attempts=1,
        status="sending",
        created_at=datetime(2026, 1, 15, tzinfo=UTC),
        next_attempt_at=None,
        sent_at=None,
        last_error=None,
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_every_notification_exists_in_every_language(locale: str) -> None:
    own = read_locale(LOCALES_DIR / locale / "LC_MESSAGES")
    assert not [key for key in KEYS if not own.get(key, "").strip()]
    approvals = read_catalog(LOCALES_DIR / locale / "LC_MESSAGES" / "approvals.po")
    assert approvals.keys() >= {"approval.title", "approval.already_decided"}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("key", KEYS)
def test_every_notification_renders(key: str, locale: str) -> None:
    m = Translator.load().get(locale)
    text = render_text(m, DIRECTORY, _item(key))
    email = render_text(m, DIRECTORY, _item(key), for_email=True)
    for rendered in (text, email):
        assert "{" not in rendered and "}" not in rendered, rendered
    # urgent=True: marked for the admin, who must act on KEHA; nobody else is alarmed
    assert text.startswith(m.t("notify.urgent")) == key.endswith(".admin")
    assert "\\*Esimerkki\\*" in text or "Esimerkki" not in email  # Teams: escaped
    assert "2026\\-000001" not in text  # our own number stays readable
    if "{service_areas}" in m.raw(key):
        assert DIRECTORY.service_areas["youth"].name.get(locale) in email


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("key", KEYS)
def test_every_notification_is_a_card_with_the_button_it_invites(key: str, locale: str) -> None:
    m = Translator.load().get(locale)
    card = render_card(m, DIRECTORY, _item(key))
    check_adaptive_card(card)
    assert not [t for t in texts(card) if "{" in t or "}" in t]
    assert card["body"][-1]["text"] == render_text(m, DIRECTORY, _item(key), mark_urgent=False)
    urgent = card["body"][0].get("style") == "attention"
    assert urgent == key.endswith(".admin")  # urgent=True
    [button] = card["actions"]
    assert button["title"] and not button["title"].startswith("notify.")
    data = button["data"]
    if button["type"] == "Action.Execute":  # an approver opens the request's card
        assert key.endswith(".approver") and data["request_id"] == "r1"
    else:  # a conversation the router starts
        assert data["atmt_command"] in {c.value for c in Command}


def test_placeholders_of_notifications_are_known() -> None:
    m = Translator.load().get("fi")
    known = set(PARAMS) | {"area_name"}
    for key in KEYS:
        assert placeholders(m.raw(key)) <= known, key


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    rng = random.Random(1)
    first = [backoff(1, 2.0, rng=rng) for _ in range(200)]
    assert min(first) >= 1.0 and max(first) <= 2.0 and len(set(first)) > 100
    assert all(4.0 <= backoff(3, 2.0, rng=rng) <= 8.0 for _ in range(50))
    assert all(backoff(30, 2.0, cap=60, rng=rng) <= 60 for _ in range(50))
    assert all(backoff(1, 2.0, 120.0, rng=rng) >= 120.0 for _ in range(50))  # Retry-After


class _Response:
    def __init__(self, status: int, retry_after: str | None = None) -> None:
        self.status_code = status
        self.headers = {"Retry-After": retry_after} if retry_after else {}


class _HttpError(Exception):
    def __init__(self, status: int, retry_after: str | None = None) -> None:
        super().__init__("http")
        self.response = _Response(status, retry_after)


@pytest.mark.parametrize(
    ("error", "retryable", "retry_after"),
    [
        (_HttpError(429, "7"), True, 7.0),
        (_HttpError(412), True, None),
        (_HttpError(500), True, None),
        (_HttpError(503, "x"), True, None),
        (_HttpError(403), False, None),  # the user blocked or removed the bot
        (_HttpError(404), False, None),
        (_HttpError(400), False, None),
        (TimeoutError(), True, None),
        (ConnectionResetError(), True, None),
    ],
)
def test_classify(error: BaseException, retryable: bool, retry_after: float | None) -> None:
    found = classify(error)
    assert isinstance(found, DeliveryError)
    assert found.retryable is retryable and found.retry_after == retry_after


async def test_rate_limiter_spaces_messages_per_key() -> None:
    now = [0.0]
    limiter = RateLimiter(7.0, clock=lambda: now[0])
    taken = sum(limiter.try_acquire("conv") for _ in range(20))
    assert taken == 7  # the burst
    assert not limiter.try_acquire("conv") and limiter.try_acquire("other")
    now[0] += 1 / 7
    assert limiter.try_acquire("conv") and not limiter.try_acquire("conv")
    # Real time: 7/s with a burst of 1 lets 8 through in about one second.
    real = RateLimiter(7.0, burst=1)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(8):
        await real.acquire("c")
    assert 0.9 <= loop.time() - start < 2.0


async def test_claims_never_overlap_and_sent_rows_are_never_claimed(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            insert(OUTBOX),
            [
                {
                    "id": f"o{i:03d}",
                    "request_id": None,
                    "template": "request.submitted",
                    "audience": "worker",
                    "recipient": f"w{i}@example.fi",
                    "params": {},
                    "idempotency_key": f"k{i}",
                    "created_at": now,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now - timedelta(seconds=1),
                }
                for i in range(60)
            ],
        )
    queue = OutboxQueue(engine)
    batches = await asyncio.gather(
        *(queue.claim(now, limit=10, lease=timedelta(minutes=5)) for _ in range(8))
    )
    claimed = [item.id for batch in batches for item in batch]
    assert len(claimed) == len(set(claimed)) == 60
    assert all(item.attempts == 1 for batch in batches for item in batch)
    assert await queue.claim(now, limit=10, lease=timedelta(minutes=5)) == []
    assert await queue.mark_sent("o000", now)
    assert not await queue.mark_sent("o000", now)  # only a row being sent can be marked
    # After the lease a crashed dispatcher's rows are claimed again, the sent one never.
    later = now + timedelta(minutes=6)
    again = await queue.claim(later, limit=100, lease=timedelta(minutes=5))
    assert len(again) == 59 and "o000" not in {i.id for i in again}
    assert await queue.mark_dead("o001", "gave up")
    assert [i.id for i in await queue.dead()] == ["o001"]
    assert await queue.retry("o001", later)
    assert not await queue.retry("o001", later)
