"""Dialog state lives in the database: a conversation survives a restart."""

from __future__ import annotations

import aiohttp
from conftest import StartBot
from fakes.botapp import card_of, make_settings, post_activity, texts
from fakes.connector import FakeConnector
from fakes.teams import message

from dialogs.i18n import Translator

T = Translator.load()


def _choice_set(card: dict[str, object]) -> dict[str, object]:
    [choice_set] = [
        element
        for element in card["body"]  # type: ignore[attr-defined]
        if element["type"] == "Input.ChoiceSet"
    ]
    return choice_set  # type: ignore[no-any-return]


async def test_language_dialog_continues_after_a_restart(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    settings = make_settings(db_url)
    url = connector.service_url

    app1 = await start_bot(settings)
    assert (await post_activity(http, app1, message(url, "kieli", locale="fi-FI")))[0] == 200
    [card_message] = connector.sent()
    card = card_of(card_message.body)
    assert texts(card)[0] == T.get("fi").t("language.title")
    choice_set = _choice_set(card)
    assert [c["value"] for c in choice_set["choices"]] == ["fi", "sv", "en"]  # type: ignore[index]
    await app1.close()  # the process "stops" mid-conversation

    app2 = await start_bot(settings)  # a new app on the same database
    submit = message(
        url,
        None,
        value={"language": "sv"},
        reply_to_id=card_message.answered_id,
        locale="fi-FI",
    )
    assert (await post_activity(http, app2, submit))[0] == 200

    confirmation = connector.sent()[-1]
    assert confirmation.body["text"] == T.get("sv").t("language.changed")
    [update] = [r for r in connector.activities if r.method == "PUT"]
    assert update.activity_id == card_message.answered_id
    assert texts(card_of(update.body)) == [
        T.get("sv").t("language.title"),
        T.get("sv").t("language.chosen", language="svenska"),
    ]

    # From now on Swedish, although Teams still says fi-FI.
    await post_activity(http, app2, message(url, "apua", locale="fi-FI"))
    assert texts(card_of(connector.sent()[-1].body))[0] == T.get("sv").t("help.title")
