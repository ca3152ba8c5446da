"""``atmt-bot serve --workers N``: several processes on one port, one database."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from fakes.botapp import EXAMPLE_DIRECTORY, card_of, texts
from fakes.connector import FakeConnector
from fakes.teams import message

from bot.cli import main
from bot.serve import reserve_port
from dialogs.i18n import Translator

ROOT = Path(__file__).resolve().parents[2]


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


async def test_two_workers_share_the_port_and_the_database(db_url: str, tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.upper().startswith(("MICROSOFTAPP", "ATMT_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        PORT="0",
        HOST="127.0.0.1",
        ATMT_DIRECTORY=str(EXAMPLE_DIRECTORY),
        DATABASE_URL=db_url,
        LOG_LEVEL="WARNING",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "serve",
        "--workers",
        "2",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group: the workers go with it
    )
    try:
        assert process.stdout is not None
        banner = ""
        async with asyncio.timeout(45):
            while not re.search(r"^  workers ", banner, re.MULTILINE):
                line = await process.stdout.readline()
                assert line, "serve exited before it was ready"
                banner += line.decode()
        endpoint = re.search(r"endpoint\s+(http://\S+/api/messages)", banner)
        workers = re.search(r"workers\s+2 processes \((\d+), (\d+)\)", banner)
        assert endpoint is not None and workers is not None, banner
        pids = [int(workers.group(1)), int(workers.group(2))]
        assert len(set(pids)) == 2 and process.pid not in pids
        assert all(_parent_of(pid) == process.pid for pid in pids)
        base = endpoint.group(1).removesuffix("/api/messages")

        help_title = Translator.load().get("fi").t("help.title")
        async with FakeConnector() as connector:
            for n in range(6):  # a new connection each time: the kernel spreads them
                async with aiohttp.ClientSession() as http:
                    async with http.get(base + "/readyz") as response:
                        assert response.status == 200
                    activity = message(
                        connector.service_url,
                        "apua",
                        conversation_id=f"a:serve-{n}",
                        user_id=f"29:serve-{n}",
                        aad_object_id=f"aad-serve-{n}",
                    )
                    async with http.post(endpoint.group(1), json=activity) as response:
                        assert response.status == 200
            sent = connector.sent()
            assert len(sent) == 6
            assert all(texts(card_of(s.body))[0] == help_title for s in sent)
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            await process.wait()
        assert all(_gone(pid) for pid in pids)
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)  # parent and workers, nothing else
        _out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert b"Traceback" not in err


def _gone(pid: int) -> bool:
    """No such process any more (or only its zombie, waiting for init to reap it)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_serve_refuses_zero_workers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ATMT_DIRECTORY", str(EXAMPLE_DIRECTORY))
    assert main(["serve", "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_a_reserved_port_can_be_shared_but_not_taken_without_reuse_port() -> None:
    import socket

    placeholder = reserve_port("127.0.0.1", 0)
    try:
        port = placeholder.getsockname()[1]
        shared = reserve_port("127.0.0.1", port)  # what every worker does
        shared.close()
        plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with pytest.raises(OSError):
            plain.bind(("127.0.0.1", port))
        plain.close()
    finally:
        placeholder.close()
