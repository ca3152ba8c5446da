"""The hand-off to KEHA: one flat row per account change, in a fixed column order.

KEHA opens or closes an account "on the notification of the authority that granted
the right" (002 §4). The authority admin queues approved requests into a batch, sends
the batch (the CSV/XLSX writers use :data:`KEHA_COLUMNS` and :func:`handoff_row`) and
records KEHA's confirmation row by row. No personal identity code is collected: KEHA
identifies the user in its own process (DOMAIN "Data protection").

People read the file: times are Helsinki local time to the minute
(``2026-03-02 11:00``), and with ``labels`` from the reader's language a coded value
carries its label too (``view — Katselu``; labels are keyed ``"<column>:<code>"``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import datetime
from zoneinfo import ZoneInfo

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

from access.directory import Directory
from access.model import KehaRow, RequestKind
from access.text import safe_cell  # the one cell-escaping rule of every file written

ACTIONS = {RequestKind.GRANT: "open", RequestKind.CHANGE: "change", RequestKind.REVOKE: "close"}
CANCEL_ACTION = "cancel"
"""A cancellation row: do not carry out (or undo) the sent row of the same request number,
an opening or a change stopped before KEHA confirmed it; always urgent."""
HELSINKI = ZoneInfo("Europe/Helsinki")
LABEL_SEPARATOR = " — "


def local_time(at: datetime) -> str:
    """``"2026-03-02 11:00"``: a timestamp as a person reads it in a file (Helsinki time,
    to the minute)."""
    return at.astimezone(HELSINKI).strftime("%Y-%m-%d %H:%M")


def labelled(column: str, code: str, labels: Mapping[str, str] | None = None) -> str:
    """``code`` with its label from ``labels[f"{column}:{code}"]`` (``"view — Katselu"``);
    the bare code when there is no label or it says nothing more."""
    label = (labels or {}).get(f"{column}:{code}", "")
    return f"{code}{LABEL_SEPARATOR}{label}" if code and label and label != code else code


@dataclass(frozen=True)
class KehaHandoffRow:
    """A row of the hand-off file; every value is already text."""

    batch_id: str
    row_id: str
    request_number: str
    action: str  # open | change | close | cancel (with its label)
    urgent: str  # "yes" | "no" (with its label)
    worker_name: str
    worker_email: str
    worker_job_title: str
    municipality_code: str
    municipality_name: str
    area_code: str  # with the area's name
    service_areas: str  # codes (with names) separated by ";"
    access_level: str  # with its name
    start_date: str  # ISO date or ""
    end_date: str  # ISO date or ""
    approved_by: str  # "" for a revoke, which needs no approval
    approved_at: str  # "YYYY-MM-DD HH:MM", Helsinki time, or ""
    revoke_reason: str  # with its label
    grant_id: str
    effective_date: str  # a close: ISO date the access ends; "" otherwise (column 20)

    def values(self) -> tuple[str, ...]:
        return tuple(str(v) for v in astuple(self))


KEHA_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(KehaHandoffRow))
"""Column names, in file order."""


def handoff_row(
    row: KehaRow,
    directory: Directory | None = None,
    labels: Mapping[str, str] | None = None,
) -> KehaHandoffRow:
    """The file row of a KEHA row; ``labels`` (``"<column>:<code>"`` -> label) add the
    reader's words to the codes."""
    municipality = directory.municipality(row.municipality) if directory is not None else None
    areas = [labelled("service_areas", code, labels) for code in row.service_areas]
    return KehaHandoffRow(
        batch_id=row.batch_id,
        row_id=row.id,
        request_number=row.request_number,
        action=labelled(
            "action", CANCEL_ACTION if row.is_cancellation else ACTIONS[row.kind], labels
        ),
        urgent=labelled("urgent", "yes" if row.urgent else "no", labels),
        worker_name=row.worker.name,
        worker_email=row.worker.email,
        worker_job_title=row.worker.job_title,
        municipality_code=row.municipality,
        municipality_name=municipality.name if municipality is not None else "",
        area_code=labelled("area_code", row.area, labels),
        # bare codes stay "youth;guidance"; with names "youth — Nuoret; guidance — Ohjaus"
        service_areas=("; " if areas != list(row.service_areas) else ";").join(areas),
        access_level=labelled("access_level", row.level, labels),
        start_date=row.start.isoformat() if row.start else "",
        end_date=row.end.isoformat() if row.end else "",
        approved_by=row.approved_by or "",
        approved_at=local_time(row.approved_at) if row.approved_at else "",
        revoke_reason=labelled(
            "revoke_reason", row.revoke_reason.value if row.revoke_reason else "", labels
        ),
        grant_id=row.grant_id or "",
        effective_date=row.effective.isoformat() if row.effective else "",
    )


def handoff_rows(
    rows: Sequence[KehaRow],
    directory: Directory | None = None,
    labels: Mapping[str, str] | None = None,
) -> list[KehaHandoffRow]:
    """Urgent rows first, then by request number (a stable, readable order)."""
    ordered = sorted(rows, key=lambda r: (not r.urgent, r.request_number))
    return [handoff_row(r, directory, labels) for r in ordered]


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
    """Column titles in file order; ``labels`` (column -> title in the admin's language,
    and ``"<column>:<code>"`` -> a value's label) come from the bot's catalogs and the
    directory, else the column names and bare codes are used."""
    return [(labels or {}).get(column, column) for column in KEHA_COLUMNS]


def handoff_csv(
    rows: Sequence[KehaRow],
    directory: Directory | None = None,
    labels: Mapping[str, str] | None = None,
) -> bytes:
    return table_csv(
        handoff_header(labels), [r.values() for r in handoff_rows(rows, directory, labels)]
    )


def handoff_xlsx(
    rows: Sequence[KehaRow],
    directory: Directory | None = None,
    labels: Mapping[str, str] | None = None,
    *,
    sheet: str = "KEHA",
) -> bytes:
    return table_xlsx(
        handoff_header(labels),
        [r.values() for r in handoff_rows(rows, directory, labels)],
        sheet=sheet,
    )
