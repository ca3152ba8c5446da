"""``atmt-bot keha|audit|directory import|retention|report`` on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from fakes.botapp import EXAMPLE_DIRECTORY
from sqlalchemy import text

from access.directory import load_directory_file
from access.model import RequestDraft, RequestKind
from access.service import AccessService
from bot.cli import main
from storage.db import create_engine, create_session_factory
from storage.repositories import unit_of_work_factory

ADMIN = "admin@pks-area.example.fi"
MANAGER = "manager@laukaa.example.fi"
APPROVER = "contact@pks-area.example.fi"
PKS = "pohjoinen-keski-suomi"


async def _seed(db_url: str, count: int) -> None:
    engine = create_engine(db_url)
    try:
        service = AccessService(
            unit_of_work_factory(create_session_factory(engine)),
            load_directory_file(EXAMPLE_DIRECTORY),
        )
        today = service.clock.today()
        for n in range(count):
            request = await service.requests.submit(
                MANAGER,
                RequestDraft(
                    kind=RequestKind.GRANT,
                    municipality="laukaa",
                    worker_name=f"Cli Työntekijä{n}",
                    worker_email=f"cli{n}@laukaa.example.fi",
                    worker_job_title="Ohjaaja",
                    justification="Ohjaamon asiakasohjaus",
                    service_areas=("youth",),
                    level="view",
                    start=today,
                    end=today + timedelta(days=90),
                    confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
                ),
                idempotency_key=f"seed-{n}",
            )
            await service.requests.approve(APPROVER, request.id, idempotency_key=f"approve-{n}")
    finally:
        await engine.dispose()


async def _sql(db_url: str, statement: str) -> None:
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
def cli_env(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.chdir(tmp_path)  # no .env of the developer
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("ATMT_DIRECTORY", str(EXAMPLE_DIRECTORY))
    return db_url


def test_keha_audit_directory_retention_commands(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_seed(cli_env, 2))

    assert main(["keha", "list", "--as", MANAGER]) == 1  # not an admin
    assert "refused" in capsys.readouterr().err
    assert main(["keha", "list", "--as", ADMIN]) == 0
    assert f"{PKS}: 2 approved, not sent" in capsys.readouterr().out

    assert main(["keha", "batch", "--as", ADMIN, "--area", PKS]) == 0
    batch = capsys.readouterr().out.split()[1].rstrip(":")
    out = tmp_path / "keha.csv"
    assert main(["keha", "file", batch, "--as", ADMIN, "--format", "csv", "--out", str(out)]) == 0
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["KEHA-erän tunnus", "Rivin tunnus", "Hakemusnumero"]
    assert sorted(r[5] for r in rows[1:]) == ["Cli Työntekijä0", "Cli Työntekijä1"]
    assert (
        main(["keha", "file", batch, "--as", "admin@kuopio-area.example.fi", "--out", str(out)])
        == 1
    )
    assert main(["keha", "sent", batch, "--as", ADMIN]) == 0
    assert main(["keha", "confirm", batch, "--as", ADMIN, "--note", "OK"]) == 0
    assert "confirmed 2 rows" in capsys.readouterr().out

    assert main(["report", "--area", PKS, "--from", "2026-01", "--to", "2026-12"]) == 0
    report = capsys.readouterr().out
    assert "cli" not in report.lower() and "@" not in report

    assert main(["audit", "verify"]) == 0
    assert "audit chain OK" in capsys.readouterr().out
    jsonl = tmp_path / "audit.jsonl"
    assert main(["audit", "export", "--area", PKS, "--out", str(jsonl)]) == 0
    lines = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert lines and all(line["area"] == PKS for line in lines)
    assert all(line["actor"].startswith("person:") for line in lines)
    assert {line["actor_email"] for line in lines} >= {MANAGER, APPROVER, ADMIN}
    assert main(["audit", "export", "--format", "csv", "--since", "2000-01-01"]) == 0
    assert capsys.readouterr().out.startswith("\ufeffseq;at;actor")

    # Directory import: the difference is shown, then applied and audited.
    content = yaml.safe_load(EXAMPLE_DIRECTORY.read_text(encoding="utf-8"))
    content["areas"][0]["municipalities"][1]["agreement_ends"] = date(2026, 12, 31)
    changed = tmp_path / "directory.yaml"
    changed.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    assert main(["directory", "import", str(changed), "--dry-run"]) == 0
    assert "~ municipality viitasaari agreement_ends:  -> 2026-12-31" in capsys.readouterr().out
    assert main(["directory", "import", str(changed)]) == 0
    assert "directory version 1 is now in use" in capsys.readouterr().out
    assert main(["directory", "import", str(changed)]) == 0
    assert "no changes" in capsys.readouterr().out
    assert main(["directory", "agreement-end", "laukaa", "2027-01-31"]) == 0
    assert "~ municipality laukaa agreement_ends:  -> 2027-01-31" in capsys.readouterr().out
    broken = tmp_path / "broken.yaml"
    broken.write_text("areas: 3\n", encoding="utf-8")
    assert main(["directory", "import", str(broken)]) == 1

    assert main(["retention", "run"]) == 0
    assert "0 grants" in capsys.readouterr().out
    assert main(["audit", "verify"]) == 0
    capsys.readouterr()

    # Tampering is found, and the first broken row is named.
    asyncio.run(_sql(cli_env, "UPDATE audit_log SET action = 'x' WHERE seq = 3"))
    assert main(["audit", "verify"]) == 1
    assert "BROKEN at row 3" in capsys.readouterr().out
