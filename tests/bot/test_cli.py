"""``atmt-bot``: directory check, migrate, and run end to end over real HTTP."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import aiohttp
import pytest
from fakes.botapp import EXAMPLE_DIRECTORY, card_of, texts
from fakes.connector import FakeConnector
from fakes.teams import message

from bot.cli import main
from dialogs.i18n import Translator

ROOT = Path(__file__).resolve().parents[2]


def test_directory_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["directory", "check", str(EXAMPLE_DIRECTORY)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{EXAMPLE_DIRECTORY}: OK – 3 areas")


def test_directory_check_lists_every_problem_with_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    text = EXAMPLE_DIRECTORY.read_text(encoding="utf-8")
    text = text.replace("max_grant_months: 12", "max_grant_months: -1", 1)
    text = text.replace("default_locale: fi", "default_locale: de", 1)
    bad.write_text(text, encoding="utf-8")
    assert main(["directory", "check", str(bad)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith(f"{bad}: areas[0].max_grant_months") for line in lines)
    assert any(line.startswith(f"{bad}: areas[0].default_locale") for line in lines)
    assert lines[-1] == f"{bad}: {len(lines) - 1} problems"


def test_directory_check_warns_of_a_requester_municipality_without_domains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["directory", "check", str(EXAMPLE_DIRECTORY)]) == 0
    assert "warning" not in capsys.readouterr().out
    bare = tmp_path / "bare.yaml"
    text = EXAMPLE_DIRECTORY.read_text(encoding="utf-8")
    bare.write_text(text.replace("email_domains: [laukaa.example.fi], ", ""), encoding="utf-8")
    assert main(["directory", "check", str(bare)]) == 0  # it loads; Laukaa's requests fail
    ok, warning = capsys.readouterr().out.splitlines()
    assert ok.startswith(f"{bare}: OK")
    assert warning.startswith(f"{bare}: warning: areas[0].municipalities[0].email_domains: ")
    assert "'laukaa'" in warning


def test_directory_check_of_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["directory", "check", str(tmp_path / "nope.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().out


def test_usage_error_is_exit_2() -> None:
    with pytest.raises(SystemExit) as caught:
        main(["no-such-command"])
    assert caught.value.code == 2


def test_migrate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///var/test.sqlite3")
    assert main(["migrate"]) == 0
    assert (tmp_path / "var" / "test.sqlite3").exists()
    assert "is at revision" in capsys.readouterr().out
    assert main(["migrate"]) == 0  # idempotent


async def test_run_serves_the_bot_over_real_http(tmp_path: Path) -> None:
    """What ``make run`` does: migrate, start, answer a Teams message via a connector."""
    env = {
        k: v for k, v in os.environ.items() if not k.upper().startswith(("MICROSOFTAPP", "ATMT_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        PORT="0",
        HOST="127.0.0.1",
        ATMT_DIRECTORY=str(EXAMPLE_DIRECTORY),
        DATABASE_URL="sqlite:///var/atmt.sqlite3",
        LOG_LEVEL="WARNING",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        banner = ""
        async with asyncio.timeout(30):
            while "Stop with Ctrl+C." not in banner:
                line = await process.stdout.readline()
                assert line, "the bot exited before it was ready"
                banner += line.decode()
        endpoint = re.search(r"endpoint\s+(http://\S+/api/messages)", banner)
        assert endpoint is not None, banner
        assert "local anonymous" in banner
        base = endpoint.group(1).removesuffix("/api/messages")

        async with FakeConnector() as connector, aiohttp.ClientSession() as http:
            for path in ("/healthz", "/readyz"):
                async with http.get(base + path) as response:
                    assert response.status == 200, path
            activity = message(connector.service_url, "apua")
            async with http.post(endpoint.group(1), json=activity) as response:
                assert response.status == 200
            [sent] = connector.sent()
            assert texts(card_of(sent.body))[0] == Translator.load().get("fi").t("help.title")
    finally:
        if process.returncode is None:
            process.terminate()
        _out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert b"Traceback" not in err


def test_run_on_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    import socket
    import subprocess

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ATMT_")}
        env.update(
            PYTHONPATH=str(ROOT),
            PORT=str(port),
            HOST="127.0.0.1",
            ATMT_DIRECTORY=str(EXAMPLE_DIRECTORY),
            DATABASE_URL="sqlite:///var/atmt.sqlite3",
            LOG_LEVEL="WARNING",
        )
        result = subprocess.run(
            [sys.executable, "-m", "bot.cli", "run"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
