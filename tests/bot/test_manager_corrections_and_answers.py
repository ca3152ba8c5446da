"""What a manager and an approver see of corrections, answers and duplicates, in
Finnish and Swedish: the change form corrects the name or job title (the e-mail is the
identity, the form says so), the approver's card shows each change before -> after and
a returned request's answer first, and the new-request form finds the worker's access
at Continue and offers to change it instead."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

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
    actions,
    inputs,
    make_active_grant,
    only_card,
    service_of,
)

from access.model import RequestChanges, RequestDraft, RequestKind, RequestState
from access.policy import Violation
from bot.app import RUNTIME
from dialogs.approvals import ApprovalHandler
from dialogs.i18n import Messages, Translator
from dialogs.violations import violation_text

T = Translator.load()
LOCALE_TAGS = {"fi": "fi-FI", "sv": "sv-SE"}
NEW = {"fi": "uusi", "sv": "ny"}
CHANGE = {"fi": "muutos", "sv": "ändra"}
CONFIRMED = {"confirm_customer_consent_form": "true", "confirm_worker_agreement": "true"}
EMAIL = "aino.esimerkki@laukaa.example.fi"


async def _start(
    db_url: str,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    locale: str,
) -> tuple[Chat, Messages]:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    return Chat(http, server, connector, locale=LOCALE_TAGS[locale]), T.get(locale)


def _approvals(chat: Chat) -> ApprovalHandler:
    bot = chat.server.app[RUNTIME].bot
    assert bot is not None
    handler: ApprovalHandler = bot.approvals
    return handler


async def _approver_card(chat: Chat, m: Messages, request_id: str) -> list[str]:
    card = await _approvals(chat).card_for(m, APPROVER, request_id)
    return texts(card)


def _fact_titles(card: dict[str, Any]) -> list[str]:
    return [f["title"] for e in card["body"] if e.get("type") == "FactSet" for f in e["facts"]]


def _attention(card: dict[str, Any]) -> list[str]:
    """The server-found errors of a form (error boxes under fields, the note on top)."""
    return [t for t in map(error_text, card["body"]) if t is not None]


@pytest.mark.parametrize("locale", ["fi", "sv"])
async def test_a_correction_of_the_name_in_the_change_form(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, locale)
    service = service_of(chat.server)
    grant = await make_active_grant(service)
    pick = only_card(await chat.say(CHANGE[locale]))
    form = card_of((await chat.press(pick, m.t("manager.action.choose")))[0].body)
    fields = inputs(form)
    assert fields["worker_name"]["value"] == "Aino Esimerkki"
    assert fields["worker_job_title"]["value"] == "Ohjaaja"
    assert "worker_email" not in fields and "start" not in fields
    assert m.t("manager.form.identity_note") in texts(form)
    assert m.t("manager.field.worker_email") in _fact_titles(form)  # shown, not editable

    [update] = await chat.press(
        form,
        m.t("manager.action.continue"),
        CONFIRMED | {"worker_name": "Aino Virtanen", "justification": "Nimi muuttui"},
    )
    summary = card_of(update.body)
    assert texts(summary)[0] == m.t("manager.summary.title.change")
    assert "Aino Virtanen" in str(summary)
    await chat.press(summary, m.t("manager.action.confirm"))
    [change] = [
        r for r in await service.queries.list_requests_for(LAUKAA) if r.kind is RequestKind.CHANGE
    ]
    assert change.state is RequestState.PENDING
    assert (change.worker.name, change.worker.email) == ("Aino Virtanen", EMAIL)
    assert change.start == TODAY and change.end == grant.end

    shown = await _approver_card(chat, m, change.id)
    assert m.t("approval.change.title") in shown
    assert (
        m.t(
            "approval.changes.item",
            field=m.t("approval.fact.worker_name"),
            old="Aino Esimerkki",
            new="Aino Virtanen",
        )
        in shown
    )
    # Nothing else changes, so nothing else is listed.
    assert not any(line.startswith(m.t("approval.fact.level") + ":") for line in shown)


@pytest.mark.parametrize("locale", ["fi", "sv"])
async def test_a_change_shows_before_and_after_on_the_approver_card(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, locale)
    service = service_of(chat.server)
    grant = await make_active_grant(service)
    change = await service.requests.submit(
        LAUKAA,
        RequestDraft(
            kind=RequestKind.CHANGE,
            grant_id=grant.id,
            service_areas=("youth", "guidance"),
            level="record",
            start=TODAY,
            end=grant.end - timedelta(days=30),
            justification="Lisää tehtäviä",
            confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
        ),
        idempotency_key="change",
    )
    shown = await _approver_card(chat, m, change.id)
    directory = service.directory
    youth = directory.service_areas["youth"].name.get(locale)
    guidance = directory.service_areas["guidance"].name.get(locale)
    view = directory.access_levels["view"].name.get(locale)
    record = directory.access_levels["record"].name.get(locale)
    expected = [
        ("service_areas", youth, f"{youth}, {guidance}"),
        ("level", view, record),
        ("end", m.format_date(grant.end), m.format_date(grant.end - timedelta(days=30))),
    ]
    for name, old, new in expected:
        line = m.t("approval.changes.item", field=m.t(f"approval.fact.{name}"), old=old, new=new)
        assert line in shown, line


@pytest.mark.parametrize("locale", ["fi", "sv"])
async def test_the_answer_is_first_and_the_justification_is_a_change(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, locale)
    service = service_of(chat.server)
    request = await service.requests.submit(
        LAUKAA,
        RequestDraft(
            kind=RequestKind.GRANT,
            municipality="laukaa",
            worker_name="Eero Esimerkki",
            worker_email="eero@laukaa.example.fi",
            worker_job_title="Ohjaaja",
            service_areas=("youth",),
            level="view",
            start=TODAY,
            end=TODAY + timedelta(days=100),
            justification="Asiakastyö",
            confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
        ),
        idempotency_key="submit",
    )
    await service.requests.return_with_question(
        APPROVER, request.id, "Mihin tehtäviin?", idempotency_key="q"
    )
    await service.requests.resubmit(
        LAUKAA,
        request.id,
        RequestChanges(justification="Ohjaamon nuoret", answer="Ohjaamon nuorten ohjaukseen"),
        idempotency_key="r",
    )
    shown = await _approver_card(chat, m, request.id)
    answer = m.t("approval.answer.text", answer="Ohjaamon nuorten ohjaukseen")
    heading = shown.index(m.t("approval.answer.title"))
    assert shown[heading + 1 : heading + 3] == [
        m.t("approval.answer.question", question="Mihin tehtäviin?"),
        answer,
    ]
    assert heading <= 3  # at the top: title, status, then the answer
    changed = m.t(
        "approval.changes.item",
        field=m.t("approval.fact.justification"),
        old="Asiakastyö",
        new="Ohjaamon nuoret",
    )
    assert changed in shown
    assert m.t("approval.changes.none") not in shown


@pytest.mark.parametrize("locale", ["fi", "sv"])
async def test_the_answer_field_of_a_returned_change(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, locale)
    service = service_of(chat.server)
    grant = await make_active_grant(service)
    change = await service.requests.submit(
        LAUKAA,
        RequestDraft(
            kind=RequestKind.CHANGE,
            grant_id=grant.id,
            worker_job_title="Erityisohjaaja",
            service_areas=grant.service_areas,
            level=grant.level,
            start=TODAY,
            end=grant.end,
            justification="Nimike korjattu",
            confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
        ),
        idempotency_key="change",
    )
    await service.requests.return_with_question(
        APPROVER, change.id, "Onko nimike oikein?", idempotency_key="q"
    )
    listing = only_card(await chat.say({"fi": "omat hakemukset", "sv": "mina ansökningar"}[locale]))
    # the row opens on a click and by its visible button; both carry the same data
    [row] = {
        tuple(sorted(a["data"].items())): a
        for a in actions(listing)
        if a["data"].get("request_id") == change.id and a["data"].get("atmt_action") == "details"
    }.values()
    details = card_of((await chat.click(row["data"]))[0].body)
    form = card_of((await chat.press(details, m.t("manager.action.answer")))[0].body)
    fields = inputs(form)
    assert fields["answer"]["isRequired"] is True
    assert fields["answer"]["label"] == m.t("manager.field.answer")
    assert fields["worker_job_title"]["value"] == "Erityisohjaaja"
    assert "start" not in fields and "worker_email" not in fields
    assert m.t("manager.form.identity_note") in texts(form)
    [update] = await chat.press(form, m.t("manager.action.continue"))
    again = card_of(update.body)
    assert m.t("violation.text.required", field=m.t("manager.field.answer")) in _attention(again)
    [update] = await chat.press(
        again, m.t("manager.action.continue"), {"answer": "Kyllä, erityisohjaaja"}
    )
    summary = card_of(update.body)
    assert texts(summary)[0] == m.t("manager.summary.title.resubmit")
    facts = summary["body"][2]["facts"]
    assert facts[0] == {"title": m.t("manager.field.answer"), "value": "Kyllä, erityisohjaaja"}
    await chat.press(summary, m.t("manager.action.confirm"))
    stored = (await service.queries.get_request(LAUKAA, change.id)).request
    assert stored.state is RequestState.PENDING and stored.answer == "Kyllä, erityisohjaaja"
    assert stored.worker.job_title == "Erityisohjaaja" and stored.start == change.start


@pytest.mark.parametrize("locale", ["fi", "sv"])
async def test_a_worker_with_access_is_found_at_continue_and_can_be_changed(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, locale)
    service = service_of(chat.server)
    grant = await make_active_grant(service)
    form = only_card(await chat.say(NEW[locale]))
    fill = CONFIRMED | {
        "worker_name": "Aino Esimerkki",
        "worker_email": EMAIL.upper(),
        "worker_job_title": "Ohjaaja",
        "service_areas": "youth,guidance",
        "level": "view",
        "justification": "Ohjaamo",
    }
    [update] = await chat.press(form, m.t("manager.action.continue"), fill)
    again = card_of(update.body)
    assert texts(again)[0] == m.t("manager.form.title.new")  # no summary
    duplicate = violation_text(
        m,
        service.directory,
        Violation(
            "grant.duplicate",
            "worker_email",
            {"existing_kind": "grant", "existing": grant.id, "state": "active"},
        ),
    )
    assert duplicate in _attention(again)
    assert m.t("manager.form.change_instead") in texts(again)
    assert len(await service.queries.list_requests_for(LAUKAA)) == 1  # the grant's own

    [update] = await chat.press(again, m.t("manager.action.change_existing"))
    change_form = card_of(update.body)
    assert texts(change_form)[0] == m.t("manager.form.title.change")
    assert inputs(change_form)["worker_name"]["value"] == "Aino Esimerkki"
    assert m.t("manager.field.worker_email") in _fact_titles(change_form)


@pytest.mark.parametrize("locale", ["fi", "sv"])
async def test_no_change_button_for_an_open_grant_request(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, locale)
    service = service_of(chat.server)
    pending = await service.requests.submit(
        LAUKAA,
        RequestDraft(
            kind=RequestKind.GRANT,
            municipality="laukaa",
            worker_name="Aino Esimerkki",
            worker_email=EMAIL,
            worker_job_title="Ohjaaja",
            service_areas=("youth",),
            level="view",
            start=TODAY,
            end=TODAY + timedelta(days=30),
            justification="Ohjaamo",
            confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
        ),
        idempotency_key="first",
    )
    form = only_card(await chat.say(NEW[locale]))
    fill = CONFIRMED | {
        "worker_name": "Aino Esimerkki",
        "worker_email": EMAIL,
        "worker_job_title": "Ohjaaja",
        "service_areas": "youth",
        "level": "view",
        "justification": "Ohjaamo",
    }
    [update] = await chat.press(form, m.t("manager.action.continue"), fill)
    again = card_of(update.body)
    expected = m.t(
        "violation.grant.duplicate_request",
        existing=pending.number,
        state=m.t("manager.state.pending"),
    )
    assert expected in _attention(again)
    assert m.t("manager.action.change_existing") not in str(again)
