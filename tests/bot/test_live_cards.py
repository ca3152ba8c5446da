"""Cards show the present: a receipt refreshes to the decision, a cancelled or abandoned
form becomes a read-only card that says so, nothing stale is left to click."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from conftest import StartBot
from fakes.botapp import card_of, make_settings, texts
from fakes.card_checks import badges
from fakes.connector import FakeConnector
from fakes.manager_chat import APPROVER, LAUKAA, Chat, FixedClock, actions, only_card, service_of
from fakes.notify_support import invoke_card
from fakes.teams import message

from dialogs.i18n import Messages, Translator
from dialogs.request_flow import VERB_RECEIPT

T = Translator.load()
WORDS = {"fi": "uusi", "sv": "ny", "en": "new"}
CANCEL = {"fi": "peru", "sv": "avbryt", "en": "cancel"}
LOCALE_TAGS = {"fi": "fi-FI", "sv": "sv-SE", "en": "en-GB"}
GOOD = {
    "worker_name": "Aino Esimerkki",
    "worker_email": "aino.esimerkki@laukaa.example.fi",
    "worker_job_title": "Nuorten ohjaaja",
    "service_areas": "youth,guidance",
    "level": "view",
    "justification": "Ohjaamon asiakastyö",
    "confirm_customer_consent_form": "true",
    "confirm_worker_agreement": "true",
}


def _refresh(chat: Chat, data: dict[str, Any]) -> dict[str, Any]:
    """The ``adaptiveCard/action`` invoke Teams sends when ``chat``'s user sees a card."""
    activity = message(
        chat.connector.service_url,
        None,
        locale=chat.locale,
        conversation_id=chat.conversation_id,
        user_id=chat.user_id,
        aad_object_id=chat.aad,
    )
    activity["type"] = "invoke"
    activity["name"] = "adaptiveCard/action"
    activity["value"] = {
        "action": {"type": "Action.Execute", "verb": VERB_RECEIPT, "data": data},
        "trigger": "automatic",
    }
    return activity


async def _receipt(chat: Chat, m: Messages) -> tuple[dict[str, Any], str | None]:
    form = only_card(await chat.say(WORDS[m.locale]))
    form_id = chat.card_id
    [summary] = await chat.press(form, m.t("manager.action.continue"), GOOD)
    [receipt] = await chat.press(
        card_of(summary.body), m.t("manager.action.confirm"), reply_to_id=form_id
    )
    return card_of(receipt.body), form_id


@pytest.mark.parametrize("locale", ["fi", "sv"])
async def test_a_receipt_refreshes_to_the_decision(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    m = T.get(locale)
    manager = Chat(http, server, connector, email=LAUKAA, locale=LOCALE_TAGS[locale])
    receipt, _ = await _receipt(manager, m)
    assert m.t("manager.state.pending") in texts(receipt)
    refresh = receipt["refresh"]
    assert refresh["userIds"] == [manager.user_id]  # Teams asks when the requester sees it
    assert refresh["action"]["verb"] == VERB_RECEIPT

    service = service_of(server)
    [request] = await service.queries.list_requests_for(LAUKAA)
    await service.requests.approve(APPROVER, request.id, idempotency_key="a1")

    now = await invoke_card(http, server, _refresh(manager, refresh["action"]["data"]))
    shown = texts(now)
    assert shown[0] == m.t("manager.sent.title.new", number=request.number)
    assert m.t("manager.state.pending") not in shown  # no longer "awaiting decision"
    [(style, icon, words)] = badges(now)
    current = (await service.queries.get_request(LAUKAA, request.id)).request.state
    assert (style, icon, words) == ("good", "✔", m.t(f"manager.state.{current.value}"))
    approved = m.t("approval.outcome.approved", who="X", when="Y").split("X")[0]
    assert any(t.startswith(approved) for t in shown), shown
    assert now["refresh"]["userIds"] == [manager.user_id]  # and it stays current

    # Someone else seeing the card (or forged data) gets a short card, never a 500.
    stranger = Chat(
        http, server, connector, email="manager@viitasaari.example.fi", locale="fi-FI"
    )
    await stranger.say("apua")
    other = await invoke_card(http, server, _refresh(stranger, refresh["action"]["data"]))
    assert request.number not in str(other)
    junk = await invoke_card(http, server, _refresh(manager, {"request_id": ["x"]}))
    assert "actions" not in junk


@pytest.mark.parametrize("locale", ["fi", "sv"])
async def test_a_cancelled_form_becomes_read_only(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    m = T.get(locale)
    chat = Chat(http, server, connector, email=LAUKAA, locale=LOCALE_TAGS[locale])
    form = only_card(await chat.say(WORDS[locale]))
    form_id = chat.card_id
    answer = await chat.press(form, m.t("manager.action.cancel"))
    [closed] = [r for r in answer if r.method == "PUT"]
    assert closed.activity_id == form_id
    card = card_of(closed.body)
    assert texts(card)[0] == m.t("manager.closed.title")
    assert m.t("manager.closed.cancelled") in texts(card)
    assert not actions(card) and "Input.Text" not in str(card)


async def test_typed_cancel_and_another_command_close_the_open_form(
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    m = T.get("fi")
    chat = Chat(http, server, connector, email=LAUKAA, locale="fi-FI")
    only_card(await chat.say("uusi"))
    form_id = chat.card_id
    answer = await chat.say(CANCEL["fi"])
    [closed] = [r for r in answer if r.method == "PUT"]
    assert closed.activity_id == form_id
    assert m.t("manager.closed.cancelled") in texts(card_of(closed.body))

    form = only_card(await chat.say("uusi"))
    form_id = chat.card_id
    [summary] = await chat.press(form, m.t("manager.action.continue"), GOOD)
    answer = await chat.say("omat hakemukset")  # something else, mid-way
    [closed] = [r for r in answer if r.method == "PUT"]
    assert closed.activity_id == form_id
    assert m.t("manager.closed.interrupted") in texts(card_of(closed.body))
    assert not actions(card_of(closed.body))
    # The old summary's button now answers that the card is no longer in use.
    again = await chat.press(
        card_of(summary.body), m.t("manager.action.confirm"), reply_to_id=form_id
    )
    assert not await service_of(server).queries.list_requests_for(LAUKAA)
    assert again
