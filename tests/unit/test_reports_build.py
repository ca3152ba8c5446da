"""Pure parts of the authority's tools: report building, the audit pseudonymisation, the
file writers, the retention plan and the chart."""

from __future__ import annotations

import csv
import io
import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from access.audit import emails_in, pseudonymised
from access.directory import load_directory_file
from access.keha import safe_cell, table_csv, table_xlsx
from access.model import (
    AccessRequest,
    AuditDraft,
    Grant,
    GrantEvent,
    GrantEventKind,
    GrantState,
    RequestKind,
    RequestState,
    Worker,
)
from access.reports import REPORT_COLUMNS, build_report, month_of, months_between
from access.retention import cutoff, plan
from dialogs.charts import bar_chart_png

DIRECTORY = load_directory_file(Path(__file__).resolve().parents[2] / "examples" / "directory.yaml")
PKS = "pohjoinen-keski-suomi"
T0 = datetime(2026, 1, 31, 22, 30, tzinfo=UTC)  # 1 February in Helsinki


def _request(
    n: int, state: RequestState, at: datetime, kind: RequestKind = RequestKind.GRANT
) -> AccessRequest:
    return AccessRequest(
        id=f"r{n}",
        number=f"2026-{n:06d}",
        kind=kind,
        state=state,
        version=1,
        worker=Worker(f"Nimi Sukunimi{n}", f"w{n}@laukaa.example.fi", "Ohjaaja", "laukaa"),
        municipality="laukaa",
        area=PKS,
        service_areas=("youth",),
        level="view",
        start=at.date(),
        end=at.date() + timedelta(days=30),
        justification="x",
        confirmations=frozenset(),
        requester="manager@laukaa.example.fi",
        created_by="manager@laukaa.example.fi",
        created_at=at,
        updated_at=at,
    )


def _grant(n: int, opened: datetime, removed: datetime | None) -> Grant:
    history = [GrantEvent(opened, GrantEventKind.OPENED, f"r{n}", ("youth",), "view", None)]
    if removed is not None:
        history.append(
            GrantEvent(removed, GrantEventKind.REMOVED, f"x{n}", ("youth",), "view", None)
        )
    return Grant(
        id=f"g{n}",
        worker=Worker(f"Nimi Sukunimi{n}", f"w{n}@laukaa.example.fi", "Ohjaaja", "laukaa"),
        municipality="laukaa",
        area=PKS,
        service_areas=("youth",),
        level="view",
        start=opened.date(),
        end=opened.date() + timedelta(days=90),
        state=GrantState.REMOVED if removed else GrantState.ACTIVE,
        version=1,
        origin_request_id=f"r{n}",
        requested_by="manager@laukaa.example.fi",
        created_at=opened,
        updated_at=removed or opened,
        history=tuple(history),
    )


def test_months_and_helsinki_calendar() -> None:
    assert month_of(T0) == "2026-02"
    assert months_between(date(2025, 11, 5), date(2026, 2, 1)) == [
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
    ]


def test_report_counts_outcomes_active_grants_and_has_no_names() -> None:
    requests = [
        _request(1, RequestState.DONE, T0),
        _request(2, RequestState.REJECTED, T0),
        _request(3, RequestState.PENDING, T0 + timedelta(days=3)),
        _request(4, RequestState.DONE, T0 + timedelta(days=40), RequestKind.REVOKE),
    ]
    grants = [_grant(1, T0 + timedelta(days=2), T0 + timedelta(days=41))]
    report = build_report(
        DIRECTORY,
        PKS,
        date(2026, 2, 1),
        date(2026, 3, 31),
        requests=requests,
        decisions={},
        keha_rows=[],
        grants=grants,
    )
    feb = next(r for r in report.rows if r.municipality == "laukaa" and r.month == "2026-02")
    mar = next(r for r in report.rows if r.municipality == "laukaa" and r.month == "2026-03")
    assert feb.requests["grant"] == {
        "approved": 1,
        "rejected": 1,
        "cancelled": 0,
        "expired": 0,
        "open": 1,
    }
    assert mar.requests["revoke"]["approved"] == 1
    assert (feb.active_grants, mar.active_grants) == (1, 0)
    assert report.monthly_totals() == [("2026-02", 3, 1), ("2026-03", 1, 0)]
    assert len(report.rows) == 2 * len(DIRECTORY.area(PKS).municipalities)  # type: ignore[union-attr]
    text = report.csv().decode("utf-8-sig")
    assert text.splitlines()[0].split(";") == list(REPORT_COLUMNS)
    assert "@" not in text and "nimi" not in text.lower()
    assert report.months == ["2026-02", "2026-03"]
    named = report.csv({"month:2026-02": "helmikuu 2026", "month:2026-03": "maaliskuu 2026"})
    lines = named.decode("utf-8-sig").splitlines()[1:]
    assert {line.split(";")[2] for line in lines} == {"helmikuu 2026", "maaliskuu 2026"}


