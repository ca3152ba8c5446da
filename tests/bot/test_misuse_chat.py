"""Reporting suspected misuse in chat: both contacts told; the approver ends the
access at once; second click, someone else's click, edited values."""

from __future__ import annotations

from typing import Any

import aiohttp
from conftest import StartBot
from fakes.botapp import card_of, make_settings, texts
from fakes.connector import FakeConnector, Recorded
from fakes.manager_chat import (
    ADMIN,
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

from access.model import GrantState, RequestKind, RevokeReason
from bot.app import RUNTIME
from dialogs.i18n import Translator
from storage.db import create_session_factory
from storage.domain_tables import OUTBOX

T = Translator.load()


def _cards(recorded: list[Recorded]) -> list[dict[str, Any]]:
    return [card_of(r.body) for r in recorded if r.body.get("attachments")]


async def _templates(chat: Chat, template: str) -> list[tuple[str, str]]:
    engine = chat.server.app[RUNTIME].engine
    assert engine is not None
    async with create_session_factory(engine)() as session:
        rows = await session.execute(
            select(OUTBOX.c.audience, OUTBOX.c.recipient).where(OUTBOX.c.template == template)
        )
        return sorted((r[0], r[1]) for r in rows)


async def test_requester_reports_and_the_approver_revokes(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    m = T.get("fi")
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    service = service_of(server)
    grant = await make_active_grant(service)
    manager = Chat(http, server, connector)
    card = only_card(await manager.say("väärinkäyttö"))
    assert texts(card)[0] == m.t("misuse.card.title")
    assert "revoke_now" not in inputs(card)  # a requester cannot revoke for misuse
    fill = {"grant_id": grant.id, "note": "Hakuja ilman asiakkuutta"}
    assert only_text(await manager.press(card, m.t("misuse.card.submit"), fill)) == m.t(
        "misuse.done"
    )
    assert only_text(await manager.press(card, m.t("misuse.card.submit"), fill)) == m.t(
        "misuse.already"
    )
    told = await _templates(manager, "misuse.reported")
    assert ("approver", APPROVER) in told and ("requester", LAUKAA) in told

    # someone without a role, and edited values
    stranger = Chat(http, server, connector, email="someone@elsewhere.example.fi")
    assert only_text(await stranger.say("misuse")) == m.t("misuse.no_grants")
    value = {"atmt_card": "misuse", **fill}
    assert only_text(await stranger.click(value)) == m.t("misuse.denied")
    assert only_text(await manager.click({**value, "note": "   "})) == m.t("misuse.incomplete")
    assert only_text(await manager.click({**value, "note": "x" * 2001})) == m.t(
        "misuse.note_too_long"
    )
    assert only_text(await manager.click({**value, "grant_id": ["x"]})) == m.t("misuse.incomplete")
    assert only_text(await manager.click({**value, "grant_id": "nope"})) == m.t("card.expired")
    # a requester ticking a forged "revoke now": reported, not revoked
    forged = await manager.click(
        {**value, "note": "Toinen havainto", "revoke_now": "true"}, reply_to_id="another-card"
    )
    assert only_text(forged) == m.t("misuse.done_not_revoked")
    [still] = await service.queries.list_grants_for(LAUKAA)
    assert still.state is GrantState.ACTIVE

    approver = Chat(http, server, connector, email=APPROVER, locale="en-GB")
    en = T.get("en")
    # the open reports come first (the manager's two), then the report card
    matters, card = _cards(await approver.say("misuse"))
    assert texts(matters)[0] == en.t("misuse.matters.title")
    assert len(inputs(matters)["matter_id"]["choices"]) == 2
    assert "revoke_now" in inputs(card)
    done = await approver.press(
        card, en.t("misuse.card.submit"), {**fill, "revoke_now": "true", "note": "Confirmed"}
    )
    assert only_text(done) == en.t("misuse.done_and_revoked")
    [now] = await service.queries.list_grants_for(LAUKAA, states=None)
    assert now.state is GrantState.REVOKING
    assert len(await _templates(manager, "revoke.misuse")) == 3


async def test_the_approver_marks_a_report_handled_and_the_access_is_removed(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    m = T.get("fi")
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    service = service_of(server)
    grant = await make_active_grant(service)
    manager = Chat(http, server, connector)
    card = only_card(await manager.say("väärinkäyttö"))
    fill = {"grant_id": grant.id, "note": "Hakuja ilman asiakkuutta"}
    assert only_text(await manager.press(card, m.t("misuse.card.submit"), fill)) == m.t(
        "misuse.done"
    )
    assert ("admin", ADMIN) in await _templates(manager, "misuse.reported")

    approver = Chat(http, server, connector, email=APPROVER)
    matters, _ = _cards(await approver.say("väärinkäyttö"))
    assert "Hakuja ilman asiakkuutta" in " ".join(texts(matters))
    [choice] = inputs(matters)["matter_id"]["choices"]
    submit = m.t("misuse.matters.submit")
    # other measures need a note; the deputy's forged click on someone else's area
    other = {"matter_id": choice["value"], "outcome": "other_measures", "note": " "}
    assert only_text(await approver.press(matters, submit, other)) == m.t(
        "misuse.matters.note_required"
    )
    assert only_text(await approver.press(matters, submit, {**other, "outcome": "x"})) == m.t(
        "misuse.incomplete"
    )
    assert only_text(
        await manager.click({"atmt_card": "misuse_matters", **other, "note": "Ohjattu"})
    ) == m.t("misuse.matters.denied")
    # "access removed" on an active grant: the revoke flow, then the report is handled
    removed = {"matter_id": choice["value"], "outcome": "access_revoked", "note": "Vahvistettu"}
    assert only_text(await approver.press(matters, submit, removed)) == m.t(
        "misuse.matters.done_and_removed"
    )
    [now] = await service.queries.list_grants_for(LAUKAA, states=None)
    assert now.state is GrantState.REVOKING
    assert len(await _templates(manager, "revoke.misuse")) == 3
    # the removal is the area's revoke for misuse, effective today
    [revoke] = [
        r for r in await service.queries.list_requests_for(LAUKAA) if r.kind is RequestKind.REVOKE
    ]
    assert revoke.revoke_reason is RevokeReason.MISUSE and revoke.effective == TODAY
    assert await _templates(manager, "misuse.closed") == [
        ("admin", ADMIN),
        ("requester", LAUKAA),
    ]
    again = await approver.click(
        {"atmt_card": "misuse_matters", **removed}, reply_to_id="another-card"
    )
    assert only_text(again) == m.t("misuse.matters.already")
    # nothing open any more, no access to report on
    assert only_text(await approver.say("väärinkäyttö")) == m.t("misuse.no_grants")
