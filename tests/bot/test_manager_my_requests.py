"""My requests: list with state badges, details with history, cancel, answer a
returned request (edit and resubmit)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from conftest import StartBot
from fakes.botapp import card_of, make_settings, texts
from fakes.card_checks import badges, nodes
from fakes.connector import FakeConnector
from fakes.manager_chat import (
    APPROVER,
    LAUKAA,
    TODAY,
    Chat,
    FixedClock,
    actions,
    inputs,
    only_card,
    only_text,
    service_of,
)

from access.model import AccessRequest, RequestDraft, RequestKind, RequestState
from access.service import AccessService
from dialogs.cards.markup import plain
from dialogs.i18n import Messages, Translator

T = Translator.load()
WORDS = {"fi": "omat hakemukset", "sv": "mina ansökningar", "en": "status"}
LOCALE_TAGS = {"fi": "fi-FI", "sv": "sv-SE", "en": "en-GB"}


async def _submit(service: AccessService, name: str, email: str, key: str) -> AccessRequest:
    return await service.requests.submit(
        LAUKAA,
        RequestDraft(
            kind=RequestKind.GRANT,
            municipality="laukaa",
            worker_name=name,
            worker_email=email,
            worker_job_title="Ohjaaja",
            service_areas=("youth",),
            level="view",
            start=TODAY,
            end=TODAY + timedelta(days=100),
            justification="Asiakastyö",
            confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
        ),
        idempotency_key=key,
    )


def _row_action(card: dict[str, Any], request_id: str) -> dict[str, Any]:
    # The row is clickable and has a visible button: both send the same.
    found = [a for a in actions(card) if a["data"].get("request_id") == request_id]
    assert found and all(a["data"] == found[0]["data"] for a in found)
    return found[0]


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
async def test_list_details_and_cancel(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, locale)
    service = service_of(chat.server)
    first = await _submit(service, "Aino Esimerkki", "aino@laukaa.example.fi", "k1")
    second = await _submit(service, "Eero Esimerkki", "eero@laukaa.example.fi", "k2")
    await service.requests.reject(APPROVER, second.id, "Ei tarvetta", idempotency_key="r1")

    listing = only_card(await chat.say(WORDS[locale]))
    card_id = chat.card_id
    shown = texts(listing)
    assert shown[0] == m.t("manager.requests.title")
    assert m.t("manager.state.pending") in shown and m.t("manager.state.rejected") in shown
    shown_badges = {words: (style, icon) for style, icon, words in badges(listing)}
    assert shown_badges[m.t("manager.state.rejected")] == ("attention", "✖")

    details = card_of((await chat.click(_row_action(listing, second.id)["data"]))[0].body)
    # The approver never talked to the bot: named by e-mail (escaped for Markdown).
    facts = [f["value"] for n in nodes(details) if n.get("type") == "FactSet" for f in n["facts"]]
    assert m.t("manager.history.rejected", who=plain(APPROVER)) + " – Ei tarvetta" in facts
    assert m.t("manager.action.cancel_request") not in str(details)  # decided: no cancel

    back = card_of((await chat.press(details, m.t("manager.action.back")))[0].body)
    details = card_of((await chat.click(_row_action(back, first.id)["data"]))[0].body)
    [update] = [
        r
        for r in await chat.press(details, m.t("manager.action.cancel_request_confirm"))
        if r.method == "PUT"
    ]
    assert update.activity_id == card_id
    assert (
        await service.queries.get_request(LAUKAA, first.id)
    ).request.state is RequestState.CANCELLED
    assert m.t("manager.state.cancelled") in texts(card_of(update.body))
    # the same click again: the request changed since, nothing is done
    again = await chat.press(details, m.t("manager.action.cancel_request_confirm"))
    assert m.t("manager.error.changed_since") in [r.body.get("text") for r in again]


async def test_an_approved_request_is_stopped_from_my_requests(
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, "fi")
    service = service_of(chat.server)
    request = await _submit(service, "Aino Esimerkki", "aino@laukaa.example.fi", "k1")
    await service.requests.approve(APPROVER, request.id, idempotency_key="a1")
    listing = only_card(await chat.say(WORDS["fi"]))
    details = card_of((await chat.click(_row_action(listing, request.id)["data"]))[0].body)
    # Approved, not yet opened by KEHA: it can still be stopped.
    answer = await chat.press(details, m.t("manager.action.cancel_request_confirm"))
    assert m.t("manager.requests.stopped", number=request.number) in [
        r.body.get("text") for r in answer
    ]
    stopped = (await service.queries.get_request(LAUKAA, request.id)).request
    assert stopped.state is RequestState.STOPPED


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_answer_a_returned_request(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, locale)
    service = service_of(chat.server)
    request = await _submit(service, "Aino Esimerkki", "aino@laukaa.example.fi", "k1")
    await service.requests.return_with_question(
        APPROVER, request.id, "Mihin tehtäviin *tarkalleen*?", idempotency_key="q1"
    )
    listing = only_card(await chat.say(WORDS[locale]))
    details = card_of((await chat.click(_row_action(listing, request.id)["data"]))[0].body)
    assert m.t("manager.state.returned") in texts(details)
    question = m.t("manager.form.question", question="Mihin tehtäviin \\*tarkalleen\\*?")
    assert question in texts(details)  # the question is shown, escaped
    form = card_of((await chat.press(details, m.t("manager.action.answer")))[0].body)
    assert texts(form)[0] == m.t("manager.form.title.resubmit")
    fields = inputs(form)
    assert fields["worker_name"]["value"] == "Aino Esimerkki"
    assert fields["justification"]["value"] == "Asiakastyö"
    assert fields["confirm_worker_agreement"]["value"] == "true"
    # problems first (no answer, no justification), then the answer
    [update] = await chat.press(form, m.t("manager.action.continue"), {"justification": ""})
    again = card_of(update.body)
    assert m.t("violation.text.required", field=m.t("manager.field.justification")) in texts(again)
    assert m.t("violation.text.required", field=m.t("manager.field.answer")) in texts(again)
    [update] = await chat.press(
        again,
        m.t("manager.action.continue"),
        {
            "justification": "Ohjaamon nuorten asiakkaiden ohjaus",
            "answer": "Ohjaamon nuorten ohjaukseen",
        },
    )
    summary = card_of(update.body)
    receipt = card_of((await chat.press(summary, m.t("manager.action.confirm")))[0].body)
    view = await service.queries.get_request(LAUKAA, request.id)
    assert view.request.state is RequestState.PENDING
    assert view.request.justification == "Ohjaamon nuorten asiakkaiden ohjaus"
    assert view.request.answer == "Ohjaamon nuorten ohjaukseen"
    assert texts(receipt)[0] == m.t("manager.sent.title.resubmit", number=request.number)


async def test_no_requests_and_a_forged_request_id(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, "en")
    assert only_text(await chat.say("my requests")) == m.t("manager.requests.none")
    service = service_of(chat.server)
    mine = await _submit(service, "Aino Esimerkki", "aino@laukaa.example.fi", "k1")
    other = await service.requests.submit(
        "manager@viitasaari.example.fi",
        RequestDraft(
            kind=RequestKind.GRANT,
            municipality="viitasaari",
            worker_name="Ville Esimerkki",
            worker_email="ville@viitasaari.example.fi",
            worker_job_title="Ohjaaja",
            service_areas=("youth",),
            level="view",
            start=TODAY,
            end=TODAY + timedelta(days=100),
            justification="Asiakastyö",
            confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
        ),
        idempotency_key="other",
    )
    listing = only_card(await chat.say("status"))
    assert "Ville" not in str(listing)
    forged = dict(_row_action(listing, mine.id)["data"]) | {"request_id": other.id}
    assert only_text(await chat.click(forged)) == m.t("manager.error.denied")
    assert only_text(await chat.press(listing, m.t("manager.action.close"))) == m.t(
        "manager.requests.closed"
    )
