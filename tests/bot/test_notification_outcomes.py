"""What each person really receives over a request's whole life.

One grant request is returned with a question, answered, approved, handed to KEHA,
opened, and then removed at the municipality's request, through the service as the
people would do it in chat. Everything the notifier delivered is read from the fake Bot
Connector, and per person:

* at most one message per outcome of a request (submitted, returned, answered,
  decided, opened, removed), and no internal hand-off steps except for the admins;
* "urgent" only for the authority admin, who must act on KEHA;
* no UUID or internal id anywhere a person can read (texts, cards, summaries);
* every message is a card with the button for what it invites.

The counts are printed as a table (``pytest -s``) for docs/decisions.md.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import aiohttp
from fakes.botapp import make_settings
from fakes.connector import FakeConnector, Recorded
from fakes.notify_support import (
    ADMIN,
    APPROVER_A,
    APPROVER_B,
    MANAGER,
    WORKER,
    Person,
    draft,
    introduce,
    wait_until,
)

from access.model import RequestChanges, RevokeReason
from bot.app import RUNTIME
from storage.outbox_queue import OutboxQueue

SETTINGS = {"notifier_enabled": True, "notifier_interval": 0.05, "notify_backoff": 0.01}
PKS = "pohjoinen-keski-suomi"
PEOPLE: dict[str, Person] = {
    "requester": MANAGER,
    "worker": WORKER,
    "approver": APPROVER_A,
    "deputy": APPROVER_B,
    "admin": ADMIN,
}

#: What each template means to the one who receives it.
OUTCOME = {
    "request.submitted": "submitted",
    "revoke.requested": "submitted",
    "request.resubmitted": "answered",
    "request.returned": "returned",
    "request.approved": "decided",
    "request.rejected": "decided",
    "grant.opened": "opened",
    "grant.changed": "opened",
    "grant.removed": "removed",
    "request.queued": "keha step",
    "request.sent_to_keha": "keha step",
}
INTERNAL = {"keha step"}
UUID = re.compile(
    r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE
)
URGENT_WORDS = ("KIIREELLINEN", "BRÅDSKANDE", "URGENT")
ACTIONS = ("Action.Submit", "Action.Execute", "Action.OpenUrl")


def _readable(value: Any) -> Any:
    """The card without what no one sees: the data buttons send back, the refresh."""
    if isinstance(value, dict):
        return {k: _readable(v) for k, v in value.items() if k not in ("data", "refresh")}
    if isinstance(value, list):
        return [_readable(v) for v in value]
    return value


def _cards(recorded: Recorded) -> list[dict[str, Any]]:
    return [
        a["content"]
        for a in recorded.body.get("attachments") or []
        if isinstance(a, dict) and isinstance(a.get("content"), dict)
    ]


def _actions(card: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(card, dict):
        if card.get("type") in ACTIONS:
            found.append(card)
        for value in card.values():
            found.extend(_actions(value))
    elif isinstance(card, list):
        for value in card:
            found.extend(_actions(value))
    return found


def _notification(recorded: Recorded) -> tuple[str, str] | None:
    """(request id, template) of a proactive notification, from its idempotency key
    ``<request id>:<version>:<template>:<audience>:<recipient>``."""
    data = recorded.body.get("channelData")
    key = data.get("atmtNotification") if isinstance(data, dict) else None
    if not isinstance(key, str):
        return None
    request_id, _version, template, _rest = key.split(":", 3)
    return request_id, template


async def test_each_person_hears_once_per_outcome_with_a_button_and_no_ids(
    db_url: str, start_bot: Any, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url, **SETTINGS))
    runtime = server.app[RUNTIME]
    for person in PEOPLE.values():
        await introduce(http, server, connector, person)
    service = runtime.service
    today = service.clock.today()
    queue = OutboxQueue(runtime.engine)

    async def delivered() -> bool:
        counts = await queue.counts()
        return counts.get("pending", 0) + counts.get("sending", 0) == 0

    async def settle() -> None:
        """Each person reads what they got before the next one acts."""
        await wait_until(delivered, within=30)

    request = await service.requests.submit(MANAGER.email, draft(today), idempotency_key="o-1")
    await settle()
    await service.requests.return_with_question(
        APPROVER_A.email,
        request.id,
        "Mihin tehtäviin käyttöoikeutta tarvitaan?",
        idempotency_key="o-2",
    )
    await settle()
    await service.requests.resubmit(
        MANAGER.email,
        request.id,
        RequestChanges(
            justification="Ohjaamon asiakasohjaus ja uraohjaus",
            answer="Uraohjaus kuuluu tehtävään.",
        ),
        idempotency_key="o-3",
    )
    await settle()
    approved = await service.requests.approve(APPROVER_A.email, request.id, idempotency_key="o-4")
    await settle()

    async def hand_to_keha(tag: str) -> Any:
        batch = await service.handoff.queue_for_keha(ADMIN.email, PKS, idempotency_key=f"{tag}q")
        await service.handoff.mark_sent(ADMIN.email, batch.id, idempotency_key=f"{tag}s")
        [row] = [
            r
            for r in await service.queries.list_keha_rows(ADMIN.email, PKS)
            if r.batch_id == batch.id
        ]
        done = await service.handoff.confirm_row(ADMIN.email, row.id, idempotency_key=f"{tag}c")
        await settle()
        return done

    opened = await hand_to_keha("o-5")
    assert opened.grant_id is not None and approved.id == request.id
    await service.requests.revoke_by_municipality(
        MANAGER.email, opened.grant_id, RevokeReason.EMPLOYMENT_ENDED, idempotency_key="o-6"
    )
    await settle()
    await hand_to_keha("o-7")

    await settle()

    received: dict[str, list[tuple[str, str, Recorded]]] = {}
    for role, person in PEOPLE.items():
        received[role] = []
        for recorded in connector.sent(person.conversation_id):
            found = _notification(recorded)
            if found is not None:
                received[role].append((*found, recorded))

    # The table for the decision log (shown with pytest -s).
    print("\nperson | messages | templates")
    for role, messages in received.items():
        templates = Counter(template for _, template, _ in messages)
        listed = ", ".join(f"{t} x{n}" if n > 1 else t for t, n in sorted(templates.items()))
        print(f"{role} | {len(messages)} | {listed}")

    problems: list[str] = []
    for role, messages in received.items():
        per_outcome = Counter(
            (request_id, OUTCOME.get(template, template)) for request_id, template, _ in messages
        )
        problems += [
            f"{role}: {n} messages for one '{outcome}'"
            for (_, outcome), n in per_outcome.items()
            if n > 1
        ]
        for _, template, recorded in messages:
            where = f"{role} {template}"
            if role != "admin" and OUTCOME.get(template) in INTERNAL:
                problems.append(f"{where}: an internal step")
            readable = json.dumps(
                [
                    recorded.body.get("text"),
                    recorded.body.get("summary"),
                    [_readable(c) for c in _cards(recorded)],
                ],
                ensure_ascii=False,
            )
            if UUID.search(readable):
                problems.append(f"{where}: shows an internal id")
            if role != "admin" and any(word in readable.upper() for word in URGENT_WORDS):
                problems.append(f"{where}: marked urgent")
            cards = _cards(recorded)
            if not cards or not any(_actions(c) for c in cards):
                problems.append(f"{where}: no card with a button")
    print("\n".join(problems))
    assert problems == []
    # Everyone heard something about each outcome that matters to them.
    heard = {
        role: {OUTCOME.get(t, t) for _, t, _ in messages} for role, messages in received.items()
    }
    assert {"returned", "decided", "opened", "removed"} <= heard["requester"]
    assert {"submitted", "decided", "opened", "removed"} <= heard["worker"]
    assert {"submitted", "answered"} <= heard["deputy"]
    assert {"decided", "submitted"} <= heard["admin"]