def test_audit_drafts_lose_every_email() -> None:
    draft = AuditDraft(
        at=T0,
        actor="Admin@PKS-area.example.fi",
        action="access.denied",
        request_id=None,
        details={
            "target": "w1@laukaa.example.fi",
            "nested": {"list": ["x", "w2@laukaa.example.fi"]},
        },
    )
    assert emails_in(draft) == {
        "admin@pks-area.example.fi",
        "w1@laukaa.example.fi",
        "w2@laukaa.example.fi",
    }
    refs = {e: f"person:{i}" for i, e in enumerate(sorted(emails_in(draft)))}
    clean = pseudonymised(draft, refs)
    assert "@" not in repr(clean.actor) + repr(clean.details)
    with pytest.raises(ValueError):
        pseudonymised(draft, {})


def test_csv_and_xlsx_writers_protect_against_formulas() -> None:
    rows = [['=HYPERLINK("x")', 'Åsa; "Öhman"', "+1"]]
    data = table_csv(["a", "b", "c"], rows)
    assert data.startswith(b"\xef\xbb\xbf")
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert parsed[1] == ['\'=HYPERLINK("x")', 'Åsa; "Öhman"', "'+1"]
    sheet = load_workbook(io.BytesIO(table_xlsx(["a", "b", "c"], rows, sheet="S"))).active
    assert [c.value for c in sheet[2]] == parsed[1]
    assert safe_cell("Aino") == "Aino"


def test_retention_plan_and_cutoff() -> None:
    now = datetime(2028, 2, 29, 12, tzinfo=UTC)
    assert cutoff(now, 3) == datetime(2025, 2, 28, 12, tzinfo=UTC)
    assert cutoff(now, 4) == datetime(2024, 2, 29, 12, tzinfo=UTC)
    old = _grant(1, datetime(2021, 1, 1, tzinfo=UTC), datetime(2022, 1, 1, tzinfo=UTC))
    recent = _grant(2, datetime(2021, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
    active = _grant(3, datetime(2021, 1, 1, tzinfo=UTC), None)
    rejected = _request(9, RequestState.REJECTED, datetime(2020, 5, 1, tzinfo=UTC))
    revoke = replace_grant_id(
        _request(8, RequestState.DONE, datetime(2021, 12, 1, tzinfo=UTC)), "g1"
    )
    result = plan([old, recent, active], [rejected, revoke], before=cutoff(now, 4))
    assert result.grant_ids == ("g1",)
    assert result.request_ids == ("r1", "r8", "r9")


def replace_grant_id(request: AccessRequest, grant_id: str) -> AccessRequest:
    from dataclasses import replace

    return replace(request, grant_id=grant_id, kind=RequestKind.REVOKE)


def test_chart_is_a_valid_small_png() -> None:
    png = bar_chart_png([0, 3, 7, 1], width=120, height=40)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) < 2000
    idat = png.index(b"IDAT")
    length = int.from_bytes(png[idat - 4 : idat], "big")
    raw = zlib.decompress(png[idat + 4 : idat + 4 + length])
    assert len(raw) == 40 * (1 + 120 * 3)
