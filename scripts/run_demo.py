#!/usr/bin/env python3
"""``make run``: the bot, and Microsoft 365 Agents Playground for each of five people.

    python scripts/run_demo.py [--no-playground] [--people manager,worker]
                               [--playground-port 56150] [--bot-port 3978] [--logs DIR]

1. starts ``atmt-bot run`` (configuration from the environment / ``.env``; output to
   ``var/demo/bot.log``) and waits for ``/healthz``;
2. when Node.js and ``node_modules`` are there (``scripts/node_tools.sh``), starts one
   Playground per person of ``.m365agentsplayground.yml`` (manager, approver, deputy,
   worker, authority admin; ``--people`` picks some) on 127.0.0.1, ports 56150-56154
   or free ones, and prints the URL of each (opening a page installs the app for that
   person);
3. without Node.js says so and keeps the bot running alone.

Ctrl+C (SIGINT), SIGTERM or SIGHUP, at any moment, also while starting, stops
everything it started and exits without a traceback: every child runs in a session of
its own (a terminal's Ctrl+C reaches only this process), and the :class:`Supervisor`
ends each child's process group, waiting for it; a second signal during the clean-up
does not interrupt it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import playground as pg  # noqa: E402

DEMO_DIR = ROOT / "var" / "demo"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stop(Exception):
    """A signal asked the demo to stop."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Supervisor:
    """What the demo started, and the one way to stop it all.

    The first stop signal raises :class:`Stop` in the main thread wherever it is; from
    then on signals are only noted, so the clean-up runs to its end. At the end every
    child process of this process (also one whose start a signal interrupted, found in
    ``/proc``) is ended with its process group: SIGTERM, then SIGKILL after a grace.
    """

    def __init__(self, grace: float = 10.0) -> None:
        self.grace = grace
        self.bot: subprocess.Popen[bytes] | None = None
        self.playgrounds: list[pg.Playground] = []
        self.stopping = False

    def watch_signals(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stopping:
            return  # already stopping: let the clean-up finish
        self.stopping = True
        raise Stop(signum)

    def stop_all(self) -> None:
        self.stopping = True
        for instance in reversed(self.playgrounds):
            instance.stop()
        if self.bot is not None:
            _stop(self.bot, self.grace)
        for pid in _children():  # started, but a signal came before we held it
            _stop_group(pid, self.grace)


def _children() -> list[int]:
    """This process's child processes (Linux ``/proc``; elsewhere none are found)."""
    me = os.getpid()
    found: list[int] = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = entry.read_text(encoding="ascii", errors="replace").rsplit(")", 1)[1].split()
            if int(fields[1]) == me and fields[0] != "Z":
                found.append(int(entry.parent.name))
    return found


def _stop_group(pid: int, grace: float) -> None:
    """End the process group led by ``pid`` (a child of ours) and reap the child."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:  # stopped before it led a session of its own
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def start_bot(supervisor: Supervisor, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    atmt_bot = Path(sys.executable).with_name("atmt-bot")
    with log_path.open("ab") as log:
        supervisor.bot = subprocess.Popen(  # noqa: S603
            [str(atmt_bot), "run", "--port", str(port)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl+C in the terminal reaches us, not the bot
        )
    process = supervisor.bot
    deadline = time.monotonic() + 60
    while not _healthy(port):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
            print("The bot did not start:\n  " + "\n  ".join(tail), file=sys.stderr)
            raise SystemExit(process.returncode or 1)
        time.sleep(0.2)
    return process


def _people(value: str | None) -> list[str]:
    if value is None:
        return list(pg.PEOPLE)
    wanted = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in pg.PEOPLE]
    if unknown or not wanted:
        raise argparse.ArgumentTypeError(
            f"--people: choose from {', '.join(pg.PEOPLE)} (got {value!r})"
        )
    return wanted


def run(args: argparse.Namespace, supervisor: Supervisor) -> int:
    logs: Path = args.logs
    logs.mkdir(parents=True, exist_ok=True)
    bot_log = logs / "bot.log"
    bot = start_bot(supervisor, args.bot_port, bot_log)
    endpoint = f"http://127.0.0.1:{args.bot_port}/api/messages"
    print(f"Bot running: {endpoint}  (log: {bot_log})")
    if args.no_playground:
        pass
    elif not pg.installed():
        why = (
            "Node.js is not installed"
            if pg.node_executable() is None
            else ("node_modules is missing (scripts/node_tools.sh runs npm ci)")
        )
        print(f"No Microsoft 365 Agents Playground: {why}. The bot runs alone;")
        print("install Node.js 20+ and run `make run` again to chat with it in a browser.")
    else:
        for index, role in enumerate(args.people):
            instance = pg.Playground(role=role, endpoint=endpoint, workdir=logs)
            supervisor.playgrounds.append(instance)
            # --playground-port 0: free ports
            instance.start(port=args.playground_port + index if args.playground_port else None)
        print()
        print("Microsoft 365 Agents Playground: open a tab per person and chat with the bot")
        print('(type "apua", "hjälp" or "help"):')
        for instance in supervisor.playgrounds:
            person = instance.person
            print(
                f"  {instance.role:<9} {instance.url:<25} {person['name']} "
                f"<{person['email']}>, {pg.ROLE_NAMES[instance.role]}"
            )
        print("Each page shows only what arrives while it is open: keep the tabs open to")
        print("see notifications (a tab sends the bot its installation when it opens).")
        print(f"Playground logs: {logs}/")
    print("Stop with Ctrl+C.", flush=True)
    while bot.poll() is None and all(
        p.process is not None and p.process.poll() is None for p in supervisor.playgrounds
    ):
        time.sleep(0.5)
    if bot.poll() is not None:
        print(f"The bot stopped (exit {bot.returncode}); see {bot_log}", file=sys.stderr)
        return bot.returncode or 1
    print(f"A Playground stopped; see its log in {logs}/", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    supervisor = Supervisor()
    supervisor.watch_signals()  # before anything is started
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--no-playground", action="store_true", help="start the bot alone")
    parser.add_argument(
        "--people", type=_people, default=list(pg.PEOPLE), help="Playgrounds for these only"
    )
    parser.add_argument("--playground-port", type=int, default=56150, help="first port")
    parser.add_argument("--bot-port", type=int, default=int(os.environ.get("PORT", "3978")))
    parser.add_argument("--logs", type=Path, default=DEMO_DIR, help="logs and Playground files")
    try:
        args = parser.parse_args(argv)
        return run(args, supervisor)
    except Stop:
        with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
            print("\nstopping", flush=True)
        return 0
    finally:
        try:
            supervisor.stop_all()
        except Stop:  # a signal between the start of the clean-up and its flag
            supervisor.stop_all()


if __name__ == "__main__":
    sys.exit(main())
