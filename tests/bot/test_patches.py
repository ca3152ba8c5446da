"""The framework patches (``bot.patches``) against the functions they replace.

Each patch is run beside the original on the same inputs: what Teams receives, the
retry policy and the "did the state change" answers are the same, only cheaper.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import itertools
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botbuilder.core import (
    CardFactory,
    ConversationState,
    MemoryStorage,
    MessageFactory,
    TurnContext,
    UserState,
)
from botbuilder.core.adapters import TestAdapter
from botbuilder.core.bot_state import CachedBotState
from botbuilder.dialogs import DialogInstance, DialogState
from botbuilder.schema import Activity, ChannelAccount, ConversationAccount
from msrest.serialization import Serializer
from msrest.universal_http import requests as msrest_requests

from bot import patches
from dialogs.cards import help_card, welcome_card
from dialogs.i18n import Translator

ROOT = Path(__file__).resolve().parents[2]


def test_apply_is_idempotent_and_keeps_the_originals() -> None:
    patches.apply()
    targets = (
        (msrest_requests.ClientRetryPolicy, "__init__"),
        (Serializer, "serialize_object"),
        (CachedBotState, "compute_hash"),
    )
    installed = [vars(owner)[name] for owner, name in targets]
    patches.apply()
    assert [vars(owner)[name] for owner, name in targets] == installed
    for function in installed:
        replaced = patches.original(function)
        assert replaced is not function
        assert patches.original(replaced) is replaced  # not a patch of a patch
    assert patches.original(len) is len


def test_the_pinned_versions_are_the_locked_ones() -> None:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line[:1] in ("", " ", "#"):
            continue  # hashes, comments
        requirement = line.split(";")[0].rstrip(" \\")
        name, sep, version = requirement.partition("==")
        if sep:
            pins[name.strip().lower()] = version.strip()
    assert {name: pins[name] for name in patches.PINNED} == patches.PINNED
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "botbuilder-core>=4.17,<4.18" in dependencies["project"]["dependencies"]


def test_another_framework_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real = patches.metadata.version

    def version(name: str) -> str:
        return "4.18.0" if name == "botbuilder-core" else real(name)

    monkeypatch.setattr(patches.metadata, "version", version)
    with pytest.raises(patches.UnpinnedFramework, match=r"botbuilder-core 4\.18\.0 \(pinned: 4"):
        patches.apply()
    with pytest.raises(patches.UnpinnedFramework):
        patches.OneReadStateLoader()


# ---------------------------------------------------------------- retry policy


def test_the_retry_policy_is_the_same_policy() -> None:
    patches.apply()
    policy_class = msrest_requests.ClientRetryPolicy
    before = object.__new__(policy_class)
    patches.original(vars(policy_class)["__init__"])(before)
    after = policy_class()
    assert vars(after.policy) == vars(before.policy)
    assert type(after.policy) is type(before.policy)
    safe = set(policy_class.safe_codes)
    assert after.policy.status_forcelist == [code for code in range(999) if code not in safe]


# --------------------------------------------------------------- serialization


def _serialize_both(serializer: Serializer, value: Any, **kwargs: Any) -> tuple[Any, Any]:
    msrest_own = patches.original(Serializer.serialize_object)
    return (
        serializer.serialize_object(value, **kwargs),
        msrest_own(serializer, value, **kwargs),
    )


@pytest.mark.parametrize("locale", ["fi", "sv", "en"])
def test_cards_serialize_as_msrest_serializes_them(locale: str) -> None:
    patches.apply()
    m = Translator.load().get(locale)
    serializer = Serializer({"Activity": Activity, "ChannelAccount": ChannelAccount})
    for card in (help_card(m), welcome_card(m)):
        ours, theirs = _serialize_both(serializer, card)
        assert json.dumps(ours, sort_keys=True) == json.dumps(theirs, sort_keys=True)
        assert ours is not card  # a copy, as msrest makes


@pytest.mark.parametrize(
    "value",
    [
        None,
        "text",
        0,
        -7,
        2.5,
        True,
        [],
        {},
        {"a": [1, 2.5, True, None, "x", {"b": []}]},
        {"when": datetime.date(2026, 1, 2), "n": 3},
        {"who": ChannelAccount(id="29:x", name="X")},
        {3: "int key"},
        ("tuple", 1),
        {"nested": [{"deep": [[[{"x": False}]]]}]},
    ],
)
def test_values_serialize_as_msrest_serializes_them(value: Any) -> None:
    patches.apply()
    serializer = Serializer({"ChannelAccount": ChannelAccount})
    ours, theirs = _serialize_both(serializer, value)
    assert ours == theirs
    assert json.dumps(ours, sort_keys=True, default=str) == json.dumps(
        theirs, sort_keys=True, default=str
    )


def test_a_whole_activity_goes_out_as_msrest_would_send_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    patches.apply()
    copied: list[object] = []
    real_copy = patches.plain_copy

    def counting_copy(value: object) -> object:
        copied.append(value)
        return real_copy(value)

    monkeypatch.setattr(patches, "plain_copy", counting_copy)
    card = help_card(Translator.load().get("fi"))
    activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
    activity.from_property = ChannelAccount(id="28:bot", name="A-TMT")
    serializer = Serializer({"Activity": Activity, "ChannelAccount": ChannelAccount})

    body = serializer.body(activity, "Activity")

    assert copied[0] is card  # the fast path took the whole card at once
    patched = vars(Serializer)["serialize_object"]
    monkeypatch.setattr(Serializer, "serialize_object", patches.original(patched))
    assert serializer.body(activity, "Activity") == body


def test_plain_copy_takes_only_plain_json() -> None:
    value = {"a": [1, 2.5, True, None, "x", {"b": []}]}
    assert patches.plain_copy(value) == value
    for odd in ({1: "int key"}, {"d": datetime.date(2026, 1, 1)}, ("tuple",), {"s": {1, 2}}):
        with pytest.raises(patches.NotPlainJson):
            patches.plain_copy(odd)


# ------------------------------------------------------------ state fingerprint


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Point:
    x: int
    y: Any


class Slotted:
    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Slotted({self.value})"


def _dialog_state(step: int, name: str = "NewRequestDialog") -> DialogState:
    instance = DialogInstance()
    instance.id = name
    instance.state = {"values": {"worker_name": "Testi Työntekijä"}, "step": step}
    return DialogState([instance])


def _states() -> list[Any]:
    """States, with near twins, that a fingerprint must tell apart exactly as
    jsonpickle does (built fresh on every call, so equal states are not the same
    objects)."""
    return [
        None,
        {},
        [],
        {"a": 1},
        {"a": 1.0},
        {"a": True},
        {"a": "1"},
        {"a": None},
        {"a": [1, 2]},
        {"a": (1, 2)},
        {"a": [2, 1]},
        {"a": {"b": 1}},
        {1: "a"},
        {"1": "a"},
        {"a": 1, "b": 2},
        {"b": 2, "a": 1},
        {"when": datetime.date(2026, 1, 2)},
        {"when": datetime.date(2026, 1, 3)},
        {"when": datetime.datetime(2026, 1, 2, 3, 4, tzinfo=datetime.UTC)},
        {"amount": decimal.Decimal("1.10")},
        {"amount": decimal.Decimal("1.1")},
        {"colour": Colour.RED},
        {"colour": Colour.BLUE},
        {"tags": {"x", "y"}},
        {"tags": {"x"}},
        {"point": Point(1, 2)},
        {"point": Point(1, 3)},
        {"point": Point(1, [2])},
        {"slotted": Slotted(1)},
        {"slotted": Slotted(2)},
        {"DialogState": _dialog_state(1), "Welcome": {"sent": True}},
        {"DialogState": _dialog_state(2), "Welcome": {"sent": True}},
        {"DialogState": _dialog_state(1, "ChangeRequestDialog"), "Welcome": {"sent": True}},
        {"DialogState": _dialog_state(1), "Welcome": {"sent": False}},
        {"text": "ääkköset ja 🙂"},
        {"text": "aakkoset ja 🙂"},
    ]


def test_fingerprints_tell_states_apart_as_jsonpickle_hashes_do() -> None:
    patches.apply()
    jsonpickle_hash = patches.original(vars(CachedBotState)["compute_hash"])
    cached = CachedBotState()
    ours = [cached.compute_hash(state) for state in _states()]
    theirs = [jsonpickle_hash(cached, state) for state in _states()]
    stricter = []
    for (i, a), (j, b) in itertools.combinations(enumerate(_states()), 2):
        if theirs[i] != theirs[j]:
            assert ours[i] != ours[j], (a, b)  # a change botbuilder saves is never missed
        elif ours[i] != ours[j]:
            stricter.append((a, b))
    # The one difference: jsonpickle turns keys into strings, so it takes {1: "a"}
    # for {"1": "a"}; the fingerprint does not, which costs at most one extra write.
    assert stricter == [({1: "a"}, {"1": "a"})]
    # ... and a state rebuilt equal gets the same answer from both.
    again = [cached.compute_hash(state) for state in _states()]
    assert again == ours
    assert [jsonpickle_hash(cached, state) for state in _states()] == theirs


def test_a_change_anywhere_in_dialog_state_is_seen() -> None:
    patches.apply()
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
    instance.state["step"] = 2.0  # equal in Python, but stored differently
    assert cached.is_changed
    cached.hash = cached.compute_hash(cached.state)
    instance.id = "ChangeRequestDialog"
    assert cached.is_changed
    cached.hash = cached.compute_hash(cached.state)
    state["Welcome"] = {"sent": True}  # the same content again: no write needed
    assert not cached.is_changed


def test_states_it_cannot_take_apart_fall_back_to_jsonpickle() -> None:
    first, second = Slotted(1), Slotted(2)
    assert isinstance(patches.state_fingerprint({"x": first}), str)
    assert patches.state_fingerprint({"x": first}) == patches.state_fingerprint({"x": first})
    cyclic: dict[str, object] = {}
    cyclic["self"] = cyclic
    assert isinstance(patches.state_fingerprint(cyclic), str)
    assert patches.state_fingerprint([second]) != patches.state_fingerprint([first])


# ---------------------------------------------------------------- state loading


class CountingStorage(MemoryStorage):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[list[str]] = []

    async def read(self, keys: list[str]) -> dict[str, Any]:
        self.reads.append(list(keys))
        result: dict[str, Any] = await super().read(keys)
        return result


def _turn(adapter: TestAdapter, user: str = "29:user-1") -> TurnContext:
    activity = Activity(
        type="message",
        text="hei",
        channel_id="msteams",
        from_property=ChannelAccount(id=user),
        recipient=ChannelAccount(id="28:bot"),
        conversation=ConversationAccount(id="a:conversation-1"),
    )
    return TurnContext(adapter, activity)


async def _seeded() -> tuple[CountingStorage, ConversationState, UserState]:
    storage = CountingStorage()
    conversation, user = ConversationState(storage), UserState(storage)
    context = _turn(TestAdapter())
    await conversation.create_property("Welcome").set(context, {"sent": True})
    await user.create_property("Preferences").set(context, {"locale": "sv"})
    await conversation.save_changes(context)
    await user.save_changes(context)
    storage.reads.clear()
    return storage, conversation, user


async def test_one_read_loads_what_botbuilder_loads() -> None:
    storage, conversation, user = await _seeded()
    ours = _turn(TestAdapter())
    await patches.OneReadStateLoader().load(ours, (conversation, user))
    assert len(storage.reads) == 1 and len(storage.reads[0]) == 2

    theirs = _turn(TestAdapter())
    await conversation.load(theirs)
    await user.load(theirs)
    for state in (conversation, user):
        loaded, expected = state.get_cached_state(ours), state.get_cached_state(theirs)
        assert loaded.state == expected.state and loaded.hash == expected.hash
    # Using the states afterwards reads nothing more.
    reads = len(storage.reads)
    assert await user.create_property("Preferences").get(ours) == {"locale": "sv"}
    assert await conversation.create_property("Welcome").get(ours) == {"sent": True}
    assert len(storage.reads) == reads


async def test_states_already_in_the_turn_are_kept() -> None:
    storage, conversation, user = await _seeded()
    context = _turn(TestAdapter())
    await conversation.create_property("Welcome").set(context, {"sent": False})
    storage.reads.clear()
    await patches.OneReadStateLoader().load(context, (conversation, user))
    assert len(storage.reads) == 1
    assert await conversation.create_property("Welcome").get(context) == {"sent": False}
    assert await user.create_property("Preferences").get(context) == {"locale": "sv"}


async def test_states_on_different_storages_are_left_to_botbuilder() -> None:
    storage, conversation, _ = await _seeded()
    other = CountingStorage()
    user = UserState(other)
    context = _turn(TestAdapter())
    await patches.OneReadStateLoader().load(context, (conversation, user))
    assert storage.reads == [] and other.reads == []
    assert conversation.get_cached_state(context) is None
