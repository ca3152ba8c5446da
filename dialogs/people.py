"""People as people know them: their Teams display name and where they act.

The bot learns a person's display name from Teams (it comes with every turn of their
1:1 chat and is kept with the conversation reference,
:attr:`access.ports.StoredConversationRef.display_name`). Notifications and request
cards name people with it:

* a notification text: "Aino Hyväksyjä, Pohjoisen Keski-Suomen työllisyysalue"
  (:func:`person_label`), the e-mail only when the name is unknown;
* a request card (the requester, who decided): "Maija Esimerkki, Laukaa
  (manager@laukaa.example.fi)" (:func:`card_person`), the e-mail alone when the name
  is unknown: on a card the address is what the approver may need to reach them.

The labels are pure functions of a ``names`` mapping (display names by lower-case
e-mail); the dialog or the notifier looks the names up (:func:`display_names`) and
passes them in, so the cards stay pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from access.addresses import EMAIL_MAX
from access.directory import Directory
from access.ports import ConversationRefs
from dialogs.i18n import Messages
from dialogs.violations import code_name

__all__ = ["card_person", "display_names", "person_label", "place_of"]


def place_of(m: Messages, directory: Directory, email: str, params: Mapping[str, Any]) -> str:
    """Where a person acts, by the directory: the municipality of ``params`` (or their
    first) for a requester, the area of ``params`` (or their first) for an approver,
    deputy or admin; "" for someone the directory does not know."""
    roles = directory.roles_of(email)
    municipality = str(params.get("municipality") or "")
    codes = sorted(roles.requester_for)
    if codes:
        code = municipality if municipality in roles.requester_for else codes[0]
        found = directory.municipality(code)
        return found.name if found is not None else ""
    areas = sorted(roles.approver_in | roles.deputy_in | roles.admin_in)
    if areas:
        area = str(params.get("area") or "")
        return code_name(m, directory, "area", area if area in areas else areas[0])
    return ""


def person_label(
    m: Messages,
    directory: Directory,
    email: str,
    params: Mapping[str, Any],
    names: Mapping[str, str],
) -> str:
    """A person as people know them: their Teams display name and where they act
    ("Aino Hyväksyjä, Pohjoisen Keski-Suomen työllisyysalue"); the e-mail only when
    the bot never learned the name. Not escaped."""
    name = names.get(email.strip().lower()) or email.strip()
    place = place_of(m, directory, email, params)
    return f"{name}, {place}" if place else name


def card_person(
    m: Messages,
    directory: Directory,
    email: str,
    params: Mapping[str, Any],
    names: Mapping[str, str],
) -> str:
    """A person on a request card: "Maija Esimerkki, Laukaa (manager@laukaa.example.fi)";
    the e-mail alone when the bot never learned the name. Not escaped."""
    address = email.strip()[:EMAIL_MAX]
    if not names.get(address.lower()):
        return address
    return f"{person_label(m, directory, address, params, names)} ({address})"


async def display_names(refs: ConversationRefs | None, emails: Iterable[str]) -> dict[str, str]:
    """The Teams display names the bot knows of ``emails``, by lower-case e-mail
    (people it never met, and ``refs`` None, are left out)."""
    names: dict[str, str] = {}
    if refs is None:
        return names
    seen: set[str] = set()
    for raw in emails:
        email = raw.strip().lower()
        if "@" not in email or email in seen:
            continue
        seen.add(email)
        stored = await refs.get_by_email(email)
        name = stored.display_name if stored is not None else None
        if name:
            names[email] = name
    return names
