"""An area contact or deputy stops, on their card of the request, an approved request
KEHA has not confirmed yet (approved, queued in a batch, sent to KEHA), with the area's
reason; second clicks, stale cards, people who may not stop it and a request past
stopping get a line saying so. The admin's batch card does not offer to confirm a sent
row whose request is being stopped."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import StartBot
from fakes.botapp import EXAMPLE_DIRECTORY, card_of, make_settings, texts
from fakes.connector import FakeConnector
from fakes.manager_chat import Chat, actions
from fakes.notify_support import (
    ADMIN,
    APPROVER_A,
    APPROVER_B,
    MANAGER,
    WORKER,
    Person,
    draft,
    execute,
    introduce,
    invoke_card,
)

from access.directory import load_directory_file
from access.model import AccessRequest, RequestState, RevokeReason
from access.service import AccessService
from bot.app import RUNTIME
from dialogs.cards.approval import VERB_OPEN, VERB_REFRESH, VERB_STOP, VERB_STOP_CONFIRM
from dialogs.i18n import Messages, Translator

T = Translator.load()
AREA = "pohjoinen-keski-suomi"
#: The deputy, reading Swedish.
DEPUTY_SV = replace(APPROVER_B, locale="sv-FI")
EERO = "eero.esimerkki@laukaa.example.fi"


def shown(card: dict[str, Any]) -> str:
    """Everything the card says, Markdown escapes removed, as one text."""
    return "\n".join(re.sub(r"\\(.)", r"\1", t) for t in texts(card))


def executes(node: Any) -> list[dict[str, Any]]:
    """Every Action.Execute of a card (ShowCard cards included)."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "Action.Execute":
            found.append(node)
        for value in node.values():
            found.extend(executes(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(executes(item))
    return found


def stop_choices(card: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("id") == "stop_reason":
                found.extend(c["value"] for c in node["choices"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return found


def button(card: dict[str, Any], title: str) -> dict[str, Any]:
    [found] = [a for a in executes(card) if a["title"] == title]
    return found


async def _setup(
    db_url: str,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    *people: Person,
    **kwargs: Any,
) -> tuple[Any, AccessService]:
    server = await start_bot(make_settings(db_url), **kwargs)
    for person in (MANAGER, APPROVER_A, APPROVER_B, WORKER, *people):
        await introduce(http, server, connector, person)
    service = server.app[RUNTIME].service
    assert service is not None
    return server, service


async def _approved(
    service: AccessService, key: str, *, email: str = WORKER.email, name: str = "Aino Esimerkki"
) -> AccessRequest:
    request = await service.requests.submit(
        MANAGER.email,
        draft(service.clock.today(), worker_email=email, worker_name=name),
        idempotency_key=f"{key}-submit",
    )
    return await service.requests.approve(
        APPROVER_A.email, request.id, idempotency_key=f"{key}-approve"
    )


async def _state(service: AccessService, request_id: str) -> AccessRequest:
    return (await service.queries.get_request(MANAGER.email, request_id)).request


async def _stop(
    http: aiohttp.ClientSession,
    server: Any,
    connector: FakeConnector,
    person: Person,
    card: dict[str, Any],
    m: Messages,
    reason: str,
    note: str = "",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fill the stop form of ``card`` and continue (the confirmation), then confirm."""
    form = button(card, m.t("approval.stop.continue"))
    data = form["data"] | {"stop_reason": reason, "stop_note": note}
    question = await invoke_card(
        http, server, execute(connector.service_url, person, VERB_STOP, data)
    )
    yes = button(question, m.t("approval.stop.confirm.yes"))
    done = await invoke_card(
        http, server, execute(connector.service_url, person, VERB_STOP_CONFIRM, yes["data"])
    )
    return question, done


@pytest.mark.parametrize(
    ("person", "lang"), [(APPROVER_A, "fi"), (DEPUTY_SV, "sv")], ids=["fi", "sv"]
)
async def test_an_approver_stops_an_approved_request_on_their_card(
    person: Person,
    lang: str,
    db_url: str,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
) -> None:
    server, service = await _setup(db_url, start_bot, connector, http, person)
    m = T.get(lang)
    request = await _approved(service, "a")
    data = {"atmt_card": "approval", "request_id": request.id, "version": request.version}
    url = connector.service_url

    # The card the notification's "open the request" button gives offers the stop.
    card = await invoke_card(http, server, execute(url, person, VERB_OPEN, data))
    assert m.t("approval.action.stop") in [a["title"] for a in card["actions"]]
    # The area's reasons, as for a removal.
    assert stop_choices(card) == [
        "task_ended",
        "employment_ended",
        "misuse",
        "agreement_breach",
        "other",
    ]
    assert m.t("manager.revoke_reason.misuse") in str(card)

    question, done = await _stop(http, server, connector, person, card, m, "task_ended")
    # The confirmation says what happens, with the reason; nothing is stopped before it.
    said = shown(question)
    assert m.t("approval.stop.confirm.title", number=request.number) in said
    assert m.t("approval.stop.confirm.approved") in said
    assert m.t("manager.revoke_reason.task_ended") in said
    assert m.t("approval.stop.confirm.no") in [a["title"] for a in question["actions"]]
    # ...and the card shows the stopped state, with nothing left to press.
    said = shown(done)
    assert m.t("approval.stop.saved.stopped", number=request.number) in said
    assert m.t("manager.revoke_reason.task_ended") in said
    assert "actions" not in done
    stopped = await _state(service, request.id)
    assert stopped.state is RequestState.STOPPED
    assert stopped.revoke_reason is not None and stopped.revoke_reason.value == "task_ended"

    # The same confirmation again (a second click): already stopped, nothing more done.
    yes = button(question, m.t("approval.stop.confirm.yes"))
    again = await invoke_card(http, server, execute(url, person, VERB_STOP_CONFIRM, yes["data"]))
    assert m.t("approval.stop.already") in shown(again)
    assert "actions" not in again
    assert (await _state(service, request.id)).version == stopped.version
    # "Do not stop" on the old confirmation only shows the card as it is.
    no = button(question, m.t("approval.stop.confirm.no"))
    assert no["verb"] == VERB_REFRESH


async def test_queued_and_sent_requests_are_stopped_the_sent_one_with_a_cancellation(
    db_url: str, start_bot: StartBot, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    server, service = await _setup(db_url, start_bot, connector, http)
    m = T.get("fi")
    url = connector.service_url
    queued = await _approved(service, "q")
    sent = await _approved(service, "s", email=EERO, name="Eero Esimerkki")
    first = await service.handoff.queue_for_keha(
        ADMIN.email, AREA, idempotency_key="b1", request_ids=[sent.id]
    )
    await service.handoff.mark_sent(ADMIN.email, first.id, idempotency_key="b1-sent")
    second = await service.handoff.queue_for_keha(
        ADMIN.email, AREA, idempotency_key="b2", request_ids=[queued.id]
    )

    # Queued: misuse needs a note; without one the form says so and nothing is stopped.
    current = await _state(service, queued.id)
    data = {"atmt_card": "approval", "request_id": queued.id, "version": current.version}
    card = await invoke_card(http, server, execute(url, APPROVER_A, VERB_OPEN, data))
    missing = await invoke_card(
        http,
        server,
        execute(url, APPROVER_A, VERB_STOP, data | {"stop_reason": "misuse", "stop_note": " "}),
    )
    assert m.t("manager.error.note_required_area") in shown(missing)
    other = data | {"stop_reason": "other", "stop_note": ""}  # "other" needs one too
    missing = await invoke_card(http, server, execute(url, APPROVER_A, VERB_STOP, other))
    assert m.t("manager.error.note_required_area") in shown(missing)
    assert (await _state(service, queued.id)).state is RequestState.QUEUED_FOR_KEHA
    question, done = await _stop(
        http, server, connector, APPROVER_A, card, m, "misuse", "Haki asiakkaita ilman syytä."
    )
    assert m.t("approval.stop.confirm.queued") in shown(question)
    assert m.t("approval.stop.saved.stopped", number=queued.number) in shown(done)
    assert (await _state(service, queued.id)).state is RequestState.STOPPED
    batch = await server.app[RUNTIME].authority.authority.batch(ADMIN.email, second.id)
    assert not batch.rows  # taken out of the batch that was not sent

    # Sent: being stopped, an urgent cancellation row goes in the next batch.
    current = await _state(service, sent.id)
    data = {"atmt_card": "approval", "request_id": sent.id, "version": current.version}
    card = await invoke_card(http, server, execute(url, APPROVER_A, VERB_OPEN, data))
    question, done = await _stop(http, server, connector, APPROVER_A, card, m, "employment_ended")
    assert m.t("approval.stop.confirm.sent") in shown(question)
    said = shown(done)
    assert m.t("approval.stop.saved.stopping", number=sent.number) in said
    assert "KEHA-keskukselle välitetään kiireellinen peruutus" in said  # the badge says so too
    assert (await _state(service, sent.id)).state is RequestState.STOPPING
    following = await service.handoff.queue_for_keha(ADMIN.email, AREA, idempotency_key="b3")
    [row] = following.rows
    assert row.request_id == sent.id and row.is_cancellation and row.urgent


async def test_who_may_not_stop_and_what_cannot_be_stopped_get_a_clear_answer(
    db_url: str,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    # The worker of one request is also a deputy of the area (an own-access case).
    text = EXAMPLE_DIRECTORY.read_text(encoding="utf-8").replace(
        "deputies: [deputy@pks-area.example.fi]",
        f"deputies: [deputy@pks-area.example.fi, {EERO}]",
    )
    path = tmp_path / "directory.yaml"
    path.write_text(text, encoding="utf-8")
    eero = Person("eero", EERO, "29:eero", "00000000-0000-0000-0000-0000000000b1", "en-GB")
    server, service = await _setup(
        db_url, start_bot, connector, http, eero, directory=load_directory_file(path)
    )
    url = connector.service_url
    fi, en = T.get("fi"), T.get("en")
    request = await _approved(service, "r")
    data = {"atmt_card": "approval", "request_id": request.id, "version": request.version}
    yes = data | {"stop_reason": "employment_ended", "stop_note": ""}

    # The requester (a municipal manager) forges the approver's stop: refused, read-only.
    forged = await invoke_card(http, server, execute(url, MANAGER, VERB_STOP_CONFIRM, yes))
    assert fi.t("approval.stop.denied.not_approver_in_area") in shown(forged)
    assert "actions" not in forged
    # The worker, who has no role, may not even see the approver's card.
    worker = await invoke_card(http, server, execute(url, WORKER, VERB_STOP_CONFIRM, yes))
    assert "actions" not in worker
    assert (await _state(service, request.id)).state is RequestState.APPROVED
    # A reason the area does not have (the requester's "withdrawn") is not taken.
    withdrawn = await invoke_card(
        http,
        server,
        execute(url, APPROVER_A, VERB_STOP, data | {"stop_reason": "withdrawn"}),
    )
    assert fi.t("approval.stop.reason.error") in shown(withdrawn)

    # A stale card: the request was queued since; the card offers the stop afresh.
    await service.handoff.queue_for_keha(
        ADMIN.email, AREA, idempotency_key="q1", request_ids=[request.id]
    )
    stale = await invoke_card(http, server, execute(url, APPROVER_A, VERB_STOP_CONFIRM, yes))
    assert fi.t("approval.stop.stale") in shown(stale)
    assert fi.t("approval.action.stop") in [a["title"] for a in stale["actions"]]
    assert (await _state(service, request.id)).state is RequestState.QUEUED_FOR_KEHA

    # The deputy's own access: no stop on the card, a forged stop is refused.
    own = await _approved(service, "own", email=EERO, name="Eero Esimerkki")
    own_data = {"atmt_card": "approval", "request_id": own.id, "version": own.version}
    card = await invoke_card(http, server, execute(url, eero, VERB_OPEN, own_data))
    assert "actions" not in card
    refused = await invoke_card(
        http,
        server,
        execute(url, eero, VERB_STOP_CONFIRM, own_data | {"stop_reason": "other"}),
    )
    assert en.t("approval.stop.denied.own_access") in shown(refused)
    assert (await _state(service, own.id)).state is RequestState.APPROVED

    # Past stopping: KEHA confirmed it (done); a removal ends it from now on.
    batch = await service.handoff.queue_for_keha(
        ADMIN.email, AREA, idempotency_key="q2", request_ids=[own.id]
    )
    await service.handoff.mark_sent(ADMIN.email, batch.id, idempotency_key="q2-sent")
    [row] = batch.rows
    done = await service.handoff.confirm_row(ADMIN.email, row.id, idempotency_key="q2-ok")
    late = {"atmt_card": "approval", "request_id": own.id, "version": done.version}
    past = await invoke_card(
        http,
        server,
        execute(url, APPROVER_A, VERB_STOP, late | {"stop_reason": "other"}),
    )
    assert fi.t("approval.stop.not_stoppable") in shown(past)
    assert "actions" not in past


async def test_the_batch_card_does_not_offer_to_confirm_a_row_being_stopped(
    db_url: str, start_bot: StartBot, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    server, service = await _setup(db_url, start_bot, connector, http)
    m = T.get("fi")
    first = await _approved(service, "a")
    second = await _approved(service, "b", email=EERO, name="Eero Esimerkki")
    batch = await service.handoff.queue_for_keha(ADMIN.email, AREA, idempotency_key="b1")
    await service.handoff.mark_sent(ADMIN.email, batch.id, idempotency_key="b1-sent")
    rows = {r.request_id: r.id for r in batch.rows}
    admin = Chat(http, server, connector, email=ADMIN.email, locale="fi-FI")
    overview = card_of((await admin.say("keha"))[0].body)
    before = card_of((await admin.press(overview, m.t("keha.open_batch")))[0].body)

    await service.requests.stop(
        APPROVER_A.email,
        first.id,
        RevokeReason.EMPLOYMENT_ENDED,
        idempotency_key="stop-a",
    )
    overview = card_of((await admin.say("keha"))[0].body)
    batch_card = card_of((await admin.press(overview, m.t("keha.open_batch")))[0].body)
    said = texts(batch_card)
    assert any(first.number in t and m.t("keha.row.stopping") in t for t in said)
    assert any(second.number in t and m.t("keha.row.sent") in t for t in said)
    [choices] = [b["choices"] for b in batch_card["body"] if b.get("id") == "rows"]
    assert [c["value"] for c in choices] == [rows[second.id]]

    # The card shown before the stop still lists the row: confirming it is refused with
    # the reason, and the card is updated to the present.
    answer = await admin.press(before, m.t("keha.confirm.selected"), {"rows": rows[first.id]})
    assert m.t("keha.confirm.stopping") in [r.body.get("text") for r in answer]
    assert (await _state(service, first.id)).state is RequestState.STOPPING

    # Confirm all confirms the other row; the card then has nothing to confirm and says
    # the stopped row waits for its cancellation.
    done = await admin.press(batch_card, m.t("keha.confirm.all"))
    assert m.t("keha.confirmed", count=1) in [r.body.get("text") for r in done]
    [after] = [card_of(r.body) for r in done if r.body.get("attachments")]
    assert m.t("keha.confirm.only_stopping") in texts(after)
    assert not actions(after)
