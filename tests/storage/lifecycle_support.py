"""Helpers of the storage lifecycle tests: the example directory, a settable clock,
a service on the SQL unit of work, and a raw snapshot of the domain tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.directory import Directory, load_directory_file
from access.model import RequestDraft, RequestKind
from access.ports import UuidIds
from access.service import AccessService
from storage.domain_tables import (
    AUDIT,
    BATCHES,
    DECISIONS,
    GRANT_EVENTS,
    GRANTS,
    IDEMPOTENCY,
    KEHA_ROWS,
    OUTBOX,
    PEOPLE,
    REQUESTS,
)
from storage.repositories import unit_of_work_factory

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "directory.yaml"
PKS = "pohjoinen-keski-suomi"
MANAGER = "manager@laukaa.example.fi"
MANAGER2 = "manager2@laukaa.example.fi"
KINNULA_MANAGER = "manager@kinnula.example.fi"
VIITASAARI_MANAGER = "manager@viitasaari.example.fi"
APPROVER = "contact@pks-area.example.fi"
DEPUTY = "deputy@pks-area.example.fi"
ADMIN = "admin@pks-area.example.fi"
KUOPIO_APPROVER = "contact@kuopio-area.example.fi"
KUOPIO_ADMIN = "admin@kuopio-area.example.fi"
STRANGER = "someone@elsewhere.example.fi"
NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)

_DIRECTORY: Directory | None = None


def example_directory() -> Directory:
    global _DIRECTORY
    if _DIRECTORY is None:
        _DIRECTORY = load_directory_file(EXAMPLE)
    return _DIRECTORY


class FixedClock:
    def __init__(self, now: datetime = NOW) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def today(self) -> date:
        return self.current.date()

    def advance(self, **delta: float) -> None:
        self.current = self.current + timedelta(**delta)


def make_service(
    session_factory: async_sessionmaker[AsyncSession], clock: FixedClock | None = None
) -> AccessService:
    return AccessService(
        unit_of_work_factory(session_factory),
        example_directory(),
        clock or FixedClock(),
        UuidIds(),
    )


def draft(today: date, **changes: Any) -> RequestDraft:
    base = RequestDraft(
        kind=RequestKind.GRANT,
        municipality="laukaa",
        worker_name="Aino Esimerkki",
        worker_email="aino.esimerkki@laukaa.example.fi",
        worker_job_title="Työllisyyskoordinaattori",
        service_areas=("youth", "guidance"),
        level="view",
        start=today,
        end=today + timedelta(days=180),
        justification="Ohjaamon asiakasohjaus",
        confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
    )
    return replace(base, **changes)


TABLES = {
    "requests": (REQUESTS, "id"),
    "grants": (GRANTS, "id"),
    "grant_events": (GRANT_EVENTS, "id"),
    "decisions": (DECISIONS, "id"),
    "batches": (BATCHES, "id"),
    "keha_rows": (KEHA_ROWS, "id"),
    "audit": (AUDIT, "seq"),
    "outbox": (OUTBOX, "id"),
    "idempotency": (IDEMPOTENCY, "key"),
    "people": (PEOPLE, "person_id"),
}


def person_email(snap: dict[str, list[dict[str, Any]]], ref: str) -> str | None:
    """The e-mail behind an audit row's ``person:<id>`` (audit rows hold no e-mails)."""
    for row in snap["people"]:
        if "person:" + row["person_id"] == ref:
            email: str | None = row["email"]
            return email
    return None


async def snapshot(
    session_factory: async_sessionmaker[AsyncSession],
) -> dict[str, list[dict[str, Any]]]:
    """Every row of every domain table, as plain dicts in key order."""
    out: dict[str, list[dict[str, Any]]] = {}
    async with session_factory() as session:
        for name, (table, key) in TABLES.items():
            rows = (await session.execute(select(table).order_by(table.c[key]))).all()
            out[name] = [dict(r._mapping) for r in rows]
    return out
