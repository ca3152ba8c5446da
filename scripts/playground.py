"""Start Microsoft 365 Agents Playground instances against the bot (demo and e2e tests).

The Playground (npm ``@microsoft/m365agentsplayground``) is a local Teams emulator: a
web page plus a mock Bot Connector (``{url}/_connector``) that the bot answers to.
Facts this module relies on (checked with version 0.2.28):

- Config ``.m365agentsplayground.yml`` (schema 0.1.1): ``currentUser`` is the person
  who types in the browser; ``users`` must hold exactly five more. The browser can only
  ever send as ``currentUser``, so :class:`Playground` starts one instance per person
  with a copy of the config whose ``currentUser`` is that person (and a personal chat id
  of their own): five tabs = five Teams clients.
- ``-p PORT``: if the port is busy it silently takes a random one; the port it took is
  printed as ``Listening on N``. It listens on all interfaces and has no option for the
  address: ``scripts/node/listen_localhost.cjs`` (``node --require``) makes it listen on
  127.0.0.1.
- ``--service-url`` sets the ``serviceUrl`` of the activities it sends (default
  ``http://localhost:N/_connector``); we pass ``http://127.0.0.1:N/_connector``.
- ``POST /_debug/conversation/{personalChatId}/installation`` makes it send
  ``installationUpdate`` + ``conversationUpdate`` (members added) to the bot, as Teams
  does when the app is installed; opening the page does the same.
- Every activity it sends has ``locale: "en-US"`` (hard-coded).
- ``GET /_connector/v3/conversations/{conv}/members/{userId}`` answers members of that
  conversation only (the personal chat holds ``currentUser`` alone; the group chat and
  the team hold everyone) with ``email`` and ``userPrincipalName`` from the config;
  an unknown member gives 404 ``MemberNotFoundInConversation``, an unknown conversation
  404 ``ConversationNotFound``. Lookup by ``aadObjectId`` is not supported (404).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".m365agentsplayground.yml"
NODE_MODULES = ROOT / "node_modules"
CLI = NODE_MODULES / "@microsoft" / "m365agentsplayground" / "cli.js"
PRELOAD = ROOT / "scripts" / "node" / "listen_localhost.cjs"
HOST = "127.0.0.1"

# The five people of the demo, by their example-directory address.
PEOPLE: dict[str, str] = {
    "manager": "manager@laukaa.example.fi",
    "approver": "contact@pks-area.example.fi",
    "deputy": "deputy@pks-area.example.fi",
    "worker": "worker.one@laukaa.example.fi",
    "admin": "admin@pks-area.example.fi",
}
ROLE_NAMES = {
    "manager": "municipal manager (requester)",
    "approver": "employment-area contact (approver)",
    "deputy": "deputy approver",
    "worker": "worker",
    "admin": "authority admin (KEHA hand-off)",
}

_LISTENING = re.compile(r"Listening on (\d+)")


class PlaygroundError(RuntimeError):
    pass


def node_executable() -> str | None:
    return shutil.which("node")


def installed() -> bool:
    """Node.js present and ``npm ci`` done."""
    return node_executable() is not None and CLI.is_file()


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def load_config(path: Path = CONFIG) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        config: dict[str, Any] = yaml.safe_load(handle)
    return config


def accounts(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [config["currentUser"], *config["users"]]


def config_for(role: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The config with ``role``'s person as ``currentUser`` (the other five in ``users``)."""
    base = load_config() if config is None else config
    email = PEOPLE[role]
    everyone = accounts(base)
    me = next((a for a in everyone if a["email"].lower() == email), None)
    if me is None:
        raise PlaygroundError(f"{email} ({role}) is not a user of {CONFIG.name}")
    result = dict(base)
    result["currentUser"] = me
    result["users"] = [a for a in everyone if a is not me]
    result["personalChat"] = {"id": f"a:atmt-personal-{role}"}
    return result


