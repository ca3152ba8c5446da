#!/usr/bin/env python3
"""Time from a fresh clone to the bot's first answered message (standard library only).

    python3 scripts/time_first_answer.py SOURCE [--rev REV] [--dir /tmp/first-answer] [--verbose]
        [-- make variables such as PYTHON=python3.13]

1. ``git clone SOURCE DIR`` (and ``git checkout REV``), timed from here;
2. ``make run`` in DIR with a free ``PORT``; the time when it prints "Bot running" and
   when it prints "Stop with Ctrl+C." (the Playground URLs, i.e. "open this URL");
3. then POSTs a Teams-shaped message ("apua") to the bot whose ``serviceUrl`` is a tiny
   connector here, and times the bot's answer arriving there;
4. stops ``make run`` (its process group) and prints the figures, and every line of
   ``make run``'s output that looks like a warning or banner.

Used for docs/decisions.md ("Python versions, the lock file"): run it once to warm the
package caches, then again for the warm figure.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

NOISE = re.compile(r"(?i)deprecat|warning|notice|\[notice\]|setuptools|editable")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Connector(http.server.ThreadingHTTPServer):
    """Answers every Bot Connector call; remembers when the first activity came."""

    first_activity: float | None = None
    got = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    server: Connector

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if "/activities" in self.path and self.server.first_activity is None:
            self.server.first_activity = time.monotonic()
            self.server.got.set()
        self._answer(200, {"id": "activity-1"})

    do_PUT = do_POST

    def do_GET(self) -> None:
        self._answer(404, {"error": {"code": "MemberNotFoundInConversation"}})


def message(service_url: str) -> bytes:
    activity = {
        "type": "message",
        "id": "incoming-1",
        "timestamp": "2026-01-15T08:00:00.000Z",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": "29:user-1", "name": "Test User"},
        "recipient": {"id": "28:bot", "name": "A-TMT bot"},
        "conversation": {"id": "a:conversation-1", "conversationType": "personal"},
        "locale": "fi-FI",
        "text": "apua",
        "textFormat": "plain",
    }
    return json.dumps(activity).encode()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("source")
    parser.add_argument("--rev")
    parser.add_argument("--dir", default="/tmp/first-answer")  # noqa: S108 - a throwaway clone
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--verbose", action="store_true", help="print make run's output")
    parser.add_argument("make_args", nargs="*")
    args = parser.parse_args()

    target = Path(args.dir)
    if target.exists():
        shutil.rmtree(target)
    connector = Connector(("127.0.0.1", 0), Handler)
    threading.Thread(target=connector.serve_forever, daemon=True).start()
    service_url = f"http://127.0.0.1:{connector.server_address[1]}"

    t0 = time.monotonic()
    subprocess.run(["git", "clone", "--quiet", args.source, str(target)], check=True)  # noqa: S603, S607
    if args.rev:
        subprocess.run(["git", "-C", str(target), "checkout", "--quiet", args.rev], check=True)  # noqa: S603, S607
    port = free_port()
    env = {**os.environ, "PORT": str(port)}
    make = subprocess.Popen(  # noqa: S603
        ["make", "run", *args.make_args],  # noqa: S607
        cwd=target,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    marks: dict[str, float] = {}
    noise: list[str] = []
    output: list[str] = []
    assert make.stdout is not None
    try:
        deadline = t0 + args.timeout
        for line in make.stdout:
            output.append(line.rstrip())
            if NOISE.search(line):
                noise.append(line.rstrip())
            if "Bot running" in line:
                marks.setdefault("bot running", time.monotonic() - t0)
            if "Stop with Ctrl+C" in line:
                marks["open this URL"] = time.monotonic() - t0
                break
            if time.monotonic() > deadline:
                break
        if "open this URL" not in marks:
            print("\n".join(output[-30:]), file=sys.stderr)
            print("make run did not reach 'Stop with Ctrl+C.'", file=sys.stderr)
            return 1
        sent = time.monotonic()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/messages",
            data=message(service_url),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            status = response.status
        if not connector.got.wait(30) or connector.first_activity is None:
            print(f"no answer at the serviceUrl (POST status {status})", file=sys.stderr)
            return 1
        marks["first answered message"] = connector.first_activity - t0
        marks["(answer after the POST)"] = connector.first_activity - sent
    finally:
        try:
            os.killpg(make.pid, signal.SIGTERM)
            make.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(make.pid, signal.SIGKILL)
        connector.shutdown()
    for name, seconds in marks.items():
        print(f"{name:<26} {seconds:7.1f} s")
    if args.verbose:
        print("\n".join(f"  > {line}" for line in output))
    print(f"make run printed {len(output)} lines; warnings/banners: {len(noise)}")
    for line in noise:
        print(f"  | {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
