"""Approver card invokes: return -> edit -> resubmit (acceptance 4), and bad input:
a missing or 100 KB reason, a stale card, a card of someone who may not decide, a
forged request id, an unknown verb, the pending list."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from fakes.botapp import make_settings, post_activity, texts
from fakes.connector import FakeConnector
from fakes.notify_support import (
    APPROVER_A,
    APPROVER_B,
    MANAGER,
    WORKER,
    activity_card,
    delivered_text,
    draft,
    execute,
    introduce,
    invoke_card,
)
from fakes.teams import message

from access.model import RequestChanges, RequestState
from bot.app import RUNTIME
from dialogs.cards.approval import VERB_APPROVE, VERB_OPEN, VERB_REJECT, VERB_RETURN

SETTINGS = {"notifier_enabled": True, "notifier_interval": 0.05, "notify_backoff": 0.01}


def shown(card: dict[str, Any]) -> str:
    """Everything the card says, Markdown escapes removed, as one text."""
    return "\n".join(re.sub(r"\\(.)", r"\1", t) for t in texts(card))


async def _setup(
    db_url: str, start_bot: Any, connector: FakeConnector, http: aiohttp.ClientSession
) -> tuple[Any, Any]:
    server = await start_bot(make_settings(db_url, **SETTINGS))
    for person in (MANAGER, APPROVER_A, APPROVER_B, WORKER):
        await introduce(http, server, connector, person)
    return server, server.app[RUNTIME]


async def test_return_edit_resubmit_reaches_the_approvers_with_the_change(
    db_url: str, start_bot: Any, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    server, runtime = await _setup(db_url, start_bot, connector, http)
    request = await runtime.service.requests.submit(
        MANAGER.email, draft(runtime.service.clock.today()), idempotency_key="rs-submit"
    )
    first = (await connector.wait_for_activities(2, conversation_id=APPROVER_A.conversation_id))[-1]
    card = activity_card(first)
    assert card is not None
    data = card["actions"][0]["data"]
    url = connector.service_url

    # Return without a question: the card comes back with the form's error, nothing stored.
    empty = await invoke_card(
        http, server, execute(url, APPROVER_A, VERB_RETURN, data | {"question": "   "})
    )
    assert "Kirjoita kysymys hakijalle." in shown(empty)
    assert (await runtime.service.queries.get_request(MANAGER.email, request.id)).request.state is (
        RequestState.PENDING
    )
    # A 100 KB question is refused with the rule's text, nothing stored.
    huge = await invoke_card(
        http, server, execute(url, APPROVER_A, VERB_RETURN, data | {"question": "x" * 100_000})
    )
    assert "2000" in shown(huge)
    assert (
        await runtime.service.queries.get_request(MANAGER.email, request.id)
    ).request.version == 1

    question = "Miksi tarvitaan <b>kirjaus</b>-taso? **Tarkenna**"
    returned = await invoke_card(
        http, server, execute(url, APPROVER_A, VERB_RETURN, data | {"question": question})
    )
    assert "actions" not in returned
    assert "Palautettu hakijalle täydennettäväksi" in shown(returned)
    assert "‹b›kirjaus‹/b›" in shown(returned)  # no HTML, no Markdown from typed text

    # The requester gets the question (not the actor: the approver asked it).
    to_manager = (await connector.wait_for_activities(2, conversation_id=MANAGER.conversation_id))[
        -1
    ]
    assert "palautettiin sinulle täydennettäväksi" in delivered_text(to_manager)

    # The requester edits and resubmits: level and end date change.
    today = runtime.service.clock.today()
    new_end = today.replace(year=today.year + 1) if today.month < 6 else today
    await runtime.service.requests.resubmit(
        MANAGER.email,
        request.id,
        RequestChanges(
            level="record", end=new_end if new_end != today else None, answer="Kirjaus tarvitaan"
        ),
        idempotency_key="rs-resubmit",
    )
    again = (await connector.wait_for_activities(3, conversation_id=APPROVER_A.conversation_id))[-1]
    new_card = activity_card(again)
    assert new_card is not None
    said = shown(new_card)
    assert "Muutokset palautuksen jälkeen" in said
    assert "Käyttöoikeuden taso: Katselu → Katselu ja kirjaus" in said
    assert "Hakijan vastaus kysymykseen\nKysymys: Miksi tarvitaan" in said
    assert "Vastaus: Kirjaus tarvitaan" in said
    b_card = activity_card(
        (await connector.wait_for_activities(3, conversation_id=APPROVER_B.conversation_id))[-1]
    )
    assert b_card is not None
    assert "Access level: View customer data → View and record" in shown(b_card)

    # The old card (version 1) cannot decide the new version.
    stale = await invoke_card(http, server, execute(url, APPROVER_B, VERB_APPROVE, data))
    assert "The request has changed since this card was sent" in shown(stale)
    assert stale["actions"][0]["verb"] == VERB_APPROVE  # decide afresh
    # Reject needs a reason, then works on the current version.
    current = new_card["actions"][0]["data"]
    assert current["version"] == 3
    rejected = await invoke_card(
        http,
        server,
        execute(url, APPROVER_B, VERB_REJECT, current | {"reason": "Taso ei ole perusteltu."}),
    )
    # The decider as Teams names them (the fake client's "Test User"), area and e-mail.
    decider = "Test User, Northern Central Finland employment area (deputy@pks-area.example.fi)"
    assert f"Rejected by {decider}" in shown(rejected)
    # help card, the question, the rejection (the resubmit receipt: the manager acted)
    await connector.wait_for_activities(3, conversation_id=MANAGER.conversation_id)
    assert "on hylätty" in delivered_text(connector.sent(MANAGER.conversation_id)[-1])


async def test_who_may_not_decide_sees_read_only_and_bad_cards_change_nothing(
    db_url: str, start_bot: Any, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    server, runtime = await _setup(db_url, start_bot, connector, http)
    request = await runtime.service.requests.submit(
        MANAGER.email, draft(runtime.service.clock.today()), idempotency_key="ro-submit"
    )
    data = {"atmt_card": "approval", "request_id": request.id, "version": request.version}
    url = connector.service_url

    # The requester opens the card: read-only, and an Approve sent anyway is denied.
    view = await invoke_card(http, server, execute(url, MANAGER, VERB_OPEN, data))
    assert "actions" not in view
    assert "Voit vain tarkastella tätä hakemusta: et ole tämän työllisyysalueen" in shown(view)
    forged = await invoke_card(http, server, execute(url, MANAGER, VERB_APPROVE, data))
    assert "actions" not in forged
    # The worker may view the request about them, read-only.
    worker_view = await invoke_card(http, server, execute(url, WORKER, VERB_OPEN, data))
    assert "actions" not in worker_view
    bad_id = await invoke_card(
        http, server, execute(url, APPROVER_A, VERB_OPEN, data | {"request_id": "nope"})
    )
    assert "Hakemusta ei löydy." in shown(bad_id)
    bad_verb = await invoke_card(http, server, execute(url, APPROVER_A, "drop tables", data))
    assert "Tämä kortti ei ole enää käytössä" in shown(bad_verb)
    bad_version = await invoke_card(
        http, server, execute(url, APPROVER_A, VERB_APPROVE, data | {"version": "1"})
    )
    assert "Tämä kortti ei ole enää käytössä" in shown(bad_version)
    found = await runtime.service.queries.get_request(APPROVER_A.email, request.id)
    assert found.request.state is RequestState.PENDING and not found.decisions

    # A malformed invoke value gets the protocol's 400, never a 500.
    broken = execute(url, APPROVER_A, VERB_OPEN, data)
    broken["value"] = {"action": {"type": "Action.Submit"}}
    status, _ = await post_activity(http, server, broken)
    assert status == 400

    # The pending list: approvers see it and can open the request; others are told.
    for person, expected in (
        (APPROVER_A, "1 hakemus odottaa päätöstä."),
        (MANAGER, "Hakemusten ratkaiseminen kuuluu"),
    ):
        before = len(connector.sent(person.conversation_id))
        status, _ = await post_activity(
            http,
            server,
            message(
                url,
                "hyväksynnät",
                locale=person.locale,
                conversation_id=person.conversation_id,
                user_id=person.user_id,
                aad_object_id=person.aad,
            ),
        )
        assert status == 200
        answer = connector.sent(person.conversation_id)[before:]
        said = "\n".join(
            shown(c) if (c := activity_card(r)) else str(r.body.get("text")) for r in answer
        )
        assert expected in said
    # The list, not the notification of the new request that the notifier may deliver
    # to the approver at any moment (it can arrive after the list).
    [listing, *_] = [
        c
        for r in reversed(connector.sent(APPROVER_A.conversation_id))
        if (c := activity_card(r)) is not None and "1 hakemus odottaa päätöstä." in shown(c)
    ]
    [open_action] = [
        a for c in listing["body"] if c["type"] == "Container" for a in c["items"][-1]["actions"]
    ]
    opened = await invoke_card(
        http, server, execute(url, APPROVER_A, VERB_OPEN, open_action["data"])
    )
    assert opened["actions"][0]["verb"] == VERB_APPROVE
