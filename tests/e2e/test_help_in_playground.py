"""A person opens the bot in the Teams emulator, types "apua" and gets the help card.

Also pins down what the Playground's mock connector answers to the bot's member
lookup, which bot.identity relies on for the user's e-mail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dialogs.i18n import Translator

pytestmark = pytest.mark.e2e


def _titles(key: str) -> list[str]:
    return [messages.t(key) for messages in Translator.load().all()]


def _problems(report: dict[str, Any]) -> list[str]:
    return [
        f"{card['as']}: card {card['title']!r}: {error}"
        for card in report["cards"]
        for error in card["errors"]
    ]


def test_manager_types_apua_and_sees_the_help_card(
    playgrounds: Callable[..., dict[str, Any]],
    drive: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    manager = playgrounds("manager")["manager"]
    help_titles = _titles("help.title")
    welcome_titles = _titles("welcome.title")

    report = drive(
        {
            "clients": {"manager": manager.url},
            "steps": [
                {"as": "manager", "do": "open"},
                {"as": "manager", "do": "waitCard", "text": welcome_titles},
                {"as": "manager", "do": "send", "text": "apua"},
                {"as": "manager", "do": "waitCard", "text": help_titles},
                {"as": "manager", "do": "screenshot", "name": "01-manager-help-card"},
            ],
        }
    )

    assert report["error"] is None, report["error"] + "\n" + "\n".join(_problems(report))
    assert report["ok"], _problems(report)
    shown = [card["title"] for card in report["cards"]]
    assert any(title in help_titles for title in shown), shown
    assert any(title in welcome_titles for title in shown), shown
    assert not _problems(report)
    assert (report["steps"][-1]["detail"] or "").endswith("01-manager-help-card.png")


def test_member_lookup_of_the_mock_connector_gives_the_email(
    playgrounds: Callable[..., dict[str, Any]],
) -> None:
    manager = playgrounds("manager")["manager"]
    me = manager.person

    status, member = manager.member(manager.personal_chat_id, me["id"])
    assert status == 200
    assert member["email"] == "manager@laukaa.example.fi"
    assert member["userPrincipalName"] == "manager@laukaa.example.fi"
    assert member["aadObjectId"] == me["aadObjectId"]

    # Only members of that conversation: the personal chat holds the current user alone,
    # the group chat everyone of the config.
    status, _ = manager.member(manager.personal_chat_id, "29:contact-pks-area")
    assert status == 404
    status, member = manager.member(manager.config["groupChat"]["id"], "29:contact-pks-area")
    assert (status, member["email"]) == (200, "contact@pks-area.example.fi")
    # By Entra object id: not supported by the mock (Teams accepts it).
    status, _ = manager.member(manager.personal_chat_id, me["aadObjectId"])
    assert status == 404


def test_card_validator_rejects_unknown_elements_and_properties(
    drive: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    good = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "msteams": {"width": "Full"},
        "refresh": {"action": {"type": "Action.Execute", "verb": "refresh"}, "userIds": ["x"]},
        "body": [
            {"type": "TextBlock", "text": "Otsikko", "wrap": True, "weight": "Bolder"},
            {
                "type": "Input.Text",
                "id": "surname",
                "label": "Sukunimi",
                "isRequired": True,
                "regex": "^\\S.*$",
                "errorMessage": "Pakollinen",
            },
            {"type": "Input.Date", "id": "start", "label": "Alkaa"},
            {
                "type": "Input.ChoiceSet",
                "id": "areas",
                "label": "Palvelualueet",
                "isMultiSelect": True,
                "choices": [{"title": "Nuoret", "value": "youth"}],
            },
            {
                "type": "ColumnSet",
                "columns": [
                    {
                        "type": "Column",
                        "width": "auto",
                        "items": [{"type": "TextBlock", "text": "a"}],
                    }
                ],
            },
            {"type": "FactSet", "facts": [{"title": "Tila", "value": "Odottaa"}]},
        ],
        "actions": [
            {"type": "Action.Execute", "verb": "approve", "title": "Hyväksy", "data": {"id": 1}},
            {"type": "Action.Submit", "title": "Lähetä", "data": {"atmt_command": "new"}},
        ],
    }
    unknown_property = {**good, "body": [{"type": "TextBlock", "text": "x", "colour": "Good"}]}
    unknown_element = {**good, "body": [{"type": "Input.PeoplePicker", "id": "p"}]}
    unknown_action = {**good, "actions": [{"type": "Action.Teleport", "title": "x"}]}
    too_new = {**good, "version": "1.6"}

    report = drive({"validate": [good, unknown_property, unknown_element, unknown_action, too_new]})

    errors = [card["errors"] for card in report["cards"]]
    assert len(errors) == 5
    assert errors[0] == [], errors[0]
    assert any('unknown property "colour"' in e for e in errors[1]), errors[1]
    assert any(e.startswith("UnknownElementType") for e in errors[2]), errors[2]
    assert any(e.startswith("UnknownActionType") for e in errors[3]), errors[3]
    assert any(e.startswith("UnsupportedCardVersion") for e in errors[4]), errors[4]
