"""Picking one of the municipality's active grants (change and revoke share it).

Up to :data:`dialogs.cards.grants.PICK_LIMIT` grants are listed at once; with more, the
card asks for (part of) the worker's name first and lists the matches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botbuilder.core import TurnContext

from access.model import Grant, GrantState
from dialogs import activity_fields as fields
from dialogs.cards.grants import GRANT_PICK_CARD, PICK_LIMIT, SEARCH_MAX, GrantLine, grant_pick_card
from dialogs.cards.request_form import FieldError
from dialogs.i18n import Messages
from dialogs.request_flow import FlowDeps, put_card, same_user
from dialogs.turn import messages_of
from dialogs.violations import code_name

__all__ = ["MATCH_LIMIT", "active_grants", "grant_label", "handle_pick", "show_pick"]

MATCH_LIMIT = 10


async def active_grants(
    deps: FlowDeps, email: str, municipalities: Sequence[str], areas: Sequence[str] = ()
) -> list[Grant]:
    """Active grants of the municipalities, and of the ``areas`` (where the person is an
    area contact or deputy: removal) except the person's own access."""
    grants = await deps.service.queries.list_grants_for(email, states=(GrantState.ACTIVE,))
    allowed, decides = set(municipalities), set(areas)
    return [
        g
        for g in grants
        if g.municipality in allowed or (g.area in decides and g.worker.email != email)
    ]


def grant_label(m: Messages, deps: FlowDeps, grant: Grant) -> str:
    municipality = deps.directory.municipality(grant.municipality)
    areas = ", ".join(code_name(m, deps.directory, "service_area", c) for c in grant.service_areas)
    return m.t(
        "manager.pick.line",
        name=grant.worker.name[:80],
        municipality=municipality.name if municipality else grant.municipality,
        service_areas=areas,
        end=m.format_date(grant.end),
    )


def _matches(grants: Sequence[Grant], search: str) -> list[Grant]:
    needle = search.casefold().strip()
    if not needle:
        return []
    return [g for g in grants if needle in g.worker.name.casefold()][:MATCH_LIMIT]


async def show_pick(
    context: TurnContext,
    deps: FlowDeps,
    state: dict[str, Any],
    purpose: str,
    *,
    search: str = "",
    errors: Sequence[FieldError] = (),
    card_id: str | None = None,
) -> int:
    """Send (or update) the pick card; the number of grants."""
    m = messages_of(context)
    grants = await active_grants(
        deps, state["email"], state["municipalities"], state.get("areas", ())
    )
    shown = grants if len(grants) <= PICK_LIMIT else _matches(grants, search)
    lines = [GrantLine(g.id, grant_label(m, deps, g)) for g in shown]
    pick = grant_pick_card(
        m,
        purpose,
        lines,
        total=len(grants),
        search=search,
        instance=state["instance"],
        errors=errors,
    )
    state["card_id"] = await put_card(context, pick, card_id)
    state["step"] = "pick"
    return len(grants)


async def handle_pick(
    context: TurnContext,
    deps: FlowDeps,
    state: dict[str, Any],
    value: Mapping[str, Any],
    purpose: str,
) -> Grant | str | None:
    """A click on the pick card: the chosen grant, ``"cancel"``, or None (answered)."""
    m = messages_of(context)
    if not same_user(context, state):
        await context.send_activity(m.t("manager.error.other_user"))
        return None
    if (
        value.get("atmt_instance") != state.get("instance")
        or value.get("atmt_card") != GRANT_PICK_CARD
    ):
        await context.send_activity(m.t("manager.card.old"))
        return None
    card_id = fields.card_message_id(context.activity) or state.get("card_id")
    action = value.get("atmt_action")
    if action == "cancel":
        return "cancel"
    raw_search = value.get("search")
    search = raw_search[:SEARCH_MAX] if isinstance(raw_search, str) else ""
    if action == "search":
        await show_pick(context, deps, state, purpose, search=search, card_id=card_id)
        return None
    grant_id = value.get("grant_id")
    grants = await active_grants(
        deps, state["email"], state["municipalities"], state.get("areas", ())
    )
    chosen = next((g for g in grants if isinstance(grant_id, str) and g.id == grant_id), None)
    if chosen is None:
        key = "manager.error.grant_required" if not grant_id else "manager.error.grant_not_offered"
        await show_pick(
            context,
            deps,
            state,
            purpose,
            search=search,
            errors=[FieldError("grant_id", m.t(key))],
            card_id=card_id,
        )
        return None
    state["card_id"] = card_id
    return chosen
