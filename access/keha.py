"""The hand-off to KEHA: one flat row per account change, in a fixed column order.

KEHA opens or closes an account "on the notification of the authority that granted
the right" (002 §4). The authority admin queues approved requests into a batch, sends
the batch (the CSV/XLSX writers use :data:`KEHA_COLUMNS` and :func:`handoff_row`) and
records KEHA's confirmation row by row. No personal identity code is collected: KEHA
identifies the user in its own process (DOMAIN "Data protection").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass, fields

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

from access.directory import Directory
from access.model import KehaRow, RequestKind
from access.text import safe_cell  # the one cell-escaping rule of every file written

ACTIONS = {RequestKind.GRANT: "open", RequestKind.CHANGE: "change", RequestKind.REVOKE: "close"}


@dataclass(frozen=True)
class KehaHandoffRow:
    """A row of the hand-off file; every value is already text."""

    batch_id: str
    row_id: str
    request_number: str
    action: str  # open | change | close
    urgent: str  # "yes" | "no"
    worker_name: str
    worker_email: str
    worker_job_title: str
    municipality_code: str
    municipality_name: str
    area_code: str
    service_areas: str  # codes separated by ";"
    access_level: str
    start_date: str  # ISO date or ""
    end_date: str  # ISO date or ""
    approved_by: str  # "" for a revoke, which needs no approval
    approved_at: str  # ISO timestamp (UTC) or ""
    revoke_reason: str
    grant_id: str

    def values(self) -> tuple[str, ...]:
        return tuple(str(v) for v in astuple(self))


KEHA_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(KehaHandoffRow))
"""Column names, in file order."""


def handoff_row(row: KehaRow, directory: Directory | None = None) -> KehaHandoffRow:
    municipality = directory.municipality(row.municipality) if directory is not None else None
    return KehaHandoffRow(
        batch_id=row.batch_id,
        row_id=row.id,
        request_number=row.request_number,
        action=ACTIONS[row.kind],
        urgent="yes" if row.urgent else "no",
        worker_name=row.worker.name,
        worker_email=row.worker.email,
        worker_job_title=row.worker.job_title,
        municipality_code=row.municipality,
        municipality_name=municipality.name if municipality is not None else "",
        area_code=row.area,
        service_areas=";".join(row.service_areas),
        access_level=row.level,
        start_date=row.start.isoformat() if row.start else "",
        end_date=row.end.isoformat() if row.end else "",
        approved_by=row.approved_by or "",
        approved_at=row.approved_at.isoformat() if row.approved_at else "",
        revoke_reason=row.revoke_reason.value if row.revoke_reason else "",
        grant_id=row.grant_id or "",
    )


def handoff_rows(
    rows: Sequence[KehaRow], directory: Directory | None = None
) -> list[KehaHandoffRow]:
    """Urgent rows first, then by request number (a stable, readable order)."""
    ordered = sorted(rows, key=lambda r: (not r.urgent, r.request_number))
    return [handoff_row(r, directory) for r in ordered]


# ------------------------------------------------------------------------ file writers
#
# Every cell of every file the bot writes (these two writers serve KEHA, the reports and
# the audit export) goes through :func:`access.text.safe_cell`.


def table_csv(header: Sequence[str], rows: Sequence[Sequence[str]]) -> bytes:
    """CSV for Finnish Excel: UTF-8 with a byte order mark, ``;`` between fields, CRLF."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def table_xlsx(header: Sequence[str], rows: Sequence[Sequence[str]], *, sheet: str) -> bytes:
    """An XLSX workbook with one sheet: a bold header row, then text cells."""
    workbook = Workbook()
    worksheet = workbook.active
    assert worksheet is not None
    worksheet.title = sheet[:31]
    worksheet.append([safe_cell(h) for h in header])
    for cell in worksheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        worksheet.append([safe_cell(v) for v in row])
    worksheet.freeze_panes = "A2"
    for index, name in enumerate(header, start=1):
        width = max([len(name)] + [len(r[index - 1]) for r in rows]) + 2
        worksheet.column_dimensions[get_column_letter(index)].width = min(width, 60)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def handoff_header(labels: Mapping[str, str] | None = None) -> list[str]:
    """Column titles in file order; ``labels`` (column -> title in the admin's language)
    comes from the bot's catalogs, else the column names are used."""
    return [(labels or {}).get(column, column) for column in KEHA_COLUMNS]


def handoff_csv(
    rows: Sequence[KehaRow],
    directory: Directory | None = None,
    labels: Mapping[str, str] | None = None,
) -> bytes:
    return table_csv(handoff_header(labels), [r.values() for r in handoff_rows(rows, directory)])


def handoff_xlsx(
    rows: Sequence[KehaRow],
    directory: Directory | None = None,
    labels: Mapping[str, str] | None = None,
    *,
    sheet: str = "KEHA",
) -> bytes:
    return table_xlsx(
        handoff_header(labels), [r.values() for r in handoff_rows(rows, directory)], sheet=sheet
    )
