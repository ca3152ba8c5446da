"""Change an active grant in chat: pick, prefilled form, same checks, summary, submit."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from conftest import StartBot
from fakes.botapp import card_of, make_settings, texts
from fakes.card_checks import error_text
from fakes.connector import FakeConnector
from fakes.manager_chat import (
    LAUKAA,
    Chat,
    FixedClock,
    inputs,
    make_active_grant,
    only_card,
    service_of,
)

from access.model import RequestKind, RequestState
from dialogs.i18n import Messages, Translator

T = Translator.load()
WORDS = {"fi": "muutos", "sv": "ändra", "en": "change"}
LOCALE_TAGS = {"fi": "fi-FI", "sv": "sv-SE", "en": "en-GB"}
CONFIRMED = {"confirm_customer_consent_form": "true", "confirm_worker_agreement": "true"}


def _attention(card: dict[str, Any]) -> list[str]:
    return [t for t in map(error_text, card["body"]) if t is not None]


async def _start(
    db_url: str,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    locale: str,
) -> tuple[Chat, Messages]:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    return Chat(http, server, connector, locale=LOCALE_TAGS[locale]), T.get(locale)


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_change_is_prefilled_checked_and_submitted(
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
    assert texts(pick)[0] == m.t("manager.pick.title.change")
    form = card_of((await chat.press(pick, m.t("manager.action.choose")))[0].body)
    assert texts(form)[0] == m.t("manager.form.title.change")
    fields = inputs(form)
    assert fields["service_areas"]["value"] == "youth"
    assert fields["level"]["value"] == "view"
    assert fields["end"]["value"] == grant.end.isoformat()
    # Only what a change can change: the start, the e-mail and the municipality are not.
    assert "start" not in fields and "worker_email" not in fields
    assert "municipality" not in fields
    assert fields["worker_name"]["value"] == "Aino Esimerkki"  # a correction is a change
    assert m.t("manager.form.identity_note") in texts(form)

    # unchanged: the policy says so, at the top
    [update] = await chat.press(
        form,
        m.t("manager.action.continue"),
        CONFIRMED
        | {
            "justification": "Tehtävät laajenevat",
        },
    )
    again = card_of(update.body)
    assert m.t("violation.change.no_difference") in _attention(again)
    # a real change
    [update] = await chat.press(
        again,
        m.t("manager.action.continue"),
        {
            "service_areas": "youth,guidance",
        },
    )
    summary = card_of(update.body)
    assert texts(summary)[0] == m.t("manager.summary.title.change")
    receipt = card_of((await chat.press(summary, m.t("manager.action.confirm")))[0].body)
    [change] = [
        r for r in await service.queries.list_requests_for(LAUKAA) if r.kind is RequestKind.CHANGE
    ]
    assert change.state is RequestState.PENDING and change.grant_id == grant.id
    assert change.service_areas == ("youth", "guidance")
    assert texts(receipt)[0] == m.t("manager.sent.title.change", number=change.number)


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_a_second_change_of_the_same_grant_is_refused_at_continue(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, locale)
    service = service_of(chat.server)
    await make_active_grant(service)
    fill = CONFIRMED | {"justification": "Lisää tehtäviä", "level": "record"}
    pick = only_card(await chat.say(WORDS[locale]))
    form = card_of((await chat.press(pick, m.t("manager.action.choose")))[0].body)
    summary = card_of((await chat.press(form, m.t("manager.action.continue"), fill))[0].body)
    await chat.press(summary, m.t("manager.action.confirm"))
    [first] = [
        r for r in await service.queries.list_requests_for(LAUKAA) if r.kind is RequestKind.CHANGE
    ]
    # The second change is stopped before its summary: the form says why.
    pick = only_card(await chat.say(WORDS[locale]))
    form = card_of((await chat.press(pick, m.t("manager.action.choose")))[0].body)
    [update] = await chat.press(form, m.t("manager.action.continue"), fill)
    again = card_of(update.body)
    assert texts(again)[0] == m.t("manager.form.title.change")
    assert m.t(
        "violation.grant.request_open",
        existing=first.number,
        state=m.t("manager.state.pending"),
    ) in _attention(again)


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_edited_values_not_offered_in_a_change(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, locale)
    await make_active_grant(service_of(chat.server))
    pick = only_card(await chat.say(WORDS[locale]))
    form = card_of((await chat.press(pick, m.t("manager.action.choose")))[0].body)
    [update] = await chat.press(
        form,
        m.t("manager.action.continue"),
        CONFIRMED
        | {
            "justification": "x",
            "service_areas": "complementary_training",
            "municipality": "kuopio",
        },
    )
    again = card_of(update.body)
    assert m.t("manager.error.service_area_not_offered") in _attention(again)
    assert "municipality" not in inputs(again)
