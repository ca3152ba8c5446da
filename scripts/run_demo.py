#!/usr/bin/env python3
"""``make run``: the bot, and Microsoft 365 Agents Playground for each of five people.

    python scripts/run_demo.py [--no-playground] [--playground-port 56150]

1. starts ``atmt-bot run`` (configuration from the environment / ``.env``; output to
   ``var/demo/bot.log``) and waits for ``/healthz``;
2. when Node.js and ``node_modules`` are there (``scripts/node_tools.sh``), starts one
   Playground per person of ``.m365agentsplayground.yml`` (manager, approver, deputy,
   worker, authority admin) on 127.0.0.1, ports 56150-56154 or free ones, and prints
   the URL of each (opening a page installs the app for that person);
3. without Node.js says so and keeps the bot running alone.

Ctrl+C stops everything it started.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import playground as pg  # noqa: E402

DEMO_DIR = ROOT / "var" / "demo"


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def start_bot(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    atmt_bot = Path(sys.executable).with_name("atmt-bot")
    log = log_path.open("ab")
    process = subprocess.Popen(  # noqa: S603
        [str(atmt_bot), "run", "--port", str(port)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + 60
    while not _healthy(port):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
            print("The bot did not start:\n  " + "\n  ".join(tail), file=sys.stderr)
            raise SystemExit(process.returncode or 1)
        time.sleep(0.2)
    return process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-playground", action="store_true", help="start the bot alone")
    parser.add_argument("--playground-port", type=int, default=56150, help="first port")
    parser.add_argument("--bot-port", type=int, default=int(os.environ.get("PORT", "3978")))
    args = parser.parse_args(argv)

    def on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # run the clean-up below on `kill` too

    signal.signal(signal.SIGTERM, on_term)
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    bot_log = DEMO_DIR / "bot.log"
    bot = start_bot(args.bot_port, bot_log)
    endpoint = f"http://127.0.0.1:{args.bot_port}/api/messages"
    print(f"Bot running: {endpoint}  (log: {bot_log.relative_to(ROOT)})")
    started: list[pg.Playground] = []
    try:
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
            for index, role in enumerate(pg.PEOPLE):
                instance = pg.Playground(role=role, endpoint=endpoint, workdir=DEMO_DIR)
                started.append(instance)
                instance.start(port=args.playground_port + index)
            print()
            print("Microsoft 365 Agents Playground: open a tab per person and chat with the bot")
            print('(type "apua", "hjälp" or "help"):')
            for instance in started:
                person = instance.person
                print(
                    f"  {instance.role:<9} {instance.url:<25} {person['name']} "
                    f"<{person['email']}>, {pg.ROLE_NAMES[instance.role]}"
                )
            print("Each page shows only what arrives while it is open: keep the tabs open to")
            print("see notifications (a tab sends the bot its installation when it opens).")
            print(f"Playground logs: {DEMO_DIR.relative_to(ROOT)}/")
        print("Stop with Ctrl+C.", flush=True)
        while bot.poll() is None and all(
            p.process is not None and p.process.poll() is None for p in started
        ):
            time.sleep(0.5)
        if bot.poll() is not None:
            print(f"The bot stopped (exit {bot.returncode}); see {bot_log}", file=sys.stderr)
            return bot.returncode or 1
        print("A Playground stopped; see its log in var/demo/", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping")
        return 0
    finally:
        for instance in started:
            instance.stop()
        _stop(bot)


if __name__ == "__main__":
    sys.exit(main())
