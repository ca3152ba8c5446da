"""The framework speed-ups change no output: what Teams receives is byte for byte the same."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from botbuilder.core import CardFactory, MessageFactory
from botbuilder.schema import Activity, ChannelAccount
from msrest.serialization import Serializer
from msrest.universal_http import requests as msrest_requests

from bot import speedups
from dialogs.cards import help_card
from dialogs.i18n import Translator


def _original_serialize_object(serializer: Serializer, attr: Any) -> Any:
    """msrest's own algorithm, as it was before :func:`speedups.apply` (for comparison)."""
    if attr is None:
        return None
    kind = type(attr)
    if kind in Serializer.basic_types:
        return serializer.serialize_basic(attr, Serializer.basic_types[kind])
    if kind is dict:
        return {
            serializer.serialize_unicode(k): _original_serialize_object(serializer, v)
            for k, v in attr.items()
        }
    if kind is list:
        return [_original_serialize_object(serializer, v) for v in attr]
    raise AssertionError(f"not plain: {kind}")


def test_a_card_goes_out_exactly_as_msrest_would_send_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    speedups.apply()
    copied: list[object] = []
    real_copy = speedups.plain_copy

    def counting_copy(value: object) -> object:
        copied.append(value)
        return real_copy(value)

    monkeypatch.setattr(speedups, "plain_copy", counting_copy)
    card = help_card(Translator.load().get("fi"))
    activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
    activity.from_property = ChannelAccount(id="28:bot", name="A-TMT")
    serializer = Serializer({"Activity": Activity, "ChannelAccount": ChannelAccount})

    body = serializer.body(activity, "Activity")

    assert body["attachments"][0]["content"] == card
    assert copied[0] is card  # the fast path took the whole card at once
    assert body["attachments"][0]["content"] is not card  # a copy, as msrest makes
    assert json.dumps(body["attachments"][0]["content"]) == json.dumps(
        _original_serialize_object(serializer, card)
    )


def test_plain_copy_takes_only_plain_json() -> None:
    value = {"a": [1, 2.5, True, None, "x", {"b": []}]}
    assert speedups.plain_copy(value) == value
    for odd in ({1: "int key"}, {"d": datetime.date(2026, 1, 1)}, ("tuple",), {"s": {1, 2}}):
        try:
            speedups.plain_copy(odd)
        except speedups.NotPlainJson:
            continue
        raise AssertionError(f"{odd!r} was taken as plain JSON")


def test_values_that_are_not_plain_json_still_serialize_as_before() -> None:
    speedups.apply()
    serializer = Serializer({"ChannelAccount": ChannelAccount})
    mixed = {"when": datetime.date(2026, 1, 2), "who": ChannelAccount(id="29:x"), 3: "three"}
    assert serializer.serialize_object(mixed) == {
        "when": "2026-01-02",
        "who": {"id": "29:x"},
        "3": "three",
    }


def test_the_retry_policy_is_the_same_policy() -> None:
    speedups.apply()
    policy = msrest_requests.ClientRetryPolicy().policy
    safe = set(msrest_requests.ClientRetryPolicy.safe_codes)
    assert policy.total == 3 and policy.backoff_factor == 0.8
    assert policy.status_forcelist == [code for code in range(999) if code not in safe]


def test_a_change_anywhere_in_dialog_state_is_seen() -> None:
    from botbuilder.core.bot_state import CachedBotState
    from botbuilder.dialogs import DialogInstance, DialogState

    speedups.apply()
    instance = DialogInstance()
    instance.id = "NewRequestDialog"
    instance.state = {"values": {"worker_name": "Testi Työntekijä"}, "step": 1}
    state = {"DialogState": DialogState([instance]), "Welcome": {"sent": True}}
    cached = CachedBotState(state)
    assert not cached.is_changed

    instance.state["values"]["worker_name"] = "Testi Toinen"
    assert cached.is_changed
    cached.hash = cached.compute_hash(cached.state)
    instance.state["step"] = 2
    assert cached.is_changed
    cached.hash = cached.compute_hash(cached.state)
    instance.id = "ChangeRequestDialog"
    assert cached.is_changed
    cached.hash = cached.compute_hash(cached.state)
    state["Welcome"] = {"sent": True}  # the same content again: no write needed
    assert not cached.is_changed


def test_states_it_cannot_take_apart_fall_back_to_jsonpickle() -> None:
    class Slotted:
        __slots__ = ("value",)

        def __init__(self, value: int) -> None:
            self.value = value

    first, second = Slotted(1), Slotted(2)
    assert isinstance(speedups.state_fingerprint({"x": first}), str)
    assert speedups.state_fingerprint({"x": first}) == speedups.state_fingerprint({"x": first})
    cyclic: dict[str, object] = {}
    cyclic["self"] = cyclic
    assert isinstance(speedups.state_fingerprint(cyclic), str)
    assert speedups.state_fingerprint([second]) != speedups.state_fingerprint([first])
