"""Acceptance 1 over HTTP: submit -> two approvers get the card -> A approves ->
B's refreshed card says "approved by A" -> B's click answers "already decided by A"
-> the requester and the worker are told. Real app, real port, fake connector."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from fakes.botapp import make_settings, texts
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
    notification_keys,
)

from bot.app import RUNTIME
from dialogs.cards.approval import VERB_APPROVE, VERB_REFRESH, VERB_STOP

SETTINGS = {"notifier_enabled": True, "notifier_interval": 0.05, "notify_backoff": 0.01}


def shown(card: dict[str, Any]) -> list[str]:
    """The card's texts as a user reads them (Markdown escapes removed)."""
    return [re.sub(r"\\(.)", r"\1", t) for t in texts(card)]


def _actions(card: dict[str, Any]) -> list[str]:
    return [a.get("verb") or a["type"] for a in card.get("actions", [])]


async def test_two_approvers_one_decision_everyone_hears(
    db_url: str, start_bot: Any, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url, **SETTINGS))
    runtime = server.app[RUNTIME]
    for person in (MANAGER, APPROVER_A, APPROVER_B, WORKER):
        await introduce(http, server, connector, person)
    greeted = len(connector.sent())
    assert runtime.service is not None and runtime.service.clock is not None
    request = await runtime.service.requests.submit(
        MANAGER.email, draft(runtime.service.clock.today()), idempotency_key="flow-submit"
    )

    # Both approvers get the card, each in their own language, with live refresh.
    sent_a = (await connector.wait_for_activities(2, conversation_id=APPROVER_A.conversation_id))[
        -1
    ]
    sent_b = (await connector.wait_for_activities(2, conversation_id=APPROVER_B.conversation_id))[
        -1
    ]
    a_card = activity_card(sent_a)
    b_card = activity_card(sent_b)
    assert a_card is not None and b_card is not None
    assert f"Käyttöoikeushakemus {request.number}" in texts(a_card)
    assert f"Access request {request.number}" in texts(b_card)
    assert _actions(a_card) == [VERB_APPROVE, "Action.ShowCard", "Action.ShowCard"]
    assert set(a_card["refresh"]["userIds"]) == {APPROVER_A.user_id, APPROVER_B.user_id}
    assert a_card["refresh"]["action"]["verb"] == VERB_REFRESH
    [factset] = [b for b in a_card["body"] if b["type"] == "FactSet"]
    facts = {f["title"]: f["value"] for f in factset["facts"]}
    assert facts["Kunta"] == "Laukaa"
    assert "Nuoret työnhakijat" in facts["Asiakaskohderyhmät"]
    assert facts["Voimassa"].count(".") == 4  # Finnish dates d.m.yyyy–d.m.yyyy
    # The worker is told in Swedish; the requester (the actor) saw the answer in chat.
    [worker_msg] = (await connector.wait_for_activities(2, conversation_id=WORKER.conversation_id))[
        1:
    ]
    assert "Behörighet till kunddatasystemet A-TMT har sökts för dig" in (
        delivered_text(worker_msg)
    )
    assert len(connector.sent(MANAGER.conversation_id)) == 1  # only the help card

    # A approves on the card.
    data = a_card["actions"][0]["data"]
    decided = await invoke_card(
        http, server, execute(connector.service_url, APPROVER_A, VERB_APPROVE, data)
    )
    # Decided: nothing left to decide; only stopping it before KEHA opens it remains.
    assert _actions(decided) == ["Action.ShowCard"] and "refresh" not in decided
    assert _actions(decided["actions"][0]["card"]) == [VERB_STOP]
    assert any("Hyväksytty. Päättäjä:" in t and "contact@pks-area" in t for t in shown(decided))

    # B's card refreshes to "approved by A", without buttons.
    refreshed = await invoke_card(
        http,
        server,
        execute(
            connector.service_url,
            APPROVER_B,
            VERB_REFRESH,
            b_card["refresh"]["action"]["data"],
            trigger="automatic",
        ),
    )
    assert _actions(refreshed) == ["Action.ShowCard"]  # only: stop before KEHA opens it
    assert any(t.startswith("Approved by") and "contact@pks-area" in t for t in shown(refreshed))

    # B clicks Approve on the old card afterwards: "already decided by A".
    late = await invoke_card(
        http,
        server,
        execute(connector.service_url, APPROVER_B, VERB_APPROVE, b_card["actions"][0]["data"]),
    )
    assert any(
        t.startswith("Already decided by") and "contact@pks-area" in t and "(approved)" in t
        for t in shown(late)
    )
    assert _actions(late) == ["Action.ShowCard"]  # only: stop before KEHA opens it
    # A's second click (a retried invoke) changes nothing and shows the same outcome.
    again = await invoke_card(
        http, server, execute(connector.service_url, APPROVER_A, VERB_APPROVE, data)
    )
    assert any("Hyväksytty. Päättäjä:" in t and "contact@pks-area" in t for t in shown(again))

    # The requester and the worker hear the outcome.
    [to_manager] = (
        await connector.wait_for_activities(2, conversation_id=MANAGER.conversation_id)
    )[1:]
    assert f"Hakemus {request.number} (Aino Esimerkki) on hyväksytty" in delivered_text(to_manager)
    to_worker = (await connector.wait_for_activities(3, conversation_id=WORKER.conversation_id))[-1]
    assert "har godkänts" in delivered_text(to_worker)

    # Every notification arrived once; none was sent to the wrong person.
    keys = notification_keys(connector.sent()[greeted:])
    assert len(keys) == len(set(keys)) == 5  # 2 cards, worker x2, requester x1
    assert all(k.startswith(f"{request.id}:") for k in keys)
