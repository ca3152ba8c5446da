"""Reports over a generated year: the report's numbers equal
counts computed independently here, and no report holds a person's name or e-mail."""

from __future__ import annotations

import csv
import io
import random
import statistics
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from authority_support import key, make_services
from lifecycle_support import (
    ADMIN,
    APPROVER,
    MANAGER,
    PKS,
    VIITASAARI_MANAGER,
    FixedClock,
    draft,
    example_directory,
)
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.errors import AccessDenied
from access.model import RequestKind, RevokeReason
from access.reports import KINDS, OUTCOMES

HKI = ZoneInfo("Europe/Helsinki")


def _month(at: datetime) -> str:
    return at.astimezone(HKI).strftime("%Y-%m")


class _SeededIds:
    """Ids as random as uuid4's, from a seed: the same year of data on every run."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def new_id(self) -> str:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4).hex


async def test_year_of_data_matches_independent_counts(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    rng = random.Random(7)
    clock = FixedClock(datetime(2025, 1, 3, 7, 0, tzinfo=UTC))
    ids = _SeededIds(random.Random(8))
    s = make_services(session_factory, example_directory(), clock=clock, ids=ids)
    counts: Counter[tuple[str, str, str, str]] = Counter()  # municipality, month, kind, outcome
    to_decision: dict[tuple[str, str], list[float]] = defaultdict(list)
    to_keha: dict[tuple[str, str], list[float]] = defaultdict(list)
    spans: list[tuple[str, datetime, datetime | None]] = []  # municipality, opened, removed
    names: list[str] = []

    async def keha_round(pending: list[tuple[str, str, datetime, datetime, str]]) -> None:
        """Confirm every approved request; record days decision -> confirmation."""
        if not pending:
            return
        batch = await s.authority.create_batch(ADMIN, PKS, idempotency_key=key("b"))
        clock.advance(days=1)
        await s.authority.mark_sent(ADMIN, batch.id, idempotency_key=key("s"))
        clock.advance(days=rng.randint(0, 3), hours=2)
        await s.authority.confirm_batch(ADMIN, batch.id, idempotency_key=key("c"))
        for municipality, month, decided, _created, _kind in pending:
            to_keha[(municipality, month)].append((clock.now() - decided) / timedelta(days=1))

    opened: dict[str, tuple[str, datetime]] = {}  # grant id -> (municipality, opened at)
    removed: dict[str, datetime] = {}
    n = 0
    for week in range(50):
        clock.current = datetime(2025, 1, 3, 7, 0, tzinfo=UTC) + timedelta(weeks=week)
        pending: list[tuple[str, str, datetime, datetime, str]] = []
        for _ in range(rng.randint(0, 2)):
            n += 1
            municipality = rng.choice(["laukaa", "viitasaari"])
            manager = MANAGER if municipality == "laukaa" else VIITASAARI_MANAGER
            name = f"Raportti Henkilö{n}"
            names.append(name)
            created = clock.now()
            request = await s.access.requests.submit(
                manager,
                draft(
                    clock.today(),
                    municipality=municipality,
                    worker_name=name,
                    worker_email=f"raportti{n}@{municipality}.example.fi",
                ),
                idempotency_key=key("sub"),
            )
            month = _month(created)
            clock.advance(hours=rng.randint(1, 90))
            fate = rng.choice(["approve", "approve", "approve", "reject", "cancel", "open"])
            if fate == "approve":
                await s.access.requests.approve(APPROVER, request.id, idempotency_key=key("a"))
                to_decision[(municipality, month)].append(
                    (clock.now() - created) / timedelta(days=1)
                )
                pending.append((municipality, month, clock.now(), created, "grant"))
                counts[(municipality, month, "grant", "approved")] += 1
            elif fate == "reject":
                await s.access.requests.reject(
                    APPROVER, request.id, "Ei perusteita", idempotency_key=key("r")
                )
                to_decision[(municipality, month)].append(
                    (clock.now() - created) / timedelta(days=1)
                )
                counts[(municipality, month, "grant", "rejected")] += 1
            elif fate == "cancel":
                await s.access.requests.cancel(manager, request.id, idempotency_key=key("x"))
                counts[(municipality, month, "grant", "cancelled")] += 1
            else:
                counts[(municipality, month, "grant", "open")] += 1
        await keha_round(pending)
        for grant in await s.access.queries.list_grants_for(ADMIN):
            opened.setdefault(grant.id, (grant.municipality, clock.now()))
        # Now and then a municipality revokes one (urgent, no approval).
        live = sorted(g for g in opened if g not in removed)
        if live and rng.random() < 0.3:
            grant_id = rng.choice(live)
            municipality = opened[grant_id][0]
            clock.advance(hours=3)
            created = clock.now()
            await s.access.requests.revoke_by_municipality(
                MANAGER if municipality == "laukaa" else VIITASAARI_MANAGER,
                grant_id,
                RevokeReason.TASKS_CHANGED,
                idempotency_key=key("rv"),
            )
            month = _month(created)
            counts[(municipality, month, "revoke", "approved")] += 1
            await keha_round([(municipality, month, created, created, "revoke")])
            removed[grant_id] = clock.now()
    spans = [(m, at, removed.get(g)) for g, (m, at) in opened.items()]

    report = await s.authority.report(ADMIN, PKS, date(2025, 1, 1), date(2025, 12, 31))
    assert len(report.rows) == 12 * len(
        {m.code for m in example_directory().area(PKS).municipalities}
    )  # type: ignore[union-attr]
    total = 0
    for row in report.rows:
        for kind in KINDS:
            for outcome in OUTCOMES:
                expected = counts[(row.municipality, row.month, kind, outcome)]
                assert row.requests[kind][outcome] == expected, (
                    row.municipality,
                    row.month,
                    kind,
                    outcome,
                )
                total += expected
        decided = to_decision.get((row.municipality, row.month), [])
        assert row.median_days_to_decision == (
            round(statistics.median(decided), 1) if decided else None
        )
        confirmed = to_keha.get((row.municipality, row.month), [])
        assert row.median_days_to_keha == (
            round(statistics.median(confirmed), 1) if confirmed else None
        )
        month_end = datetime(int(row.month[:4]), int(row.month[5:]), 1, tzinfo=HKI)
        month_end = (month_end + timedelta(days=32)).replace(day=1)
        active = sum(
            1
            for m, opened, removed in spans
            if m == row.municipality
            and opened < month_end
            and (removed is None or removed >= month_end)
        )
        assert row.active_grants == active, (row.municipality, row.month)
    assert total == sum(counts.values()) > 40
    print(  # the figures of the report (pytest -s)
        f"year: {total} requests, {len(opened)} grants opened, {len(removed)} removed, "
        f"{sum(len(v) for v in to_keha.values())} KEHA confirmations, {len(report.rows)} rows"
    )

    # Files: CSV and XLSX hold the same cells; no name, no e-mail anywhere.
    data = report.csv()
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert len(lines) == len(report.rows) + 1
    sheet = load_workbook(io.BytesIO(report.xlsx())).active
    cells = [[c if c is not None else "" for c in r] for r in sheet.iter_rows(values_only=True)]
    assert cells == lines
    text = data.decode("utf-8-sig").lower()
    assert "@" not in text
    assert not any(name.lower() in text for name in names)
    assert "raportti" not in text and "henkilö" not in text


@pytest.mark.parametrize("outsider", [MANAGER, "admin@kuopio-area.example.fi"])
async def test_report_is_for_the_areas_staff_only(
    session_factory: async_sessionmaker[AsyncSession], outsider: str
) -> None:
    s = make_services(session_factory, example_directory())
    with pytest.raises(AccessDenied):
        await s.authority.report(outsider, PKS, date(2026, 1, 1), date(2026, 3, 31))
    assert (await s.authority.report(APPROVER, PKS, date(2026, 1, 1), date(2026, 3, 31))).rows
    assert RequestKind.GRANT.value in KINDS
