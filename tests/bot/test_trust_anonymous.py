"""Anonymous mode is for the developer's own machine.

Seen: ``HOST=0.0.0.0 atmt-bot run`` without ``MicrosoftAppId`` accepted an
unauthenticated POST whose ``serviceUrl`` was the caller's, believed that "connector"
about who the user was, sent the replies (the admin's report card, download links)
there and made outbound requests wherever told (SSRF).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from conftest import StartBot
from fakes.botapp import EXAMPLE_DIRECTORY, make_settings, post_activity
from fakes.connector import FakeConnector
from fakes.teams import message
from sqlalchemy import func, select

from bot.config import is_loopback_host, is_loopback_url
from storage.db import create_engine
from storage.models import BotState, ConversationRef

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.upper().startswith(("MICROSOFTAPP", "ATMT_"))
    }
    clean.update(
        PYTHONPATH=str(ROOT),
        ATMT_DIRECTORY=str(EXAMPLE_DIRECTORY),
        DATABASE_URL="sqlite:///var/atmt.sqlite3",
        PORT="0",
        **env,
    )
    # Its own process group: a bot (and ``serve``'s workers) that wrongly started is
    # killed as a whole when the wait is over.
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        env=clean,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=30)  # a bot that starts runs until killed
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["run"], {"HOST": "0.0.0.0"}),
        (["run", "--host", "0.0.0.0"], {}),  # the command line counts as much as HOST
        (["run"], {"HOST": "::"}),
        (["serve", "--workers", "1"], {"HOST": "0.0.0.0"}),
    ],
)
def test_anonymous_mode_refuses_to_start_on_a_non_loopback_address(
    tmp_path: Path, args: list[str], env: dict[str, str]
) -> None:
    result = _run(args, tmp_path, **env)
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.splitlines()  # one line
    assert line.startswith("configuration error: HOST: ")
    assert "ATMT_ALLOW_ANONYMOUS=true" in line
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var").exists()  # refused before the database is touched


def test_atmt_allow_anonymous_lets_it_listen_elsewhere_with_an_https_public_url() -> None:
    exposed = {"host": "0.0.0.0", "allow_anonymous": True}
    settings = make_settings("sqlite:///x", **exposed, public_url="https://bot.example.fi/")
    assert settings.listen_problems() == []
    assert settings.download_base_url == "https://bot.example.fi"
    # Without a public URL its download links would be http to a public address.
    [(key, _message)] = make_settings("sqlite:///x", **exposed).listen_problems()
    assert key == "ATMT_PUBLIC_URL"
    assert make_settings("sqlite:///x", host="127.0.0.1").listen_problems() == []
    assert make_settings("sqlite:///x", host="localhost").listen_problems() == []


@pytest.mark.parametrize(
    ("value", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.10", False),
        ("127.0.0.1.evil.example", False),
        ("localhost.evil.example", False),
        ("", False),
    ],
)
def test_loopback_hosts(value: str, loopback: bool) -> None:
    assert is_loopback_host(value) is loopback
    host = f"[{value}]" if ":" in value and not value.startswith("[") else value
    assert is_loopback_url(f"http://{host}:9/x") is loopback


def _public_address() -> str | None:
    """An address of this machine that is not loopback (the route to a test network)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.123", 9))  # no packet is sent for UDP connect
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if is_loopback_host(address) or address == "0.0.0.0" else address


async def _counts(db_url: str) -> tuple[int, int]:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as connection:
            refs = await connection.execute(select(func.count()).select_from(ConversationRef))
            states = await connection.execute(select(func.count()).select_from(BotState))
            return int(refs.scalar_one()), int(states.scalar_one())
    finally:
        await engine.dispose()


async def test_anonymous_mode_answers_only_a_loopback_service_url(
    db_url: str, start_bot: StartBot, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    """A "connector" on another address gets nothing: no reply, no member look-up (so
    it is never believed about who the user is), nothing stored."""
    address = _public_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    server = await start_bot(make_settings(db_url))
    async with FakeConnector(host=address) as elsewhere:
        elsewhere.add_member("29:user-1", userPrincipalName="admin@pks-area.example.fi")
        for text in ("apua", "raportti", "omat tiedot"):
            status, body = await post_activity(http, server, message(elsewhere.service_url, text))
            assert status == 403, body
            assert json.loads(body) == {
                "error": "serviceUrl not allowed: anonymous mode answers loopback only"
            }
        named = message(elsewhere.service_url.replace(address, "localhost.evil.example"), "x")
        assert (await post_activity(http, server, named))[0] == 403
        assert elsewhere.requests == []
    assert await _counts(db_url) == (0, 0)
    # The developer's own Playground (loopback) is answered.
    assert (await post_activity(http, server, message(connector.service_url, "apua")))[0] == 200
    assert len(connector.sent()) == 1
