"""Self-access (GDPR art. 15), the privacy statement and the area directory."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from access.directory import Area, Directory
from access.queries import MyData
from dialogs.cards.base import Card, card, text, title
from dialogs.cards.markup import plain
from dialogs.i18n import Messages
from dialogs.pages import privacy_paragraphs, privacy_rows

__all__ = ["directory_card", "my_data_card", "privacy_card"]


def my_data_card(m: Messages, directory: Directory, data: MyData, json_url: str) -> Card:
    body: list[dict[str, Any]] = [
        title(m.t("my_data.title")),
        text(m.t("my_data.intro", email=plain(data.email))),
        {
            "type": "FactSet",
            "facts": [
                {
                    "title": m.t("my_data.requests_about_me"),
                    "value": str(len(data.requests_about_me)),
                },
                {"title": m.t("my_data.grants_about_me"), "value": str(len(data.grants_about_me))},
                {
                    "title": m.t("my_data.requests_made_by_me"),
                    "value": str(len(data.requests_made_by_me)),
                },
                {"title": m.t("my_data.decisions_by_me"), "value": str(len(data.decisions_by_me))},
                {
                    "title": m.t("my_data.notifications_to_me"),
                    "value": str(len(data.notifications_to_me)),
                },
                *(
                    {"title": m.t(key), "value": str(len(matters))}
                    for key, matters in (
                        ("my_data.matters_about_me", data.matters_about_me),
                        ("my_data.matters_by_me", data.matters_by_me),
                    )
                    if matters
                ),
            ],
        },
    ]
    for grant in data.grants_about_me[:20]:
        municipality = directory.municipality(grant.municipality)
        body.append(
            text(
                m.t(
                    "my_data.grant",
                    municipality=plain(municipality.name if municipality else grant.municipality),
                    state=m.t("my_data.grant_state." + grant.state.value),
                    end=m.format_date(grant.end),
                )
            )
        )
    body.append(text(m.t("my_data.json_hint"), subtle=True))
    actions: list[dict[str, Any]] = [
        {"type": "Action.OpenUrl", "title": m.t("my_data.download"), "url": json_url},
        {
            "type": "Action.Submit",
            "title": m.t("my_data.privacy"),
            "data": {"atmt_command": "privacy"},
        },
    ]
    return card(body, actions)


def privacy_card(
    m: Messages,
    directory: Directory,
    links: Sequence[tuple[str, str]] = (),
    areas: Collection[str] = (),
) -> Card:
    """The privacy statement in the reader's language, with the controller, contact and
    data protection officer of the reader's ``areas`` (every area's when none is
    known); ``links``: (title, URL) buttons to the statement's web page
    (``/privacy?lang=..``) in this and the other languages."""
    intro, *rest = privacy_paragraphs(m, directory)
    body: list[dict[str, Any]] = [title(m.t("privacy.title")), text(intro)]
    for row in privacy_rows(m, directory, areas):
        if row.controller is not None and row.contact is not None and row.dpo is not None:
            facts = [
                {"title": m.t("privacy.controller"), "value": row.controller},
                {"title": m.t("privacy.contact"), "value": row.contact},
                {"title": m.t("privacy.dpo"), "value": row.dpo},
            ]
        else:
            facts = [
                {"title": m.t("privacy.missing"), "value": ", ".join(row.area_contacts) or "–"}
            ]
        body.append(text(row.area, weight="Bolder"))
        body.append({"type": "FactSet", "facts": facts})
    for paragraph in rest:
        body.extend(text(p) for p in paragraph.split("\n\n") if p.strip())
    actions = [{"type": "Action.OpenUrl", "title": name, "url": url} for name, url in links]
    return card(body, actions)


def _people(m: Messages, key: str, emails: Sequence[str]) -> dict[str, str]:
    return {"title": m.t(key), "value": ", ".join(emails) if emails else "–"}


def directory_card(m: Messages, area: Area, version: int | None) -> Card:
    source = m.t("directory.version", version=version) if version else m.t("directory.file")
    body: list[dict[str, Any]] = [
        title(area.name.get(m.locale)),
        text(source, subtle=True),
        {
            "type": "FactSet",
            "facts": [
                _people(m, "directory.approvers", area.approvers),
                _people(m, "directory.deputies", area.deputies),
                _people(m, "directory.admins", area.authority_admins),
            ],
        },
        text(m.t("directory.municipalities"), weight="Bolder"),
    ]
    for municipality in area.municipalities:
        if not municipality.contracted:
            state = m.t("directory.no_agreement")
        elif municipality.agreement_ends is not None:
            state = m.t("directory.agreement_ends", date=m.format_date(municipality.agreement_ends))
        else:
            state = m.t("directory.agreement")
        requesters = ", ".join(municipality.requesters) or "–"
        body.append(text(f"**{plain(municipality.name)}** · {state} · {requesters}"))
    return card(body)
