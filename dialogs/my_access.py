"""A worker's own access ("oikeuteni" / "mina behörigheter" / "my access").

After the acknowledgement the card the button was on is updated in place: it shows
when the terms were acknowledged and has no button left.

Shows the grants held by the sender's e-mail (active or being revoked) and the open
requests about them. For an active grant whose data-protection terms the worker has
not acknowledged yet, the card carries the terms and an acknowledgement button; the
click is recorded by :class:`access.acknowledgements.Acknowledgements` (an audit row).
The dialog ends in the same turn; the acknowledgement button works afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.dialogs import Dialog, DialogContext, DialogTurnResult

from access.errors import AccessDenied, AccessError
from access.model import LIVE_GRANT_STATES, OPEN_STATES, GrantState
from dialogs import activity_fields as fields
from dialogs.cards.grants import ACK_CARD, acknowledged_card, my_access_card
from dialogs.i18n import Messages
from dialogs.request_flow import FlowDeps, card_activity, put_card, resolve_requester, state_label
from dialogs.turn import messages_of
from dialogs.violations import code_name

__all__ = ["ACK_CARD", "MyAccessDialog", "acknowledge_from_card"]


class MyAccessDialog(Dialog):  # type: ignore[misc]
    ID = "manager.my_access"

    def __init__(self, deps: FlowDeps) -> None:
        super().__init__(self.ID)
        self.deps = deps

    async def begin_dialog(
        self, dialog_context: DialogContext, options: object = None
    ) -> DialogTurnResult:
        context = dialog_context.context
        person = await resolve_requester(context, self.deps, need_role=False)
        if person is not None:
            view = await my_access_view(context, self.deps, person.email)
            await context.send_activity(card_activity(view))
        return await dialog_context.end_dialog()


async def my_access_view(
    context: TurnContext, deps: FlowDeps, email: str, *, notice: str | None = None
) -> dict[str, Any]:
    """The worker's card as it is now: grants, acknowledgements, open requests."""
    m = messages_of(context)
    data = await deps.service.queries.my_data(email)
    acks = deps.acknowledgements
    directory = deps.directory
    grants: list[tuple[str, list[tuple[str, str]], str | None]] = []
    for grant in data.grants_about_me:
        if grant.state not in LIVE_GRANT_STATES:
            continue
        municipality = directory.municipality(grant.municipality)
        facts = [
            (m.t("manager.field.municipality"), municipality.name if municipality else ""),
            (
                m.t("manager.field.service_areas"),
                ", ".join(
                    code_name(m, directory, "service_area", c) for c in grant.service_areas
                ),
            ),
            (m.t("manager.field.level"), code_name(m, directory, "level", grant.level)),
            (m.t("manager.field.start"), m.format_date(grant.start)),
            (m.t("manager.field.end"), m.format_date(grant.end)),
            (m.t("manager.fact.state"), m.t(f"manager.grant_state.{grant.state.value}")),
        ]
        when = await acks.acknowledged_at(grant)
        if when is not None:
            facts.append((m.t("manager.fact.acknowledged"), m.format_datetime(when)))
        ack_id = grant.id if grant.state is GrantState.ACTIVE and when is None else None
        grants.append((grant.worker.name, facts, ack_id))
    requests: list[list[tuple[str, str]]] = []
    for request in data.requests_about_me:
        if request.state not in OPEN_STATES:
            continue
        requests.append(_request_facts(m, deps, request))
    return my_access_card(m, grants, requests, notice=notice)


def _request_facts(m: Messages, deps: FlowDeps, request: Any) -> list[tuple[str, str]]:
    municipality = deps.directory.municipality(request.municipality)
    return [
        (m.t("manager.fact.number"), request.number),
        (m.t("manager.fact.kind"), m.t(f"manager.kind.{request.kind.value}")),
        (m.t("manager.field.municipality"), municipality.name if municipality else ""),
        (m.t("manager.fact.state"), state_label(m, request.state)),
    ]


async def acknowledge_from_card(
    context: TurnContext, deps: FlowDeps, value: Mapping[str, Any]
) -> None:
    """The worker clicked "I acknowledge" on the terms (``atmt_card=access_ack``)."""
    m = messages_of(context)
    grant_id = value.get("grant_id")
    if not isinstance(grant_id, str) or not grant_id or len(grant_id) > 64:
        await context.send_activity(m.t("manager.card.expired"))
        return
    if value.get(f"ack_{grant_id[:32]}") != "true":
        await context.send_activity(m.t("manager.ack.error"))
        return
    person = await resolve_requester(context, deps, need_role=False)
    if person is None:
        return
    try:
        when = await deps.acknowledgements.acknowledge(person.email, grant_id)
    except AccessDenied:
        await context.send_activity(m.t("manager.error.other_user"))
        return
    except AccessError:
        await context.send_activity(m.t("manager.ack.gone"))
        return
    # The card the button was on shows the acknowledgement now and has no button left.
    card_id = fields.card_message_id(context.activity)
    if card_id:
        done = m.t("manager.ack.done", when=m.format_datetime(when))
        view = await my_access_view(context, deps, person.email, notice=done)
        await put_card(context, view, card_id)
    else:
        await context.send_activity(card_activity(acknowledged_card(m, m.format_datetime(when))))
