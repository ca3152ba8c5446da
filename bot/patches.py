"""Every place the bot depends on botbuilder's or msrest's internals, in one module.

botbuilder-python 4.17 is the last release, so its internals no longer move; still,
everything here is written against the pinned versions (:data:`PINNED`), and
:func:`apply` refuses to run on any other (:class:`UnpinnedFramework`), so an upgrade
is a deliberate step: re-run ``tests/bot/test_patches.py``, which compares every
patch with the function it replaces, and update :data:`PINNED`.

:func:`apply` is called by the entry points (``atmt-bot``, each ``atmt-bot serve``
worker, the test session, the benchmarks), never by the app factory. It is
idempotent without module state: a replacement function carries the function it
replaced in its ``__atmt_original__`` attribute (:func:`original`), and a target
that already carries one is left alone. None of the patches changes what the bot
does, only what it costs (found with pyinstrument, see docs/performance.md):

1. ``msrest.universal_http.requests.ClientRetryPolicy.__init__``. botbuilder's
   ``CloudAdapter`` builds a new ``ConnectorClient`` and ``TokenApiClient`` for every
   incoming activity; each one's msrest configuration creates a retry policy whose
   constructor computes the retried status codes as
   ``[i for i in range(999) if i not in self.safe_codes]``, a membership test in a
   500-element list for each of 999 codes, twice per turn (two thirds of the CPU time
   of a bare echo turn). The replacement sets the very same policy from a list
   computed once.
2. ``msrest.serialization.Serializer.serialize_object``, which every outgoing
   Adaptive Card goes through: it walks the card value by value and converts each
   ``int``/``bool``/``float`` with ``eval(data_type)(value)``. For plain JSON data
   (dicts with string keys, lists, strings, numbers, booleans, ``None``) msrest's
   result is an equal copy; :func:`plain_copy` makes that copy directly, and
   anything else (a msrest ``Model``, a date, a non-string key) goes to msrest's
   own method unchanged.
3. ``botbuilder.core.bot_state.CachedBotState.compute_hash``. To tell whether a turn
   changed the conversation or user state, botbuilder flattens the whole state with
   jsonpickle when it is loaded, when it is saved and once more after the save.
   :func:`state_fingerprint` builds the same information (every dict, list and
   object attribute, recursively, with the type of every value) as nested tuples,
   several times faster; a state it cannot take apart (``__slots__``, cycles) falls
   back to jsonpickle. A fingerprint is only ever compared with another fingerprint
   of the same state, and whenever the jsonpickle hashes of two states differ, so
   do their fingerprints (they are stricter only about non-string dict keys, which
   jsonpickle turns into strings: at most an extra write).

And one reader of private state that is injected rather than patched in:

4. :class:`OneReadStateLoader` reads a turn's ConversationState and UserState in one
   storage call (one query) instead of one each. botbuilder offers no public way to
   put a state read elsewhere into the turn (``BotState.load`` reads its own key), so
   this needs ``BotState._storage``, ``BotState._context_service_key`` and
   ``CachedBotState``. The router asks for it through the small protocol
   :class:`dialogs.turn.StateLoader`, and the composition root passes this one in, so
   ``dialogs/`` holds no private-attribute access. A patch of ``BotState.load`` was
   the other choice; it would have to know the sibling states of every turn, which
   is what the router already knows, so an injected loader is the smaller change,
   and without it botbuilder simply loads each state itself.
"""

from __future__ import annotations

import datetime
import decimal
import enum
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

from botbuilder.core import BotState, TurnContext

__all__ = [
    "PINNED",
    "NotPlainJson",
    "OneReadStateLoader",
    "UnpinnedFramework",
    "apply",
    "original",
    "plain_copy",
    "require_pinned_versions",
    "state_fingerprint",
]

PINNED: dict[str, str] = {
    "botbuilder-core": "4.17.1",
    "botframework-connector": "4.17.1",
    "msrest": "0.7.1",
}
"""The distributions whose internals this module relies on, at the versions it was
checked against (``requirements.lock`` pins the same; a test keeps them equal)."""

ORIGINAL = "__atmt_original__"


class UnpinnedFramework(RuntimeError):
    """An installed framework version is not the one the patches were checked against."""


def require_pinned_versions() -> None:
    """Raise :class:`UnpinnedFramework` unless every :data:`PINNED` version is installed."""
    wrong: list[str] = []
    for name, pinned in PINNED.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != pinned:
            wrong.append(f"{name} {installed} (pinned: {pinned})")
    if wrong:
        raise UnpinnedFramework(
            "bot.patches was checked against other framework versions: "
            + "; ".join(wrong)
            + ". Install requirements.lock (make test), or re-check every patch against the "
            "new version (tests/bot/test_patches.py) and update bot.patches.PINNED."
        )


def apply() -> None:
    """Check the framework versions and install the patches (idempotent)."""
    require_pinned_versions()
    from botbuilder.core.bot_state import CachedBotState
    from msrest.serialization import Serializer
    from msrest.universal_http.requests import ClientRetryPolicy

    _replace(ClientRetryPolicy, "__init__", _fast_retry_policy_init)
    _replace(Serializer, "serialize_object", _plain_serialize_object)
    _replace(CachedBotState, "compute_hash", _fingerprint_hash)


