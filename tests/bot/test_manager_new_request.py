"""New access request in chat: one card, server-side checks at the fields, summary,
confirm; in fi, sv and en; bad input; double click; restart mid-dialog."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

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
    only_card,
    only_text,
    service_of,
)

from access.model import RequestDraft, RequestKind, RequestState
from access.policy import add_months
from dialogs.i18n import Messages, Translator

T = Translator.load()
WORDS = {"fi": "uusi", "sv": "ny", "en": "new"}
LOCALE_TAGS = {"fi": "fi-FI", "sv": "sv-SE", "en": "en-GB"}

GOOD = {
    "worker_name": "Aino Esimerkki",
    "worker_email": "Aino.Esimerkki@laukaa.example.fi",
    "worker_job_title": "Nuorten ohjaaja",
    "service_areas": "youth,guidance",
    "level": "view",
    "justification": "Ohjaamon asiakastyö",
    "confirm_customer_consent_form": "true",
    "confirm_worker_agreement": "true",
}


def _errors_under(card: dict[str, Any], input_id: str) -> list[str]:
    """Error boxes right after the input ``input_id`` in the body."""
    body = card["body"]
    [index] = [i for i, e in enumerate(body) if e.get("id") == input_id]
    out: list[str] = []
    for element in body[index + 1 :]:
        said = error_text(element)
        if said is None:
            break
        out.append(said)
    return out


async def _start(
    db_url: str,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    locale: str = "fi",
    email: str | None = LAUKAA,
) -> tuple[Chat, Messages]:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    return Chat(http, server, connector, email=email, locale=LOCALE_TAGS[locale]), T.get(locale)


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_new_request_is_one_card_submission_and_one_confirmation(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, locale)
    form = only_card(await chat.say(WORDS[locale]))
    form_id = chat.card_id
    assert texts(form)[0] == m.t("manager.form.title.new")
    fields = inputs(form)
    # the one municipality this manager acts for is preselected; defaults for dates
    assert [c["value"] for c in fields["municipality"]["choices"]] == ["laukaa"]
    assert fields["municipality"]["value"] == "laukaa"
    assert fields["start"]["value"] == TODAY.isoformat()
    assert fields["end"]["value"] == add_months(TODAY, 12).isoformat()
    assert fields["service_areas"]["isMultiSelect"] is True
    youth = {c["value"]: c["title"] for c in fields["service_areas"]["choices"]}["youth"]
    assert (
        youth
        == {
            "fi": "Nuoret työnhakijat (Ohjaamo)",
            "sv": "Unga arbetssökande (Navigatorn)",
            "en": "Young jobseekers (Ohjaamo)",
        }[locale]
    )
    assert set(fields) >= {"confirm_customer_consent_form", "confirm_worker_agreement"}
    assert fields["worker_email"]["regex"] and fields["worker_name"]["isRequired"]

    sent = await chat.press(form, m.t("manager.action.continue"), GOOD)
    [update] = sent
    assert update.method == "PUT" and update.activity_id == form_id  # updated in place
    summary = card_of(update.body)
    assert texts(summary)[0] == m.t("manager.summary.title.new")
    assert "Aino Esimerkki" in str(summary)

    sent = await chat.press(summary, m.t("manager.action.confirm"), reply_to_id=form_id)
    [update] = sent
    assert update.method == "PUT" and update.activity_id == form_id
    receipt = card_of(update.body)
    service = service_of(chat.server)
    [request] = await service.queries.list_requests_for(LAUKAA)
    assert request.state is RequestState.PENDING
    assert request.worker.email == "aino.esimerkki@laukaa.example.fi"
    assert request.service_areas == ("youth", "guidance")
    assert texts(receipt)[0] == m.t("manager.sent.title.new", number=request.number)
    assert m.t("manager.state.pending") in str(receipt)
    # The count the issue asks for: one typed command, one card submission, one confirm.
    assert (chat.messages, chat.clicks) == (1, 2)
    assert len(connector.sent(chat.conversation_id)) == 1  # one message; the rest are updates


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_every_problem_is_shown_at_its_field_and_values_are_kept(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, locale)
    form = only_card(await chat.say(WORDS[locale]))
    form_id = chat.card_id
    bad = dict(GOOD)
    bad.update(
        {
            "worker_name": "**Pomo** [klikkaa](https://evil.example)",
            "worker_email": "not-an-email",
            "worker_job_title": "x" * 100_000,
            "municipality": "jyvaskyla",
            "service_areas": "youth,secret_area",
            "start": (TODAY - timedelta(days=30)).isoformat(),
            "end": (TODAY + timedelta(days=800)).isoformat(),
            "justification": "",
            "confirm_worker_agreement": "false",
        }
    )
    [update] = await chat.press(form, m.t("manager.action.continue"), bad)
    assert update.method == "PUT" and update.activity_id == form_id
    again = card_of(update.body)
    assert texts(again)[0] == m.t("manager.form.title.new")  # the same card again
    assert _errors_under(again, "worker_name") == [m.t("violation.text.forbidden_characters")]
    assert _errors_under(again, "worker_email") == [m.t("violation.worker.email_invalid")]
    assert _errors_under(again, "worker_job_title") == [
        m.t(
            "violation.text.too_long",
            max_length=200,
            length=100_000,
            field=m.t("manager.field.worker_job_title"),
        )
    ]
    assert _errors_under(again, "municipality") == [m.t("manager.error.municipality_not_offered")]
    assert _errors_under(again, "service_areas") == [m.t("manager.error.service_area_not_offered")]
    assert _errors_under(again, "start") == [m.t("violation.dates.start_in_past", grace_days=7)]
    assert _errors_under(again, "justification") == [
        m.t("violation.text.required", field=m.t("manager.field.justification"))
    ]
    latest = add_months(TODAY - timedelta(days=30), 12)
    assert _errors_under(again, "end") == [
        m.t("violation.dates.too_long", max_months=12, latest_end=m.format_date(latest))
    ]
    confirmation = m.t("manager.requirement.worker_agreement")
    assert m.t("violation.confirmation.missing", confirmation=confirmation) in texts(again)
    fields = inputs(again)
    assert fields["worker_name"]["value"] == bad["worker_name"]  # kept as typed
    assert fields["worker_email"]["value"] == "not-an-email"
    assert len(fields["worker_job_title"]["value"]) == 200  # kept, shortened
    assert fields["service_areas"]["value"] == "youth"  # the offered part kept
    assert fields["municipality"]["value"] == ""
    assert len(str(again)) < 30_000  # the card stays within Teams' size limit
    assert "**Pomo**" not in str([t for t in texts(again)])  # never rendered as Markdown
    assert await service_of(chat.server).queries.list_requests_for(LAUKAA) == []

    # corrected: the summary, then the request
    [update] = await chat.press(
        again,
        m.t("manager.action.continue"),
        GOOD
        | {
            "municipality": "laukaa",
            "start": TODAY.isoformat(),
            "end": (TODAY + timedelta(days=90)).isoformat(),
        },
    )
    summary = card_of(update.body)
    assert texts(summary)[0] == m.t("manager.summary.title.new")
    await chat.press(summary, m.t("manager.action.confirm"), reply_to_id=form_id)
    assert len(await service_of(chat.server).queries.list_requests_for(LAUKAA)) == 1


async def test_markup_in_a_name_is_escaped_in_the_summary(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http)
    form = only_card(await chat.say("uusi"))
    # allowed characters only, but Markdown-like: dots, parentheses, a dash, an exclamation
    name = "Anna-Liisa (Liisa). Virtanen!"
    [update] = await chat.press(
        form,
        m.t("manager.action.continue"),
        GOOD
        | {
            "worker_name": name,
            "justification": "<b>tärkeä</b> [linkki](https://evil.example)",
        },
    )
    summary = card_of(update.body)
    values = [f["value"] for f in summary["body"][2]["facts"]]
    assert "Anna\\-Liisa \\(Liisa\\)\\. Virtanen\\!" in values
    # the URL is not a link either (access.text.defang_links)
    assert "‹b›tärkeä‹/b› \\[linkki\\]\\(https\\[:\\]//evil\\[\\.\\]example\\)" in values


async def test_summary_edit_goes_back_to_the_form_with_the_values(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, "sv")
    form = only_card(await chat.say("ny"))
    summary = card_of((await chat.press(form, m.t("manager.action.continue"), GOOD))[0].body)
    form2 = card_of((await chat.press(summary, m.t("manager.action.edit")))[0].body)
    assert inputs(form2)["worker_name"]["value"] == "Aino Esimerkki"
    # the old summary is out of date now
    [answer] = await chat.press(summary, m.t("manager.action.confirm"))
    assert answer.body["text"] == m.t("manager.card.old")
    summary2 = card_of((await chat.press(form2, m.t("manager.action.continue")))[0].body)
    await chat.press(summary2, m.t("manager.action.confirm"))
    assert len(await service_of(chat.server).queries.list_requests_for(LAUKAA)) == 1


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_a_duplicate_found_at_confirm_brings_the_form_back(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, locale)
    form = only_card(await chat.say(WORDS[locale]))
    form_id = chat.card_id
    summary = card_of((await chat.press(form, m.t("manager.action.continue"), GOOD))[0].body)
    # Someone else asks for the same worker while the summary is open.
    service = service_of(chat.server)
    first = await service.requests.submit(
        "manager2@laukaa.example.fi",
        RequestDraft(
            kind=RequestKind.GRANT,
            municipality="laukaa",
            worker_name="Aino Esimerkki",
            worker_email="aino.esimerkki@laukaa.example.fi",
            worker_job_title="Ohjaaja",
            service_areas=("youth",),
            level="view",
            start=TODAY,
            end=TODAY + timedelta(days=30),
            justification="Ohjaamo",
            confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
        ),
        idempotency_key="elsewhere",
    )
    [update] = await chat.press(summary, m.t("manager.action.confirm"), reply_to_id=form_id)
    again = card_of(update.body)
    assert texts(again)[0] == m.t("manager.form.title.new")
    assert _errors_under(again, "worker_email") == [
        m.t(
            "violation.grant.duplicate_request",
            existing=first.number,
            state=m.t("manager.state.pending"),
        )
    ]


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_double_click_on_confirm_makes_one_request(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, locale)
    form = only_card(await chat.say(WORDS[locale]))
    form_id = chat.card_id
    summary = card_of((await chat.press(form, m.t("manager.action.continue"), GOOD))[0].body)
    await chat.press(summary, m.t("manager.action.confirm"), reply_to_id=form_id)
    second = await chat.press(summary, m.t("manager.action.confirm"), reply_to_id=form_id)
    [request] = await service_of(chat.server).queries.list_requests_for(LAUKAA)
    assert only_text(second) == m.t(
        "manager.card.already_done", number=request.number, state=m.t("manager.state.pending")
    )


async def test_simultaneous_double_click_makes_one_request(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http)
    form = only_card(await chat.say("uusi"))
    form_id = chat.card_id
    summary = card_of((await chat.press(form, m.t("manager.action.continue"), GOOD))[0].body)
    await asyncio.gather(
        chat.press(summary, m.t("manager.action.confirm"), reply_to_id=form_id),
        chat.press(summary, m.t("manager.action.confirm"), reply_to_id=form_id),
    )
    assert len(await service_of(chat.server).queries.list_requests_for(LAUKAA)) == 1


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_stale_card_and_cancel(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, locale)
    form = only_card(await chat.say(WORDS[locale]))
    assert only_text(await chat.say("mitä?")) == m.t("manager.card.reprompt")
    assert only_text(await chat.say(m.word("command.cancel"))) == m.t("cancel.done")
    answer = await chat.press(form, m.t("manager.action.continue"), GOOD)
    assert only_text(answer) == m.t("manager.card.expired")
    # Cancel on the card itself
    form = only_card(await chat.say(WORDS[locale]))
    assert only_text(await chat.press(form, m.t("manager.action.cancel"))) == m.t("cancel.done")
    assert await service_of(chat.server).queries.list_requests_for(LAUKAA) == []


async def test_a_card_from_another_user_changes_nothing(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http)
    form = only_card(await chat.say("uusi"))
    intruder = chat.as_user("29:intruder", "00000000-0000-0000-0000-0000000000ff")
    connector.add_member("29:intruder", userPrincipalName="manager@viitasaari.example.fi")
    answer = await intruder.press(form, m.t("manager.action.continue"), GOOD, chat.card_id)
    assert only_text(answer) == m.t("manager.error.other_user")
    # the owner's dialog is untouched
    summary = card_of((await chat.press(form, m.t("manager.action.continue"), GOOD))[0].body)
    assert texts(summary)[0] == m.t("manager.summary.title.new")


async def test_values_not_offered_and_non_text_values(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, "en")
    form = only_card(await chat.say("new"))
    [update] = await chat.press(
        form,
        m.t("manager.action.continue"),
        GOOD
        | {
            "municipality": "viitasaari",  # a real municipality, not this manager's
            "level": "superuser",
            "worker_name": ["a", "list"],  # type: ignore[dict-item]
            "start": "31.12.2026",
        },
    )
    again = card_of(update.body)
    assert _errors_under(again, "municipality") == [m.t("manager.error.municipality_not_offered")]
    assert _errors_under(again, "level") == [m.t("manager.error.level_not_offered")]
    assert m.t("manager.error.invalid_value") in _errors_under(again, "worker_name")
    assert _errors_under(again, "start") == [m.t("manager.error.date_invalid")]


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_unknown_users_get_a_clear_answer(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, locale, email=None)
    assert only_text(await chat.say(WORDS[locale])) == m.t("manager.error.no_email")
    stranger = Chat(
        http, chat.server, connector, email="someone@example.fi", locale=LOCALE_TAGS[locale]
    )
    for word in (WORDS[locale], m.word("command.my_requests")):
        assert only_text(await stranger.say(word)) == m.t("manager.error.not_requester")
    # removal is for area contacts too, so its refusal names both roles
    assert only_text(await stranger.say(m.word("command.revoke"))) == m.t(
        "manager.error.not_revoker"
    )


async def test_municipality_without_agreement_is_refused_with_the_reason(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, email="manager@kinnula.example.fi")
    form = only_card(await chat.say("uusi"))
    [update] = await chat.press(form, m.t("manager.action.continue"), GOOD)
    again = card_of(update.body)
    assert _errors_under(again, "municipality") == [
        m.t("violation.municipality.no_agreement", municipality_name="Kinnula")
    ]


async def test_the_manager_continues_after_a_restart(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    settings = make_settings(db_url)
    app1 = await start_bot(settings, clock=FixedClock())
    chat = Chat(http, app1, connector)
    m = T.get("fi")
    form = only_card(await chat.say("uusi"))
    form_id = chat.card_id
    summary = card_of((await chat.press(form, m.t("manager.action.continue"), GOOD))[0].body)
    await app1.close()

    app2 = await start_bot(settings, clock=FixedClock())
    chat.server = app2
    [update] = await chat.press(summary, m.t("manager.action.confirm"), reply_to_id=form_id)
    [request] = await service_of(app2).queries.list_requests_for(LAUKAA)
    assert texts(card_of(update.body))[0] == m.t("manager.sent.title.new", number=request.number)


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_help_card_buttons_start_the_dialogs(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    chat, m = await _start(db_url, start_bot, connector, http, locale)
    help_card = only_card(await chat.say(m.word("command.help")))
    buttons = {
        a["data"]["atmt_command"]: a
        for block in help_card["body"]
        if block.get("type") == "ActionSet"
        for a in block["actions"]
    }
    # The municipal manager's own commands (dialogs.menus), not a worker's.
    assert set(buttons) == {"new", "change", "revoke", "my_requests", "review", "misuse"}
    assert buttons["new"]["title"] == m.t("menu.button.new")
    form = only_card(await chat.click(buttons["new"]["data"]))
    assert texts(form)[0] == m.t("manager.form.title.new")
    assert only_text(await chat.click(buttons["my_requests"]["data"])) == m.t(
        "manager.requests.none"
    )
