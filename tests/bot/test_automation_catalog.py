"""Every notification (scheduler, review and misuse messages among them) exists in fi,
sv and en and renders through the notifier with the parameters the domain writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from access.directory import Directory
from access.notifications import TEMPLATES
from access.ports import OutboxItem
from bot.notifier import render_params, render_text
from dialogs.i18n import LOCALES, LOCALES_DIR, Translator, placeholders, read_locale

KEYS = sorted(
    f"{name}.{audience.value}"
    for name, template in TEMPLATES.items()
    for audience in template.audiences
)
OWN = {loc: read_locale(LOCALES_DIR / loc / "LC_MESSAGES") for loc in LOCALES}

PARAMS: dict[str, Any] = {
    "request_id": "r1",
    "number": "2026-000042",
    "kind": "grant",
    "state": "pending",
    "worker_name": "Ville <b>Esimerkki</b>",
    "worker_email": "ville.esimerkki@laukaa.example.fi",
    "worker_job_title": "Ohjaaja",
    "municipality": "laukaa",
    "municipality_name": "Laukaa",
    "area": "pohjoinen-keski-suomi",
    "service_areas": "youth",
    "level": "view",
    "start": "2026-03-02",
    "end": "2026-06-30",
    "urgent": False,
    "requester": "manager@laukaa.example.fi",
    "actor": "system",
    "grant_id": "g1",
    "revoke_reason": "",
    "batch_id": "b1",
    "note": "Hakuja **ilman** asiakkuutta",
}


@pytest.mark.parametrize("key", KEYS)
def test_message_exists_in_every_language_with_the_same_placeholders(key: str) -> None:
    texts = {loc: OWN[loc].get(key, "").strip() for loc in LOCALES}
    assert all(texts.values()), texts
    assert len({placeholders(t) for t in texts.values()}) == 1


@pytest.mark.parametrize("key", KEYS)
def test_message_uses_only_placeholders_the_notifier_renders(
    key: str, directory: Directory
) -> None:
    messages = Translator.load().get("en")
    known = set(render_params(messages, directory, PARAMS, lambda s: s))
    assert placeholders(OWN["en"][key]) <= known


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("key", KEYS)
def test_message_renders_with_dates_in_finnish_style(
    key: str, locale: str, directory: Directory
) -> None:
    template, _, audience = key.rpartition(".")
    item = OutboxItem(
        id="o1",
        request_id="r1",
        template=template,
        audience=audience,
        recipient="someone@laukaa.example.fi",
        params=PARAMS,
        idempotency_key="k",
        attempts=0,
        status="pending",
        created_at=datetime(2026, 3, 2, tzinfo=UTC),
        next_attempt_at=None,
        sent_at=None,
        last_error=None,
    )
    text = render_text(Translator.load().get(locale), directory, item)
    assert "{" not in text and "}" not in text
    assert "<b>" not in text  # names are escaped
    if "{end}" in OWN[locale][key]:
        assert "30.6.2026" in text
