"""Every activity field the bot reads goes through dialogs/activity_fields.py.

A port to the Microsoft 365 Agents SDK changes that module (docs/decisions.md): these
tests pin down what each function returns for Teams' JSON as botbuilder deserializes
it, that malformed fields never raise, and that no other module of bot/ or dialogs/
reads an activity's fields itself.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from botbuilder.schema import Activity
from fakes.teams import message

from dialogs import activity_fields as fields

ROOT = Path(__file__).resolve().parents[2]
SERVICE_URL = "https://smba.trafficmanager.net/emea/"


def _teams(**extra: Any) -> Activity:
    body = message(SERVICE_URL, "<at>A-TMT</at> apua", value={"atmt_card": "x"}, reply_to_id="m1")
    body["conversation"]["tenantId"] = "Tenant-1"
    body["channelData"] = {"tenant": {"id": "TENANT-1"}}
    body["entities"] = [
        {"type": "mention", "text": "<at>A-TMT</at>"},
        {"type": "clientInfo", "locale": "sv-FI", "country": "FI"},
    ]
    body.update(extra)
    return Activity().deserialize(body)


def test_fields_of_a_teams_message() -> None:
    activity = _teams()
    assert fields.activity_type(activity) == "message" and fields.is_message(activity)
    assert not fields.is_invoke(activity)
    assert fields.channel_id(activity) == "msteams"
    assert fields.service_url(activity) == SERVICE_URL
    assert fields.conversation_id(activity) == "a:conversation-1"
    assert fields.sender_id(activity) == "29:user-1"
    assert fields.sender_aad_object_id(activity) == "00000000-0000-0000-0000-000000000001"
    assert fields.recipient_id(activity) is not None
    # Teams' "tenantId" lands in additional_properties; channelData agrees.
    assert fields.tenant_id(activity) == "Tenant-1"
    assert fields.tenant_ids(activity) == {"tenant-1"}
    assert fields.locale(activity) == "fi-FI"
    assert fields.client_info_locales(activity) == ["sv-FI"]
    assert fields.text(activity) == "<at>A-TMT</at> apua"
    assert fields.value(activity) == {"atmt_card": "x"}
    assert fields.card_value(activity) == {"atmt_card": "x"}
    assert fields.card_message_id(activity) == "m1"
    assert fields.log_ids(activity) == {
        "activity_id": activity.id,
        "activity_type": "message",
        "channel_id": "msteams",
    }
    assert fields.reference_fields(activity) == fields.reference_fields(_teams(id="other"))
    assert fields.reference_fields(activity) != fields.reference_fields(_teams(locale="en-US"))


def test_tenant_claims_that_disagree_are_all_reported() -> None:
    activity = _teams(channelData={"tenant": {"id": "other"}})
    assert fields.tenant_ids(activity) == {"tenant-1", "other"}
    only_channel_data = _teams(conversation={"id": "c"}, channelData={"tenant": {"id": "T"}})
    assert fields.tenant_id(only_channel_data) == "T"


@pytest.mark.parametrize(
    "activity",
    [
        Activity(),
        Activity(type="message", channel_data="not a dict", entities=None, value=[1, 2]),
        _teams(
            conversation={"id": "c", "tenantId": 7},
            channelData={"tenant": "x"},
            entities=[{"type": "clientInfo", "locale": 3}],
            value="text",
            replyToId=None,
        ),
        object(),
    ],
)
def test_malformed_or_missing_fields_give_none_never_an_error(activity: Any) -> None:
    for name in fields.__all__:
        getattr(fields, name)(activity)
    assert fields.card_value(activity) is None
    assert fields.card_message_id(activity) is None
    assert fields.tenant_id(activity) is None
    assert all(found is None for found in fields.client_info_locales(activity))


#: Attributes of an activity that only dialogs/activity_fields.py reads.
READ = frozenset(
    {
        "from_property",
        "recipient",
        "conversation",
        "channel_data",
        "channel_id",
        "entities",
        "locale",
        "value",
        "reply_to_id",
        "text",
        "service_url",
        "type",
        "id",
    }
)
#: Outgoing activities the bot builds itself may be written and read back.
OUTGOING = {("bot/delivery.py", "channel_data")}


def _reads(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or node.attr not in READ:
            continue
        base = node.value
        name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
        if name == "activity" and isinstance(node.ctx, ast.Load):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: activity.{node.attr}")
    return found


def test_no_other_module_reads_activity_fields_itself() -> None:
    found = []
    for package in ("bot", "dialogs"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "activity_fields.py":
                continue
            found += [
                line
                for line in _reads(path)
                if (str(path.relative_to(ROOT)), line.rsplit(".", 1)[1]) not in OUTGOING
            ]
    assert not found, "\n".join(found)
