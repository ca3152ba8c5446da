"""The language dialog and the commands around dialogs (cancel, help)."""

from __future__ import annotations

import aiohttp
from conftest import StartBot
from fakes.botapp import card_of, make_settings, post_activity, texts
from fakes.connector import FakeConnector
from fakes.teams import message

from dialogs.i18n import Translator

T = Translator.load()


async def test_typed_language_name_and_reprompt(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url))
    url = connector.service_url
    await post_activity(http, server, message(url, "språk", locale="sv-SE"))
    await post_activity(http, server, message(url, "klingonska", locale="sv-SE"))
    assert connector.sent()[-1].body["text"] == T.get("sv").t("language.reprompt")
    await post_activity(http, server, message(url, "English", locale="sv-SE"))
    assert connector.sent()[-1].body["text"] == T.get("en").t("language.changed")
    # the dialog is over: unknown text gets the hint again, in English now
    await post_activity(http, server, message(url, "klingonska", locale="sv-SE"))
    assert texts(card_of(connector.sent()[-1].body)) == [T.get("en").t("hint.text")]


async def test_help_inside_a_dialog_keeps_it_and_cancel_leaves_it(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url))
    url = connector.service_url
    await post_activity(http, server, message(url, "kieli"))
    await post_activity(http, server, message(url, "apua"))
    assert texts(card_of(connector.sent()[-1].body))[0] == T.get("fi").t("help.title")
    await post_activity(http, server, message(url, "peru"))
    assert connector.sent()[-1].body["text"] == T.get("fi").t("cancel.done")
    # the old card is stale now
    await post_activity(
        http, server, message(url, None, value={"language": "en", "atmt_card": "language"})
    )
    assert connector.sent()[-1].body["text"] == T.get("fi").t("card.expired")
    await post_activity(http, server, message(url, "cancel"))
    assert connector.sent()[-1].body["text"] == T.get("fi").t("cancel.nothing")


async def test_an_invalid_submission_is_not_stored(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url))
    url = connector.service_url
    await post_activity(http, server, message(url, "language", locale="en-US"))
    await post_activity(http, server, message(url, None, value={"language": "de"}, locale="en-US"))
    assert connector.sent()[-1].body["text"] == T.get("en").t("language.reprompt")
    await post_activity(
        http, server, message(url, None, value={"language": ["fi"]}, locale="en-US")
    )
    assert connector.sent()[-1].body["text"] == T.get("en").t("language.reprompt")


async def test_card_update_failure_does_not_lose_the_choice(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    from fakes.connector import Fault

    server = await start_bot(make_settings(db_url))
    url = connector.service_url
    await post_activity(http, server, message(url, "kieli"))
    card_id = connector.sent()[-1].answered_id
    connector.fail_next(Fault(status=500))  # the PUT that replaces the card
    await post_activity(
        http, server, message(url, None, value={"language": "sv"}, reply_to_id=card_id)
    )
    assert connector.sent()[-1].body["text"] == T.get("sv").t("language.changed")
