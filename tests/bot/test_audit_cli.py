"""``atmt-bot audit checkpoint`` and ``audit verify --checkpoint FILE|TEXT`` :
a checkpoint from before a cut exposes it; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from fakes.botapp import EXAMPLE_DIRECTORY
from sqlalchemy import text

from access.audit import parse_checkpoints
from bot.cli import main
from dialogs.cards.markup import plain
from storage.db import create_engine

AUDIT_KEY = "cli-test audit key, long enough to be accepted"
MANAGER = "manager@laukaa.example.fi"
PKS = "pohjoinen-keski-suomi"


async def _cut_to(db_url: str, seq: int) -> None:
    """Delete the rows after ``seq`` and move the head back: a DB writer's truncation."""
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM audit_log WHERE seq > :s"), {"s": seq})
            await conn.execute(
                text(
                    "UPDATE audit_chain_head SET seq = :s, "
                    "hash = (SELECT hash FROM audit_log WHERE seq = :s) WHERE id = 1"
                ),
                {"s": seq},
            )
    finally:
        await engine.dispose()


@pytest.fixture
def cli_env(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.chdir(tmp_path)  # no .env of the developer
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("ATMT_DIRECTORY", str(EXAMPLE_DIRECTORY))
    monkeypatch.setenv("ATMT_AUDIT_KEY", AUDIT_KEY)
    return db_url


def test_a_checkpoint_from_before_a_cut_exposes_it(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "checkpoint"]) == 1  # an empty trail has nothing to anchor
    assert "empty" in capsys.readouterr().err
    # Audited commands of the CLI, chained with its key (ATMT_AUDIT_KEY).
    assert main(["directory", "import", str(EXAMPLE_DIRECTORY)]) == 0
    capsys.readouterr()
    assert main(["keha", "list", "--as", MANAGER, "--area", PKS]) == 1  # an audited denial
    capsys.readouterr()

    assert main(["audit", "checkpoint"]) == 0
    out = capsys.readouterr()
    [checkpoint] = parse_checkpoints(out.out)
    assert out.out.strip() == checkpoint.text
    assert f"row {checkpoint.seq}" in out.err
    assert checkpoint.seq == 2

    assert main(["audit", "verify", "--checkpoint", checkpoint.text]) == 0
    out = capsys.readouterr().out
    assert "audit chain OK: 3 rows" in out and "contains the checkpoint" in out

    # The admin's chat message as pasted (Teams Markdown escapes, wrapped lines).
    message = tmp_path / "message.txt"
    message.write_text(
        "Audit trail checkpoint of 2.3.2026. Checkpoint: "
        + re.sub(r"(.{50})", "\\1\n", plain(checkpoint.text)),
        encoding="utf-8",
    )
    assert main(["audit", "verify", "--checkpoint", str(message)]) == 0
    capsys.readouterr()

    asyncio.run(_cut_to(cli_env, 1))
    assert main(["audit", "verify"]) == 0  # a shorter trail is still a chain
    capsys.readouterr()
    assert main(["audit", "verify", "--checkpoint", str(message)]) == 1
    out = capsys.readouterr().out
    assert "BROKEN at row 2" in out and "rows 2..2 were removed" in out
    assert "docs/operations.md" in out


def test_bad_checkpoints_are_refused(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["directory", "import", str(EXAMPLE_DIRECTORY)]) == 0
    assert main(["audit", "checkpoint"]) == 0
    [checkpoint] = parse_checkpoints(capsys.readouterr().out)

    assert main(["audit", "verify", "--checkpoint", "no checkpoint here"]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["audit", "verify", "--checkpoint", "/nonexistent/file"]) == 2
    capsys.readouterr()
    forged = checkpoint.text[:-1] + ("0" if checkpoint.text[-1] != "0" else "1")
    assert main(["audit", "verify", "--checkpoint", forged]) == 1
    assert "bad signature" in capsys.readouterr().out