def _get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _post_json(url: str, body: dict[str, Any], timeout: float = 5.0) -> int:
    request = urllib.request.Request(  # noqa: S310 - loopback
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@dataclass
class Playground:
    """One Playground instance in which ``role`` is the person at the keyboard."""

    role: str
    endpoint: str
    workdir: Path
    port: int | None = None
    process: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    _reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    @property
    def connector(self) -> str:
        return f"http://{HOST}:{self.port}/_connector"

    @property
    def personal_chat_id(self) -> str:
        return str(self.config["personalChat"]["id"])

    @property
    def person(self) -> dict[str, Any]:
        return dict(self.config["currentUser"])

    # -------------------------------------------------------------- lifecycle

    def start(self, port: int | None = None, timeout: float = 30.0, attempts: int = 5) -> None:
        """Start on ``port`` (default: a free one) and wait until it answers.

        The Playground moves to a random port when its port is busy; then its
        ``serviceUrl`` would be wrong, so it is stopped and started again elsewhere.
        """
        node = node_executable()
        if node is None or not CLI.is_file():
            raise PlaygroundError("Node.js or node_modules missing: run scripts/node_tools.sh")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = config_for(self.role)
        config_path = self.workdir / f"playground-{self.role}.yml"
        config_path.write_text(yaml.safe_dump(self.config, allow_unicode=True), encoding="utf-8")
        wanted = port
        for _attempt in range(attempts):
            chosen = wanted or free_port()
            actual = self._spawn(node, chosen, config_path, timeout)
            if actual == chosen:
                self.port = actual
                self._wait_ready(timeout)
                return
            self.stop()
            wanted = None  # busy: take any free port next time
        raise PlaygroundError(f"Playground ({self.role}) did not keep a port: {self.lines[-5:]}")

    def _spawn(self, node: str, port: int, config_path: Path, timeout: float) -> int:
        env = dict(os.environ)
        env.update(
            {
                "TEAMSAPPTESTER_BROWSER": "none",  # do not open a browser
                "M365_AGENTS_PLAYGROUND_CONFIG_PATH": str(config_path),
                "M365_AGENTS_PLAYGROUND_LOGFILE": str(self.workdir / f"playground-{self.role}.log"),
                "LISTEN_HOST": HOST,
            }
        )
        command = [
            node,
            "--require",
            str(PRELOAD),
            str(CLI),
            "--app-endpoint",
            self.endpoint,
            "--channel-id",
            "msteams",
            "--port",
            str(port),
            "--service-url",
            f"http://{HOST}:{port}/_connector",
            "--disable-telemetry",
        ]
        self.lines = []
        self.process = subprocess.Popen(  # noqa: S603 - fixed command
            command,
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # own process group: stop() ends it and its children
        )
        found = threading.Event()
        actual: list[int] = []
        log_path = self.workdir / f"playground-{self.role}.out"

        def pump(stream: Any) -> None:
            with log_path.open("a", encoding="utf-8") as log:
                for line in stream:
                    self.lines.append(line.rstrip())
                    log.write(line)
                    log.flush()
                    match = _LISTENING.search(line)
                    if match and not found.is_set():
                        actual.append(int(match[1]))
                        found.set()

        self._reader = threading.Thread(target=pump, args=(self.process.stdout,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(self.lines[-10:])
                self.stop()
                raise PlaygroundError(f"Playground ({self.role}) did not start:\n{tail}")
        return actual[0]

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if _get(f"http://{HOST}:{self.port}/_debug/ping") == 200:
                    return
            time.sleep(0.1)
        raise PlaygroundError(f"Playground ({self.role}) on port {self.port} does not answer")

    def install(self) -> None:
        """Install the app for this person (the bot gets installationUpdate +
        conversationUpdate, stores the conversation reference and sends its welcome)."""
        status = _post_json(
            f"http://{HOST}:{self.port}/_debug/conversation/{self.personal_chat_id}/installation",
            {},
        )
        if status != 200:
            raise PlaygroundError(f"installation for {self.role} answered {status}")

    def member(self, conversation_id: str, member_id: str) -> tuple[int, Any]:
        """What the mock connector answers to the bot's member lookup."""
        url = f"{self.connector}/v3/conversations/{conversation_id}/members/{member_id}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
                return int(response.status), json.loads(response.read())
        except urllib.error.HTTPError as error:
            return int(error.code), json.loads(error.read() or b"null")

    def stop(self, timeout: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)
        if process.stdout is not None:
            process.stdout.close()
