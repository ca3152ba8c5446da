"""Load drivers: conversations that talk to the bot over HTTP as Teams would.

Each conversation is one Teams user in personal chat; ``concurrency`` of them run at
once, each sending its next activity when the previous turn has been answered (the
bot answers ``/api/messages`` after the turn, replies included, is done). A turn's
latency is that HTTP round trip.

* :func:`echo_conversation`: one text message per turn (the baseline).
* :func:`request_conversation`: the manager's full new-request flow, three turns:
  typed "uusi" -> the form card; the card's Submit with every input filled ->
  the summary card; its Confirm -> the request is submitted (the receipt card).
  The harness clicks the buttons of the cards the bot really sent: it reads each
  card from the connector, fills its inputs and posts the action's ``data``, as
  Teams does for ``Action.Submit``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import aiohttp

from bench.connector import BenchConnector

__all__ = [
    "Driver",
    "RunStats",
    "echo_conversation",
    "fill_card",
    "find_action",
    "percentile",
    "request_conversation",
    "run_load",
]

TENANT_ID = "00000000-0000-0000-0000-0000000000aa"
BOT_ID = "28:00000000-0000-0000-0000-00000000b07"
_activity_ids = itertools.count(1)
_worker_numbers = itertools.count(1)


class FlowError(Exception):
    """The bot did not answer a step of the flow as a user would expect."""


@dataclass
class RunStats:
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    errors: int = 0
    flows: int = 0

    @property
    def turns(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.turns / self.elapsed if self.elapsed > 0 else 0.0

    def merge(self, other: RunStats) -> None:
        self.latencies += other.latencies
        self.elapsed += other.elapsed
        self.errors += other.errors
        self.flows += other.flows


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def activity(
    service_url: str,
    conversation: int,
    *,
    text: str | None = None,
    value: dict[str, Any] | None = None,
    reply_to_id: str | None = None,
    prefix: str = "bench",
) -> dict[str, Any]:
    """A Teams personal-chat message from user ``conversation``."""
    user = f"{prefix}-{conversation}"
    body: dict[str, Any] = {
        "type": "message",
        "id": f"in-{next(_activity_ids)}",
        "timestamp": "2026-01-15T08:00:00.000Z",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": f"29:{user}", "name": "Testi Käyttäjä", "aadObjectId": f"aad-{user}"},
        "recipient": {"id": BOT_ID, "name": "A-TMT"},
        "conversation": {
            "id": f"a:{user}",
            "conversationType": "personal",
            "tenantId": TENANT_ID,
        },
        "channelData": {"tenant": {"id": TENANT_ID}},
        "locale": "fi-FI",
    }
    if text is not None:
        body["text"] = text
        body["textFormat"] = "plain"
    if value is not None:
        body["value"] = value
    if reply_to_id is not None:
        body["replyToId"] = reply_to_id
    return body


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for child in node.values():
            yield from _walk(child)
    elif isinstance(node, list):
        for child in node:
            yield from _walk(child)


def find_action(card: dict[str, Any], action: str) -> dict[str, Any] | None:
    """The ``data`` of the card's ``Action.Submit`` whose ``atmt_action`` is ``action``."""
    for node in _walk(card.get("actions", [])):
        data = node.get("data")
        if (
            node.get("type") == "Action.Submit"
            and isinstance(data, dict)
            and data.get("atmt_action") == action
        ):
            return dict(data)
    return None


def fill_card(card: dict[str, Any], texts: dict[str, str]) -> dict[str, str]:
    """Values for every input, as Teams would send them: ``texts`` for text inputs,
    the preset value or the first choice for choices, today for empty dates, on for
    toggles."""
    values: dict[str, str] = {}
    for node in _walk(card.get("body", [])):
        kind = node.get("type")
        name = node.get("id")
        if not isinstance(name, str):
            continue
        preset = node.get("value")
        if kind == "Input.Text":
            values[name] = texts.get(name, preset or "x")
        elif kind == "Input.ChoiceSet":
            choices = node.get("choices") or [{}]
            values[name] = preset or str(choices[0].get("value", ""))
        elif kind == "Input.Date":
            values[name] = preset or date.today().isoformat()
        elif kind == "Input.Toggle":
            values[name] = str(node.get("valueOn", "true"))
    return values


