"""A worker's "my access": grants, open requests, and the data-protection
acknowledgement recorded in the audit trail."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest
from conftest import StartBot
from fakes.botapp import card_of, make_settings, texts
from fakes.connector import FakeConnector
from fakes.manager_chat import (
    LAUKAA,
    TODAY,
    Chat,
    FixedClock,
    actions,
    inputs,
    make_active_grant,
    only_card,
    only_text,
    service_of,
)

from access.acknowledgements import ACTION
from access.model import RequestDraft, RequestKind
from dialogs.i18n import Translator

T = Translator.load()
WORDS = {"fi": "oikeuteni", "sv": "mina behörigheter", "en": "my access"}
LOCALE_TAGS = {"fi": "fi-FI", "sv": "sv-SE", "en": "en-GB"}
WORKER = "aino.esimerkki@laukaa.example.fi"


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_worker_sees_access_and_acknowledges_the_terms(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    service = service_of(server)
    grant = await make_active_grant(service)
    await service.requests.submit(
        LAUKAA,
        RequestDraft(
            kind=RequestKind.CHANGE,
            grant_id=grant.id,
            service_areas=("youth", "guidance"),
            level="view",
            start=TODAY,
            end=grant.end,
            justification="Lisää tehtäviä",
            confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
        ),
        idempotency_key="change-1",
    )
    worker = Chat(http, server, connector, email=WORKER, locale=LOCALE_TAGS[locale])
    m = T.get(locale)
    card = only_card(await worker.say(WORDS[locale]))
    shown = texts(card)
    assert shown[0] == m.t("manager.my_access.title")
    assert m.t("manager.my_access.requests") in shown
    assert m.t("manager.kind.change") in str(card)
    assert m.t("manager.my_access.ack_needed") in shown
    [toggle] = [i for i in inputs(card) if i.startswith("ack_")]

    # not ticked: told, nothing recorded
    answer = await worker.press(card, m.t("manager.action.acknowledge"), {toggle: "false"})
    assert only_text(answer) == m.t("manager.ack.error")
    acks = service.acknowledgements
    assert await acks.acknowledged_at(grant) is None

    card_id = worker.card_id
    [update] = await worker.press(card, m.t("manager.action.acknowledge"), {toggle: "true"})
    # The card the button was on now shows the acknowledgement, with no button left.
    assert update.method == "PUT" and update.activity_id == card_id
    done = card_of(update.body)
    when = m.format_datetime(service.clock.now())
    assert m.t("manager.ack.done", when=when) in texts(done)
    assert m.t("manager.fact.acknowledged") in str(done)
    assert not [a for a in actions(done) if a["data"].get("atmt_card") == "access_ack"]
    assert await acks.acknowledged_at(grant) == service.clock.now()
    # twice: still one audit row
    await worker.press(card, m.t("manager.action.acknowledge"), {toggle: "true"})
    async with service.uow_factory() as uow:
        rows = [
            e for e in await uow.audit.for_request(grant.origin_request_id) if e.action == ACTION
        ]
    assert len(rows) == 1
    assert (await service.queries.verify_audit("admin@pks-area.example.fi")).ok

    again = only_card(await worker.say(WORDS[locale]))
    assert m.t("manager.my_access.ack_needed") not in texts(again)
    assert m.t("manager.fact.acknowledged") in str(again)


async def test_someone_else_cannot_acknowledge_and_nothing_to_show(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    service = service_of(server)
    grant = await make_active_grant(service)
    m = T.get("fi")
    other = Chat(http, server, connector, email="eero@laukaa.example.fi")
    card = only_card(await other.say("oikeuteni"))
    assert texts(card) == [m.t("manager.my_access.title"), m.t("manager.my_access.none")]
    forged = {
        "atmt_card": "access_ack",
        "atmt_action": "ack",
        "grant_id": grant.id,
        f"ack_{grant.id[:32]}": "true",
    }
    assert only_text(await other.click(forged)) == m.t("manager.error.other_user")
    acks = service.acknowledgements
    assert await acks.acknowledged_at(grant) is None
    assert only_text(await other.click(forged | {"grant_id": "x" * 500})) == m.t(
        "manager.card.expired"
    )


async def test_acknowledging_a_removed_grant(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    service = service_of(server)
    grant = await make_active_grant(service, end=TODAY + timedelta(days=10))
    worker = Chat(http, server, connector, email=WORKER, locale="en-GB")
    m = T.get("en")
    card = only_card(await worker.say("my access"))
    [ack] = [a for a in actions(card) if a["data"].get("atmt_card") == "access_ack"]
    from access.model import RevokeReason

    await service.requests.revoke_by_municipality(
        LAUKAA, grant.id, RevokeReason.EMPLOYMENT_ENDED, idempotency_key="rv"
    )
    # revoking is still live: the acknowledgement is accepted; a made-up grant is not
    answer = await worker.click(ack["data"] | {f"ack_{grant.id[:32]}": "true"})
    # the card the button was on is the worker's view again, saying it is acknowledged
    assert texts(card_of(answer[0].body))[0] == m.t("manager.my_access.title")
    assert m.t("manager.fact.acknowledged") in str(card_of(answer[0].body))
    fake = "0" * 32
    answer = await worker.click(
        {"atmt_card": "access_ack", "atmt_action": "ack", "grant_id": fake, f"ack_{fake}": "true"}
    )
    assert only_text(answer) == m.t("manager.ack.gone")
