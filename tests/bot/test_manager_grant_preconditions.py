"""The new access request form in chat refuses a worker who is not the municipality's
own employee (the error at the worker e-mail field) and a municipality without the
processing agreement its employment area asks for (at the municipality field), in the
manager's language; nothing is stored until the form is right."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
import yaml
from conftest import StartBot
from fakes.botapp import EXAMPLE_DIRECTORY, card_of, make_settings, texts
from fakes.card_checks import error_text
from fakes.connector import FakeConnector
from fakes.manager_chat import LAUKAA, Chat, FixedClock, inputs, only_card, service_of

from access.directory import Directory, parse_directory
from dialogs.i18n import Translator

T = Translator.load()
WORDS = {"fi": "uusi", "sv": "ny", "en": "new"}
LOCALE_TAGS = {"fi": "fi-FI", "sv": "sv-SE", "en": "en-GB"}
IISALMI = "manager@iisalmi.example.fi"

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


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
@pytest.mark.parametrize(
    "email", ["someone.private@gmail.example", "aino.esimerkki@viitasaari.example.fi"]
)
async def test_a_worker_of_another_employer_is_refused_at_the_email_field(
    locale: str,
    email: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    chat = Chat(http, server, connector, email=LAUKAA, locale=LOCALE_TAGS[locale])
    m = T.get(locale)
    form = only_card(await chat.say(WORDS[locale]))
    [update] = await chat.press(
        form, m.t("manager.action.continue"), GOOD | {"worker_email": email}
    )
    again = card_of(update.body)
    assert texts(again)[0] == m.t("manager.form.title.new")  # the same form again
    [error] = _errors_under(again, "worker_email")
    assert error == m.t(
        "violation.worker.email_not_municipal",
        municipality_name="Laukaa",
        domains="laukaa.example.fi",
    )
    assert "Laukaa" in error and "laukaa.example.fi" in error
    assert inputs(again)["worker_email"]["value"] == email  # kept as typed
    assert await service_of(server).queries.list_requests_for(LAUKAA) == []

    # The municipality's own address goes through.
    [update] = await chat.press(again, m.t("manager.action.continue"), GOOD)
    assert texts(card_of(update.body))[0] == m.t("manager.summary.title.new")


def _directory_with_iisalmi_manager() -> Directory:
    """The example directory where Iisalmi (contracted, no processing agreement) has a
    municipal manager and its e-mail domain."""
    data = yaml.safe_load(EXAMPLE_DIRECTORY.read_text(encoding="utf-8"))
    [kuopio] = [a for a in data["areas"] if a["code"] == "kuopio"]
    [iisalmi] = [m for m in kuopio["municipalities"] if m["code"] == "iisalmi"]
    assert "processing_agreement" not in iisalmi
    iisalmi.update(requesters=[IISALMI], email_domains=["iisalmi.example.fi"])
    return parse_directory(data)


@pytest.mark.parametrize("locale", ["fi", "sv"])
async def test_a_municipality_without_the_processing_agreement_is_refused_by_name(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    server = await start_bot(
        make_settings(db_url), clock=FixedClock(), directory=_directory_with_iisalmi_manager()
    )
    chat = Chat(http, server, connector, email=IISALMI, locale=LOCALE_TAGS[locale])
    m = T.get(locale)
    form = only_card(await chat.say(WORDS[locale]))
    fields = inputs(form)
    # Kuopio asks for the valid customer relationship on each request, nothing per worker.
    assert {f for f in fields if f.startswith("confirm_")} == {
        "confirm_valid_customer_relationship"
    }
    values = {
        "worker_name": "Liisa Kokeilu",
        "worker_email": "liisa.kokeilu@iisalmi.example.fi",
        "worker_job_title": "Valmentaja",
        "service_areas": "complementary_training",
        "level": "view",
        "justification": "Täydentävä valmennus",
        "confirm_valid_customer_relationship": "true",
    }
    [update] = await chat.press(form, m.t("manager.action.continue"), values)
    again = card_of(update.body)
    assert texts(again)[0] == m.t("manager.form.title.new")
    expected = m.t("violation.municipality.no_processing_agreement", municipality_name="Iisalmi")
    assert _errors_under(again, "municipality") == [expected]
    assert "Iisalmi" in expected
    assert await service_of(server).queries.list_requests_for(IISALMI) == []
