"""Who may be given access at all, on SQLite and PostgreSQL: only the municipality's
own employees (380/2023 §125.3; 000; 002 §4: the worker's work e-mail is in one of the
municipality's ``email_domains``) and, where the area asks for it, only municipalities
that signed the GDPR art. 28 processing agreement (002 §6). A refused request leaves
nothing behind; approval checks both again against the directory in force."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import yaml
from lifecycle_support import (
    APPROVER,
    EXAMPLE,
    KUOPIO_APPROVER,
    MANAGER,
    FixedClock,
    draft,
    snapshot,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.directory import Directory, parse_directory
from access.errors import PolicyViolations
from access.model import RequestState
from access.policy import Violation
from access.ports import UuidIds
from access.service import AccessService
from storage.repositories import unit_of_work_factory

IISALMI_MANAGER = "manager@iisalmi.example.fi"
KUOPIO_MANAGER = "manager@kuopio.example.fi"


def _example(**municipalities: dict[str, Any]) -> Directory:
    """The example directory with some municipalities' entries changed (``None``
    removes a key)."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for area in data["areas"]:
        for entry in area["municipalities"]:
            for key, value in municipalities.get(entry["code"], {}).items():
                if value is None:
                    entry.pop(key, None)
                else:
                    entry[key] = value
    return parse_directory(data)


class _Switch:
    """A directory source the test changes between two commands."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    def __call__(self) -> Directory:
        return self.directory


def _service(
    session_factory: async_sessionmaker[AsyncSession], directory: _Switch
) -> AccessService:
    return AccessService(unit_of_work_factory(session_factory), directory, FixedClock(), UuidIds())


def _kuopio_draft(today: date, municipality: str, email: str) -> Any:
    return draft(
        today,
        municipality=municipality,
        worker_email=email,
        service_areas=("complementary_training",),
        confirmations=frozenset({"valid_customer_relationship"}),
    )


@pytest.mark.parametrize(
    "email",
    ["someone.private@gmail.example", "aino.esimerkki@viitasaari.example.fi"],
)
async def test_a_worker_outside_the_municipalitys_domains_is_refused_and_nothing_stored(
    session_factory: async_sessionmaker[AsyncSession], email: str
) -> None:
    service = _service(session_factory, _Switch(_example()))
    before = await snapshot(session_factory)
    with pytest.raises(PolicyViolations) as caught:
        await service.requests.submit(
            MANAGER, draft(FixedClock().today(), worker_email=email), idempotency_key="k1"
        )
    assert list(caught.value.violations) == [
        Violation(
            "worker.email_not_municipal",
            "worker_email",
            {
                "municipality": "laukaa",
                "municipality_name": "Laukaa",
                "domains": "laukaa.example.fi",
            },
        )
    ]
    assert await snapshot(session_factory) == before


async def test_a_municipality_without_the_processing_agreement_is_refused_by_name(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # Iisalmi is contracted in the example but has not signed the art. 28 agreement.
    directory = _example(
        iisalmi={"requesters": [IISALMI_MANAGER], "email_domains": ["iisalmi.example.fi"]}
    )
    service = _service(session_factory, _Switch(directory))
    today = FixedClock().today()
    with pytest.raises(PolicyViolations) as caught:
        await service.requests.submit(
            IISALMI_MANAGER,
            _kuopio_draft(today, "iisalmi", "liisa.kokeilu@iisalmi.example.fi"),
            idempotency_key="k1",
        )
    assert list(caught.value.violations) == [
        Violation(
            "municipality.no_processing_agreement",
            "municipality",
            {"municipality": "iisalmi", "municipality_name": "Iisalmi"},
        )
    ]
    # Kuopio signed it: its request needs only the valid customer relationship.
    made = await service.requests.submit(
        KUOPIO_MANAGER,
        _kuopio_draft(today, "kuopio", "kalle.kokeilu@kuopio.example.fi"),
        idempotency_key="k2",
    )
    assert made.state is RequestState.PENDING
    assert made.confirmations == frozenset({"valid_customer_relationship"})


async def test_approval_applies_the_directory_in_force(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    source = _Switch(_example())
    service = _service(session_factory, source)
    today = FixedClock().today()
    kuopio = await service.requests.submit(
        KUOPIO_MANAGER,
        _kuopio_draft(today, "kuopio", "kalle.kokeilu@kuopio.example.fi"),
        idempotency_key="k1",
    )
    laukaa = await service.requests.submit(MANAGER, draft(today), idempotency_key="k2")
    # The agreement is withdrawn and Laukaa moves to a new domain while both wait.
    source.directory = _example(
        kuopio={"processing_agreement": None},
        laukaa={"email_domains": ["uusi-laukaa.example.fi"]},
    )
    with pytest.raises(PolicyViolations) as caught:
        await service.requests.approve(KUOPIO_APPROVER, kuopio.id, idempotency_key="k3")
    assert [v.code for v in caught.value.violations] == ["municipality.no_processing_agreement"]
    with pytest.raises(PolicyViolations) as caught:
        await service.requests.approve(APPROVER, laukaa.id, idempotency_key="k4")
    assert [v.code for v in caught.value.violations] == ["worker.email_not_municipal"]
    source.directory = _example()
    approved = await service.requests.approve(APPROVER, laukaa.id, idempotency_key="k5")
    assert approved.state is RequestState.APPROVED
