"""``make run`` stops everything it started on Ctrl+C (SIGINT) or SIGTERM.

The demo (scripts/run_demo.py) runs here as ``make`` runs it: in the test's process
group, so the signal goes to the demo alone, as a terminal's Ctrl+C does (the bot and
the Playgrounds run in sessions of their own). Offline: the example directory, SQLite
in a temporary directory, loopback ports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fakes.botapp import EXAMPLE_DIRECTORY

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "scripts" / "run_demo.py"
READY = "Stop with Ctrl+C."


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, ``None`` when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    found = _stat(pid)
    return found is not None and found[0] not in ("Z", "X")


def _descendants(pid: int) -> set[int]:
    """Every living process below ``pid``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        found = _stat(int(entry.name))
        if found is not None and found[0] not in ("Z", "X"):
            parents[int(entry.name)] = found[1]
    below: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - below
        below |= frontier
    return below


@dataclass
class Demo:
    process: subprocess.Popen[str]
    stderr_path: Path
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    reader: threading.Thread | None = None
    seen: set[int] = field(default_factory=set)  # every child seen, for the clean-up

    def children(self) -> set[int]:
        """The demo's living descendants (the bot, the Playgrounds)."""
        found = _descendants(self.process.pid)
        self.seen |= found
        return found

    def wait_ready(self, timeout: float) -> None:
        if not self.ready.wait(timeout):
            raise AssertionError("the demo did not start:\n" + self.output())

    def output(self) -> str:
        return "\n".join(self.lines) + "\n" + self.stderr_path.read_text(errors="replace")


@pytest.fixture
def start_demo(tmp_path: Path) -> Iterator[Callable[..., Demo]]:
    started: list[Demo] = []
    env = {
        k: v for k, v in os.environ.items() if not k.upper().startswith(("MICROSOFTAPP", "ATMT_"))
    }
    env.update(
        ATMT_DIRECTORY=str(EXAMPLE_DIRECTORY),
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )

    def start(*args: str) -> Demo:
        stderr_path = tmp_path / f"demo-{len(started)}.err"
        with stderr_path.open("w") as stderr:
            process = subprocess.Popen(
                [
                    sys.executable,
                    str(DEMO),
                    "--bot-port",
                    str(_free_port()),
                    "--logs",
                    str(tmp_path / "demo"),
                    *args,
                ],
                cwd=tmp_path,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                # no session or process group of its own: as `make run` starts it
            )
        demo = Demo(process, stderr_path)
        started.append(demo)

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                demo.lines.append(line.rstrip("\n"))
                if line.startswith(READY):
                    demo.ready.set()

        demo.reader = threading.Thread(target=read, daemon=True)
        demo.reader.start()
        return demo

    yield start
    for demo in started:  # a failed test leaves nothing behind either
        leftovers = demo.children() | demo.seen
        if demo.process.poll() is None:
            demo.process.kill()
            demo.process.wait(10)
        if demo.reader is not None:
            demo.reader.join(10)
        if demo.process.stdout is not None:
            demo.process.stdout.close()
        for pid in leftovers:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)


def _stop_and_check(demo: Demo, signum: int, children: set[int], *, again: bool = False) -> None:
    demo.process.send_signal(signum)
    if again:  # an impatient second Ctrl+C while the demo is stopping the bot
        deadline = time.monotonic() + 5
        while "stopping" not in demo.lines and time.monotonic() < deadline:
            time.sleep(0.01)
        demo.process.send_signal(signum)
    assert demo.process.wait(30) == 0, demo.output()
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in children if _alive(pid)] == [], demo.output()
    assert "Traceback" not in demo.output()
    assert "KeyboardInterrupt" not in demo.output()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_the_running_demo_stops_the_bot_it_started(
    start_demo: Callable[..., Demo], signum: int
) -> None:
    demo = start_demo("--no-playground")
    demo.wait_ready(60)
    children = demo.children()
    assert children, "the demo started no bot"
    _stop_and_check(demo, signum, children)
    assert "stopping" in demo.lines


def test_a_second_ctrl_c_does_not_interrupt_the_clean_up(
    start_demo: Callable[..., Demo],
) -> None:
    demo = start_demo("--no-playground")
    demo.wait_ready(60)
    children = demo.children()
    assert children, "the demo started no bot"
    _stop_and_check(demo, signal.SIGINT, children, again=True)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_the_bot_is_starting_stops_it_too(
    start_demo: Callable[..., Demo], signum: int
) -> None:
    demo = start_demo("--no-playground")
    deadline = time.monotonic() + 30
    children: set[int] = set()
    while not children and time.monotonic() < deadline:
        children = demo.children()
        time.sleep(0.01)
    assert children, "the demo started no bot"
    assert not demo.ready.is_set()  # still waiting for the bot's /healthz
    _stop_and_check(demo, signum, children)


@pytest.mark.e2e
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_playgrounds_too(
    start_demo: Callable[..., Demo], signum: int
) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import playground as pg

    if not pg.installed():
        raise AssertionError("Node.js and node_modules are needed: scripts/node_tools.sh")
    demo = start_demo("--people", "worker", "--playground-port", "0")
    demo.wait_ready(90)
    children = demo.children()
    assert len(children) >= 2  # the bot and a Playground
    _stop_and_check(demo, signum, children)
