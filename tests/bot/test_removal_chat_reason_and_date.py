"""Removal in chat with the reason it has and an effective date that is a date: the
area contact removes for the area's reasons; a future day ends the access that day and
the grant-end job sends the removal then; a past day as far back as the area allows."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest
from conftest import StartBot
from fakes.botapp import card_of, make_settings, texts
from fakes.card_checks import error_text
from fakes.connector import FakeConnector
from fakes.manager_chat import (
    APPROVER,
    LAUKAA,
    TODAY,
    Chat,
    FixedClock,
    inputs,
    make_active_grant,
    only_card,
    only_text,
    service_of,
)
from sqlalchemy import select

from access.model import GrantState, RequestKind, RequestState, RevokeReason
from bot.app import RUNTIME
from dialogs.i18n import Messages, Translator
from storage.db import create_session_factory
from storage.domain_tables import OUTBOX

T = Translator.load()
WORDS = {"fi": "poista", "sv": "återkalla", "en": "revoke"}
LOCALE_TAGS = {"fi": "fi-FI", "sv": "sv-SE", "en": "en-GB"}
AREA_REASONS = ["task_ended", "employment_ended", "misuse", "agreement_breach", "other"]
WORKER = "aino.esimerkki@laukaa.example.fi"


async def _outbox(chat: Chat, template: str) -> list[tuple[str, str, dict[str, object]]]:
    engine = chat.server.app[RUNTIME].engine
    assert engine is not None
    async with create_session_factory(engine)() as session:
        rows = await session.execute(
            select(OUTBOX.c.audience, OUTBOX.c.recipient, OUTBOX.c.params).where(
                OUTBOX.c.template == template
            )
        )
        return sorted((r[0], r[1], r[2]) for r in rows)


def _attention(card: dict[str, object]) -> list[str]:
    body = card["body"]
    assert isinstance(body, list)
    return [t for t in map(error_text, body) if t is not None]


async def _form(chat: Chat, m: Messages, locale: str) -> dict[str, object]:
    pick = only_card(await chat.say(WORDS[locale]))
    return card_of((await chat.press(pick, m.t("manager.action.choose")))[0].body)


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_the_area_contact_removes_for_the_reason_the_area_has(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    service = service_of(server)
    grant = await make_active_grant(service)
    m = T.get(locale)
    approver = Chat(http, server, connector, email=APPROVER, locale=LOCALE_TAGS[locale])
    form = await _form(approver, m, locale)
    assert m.t("manager.revoke.intro_area") in texts(form)
    reason = inputs(form)["reason"]
    assert [c["value"] for c in reason["choices"]] == AREA_REASONS
    assert reason["isRequired"] is True
    assert inputs(form)["effective"]["max"] == grant.end.isoformat()

    async def errors(fill: dict[str, str]) -> list[str]:
        [update] = await approver.press(form, m.t("manager.action.continue"), fill)
        return _attention(card_of(update.body))

    assert await errors({"reason": "misuse", "note": " "}) == [
        m.t("manager.error.note_required_area")
    ]
    assert await errors({"reason": "other"}) == [m.t("manager.error.note_required_area")]
    assert await errors({"reason": "tasks_changed"}) == [  # the municipality's reason
        m.t("manager.error.reason_not_offered")
    ]
    [update] = await approver.press(
        form, m.t("manager.action.continue"), {"reason": "task_ended"}
    )
    summary = card_of(update.body)
    assert m.t("manager.revoke_reason.task_ended") in str(summary)
    receipt = card_of(
        (await approver.press(summary, m.t("manager.action.confirm_revoke")))[0].body
    )
    [revoke] = [
        r for r in await service.queries.list_requests_for(LAUKAA) if r.kind is RequestKind.REVOKE
    ]
    assert revoke.revoke_reason is RevokeReason.TASK_ENDED  # not misuse
    assert revoke.effective == TODAY and revoke.urgent and revoke.requester == LAUKAA
    assert revoke.state is RequestState.APPROVED
    assert m.t("manager.revoke.next_area") in texts(receipt)
    told = await _outbox(approver, "revoke.area")
    assert [(a, r) for a, r, _ in told] == [
        ("admin", "admin@pks-area.example.fi"),
        ("requester", LAUKAA),
        ("worker", WORKER),
    ]
    assert all(p["revoke_reason"] == "task_ended" for _, _, p in told)
    assert all(p["effective"] == TODAY.isoformat() for _, _, p in told)
    assert await _outbox(approver, "revoke.misuse") == []


async def test_without_a_role_nothing_can_be_removed(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    await make_active_grant(service_of(server))
    m = T.get("fi")
    stranger = Chat(http, server, connector, email="someone@elsewhere.example.fi")
    assert only_text(await stranger.say("poista")) == m.t("manager.error.not_revoker")


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_a_future_effective_date_ends_the_access_that_day(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    clock = FixedClock()
    server = await start_bot(make_settings(db_url), clock=clock)
    service = service_of(server)
    grant = await make_active_grant(service)
    m = T.get(locale)
    chat = Chat(http, server, connector, locale=LOCALE_TAGS[locale])
    day = TODAY + timedelta(days=10)
    form = await _form(chat, m, locale)
    [update] = await chat.press(
        form,
        m.t("manager.action.continue"),
        {"reason": "employment_ended", "effective": day.isoformat()},
    )
    summary = card_of(update.body)
    shown = m.format_date(day)
    # the summary says what Confirm does with this date: not "at once"
    assert m.t("manager.revoke.summary_scheduled", effective=shown) in texts(summary)
    assert m.t("manager.revoke.summary_now", effective=shown) not in texts(summary)
    receipt = card_of((await chat.press(summary, m.t("manager.action.confirm_revoke")))[0].body)
    assert texts(receipt)[0] == m.t("manager.revoke.scheduled_title", effective=shown)
    assert m.t("manager.revoke.scheduled_next", effective=shown) in texts(receipt)
    again = await chat.press(summary, m.t("manager.action.confirm_revoke"))
    assert only_text(again) == m.t("manager.revoke.scheduled_already", effective=shown)

    [now] = await service.queries.list_grants_for(LAUKAA)
    assert now.state is GrantState.ACTIVE and now.end == day
    assert now.end_reason is RevokeReason.EMPLOYMENT_ENDED
    assert [r.kind for r in await service.queries.list_requests_for(LAUKAA)] == [
        RequestKind.GRANT
    ]  # nothing goes to KEHA yet
    told = await _outbox(chat, "revoke.scheduled")
    assert {(a, r) for a, r, _ in told} >= {("requester", LAUKAA), ("worker", WORKER)}
    assert ("approver", APPROVER) in {(a, r) for a, r, _ in told}
    assert all(p["effective"] == day.isoformat() for _, _, p in told)

    # the grant-end job removes it after that day, for the reason given
    clock.advance(days=11)
    [revoke] = await service.jobs.end_due_grants(idempotency_key="due-1")
    assert revoke.revoke_reason is RevokeReason.EMPLOYMENT_ENDED and revoke.effective == day
    assert revoke.grant_id == grant.id and revoke.urgent


async def test_a_real_end_a_month_back_can_be_recorded(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    clock = FixedClock()
    server = await start_bot(make_settings(db_url), clock=clock)
    service = service_of(server)
    await make_active_grant(service)
    clock.advance(days=60)
    today = TODAY + timedelta(days=60)
    m = T.get("en")
    chat = Chat(http, server, connector, locale="en-GB")
    form = await _form(chat, m, "en")
    assert inputs(form)["effective"]["min"] == (today - timedelta(days=30)).isoformat()
    too_far = (today - timedelta(days=31)).isoformat()
    [update] = await chat.press(
        form, m.t("manager.action.continue"), {"reason": "employment_ended", "effective": too_far}
    )
    earliest = m.format_date(today - timedelta(days=30))
    assert _attention(card_of(update.body)) == [
        m.t("violation.revoke.effective_too_far_back", backdate_days=30, earliest=earliest)
    ]
    real_end = today - timedelta(days=30)
    [update] = await chat.press(
        form,
        m.t("manager.action.continue"),
        {"reason": "employment_ended", "effective": real_end.isoformat()},
    )
    summary = card_of(update.body)
    assert m.t("manager.revoke.summary_now", effective=m.format_date(real_end)) in texts(summary)
    await chat.press(summary, m.t("manager.action.confirm_revoke"))
    [revoke] = [
        r for r in await service.queries.list_requests_for(LAUKAA) if r.kind is RequestKind.REVOKE
    ]
    assert revoke.effective == real_end and revoke.start == today


async def test_a_grant_whose_end_passed_long_ago_is_offered_its_own_end(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    """The grant-end job has not removed a grant that ended two months ago: the form
    proposes that end as the day (today would lie after it), and the removal goes through."""
    clock = FixedClock()
    server = await start_bot(make_settings(db_url), clock=clock)
    service = service_of(server)
    end = TODAY + timedelta(days=10)
    await make_active_grant(service, end=end)
    clock.advance(days=70)
    m = T.get("fi")
    chat = Chat(http, server, connector)
    form = await _form(chat, m, "fi")
    effective = inputs(form)["effective"]
    assert (effective["value"], effective["min"], effective["max"]) == (end.isoformat(),) * 3
    [update] = await chat.press(form, m.t("manager.action.continue"), {"reason": "tasks_changed"})
    summary = card_of(update.body)
    assert m.t("manager.revoke.summary_now", effective=m.format_date(end)) in texts(summary)
    await chat.press(summary, m.t("manager.action.confirm_revoke"))
    [revoke] = [
        r for r in await service.queries.list_requests_for(LAUKAA) if r.kind is RequestKind.REVOKE
    ]
    assert revoke.effective == end
