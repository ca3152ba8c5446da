"""Shared helpers of the domain tests: a directory built in code, a settable clock,
predictable ids and a ready-made valid draft. Names and addresses are invented."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from access.directory import Directory, parse_directory
from access.model import RequestDraft, RequestKind

PKS = "pohjoinen-keski-suomi"
KUOPIO = "kuopio"

MANAGER = "manager@laukaa.example.fi"
MANAGER2 = "manager2@laukaa.example.fi"
KINNULA_MANAGER = "manager@kinnula.example.fi"
KUOPIO_MANAGER = "manager@kuopio.example.fi"
APPROVER = "contact@pks-area.example.fi"
DEPUTY = "deputy@pks-area.example.fi"
ADMIN = "admin@pks-area.example.fi"
KUOPIO_APPROVER = "contact@kuopio-area.example.fi"
KUOPIO_ADMIN = "admin@kuopio-area.example.fi"
WORKER = "aino.esimerkki@laukaa.example.fi"
STRANGER = "someone@elsewhere.example.fi"

TODAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def _names(fi: str) -> dict[str, str]:
    return {"fi": fi, "sv": fi, "en": fi}


def directory_data() -> dict[str, Any]:
    return {
        "service_areas": [
            {"code": "youth", **_names("Nuoret")},
            {"code": "integration", **_names("Kotoutujat")},
            {"code": "guidance", **_names("Ohjaus")},
            {"code": "complementary_training", **_names("Täydentävä koulutus")},
        ],
        "access_levels": [
            {"code": "view", **_names("Katselu")},
            {"code": "record", **_names("Katselu ja kirjaus")},
        ],
        "areas": [
            {
                "code": PKS,
                "name": _names("Pohjoisen Keski-Suomen työllisyysalue"),
                "requires": ["customer_consent_form", "worker_agreement"],
                "service_areas": ["youth", "integration", "guidance"],
                "max_grant_months": 12,
                "start_grace_days": 7,
                "pending_limit_days": 14,
                "approvers": [APPROVER],
                "deputies": [DEPUTY],
                "authority_admins": [ADMIN],
                "municipalities": [
                    {
                        "code": "laukaa",
                        "name": "Laukaa",
                        "contracted": True,
                        "email_domains": ["laukaa.example.fi"],
                        "requesters": [MANAGER, MANAGER2],
                    },
                    {
                        "code": "viitasaari",
                        "name": "Viitasaari",
                        "contracted": True,
                        "email_domains": ["viitasaari.example.fi"],
                        "requesters": ["manager@viitasaari.example.fi"],
                    },
                    {
                        "code": "kinnula",
                        "name": "Kinnula",
                        "contracted": False,
                        "email_domains": ["kinnula.example.fi"],
                        "requesters": [KINNULA_MANAGER],
                    },
                ],
            },
            {
                "code": KUOPIO,
                "name": _names("Kuopion työllisyysalue"),
                "requires": ["valid_customer_relationship"],  # 002 §4
                "municipality_requires": ["processing_agreement"],  # 002 §6
                "service_areas": ["complementary_training"],
                "access_levels": ["view"],
                "max_grant_months": 24,
                "approvers": [KUOPIO_APPROVER],
                "authority_admins": [KUOPIO_ADMIN],
                "municipalities": [
                    {
                        "code": "kuopio",
                        "name": "Kuopio",
                        "contracted": True,
                        "processing_agreement": "2025-09-01",
                        "email_domains": ["kuopio.example.fi"],
                        "requesters": [KUOPIO_MANAGER],
                    },
                    {
                        "code": "siilinjarvi",
                        "name": "Siilinjärvi",
                        "contracted": True,
                        "processing_agreement": "2025-10-15",
                        "email_domains": ["siilinjarvi.example.fi"],
                        "agreement_ends": "2026-06-30",
                    },
                ],
            },
        ],
    }


def example_directory(**area_overrides: Any) -> Directory:
    data = directory_data()
    data["areas"][0].update(area_overrides)
    return parse_directory(data)


def valid_draft(**changes: Any) -> RequestDraft:
    draft = RequestDraft(
        kind=RequestKind.GRANT,
        municipality="laukaa",
        worker_name="Aino Esimerkki",
        worker_email=WORKER,
        worker_job_title="Työllisyyskoordinaattori",
        service_areas=("youth", "guidance"),
        level="view",
        start=TODAY,
        end=TODAY + timedelta(days=180),
        justification="Ohjaamon asiakasohjaus",
        confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
    )
    return replace(draft, **changes)


class FixedClock:
    """A clock the test moves by hand; ``today`` follows ``now`` (UTC date is fine for
    the times used here)."""

    def __init__(self, now: datetime = NOW) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def today(self) -> date:
        return self.current.date()

    def advance(self, **delta: float) -> None:
        self.current = self.current + timedelta(**delta)


class SeqIds:
    def __init__(self, prefix: str = "id") -> None:
        self.prefix = prefix
        self.n = 0

    def new_id(self) -> str:
        self.n += 1
        return f"{self.prefix}{self.n:06d}"
