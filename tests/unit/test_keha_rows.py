"""The KEHA hand-off rows: fixed columns, text values, urgent rows first."""

from __future__ import annotations

from datetime import UTC, date, datetime

from domain_support import APPROVER, example_directory

from access.keha import KEHA_COLUMNS, handoff_row, handoff_rows, local_time
from access.model import KehaRow, KehaRowState, RequestKind, RevokeReason, Worker

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def row(number: str, kind: RequestKind, urgent: bool = False) -> KehaRow:
    return KehaRow(
        id=f"row-{number}",
        batch_id="b1",
        request_id=f"req-{number}",
        request_number=number,
        area="pohjoinen-keski-suomi",
        municipality="laukaa",
        kind=kind,
        urgent=urgent,
        state=KehaRowState.QUEUED,
        version=1,
        worker=Worker("Aino Esimerkki", "aino@laukaa.example.fi", "Ohjaaja", "laukaa"),
        service_areas=("youth", "guidance"),
        level="view",
        start=date(2026, 3, 2),
        end=date(2026, 8, 31) if kind is not RequestKind.REVOKE else None,
        grant_id=None if kind is RequestKind.GRANT else "g1",
        created_at=AT,
        approved_by=APPROVER if kind is not RequestKind.REVOKE else None,
        approved_at=AT if kind is not RequestKind.REVOKE else None,
        revoke_reason=RevokeReason.EMPLOYMENT_ENDED if kind is RequestKind.REVOKE else None,
    )


def test_columns_and_values() -> None:
    assert KEHA_COLUMNS[:4] == ("batch_id", "row_id", "request_number", "action")
    assert "henkilotunnus" not in " ".join(KEHA_COLUMNS)  # no identity code is collected
    out = handoff_row(row("2026-000001", RequestKind.GRANT), example_directory())
    values = dict(zip(KEHA_COLUMNS, out.values(), strict=True))
    assert values["action"] == "open" and values["urgent"] == "no"
    assert values["municipality_name"] == "Laukaa"
    assert values["service_areas"] == "youth;guidance"
    assert values["start_date"] == "2026-03-02" and values["end_date"] == "2026-08-31"
    assert values["approved_by"] == APPROVER
    assert values["approved_at"] == "2026-03-02 11:00"  # Helsinki time, no seconds
    assert all(isinstance(v, str) for v in out.values())


def test_urgent_rows_come_first() -> None:
    rows = [
        row("2026-000001", RequestKind.GRANT),
        row("2026-000003", RequestKind.REVOKE, urgent=True),
        row("2026-000002", RequestKind.CHANGE),
    ]
    out = handoff_rows(rows)
    assert [(r.request_number, r.action) for r in out] == [
        ("2026-000003", "close"),
        ("2026-000001", "open"),
        ("2026-000002", "change"),
    ]
    assert out[0].end_date == "" and out[0].revoke_reason == "employment_ended"
    assert out[0].approved_by == ""


def test_times_are_helsinki_local_to_the_minute() -> None:
    assert local_time(datetime(2026, 3, 2, 9, 0, 59, 123456, tzinfo=UTC)) == "2026-03-02 11:00"
    assert local_time(datetime(2026, 7, 1, 21, 30, tzinfo=UTC)) == "2026-07-02 00:30"  # EEST
