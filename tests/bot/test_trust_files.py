"""Every file the bot writes escapes formula cells the same way: the KEHA hand-off (CSV
and XLSX), the reports and the audit export, with
the full-width forms of ``= + - @`` (U+FF1D, U+FF0B, U+FF0D, U+FF20) too.

The files are made by ``atmt-bot`` on SQLite and PostgreSQL, from requests whose
worker names a manager typed.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from fakes.botapp import EXAMPLE_DIRECTORY
from openpyxl import load_workbook

from access import keha, reports, text
from access.directory import load_directory_file
from access.errors import AccessDenied
from access.model import RequestDraft, RequestKind
from access.service import AccessService
from bot.cli import main
from storage.db import create_engine, create_session_factory
from storage.repositories import unit_of_work_factory

ADMIN = "admin@pks-area.example.fi"
MANAGER = "manager@laukaa.example.fi"
APPROVER = "contact@pks-area.example.fi"
PKS = "pohjoinen-keski-suomi"
# Names a manager can type; a spreadsheet would run each as a formula.
NAMES = (
    '\uff1dHYPERLINK("https://evil.example";"Avaa")',  # ＝ full-width equals
    "\uff0b1+cmd",  # ＋
    "\uff0d2+3",  # －
    "\uff20SUM(1;2)",  # ＠
    "=1+1",
    "\u200b=2+2",  # behind a zero-width space
)
# An actor whose address starts like a formula (a UPN may start with "-").
INTRUDER = "-2+3@evil.example"


async def _seed(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        service = AccessService(
            unit_of_work_factory(create_session_factory(engine)),
            load_directory_file(EXAMPLE_DIRECTORY),
        )
        today = service.clock.today()
        for n, name in enumerate(NAMES):
            request = await service.requests.submit(
                MANAGER,
                RequestDraft(
                    kind=RequestKind.GRANT,
                    municipality="laukaa",
                    worker_name=name,
                    worker_email=f"file{n}@laukaa.example.fi",
                    worker_job_title="\uff1d1",
                    justification="Ohjaamon asiakasohjaus",
                    service_areas=("youth",),
                    level="view",
                    start=today,
                    end=today + timedelta(days=90),
                    confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
                ),
                idempotency_key=f"file-{n}",
            )
            await service.requests.approve(
                APPROVER, request.id, idempotency_key=f"file-approve-{n}"
            )
        with pytest.raises(AccessDenied):  # audited as access.denied, by address
            await service.requests.approve(INTRUDER, request.id, idempotency_key="file-intruder")
    finally:
        await engine.dispose()


def _is_formula(cell: str) -> bool:
    visible = cell.lstrip(" \u200b")
    return visible[:1] in set("=+-@\uff1d\uff0b\uff0d\uff20")


def test_keha_files_and_the_audit_export_escape_every_formula_cell(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("ATMT_DIRECTORY", str(EXAMPLE_DIRECTORY))
    asyncio.run(_seed(db_url))
    assert main(["keha", "batch", "--as", ADMIN, "--area", PKS]) == 0
    batch = capsys.readouterr().out.split()[1].rstrip(":")

    out = tmp_path / "keha.csv"
    assert main(["keha", "file", batch, "--as", ADMIN, "--format", "csv", "--out", str(out)]) == 0
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig")), delimiter=";"))
    names = sorted(r[5] for r in rows[1:])
    # (the zero-width space went when the request was made: access.model)
    assert names == sorted("'" + text.strip_invisible(n) for n in NAMES)
    assert {r[7] for r in rows[1:]} == {"'\uff1d1"}  # the job title
    assert not [c for r in rows for c in r if _is_formula(c)]

    out = tmp_path / "keha.xlsx"
    assert main(["keha", "file", batch, "--as", ADMIN, "--format", "xlsx", "--out", str(out)]) == 0
    sheet = load_workbook(out).active
    assert sheet is not None
    cells = [c for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]
    assert sorted(c.value for c in cells if c.column == 6 and c.row > 1) == names
    assert not [c for c in cells if _is_formula(c.value) or c.data_type == "f"]

    out = tmp_path / "audit.csv"
    assert main(["audit", "export", "--format", "csv", "--out", str(out)]) == 0
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["seq", "at", "actor"]
    emails = {r[3] for r in rows[1:]}
    assert "'" + INTRUDER in emails
    assert not [c for r in rows for c in r if _is_formula(c)]


def test_one_cell_escaping_function_for_every_writer() -> None:
    """KEHA, the reports and the audit export (``atmt-bot audit export``) all write with
    ``access.keha.table_csv`` / ``table_xlsx``, which use ``access.text.safe_cell``."""
    assert keha.safe_cell is text.safe_cell
    assert reports.table_csv is keha.table_csv and reports.table_xlsx is keha.table_xlsx
    data = keha.table_csv(["\uff20h"], [["\uff0bx"], ["ok"]]).decode("utf-8-sig")
    assert data.splitlines() == ["'\uff20h", "'\uff0bx", "ok"]