Driver = Callable[[aiohttp.ClientSession, str, BenchConnector, int, RunStats], Awaitable[None]]


async def _post(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], stats: RunStats
) -> None:
    started = time.perf_counter()
    async with http.post(url, json=body) as response:
        await response.read()
        status = response.status
    stats.latencies.append(time.perf_counter() - started)
    if status != 200:
        stats.errors += 1
        raise FlowError(f"HTTP {status}")


async def echo_conversation(
    http: aiohttp.ClientSession,
    url: str,
    connector: BenchConnector,
    conversation: int,
    stats: RunStats,
) -> None:
    """Three echo turns (the same number of turns as one request flow)."""
    for turn in range(3):
        body = activity(connector.service_url, conversation, text=f"hei {turn}", prefix="echo")
        await _post(http, url, body, stats)
    stats.flows += 1


async def request_conversation(
    http: aiohttp.ClientSession,
    url: str,
    connector: BenchConnector,
    conversation: int,
    stats: RunStats,
) -> None:
    """One full new request: "uusi" -> form -> summary -> confirm -> receipt."""
    service_url = connector.service_url
    cid = f"a:bench-{conversation}"
    await _post(http, url, activity(service_url, conversation, text="uusi"), stats)
    form = connector.last_card.get(cid)
    submit = find_action(form.content, "submit") if form else None
    if form is None or submit is None:
        stats.errors += 1
        raise FlowError("no form card after 'uusi'")
    number = next(_worker_numbers)
    values = fill_card(
        form.content,
        {
            "worker_name": f"Testi Työntekijä {number}",
            "worker_email": f"bench{conversation}-{number}@kuopio.example.fi",
            "worker_job_title": "Työvalmentaja",
            "justification": "Asiakastyö kunnan työllisyyspalveluissa.",
        },
    )
    await _post(
        http,
        url,
        activity(service_url, conversation, value=values | submit, reply_to_id=form.activity_id),
        stats,
    )
    summary = connector.last_card.get(cid)
    confirm = find_action(summary.content, "confirm") if summary else None
    if summary is None or confirm is None:
        stats.errors += 1
        raise FlowError("no summary card after the form")
    await _post(
        http,
        url,
        activity(service_url, conversation, value=confirm, reply_to_id=summary.activity_id),
        stats,
    )
    receipt = connector.last_card.get(cid)
    if receipt is None or find_action(receipt.content, "confirm") is not None:
        stats.errors += 1
        raise FlowError("no receipt after Confirm")
    stats.flows += 1


async def run_load(
    base_url: str,
    connector: BenchConnector,
    driver: Driver,
    *,
    concurrency: int,
    duration: float,
    first_conversation: int = 0,
) -> RunStats:
    """``concurrency`` conversations repeat ``driver`` until ``duration`` is over."""
    url = base_url.rstrip("/") + "/api/messages"
    stats = RunStats()
    deadline = time.perf_counter() + duration
    connector_limit = aiohttp.TCPConnector(limit=concurrency + 10)

    async with aiohttp.ClientSession(connector=connector_limit) as http:

        async def conversation_loop(index: int) -> None:
            while time.perf_counter() < deadline:
                try:
                    await driver(http, url, connector, first_conversation + index, stats)
                except (TimeoutError, FlowError, aiohttp.ClientError):
                    await asyncio.sleep(0.01)

        started = time.perf_counter()
        await asyncio.gather(*(conversation_loop(i) for i in range(concurrency)))
        stats.elapsed = time.perf_counter() - started
    return stats
