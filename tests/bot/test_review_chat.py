"""The access review in chat: the requester's Keep / Revoke card, a second click,
someone else's click, edited values, and the admin's progress counts."""

from __future__ import annotations

import aiohttp
import pytest
from conftest import StartBot
from fakes.botapp import make_settings, texts
from fakes.connector import FakeConnector
from fakes.manager_chat import (
    ADMIN,
    LAUKAA,
    NOW,
    Chat,
    FixedClock,
    inputs,
    make_active_grant,
    only_card,
    only_text,
    service_of,
)

from access.model import GrantState
from access.review import Review
from bot.app import RUNTIME
from dialogs.i18n import Translator
from storage.automation import SqlAutomationUnitOfWork
from storage.db import create_session_factory

T = Translator.load()
WORDS = {"fi": "tarkastus", "sv": "granskning", "en": "review"}
TAGS = {"fi": "fi-FI", "sv": "sv-SE", "en": "en-GB"}


async def _world(
    db_url: str,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    locale: str,
) -> tuple[Chat, list[str]]:
    server = await start_bot(make_settings(db_url), clock=FixedClock())
    chat = Chat(http, server, connector, locale=TAGS[locale])
    service = service_of(server)
    grants = [
        await make_active_grant(service, name="Aino Esimerkki", email="aino@laukaa.example.fi"),
        await make_active_grant(service, name="Bertta Esimerkki", email="b@laukaa.example.fi"),
    ]
    engine = server.app[RUNTIME].engine
    assert engine is not None
    async with SqlAutomationUnitOfWork(create_session_factory(engine)) as uow:
        await uow.reviews.add(
            Review("rev1", "laukaa", "pohjoinen-keski-suomi", NOW, NOW.date()),
            [g.id for g in grants],
        )
        await uow.commit()
    return chat, [g.id for g in grants]


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
async def test_requester_answers_keep_and_revoke(
    locale: str,
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
) -> None:
    m = T.get(locale)
    chat, grant_ids = await _world(db_url, start_bot, connector, http, locale)
    card = only_card(await chat.say(WORDS[locale]))
    assert texts(card)[0] == m.t("review.card.title", municipality_name="Laukaa")
    assert set(inputs(card)) == {"review_answer_0", "review_answer_1"}
    fill = {"review_answer_0": "keep", "review_answer_1": "revoke"}
    saved = only_text(await chat.press(card, m.t("review.card.submit"), fill))
    assert saved == m.t("review.saved", answered=2, already=0, failed=0)
    grants = {
        g.id: g for g in await service_of(chat.server).queries.list_grants_for(LAUKAA, states=None)
    }
    assert grants[grant_ids[0]].state is GrantState.ACTIVE
    assert grants[grant_ids[1]].state is GrantState.REVOKING

    # a second click on the same card changes nothing
    again = only_text(await chat.press(card, m.t("review.card.submit"), fill))
    assert again == m.t("review.saved", answered=0, already=2, failed=0)

    # the card now shows the answers and nothing to submit
    done = only_card(await chat.say(WORDS[locale]))
    assert inputs(done) == {}
    assert m.t("review.card.all_answered") in texts(done)

    # the admin sees counts
    admin = Chat(http, chat.server, connector, email=ADMIN, locale=TAGS[locale])
    progress = only_card(await admin.say(WORDS[locale]))
    facts = {f["title"]: f["value"] for f in _facts(progress)}
    assert facts[m.t("review.progress.total")] == "2"
    assert facts[m.t("review.progress.kept")] == "1"
    assert facts[m.t("review.progress.revoked")] == "1"


def _facts(card: dict[str, object]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for block in card["body"]:  # type: ignore[attr-defined]
        if block.get("type") == "FactSet":
            out.extend(block["facts"])
    return out


async def test_someone_else_edited_values_and_nobody(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    m = T.get("fi")
    chat, grant_ids = await _world(db_url, start_bot, connector, http, "fi")
    card = only_card(await chat.say("tarkastus"))
    data = {"atmt_card": "review", "review_id": "rev1", "grants": grant_ids}

    stranger = Chat(http, chat.server, connector, email="someone@elsewhere.example.fi")
    denied = await stranger.click({**data, "review_answer_0": "revoke"})
    assert only_text(denied) == m.t("review.denied")
    assert only_text(await stranger.say("tarkastus")) == m.t("review.nothing")

    # edited values: unknown answer, broken lists, unknown review
    assert only_text(await chat.click({**data, "review_answer_0": "maybe"})) == m.t(
        "review.no_answers"
    )
    assert only_text(await chat.click({**data, "grants": "x"})) == m.t("card.expired")
    assert only_text(
        await chat.click({**data, "review_id": "nope", "review_answer_0": "keep"})
    ) == m.t("card.expired")
    long = {**data, "grants": ["x"] * 500}
    assert only_text(await chat.click(long)) == m.t("card.expired")
    grants = await service_of(chat.server).queries.list_grants_for(LAUKAA)
    assert {g.state for g in grants} == {GrantState.ACTIVE}
    assert card["actions"][0]["data"]["grants"] == grant_ids
