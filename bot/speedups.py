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
"""

from __future__ import annotations

from typing import Any

__all__ = ["apply", "plain_copy"]

_applied = False
_XML_OR_CUSTOM = frozenset({"is_xml", "basic_types_serializers"})


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
    _applied = True


def _patch_serialize_object() -> None:
    from msrest.serialization import Serializer

    original = Serializer.serialize_object

    def serialize_object(self: Any, attr: Any, **kwargs: Any) -> Any:
        if not _XML_OR_CUSTOM.intersection(kwargs):
            try:
                return plain_copy(attr)
            except (NotPlainJson, RecursionError):
                pass
        return original(self, attr, **kwargs)

    Serializer.serialize_object = serialize_object
