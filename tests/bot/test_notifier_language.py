"""A language chosen with the bot is the language of that person's notifications: the
router remembers it with the conversation reference, the notifier reads it from there."""

from __future__ import annotations

from typing import Any

import aiohttp
from fakes.botapp import make_settings, post_activity
from fakes.connector import FakeConnector
from fakes.notify_support import MANAGER, WORKER, delivered_text, draft, introduce
from fakes.teams import TENANT_ID, message

from bot.app import RUNTIME
from storage.conversation_refs import ConversationRefRepository
from storage.db import create_session_factory

SETTINGS = {"notifier_enabled": True, "notifier_interval": 0.05, "notify_backoff": 0.01}


async def test_notifications_use_the_language_chosen_in_the_bot(
    db_url: str, start_bot: Any, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url, **SETTINGS))
    runtime = server.app[RUNTIME]
    for person in (MANAGER, WORKER):
        await introduce(http, server, connector, person)
    refs = ConversationRefRepository(create_session_factory(runtime.engine))
    before = await refs.get(f"{TENANT_ID}:{WORKER.aad}".lower())
    assert before is not None and before.locale == "sv-FI" and before.chosen_locale is None

    # The worker's Teams speaks Swedish; they choose English with the bot.
    who = {
        "locale": WORKER.locale,
        "conversation_id": WORKER.conversation_id,
        "user_id": WORKER.user_id,
        "aad_object_id": WORKER.aad,
    }
    url = connector.service_url
    assert (await post_activity(http, server, message(url, "språk", **who)))[0] == 200
    card = connector.sent(WORKER.conversation_id)[-1]
    submit = message(url, None, value={"language": "en"}, reply_to_id=card.answered_id, **who)
    assert (await post_activity(http, server, submit))[0] == 200
    after = await refs.get(f"{TENANT_ID}:{WORKER.aad}".lower())
    assert after is not None and after.chosen_locale == "en" and after.locale == "sv-FI"

    sent_before = len(connector.sent(WORKER.conversation_id))
    request = await runtime.service.requests.submit(
        MANAGER.email, draft(runtime.service.clock.today()), idempotency_key="lang-submit"
    )
    told = await connector.wait_for_activities(
        sent_before + 1, conversation_id=WORKER.conversation_id
    )
    text = delivered_text(told[-1])
    assert "Access to the A-TMT customer information system has been requested for you" in text
    assert request.number in text
