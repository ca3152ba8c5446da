"""Framework hot spots fixed in place (found with pyinstrument, see docs/performance.md).

botbuilder's ``CloudAdapter`` builds a new ``ConnectorClient`` and a new
``TokenApiClient`` for every incoming activity. Each one's msrest configuration
creates a ``msrest.universal_http.requests.ClientRetryPolicy``, whose constructor
computes the retried status codes as
``[i for i in range(999) if i not in self.safe_codes]`` -- a membership test in a
500-element *list* for each of 999 codes, about half a million comparisons, twice
per turn. On the benchmark machine that was two thirds of the CPU time of a bare
echo turn.

:func:`apply` replaces that constructor with one that sets the very same policy
(same totals, back-off, status list and methods) from a list computed once. It is
idempotent and changes no behaviour; :func:`bot.app.create_app` calls it, so the
bot and the benchmark's echo baseline (built on the same app) both get it.

The second fix (issue 10) is msrest's ``Serializer.serialize_object``, which every
outgoing Adaptive Card goes through (an attachment's ``content`` is an ``object``):
it walks the card value by value and turns each ``int``/``bool``/``float`` with
``eval(data_type)(value)``. A card is plain JSON data (dicts with string keys, lists,
strings, numbers, booleans, ``None``), for which msrest's result is an equal copy;
:func:`plain_copy` makes that copy directly and anything else (a msrest ``Model``, a
date, a non-string key) falls back to msrest's own method unchanged.

The third (issue 10) is botbuilder's ``CachedBotState.compute_hash``: to tell whether
a turn changed the conversation or user state, botbuilder flattens the whole state
with jsonpickle when it is loaded, again when it is saved, and once more after the
save. :func:`state_fingerprint` builds the same information (every dict, list and
object attribute, recursively) as nested tuples, several times faster; a state it
cannot take apart (``__slots__``, cycles) falls back to jsonpickle. The fingerprint
is only ever compared with another fingerprint of the same state, so the only
observable effect is fewer CPU cycles per turn.
"""

from __future__ import annotations

import datetime
import decimal
import enum
from typing import Any

__all__ = ["apply", "plain_copy", "state_fingerprint"]

_applied = False


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


def apply() -> None:
    """Install the faster ``ClientRetryPolicy.__init__`` (once per process)."""
    global _applied
    if _applied:
        return
    from msrest.universal_http import requests as msrest_requests

    policy_class: Any = msrest_requests.ClientRetryPolicy
    safe = frozenset(policy_class.safe_codes)
    retry_codes = tuple(code for code in range(999) if code not in safe)
    retry_class = msrest_requests.Retry

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

    policy_class.__init__ = __init__
    _patch_serialize_object()
    _patch_state_hash()
    _applied = True


def _patch_serialize_object() -> None:
    from msrest.serialization import Serializer

    original = Serializer.serialize_object

    def serialize_object(self: Any, attr: Any, **kwargs: Any) -> Any:
        if not kwargs.get("is_xml") and not kwargs.get("basic_types_serializers"):
            try:
                return plain_copy(attr)
            except (NotPlainJson, RecursionError):
                pass  # a model, a date, a tuple ...: msrest's own conversion below
        return original(self, attr, **kwargs)

    Serializer.serialize_object = serialize_object


_SCALARS = frozenset({str, int, float, bool, type(None)})
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
    if kind in _SCALARS:
        return value
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


def _patch_state_hash() -> None:
    from botbuilder.core.bot_state import CachedBotState

    def compute_hash(self: Any, obj: object) -> Any:
        return state_fingerprint(obj)

    CachedBotState.compute_hash = compute_hash