def original(function: Callable[..., Any]) -> Callable[..., Any]:
    """The function a patch replaced (``function`` itself when it is no patch)."""
    replaced: Callable[..., Any] | None = getattr(function, ORIGINAL, None)
    return replaced if replaced is not None else function


def _replace(
    owner: type, name: str, build: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> None:
    current = vars(owner)[name]
    if getattr(current, ORIGINAL, None) is not None:
        return  # applied before
    replacement = build(current)
    setattr(replacement, ORIGINAL, current)
    setattr(owner, name, replacement)


# ------------------------------------------------------------ 1. retry policy


def _fast_retry_policy_init(_original: Callable[..., Any]) -> Callable[..., Any]:
    from msrest.universal_http import requests as msrest_requests

    safe = frozenset(msrest_requests.ClientRetryPolicy.safe_codes)
    retry_codes = tuple(code for code in range(999) if code not in safe)
    retry_class: Any = msrest_requests.Retry  # type: ignore[attr-defined]

    def __init__(self: Any) -> None:
        self.policy = retry_class()
        self.policy.total = 3
        self.policy.connect = 3
        self.policy.read = 3
        self.policy.backoff_factor = 0.8
        self.policy.BACKOFF_MAX = 90
        self.policy.status_forcelist = list(retry_codes)
        self.policy.method_whitelist = [
            "HEAD",
            "TRACE",
            "GET",
            "PUT",
            "OPTIONS",
            "DELETE",
            "POST",
            "PATCH",
        ]

    return __init__


# ---------------------------------------------------------- 2. serialization


class NotPlainJson(Exception):
    """The value holds something other than plain JSON data."""


def plain_copy(value: Any) -> Any:
    """A copy of plain JSON data (exact types only); :class:`NotPlainJson` otherwise."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is float or kind is bool:
        return value
    if kind is dict:
        copied: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise NotPlainJson
            copied[key] = plain_copy(item)
        return copied
    if kind is list:
        return [plain_copy(item) for item in value]
    raise NotPlainJson


def _plain_serialize_object(serialize_object: Callable[..., Any]) -> Callable[..., Any]:
    def plain_serialize_object(self: Any, attr: Any, **kwargs: Any) -> Any:
        if not kwargs.get("is_xml") and not kwargs.get("basic_types_serializers"):
            try:
                return plain_copy(attr)
            except (NotPlainJson, RecursionError):
                pass  # a model, a date, a tuple ...: msrest's own conversion below
        return serialize_object(self, attr, **kwargs)

    return plain_serialize_object


# -------------------------------------------------------- 3. state fingerprint

_BY_REPR = (
    str,  # subclasses of the scalars land here (an exact str was taken above)
    bytes,
    int,
    float,
    complex,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    decimal.Decimal,
    enum.Enum,
)
_MAX_DEPTH = 200


def _shape(value: Any, depth: int) -> Any:
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is int or kind is float or kind is bool:
        # 1, 1.0 and True are equal in Python but not to jsonpickle: keep the type.
        return (kind, value)
    if depth > _MAX_DEPTH:
        raise NotPlainJson
    depth += 1
    if isinstance(value, _BY_REPR):
        return ("r", kind, repr(value))
    if isinstance(value, dict):
        return (
            "{",
            kind,
            tuple(
                (key if type(key) is str else ("k", repr(key)), _shape(item, depth))
                for key, item in value.items()
            ),
        )
    if isinstance(value, list | tuple):
        return ("[", kind, tuple(_shape(item, depth) for item in value))
    if isinstance(value, set | frozenset):
        return ("s", kind, tuple(sorted(repr(item) for item in value)))
    attributes = getattr(value, "__dict__", None)
    if type(attributes) is dict and not hasattr(kind, "__slots__"):
        return ("o", kind, _shape(attributes, depth))
    raise NotPlainJson


def state_fingerprint(value: Any) -> Any:
    """A value equal for equal states and different when anything in them changed."""
    try:
        return _shape(value, 0)
    except (NotPlainJson, RecursionError):
        from jsonpickle.pickler import Pickler  # type: ignore[import-untyped]

        return str(Pickler().flatten(value))


def _fingerprint_hash(_original: Callable[..., Any]) -> Callable[..., Any]:
    def compute_hash(self: Any, obj: object) -> Any:
        return state_fingerprint(obj)

    return compute_hash


# ------------------------------------------------------------ 4. state loading


class OneReadStateLoader:
    """:class:`dialogs.turn.StateLoader` that reads every state of a turn in one call.

    States already cached in the turn are not replaced. When the states do not share
    one storage, or the activity lacks the ids a storage key needs, nothing is read
    here and botbuilder loads each state itself when it is first used. An empty
    state is cached empty, and botbuilder reads it once more on first use, as it
    does for any empty state.
    """

    def __init__(self) -> None:
        require_pinned_versions()

    async def load(self, turn_context: TurnContext, states: Sequence[BotState]) -> None:
        from botbuilder.core.bot_state import CachedBotState

        if not states:
            return
        storage = states[0]._storage
        if any(state._storage is not storage for state in states):
            return
        try:
            keys = [state.get_storage_key(turn_context) for state in states]
        except Exception:  # an activity without the ids a key needs: botbuilder decides
            return
        items = await storage.read(keys)
        for state, key in zip(states, keys, strict=True):
            if state.get_cached_state(turn_context) is None:
                turn_context.turn_state[state._context_service_key] = CachedBotState(items.get(key))
