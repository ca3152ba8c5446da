"""Revoke in chat: pick the grant (search when many), reason, effective date, confirm;
no approval, urgent for KEHA; bad input."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest
from conftest import StartBot
from fakes.botapp import card_of, make_settings, texts
from fakes.card_checks import error_text
from fakes.connector import FakeConnector
from fakes.manager_chat import (
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

from access.model import GrantState, RequestKind, RequestState, RevokeReason
from dialogs.i18n import Messages, Translator

T = Translator.load()
WORDS = {"fi": "poista", "sv": "återkalla", "en": "revoke"}
LOCALE_TAGS = {"fi": "fi-FI", "sv": "sv-SE", "en": "en-GB"}


async def _start(
    db_url: str,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    locale: str = "fi",
) -> tuple[Chat, Messages]:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    return Chat(http, server, connector, locale=LOCALE_TAGS[locale]), T.get(locale)


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_revoke_takes_effect_without_approval(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, locale)
    service = service_of(chat.server)
    grant = await make_active_grant(service)
    pick = only_card(await chat.say(WORDS[locale]))
    card_id = chat.card_id
    assert texts(pick)[0] == m.t("manager.pick.title.revoke")
    assert inputs(pick)["grant_id"]["value"] == grant.id  # the only one is preselected
    form = card_of((await chat.press(pick, m.t("manager.action.choose")))[0].body)
    assert texts(form)[0] == m.t("manager.revoke.title")
    assert inputs(form)["effective"]["value"] == TODAY.isoformat()
    [update] = await chat.press(
        form, m.t("manager.action.continue"), {"reason": "employment_ended"}
    )
    assert update.method == "PUT" and update.activity_id == card_id
    summary = card_of(update.body)
    assert texts(summary)[0] == m.t("manager.revoke.summary_title")
    receipt = card_of((await chat.press(summary, m.t("manager.action.confirm_revoke")))[0].body)
    [revoke] = [
        r for r in await service.queries.list_requests_for(LAUKAA) if r.kind is RequestKind.REVOKE
    ]
    assert revoke.state is RequestState.APPROVED and revoke.urgent
    assert revoke.revoke_reason is RevokeReason.EMPLOYMENT_ENDED
    assert revoke.effective == TODAY  # the effective date is a date, not a sentence
    assert m.t("manager.revoke.summary_now", effective=m.format_date(TODAY)) in texts(summary)
    [now] = await service.queries.list_grants_for(LAUKAA, states=None)
    assert now.state is GrantState.REVOKING
    assert texts(receipt)[0] == m.t("manager.revoke.sent_title", number=revoke.number)
    assert m.t("manager.revoke.next") in texts(receipt)
    # a second click on Confirm: told, nothing new
    again = await chat.press(summary, m.t("manager.action.confirm_revoke"))
    assert only_text(again) == m.t(
        "manager.card.already_done", number=revoke.number, state=m.t("manager.state.approved")
    )
    assert len(await service.queries.list_requests_for(LAUKAA)) == 2


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_revoke_form_problems_are_shown_at_the_fields(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, locale)
    service = service_of(chat.server)
    grant = await make_active_grant(service, end=TODAY + timedelta(days=30))
    pick = only_card(await chat.say(WORDS[locale]))
    form = card_of((await chat.press(pick, m.t("manager.action.choose")))[0].body)

    async def errors(fill: dict[str, str]) -> list[str]:
        [update] = await chat.press(form, m.t("manager.action.continue"), fill)
        card = card_of(update.body)
        return [t for t in map(error_text, card["body"]) if t is not None]

    assert await errors({"reason": "other", "note": ""}) == [m.t("manager.error.note_required")]
    assert await errors({"reason": "misuse"}) == [m.t("manager.error.reason_not_offered")]
    past = (TODAY - timedelta(days=1)).isoformat()
    assert await errors({"reason": "tasks_changed", "effective": past}) == [
        m.t("violation.revoke.effective_before_start", start=m.format_date(grant.start))
    ]
    late = (TODAY + timedelta(days=31)).isoformat()
    assert await errors({"reason": "tasks_changed", "effective": late}) == [
        m.t("violation.revoke.effective_after_end", end=m.format_date(grant.end))
    ]
    assert await errors({"reason": "other", "note": "x" * 100_000}) == [
        m.t(
            "violation.text.too_long",
            max_length=2000,
            length=100_000,
            field=m.t("manager.field.note"),
        )
    ]
    assert await errors({"reason": "tasks_changed", "effective": "huomenna"}) == [
        m.t("violation.revoke.effective_invalid")
    ]
    [grant_now] = await service.queries.list_grants_for(LAUKAA)
    assert grant_now.state is GrantState.ACTIVE  # nothing changed


async def test_many_grants_are_searched_by_name(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, "en")
    service = service_of(chat.server)
    grants = [
        await make_active_grant(
            service, name=f"Worker Number{i}", email=f"worker{i}@laukaa.example.fi"
        )
        for i in range(7)
    ]
    pick = only_card(await chat.say("revoke"))
    assert "grant_id" not in inputs(pick)  # too many to list: search first
    assert "search" in inputs(pick)
    result = card_of(
        (await chat.press(pick, m.t("manager.action.search"), {"search": "zzz"}))[0].body
    )
    assert m.t("manager.pick.no_match") in texts(result)
    result = card_of(
        (await chat.press(result, m.t("manager.action.search"), {"search": "number3"}))[0].body
    )
    [choice] = inputs(result)["grant_id"]["choices"]
    assert choice["value"] == grants[3].id
    # an id edited to something not offered
    [update] = await chat.press(result, m.t("manager.action.choose"), {"grant_id": "forged-id"})
    assert m.t("manager.error.grant_not_offered") in texts(card_of(update.body))
    form = card_of((await chat.press(result, m.t("manager.action.choose")))[0].body)
    assert "Worker Number3" in str(form)


async def test_another_municipalitys_grant_is_not_offered(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http)
    service = service_of(chat.server)
    await make_active_grant(service)
    other = await make_active_grant(
        service,
        email="ville@viitasaari.example.fi",
        requester="manager@viitasaari.example.fi",
        municipality="viitasaari",
    )
    pick = only_card(await chat.say("poisto"))
    assert other.id not in str(pick)
    [update] = await chat.press(pick, m.t("manager.action.choose"), {"grant_id": other.id})
    assert m.t("manager.error.grant_not_offered") in texts(card_of(update.body))
    [still] = [g for g in await service.queries.list_grants_for("manager@viitasaari.example.fi")]
    assert still.state is GrantState.ACTIVE


async def test_nothing_to_revoke(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, "sv")
    assert only_text(await chat.say("återkalla")) == m.t("manager.pick.none")


async def test_revoke_continues_after_a_restart(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    settings = make_settings(db_url)
    app1 = await start_bot(settings, clock=FixedClock())
    chat = Chat(http, app1, connector, locale="sv-SE")
    m = T.get("sv")
    await make_active_grant(service_of(app1))
    pick = only_card(await chat.say("återkalla"))
    form = card_of((await chat.press(pick, m.t("manager.action.choose")))[0].body)
    await app1.close()

    app2 = await start_bot(settings, clock=FixedClock())
    chat.server = app2
    summary = card_of(
        (await chat.press(form, m.t("manager.action.continue"), {"reason": "tasks_changed"}))[
            0
        ].body
    )
    receipt = card_of((await chat.press(summary, m.t("manager.action.confirm_revoke")))[0].body)
    [grant] = await service_of(app2).queries.list_grants_for(LAUKAA, states=None)
    assert grant.state is GrantState.REVOKING
    assert m.t("manager.revoke.next") in texts(receipt)
