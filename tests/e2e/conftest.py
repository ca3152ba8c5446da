"""Browser end-to-end tests: the real bot, Microsoft 365 Agents Playground, Chromium.

Fixtures
--------
* ``e2e_tools`` (session): Node.js, ``node_modules`` (``npm ci``) and Debian's
  Chromium. Missing -> the test is skipped with the reason, or fails when ``CI=true``
  (``make test`` installs them first: scripts/node_tools.sh, scripts/ensure_chromium.sh).
* ``bot`` : ``atmt-bot run`` on 127.0.0.1 and a free port, with a new SQLite file and
  the example directory; stopped (process group) after the test.
* ``playgrounds``: ``playgrounds("manager", "approver")`` starts one Playground per
  person (see scripts/playground.py), each on 127.0.0.1 and a free port, pointed at
  ``bot``; all stopped after the test.
* ``drive``: ``drive({"clients": ..., "steps": [...]})`` runs tests/e2e/driver.cjs
  (playwright-core + /usr/bin/chromium) and returns its JSON report; screenshots go to
  tests/e2e/screenshots/.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import playground as pg  # noqa: E402  (scripts/playground.py)

E2E = Path(__file__).resolve().parent
SCREENSHOTS = E2E / "screenshots"
DRIVER = E2E / "driver.cjs"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing_tools() -> list[str]:
    missing = []
    if shutil.which("node") is None:
        missing.append("Node.js (node) is not installed")
    elif not (ROOT / "node_modules" / "playwright-core").is_dir() or not pg.CLI.is_file():
        missing.append("node_modules is missing: run scripts/node_tools.sh (npm ci)")
    if not Path(CHROMIUM).is_file():
        missing.append(f"{CHROMIUM} is missing: run scripts/ensure_chromium.sh")
    return missing


@pytest.fixture(scope="session")
def e2e_tools() -> None:
    missing = missing_tools()
    if missing:
        message = "; ".join(missing)
        if IN_CI:
            pytest.fail(f"CI=true and the e2e tools are missing: {message}", pytrace=False)
        pytest.skip(message)


@dataclass
class BotProcess:
    process: subprocess.Popen[str]
    port: int
    output: list[str]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/messages"


def _stop_group(
    process: subprocess.Popen[str], reader: threading.Thread, timeout: float = 10.0
) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)
    reader.join(timeout)
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture
def bot(e2e_tools: None, tmp_path: Path) -> Iterator[BotProcess]:
    atmt_bot = Path(sys.executable).with_name("atmt-bot")
    command = [str(atmt_bot), "run", "--host", "127.0.0.1", "--port", "0"]
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
            "ATMT_DIRECTORY": str(ROOT / "examples" / "directory.yaml"),
            "MicrosoftAppId": "",  # anonymous local mode, whatever .env says
            "LOG_LEVEL": "INFO",
            # Approver cards and notifications go out through the outbox at once;
            # no reminders or expiry runs in the middle of a test.
            "ATMT_NOTIFIER": "true",
            "ATMT_NOTIFIER_INTERVAL": "0.5",
            "ATMT_SCHEDULER": "false",
        }
    )
    process = subprocess.Popen(
        command,
        cwd=tmp_path,  # no .env of the developer is read
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    port: list[int] = []
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip())
            match = re.search(r"endpoint\s+http://127\.0\.0\.1:(\d+)/api/messages", line)
            if match and not ready.is_set():
                port.append(int(match[1]))
                ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    try:
        while not ready.wait(0.1):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("atmt-bot run did not start:\n" + "\n".join(output[-30:]))
        with urllib.request.urlopen(f"http://127.0.0.1:{port[0]}/healthz", timeout=5) as r:
            assert r.status == 200
        yield BotProcess(process, port[0], output)
    finally:
        _stop_group(process, reader)
    assert process.returncode is not None


@pytest.fixture
def playgrounds(
    bot: BotProcess, tmp_path: Path
) -> Iterator[Callable[..., dict[str, pg.Playground]]]:
    started: list[pg.Playground] = []

    def start(*roles: str, install: bool = False) -> dict[str, pg.Playground]:
        result = {}
        for role in roles:
            instance = pg.Playground(role=role, endpoint=bot.endpoint, workdir=tmp_path / "pg")
            started.append(instance)
            instance.start()
            if install:
                instance.install()
            result[role] = instance
        return result

    try:
        yield start
    finally:
        for instance in started:
            instance.stop()
        for instance in started:
            assert instance.process is None


@pytest.fixture
def drive(e2e_tools: None, tmp_path: Path) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def run(plan: dict[str, Any], timeout: float = 180) -> dict[str, Any]:
        full = {"chromium": CHROMIUM, "screenshots": str(SCREENSHOTS), **plan}
        plan_file = tmp_path / f"plan-{time.monotonic_ns()}.json"
        plan_file.write_text(json.dumps(full), encoding="utf-8")
        completed = subprocess.run(
            ["node", str(DRIVER), str(plan_file)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        try:
            report: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            pytest.fail(
                f"driver failed (exit {completed.returncode}):\n"
                f"{completed.stdout}\n{completed.stderr}"
            )
        report["exit_code"] = completed.returncode
        report["stderr"] = completed.stderr
        return report

    return run
