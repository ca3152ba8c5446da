"""Texts of the domain's violations (``access.policy``) in the user's language.

Catalog key ``violation.<code>``; the parameters are made readable first: ISO dates
in Finnish format, codes of service areas, levels, requirements, states and areas by
their localized names, and anything a user typed through :func:`dialogs.cards.markup.plain`.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from access.directory import Directory
from access.policy import Violation
from dialogs.cards.markup import plain
from dialogs.i18n import Messages

__all__ = ["code_name", "violation_text"]

_DATES = {"agreement_ends", "latest_end", "start", "end", "earliest"}
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")


def _date(m: Messages, value: object) -> str:
    try:
        return m.format_date(date.fromisoformat(str(value)))
    except ValueError:
        return plain(str(value), limit=40)


def code_name(m: Messages, directory: Directory, kind: str, code: str) -> str:
    """The localized name of a service area, level, area, requirement or state."""
    if kind == "service_area":
        found = directory.service_areas.get(code)
        return found.name.get(m.locale) if found else plain(code, limit=60)
    if kind == "level":
        level = directory.access_levels.get(code)
        return level.name.get(m.locale) if level else plain(code, limit=60)
    if kind == "area":
        area = directory.area(code)
        return area.name.get(m.locale) if area else plain(code, limit=60)
    key = f"manager.{kind}.{code}"
    return m.t(key) if m.has(key) else plain(code, limit=60)


def violation_text(m: Messages, directory: Directory, violation: Violation) -> str:
    params: dict[str, Any] = {}
    for name, value in violation.params.items():
        if name in _DATES:
            params[name] = _date(m, value)
        elif name in ("service_area", "level", "area"):
            params[name] = code_name(m, directory, name, str(value))
        elif name == "domains":
            # The municipality's own domains from the directory, shown as written (a
            # manager must be able to read them); anything else is left out.
            domains = [d for d in str(value).split(", ") if _DOMAIN.fullmatch(d)]
            params[name] = ", ".join(domains) or "–"
        elif name == "confirmation":
            params[name] = code_name(m, directory, "requirement", str(value))
        elif name == "state":
            kind = "grant_state" if violation.params.get("existing_kind") == "grant" else "state"
            if violation.code == "grant.not_active":
                kind = "grant_state"
            params[name] = code_name(m, directory, kind, str(value))
        elif isinstance(value, int):
            params[name] = value
        elif _SAFE.fullmatch(str(value)):
            params[name] = str(value)  # a number or code of our own making
        else:
            params[name] = plain(str(value), limit=80)
    if violation.field:
        label = f"manager.field.{violation.field}"
        params["field"] = m.t(label) if m.has(label) else violation.field
    key = f"violation.{violation.code}"
    if violation.code == "grant.duplicate" and violation.params.get("existing_kind") == "request":
        key = "violation.grant.duplicate_request"
    return m.t(key, **params)
