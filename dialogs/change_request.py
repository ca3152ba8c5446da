"""Change an active grant ("muutos" / "ändra" / "change").

Pick the grant (search by name when there are many), then the request form prefilled
with the grant's worker name and job title (a correction of either is a change too),
service areas, level and end date. It offers only what a change can change: not the
e-mail (the worker's identity: a different person needs a new request, the form says
so), the municipality or the start (the change takes effect from today, or the grant's
start if later). The same validation as a new request, with the database's rules
(another change on its way) at Continue, then the summary, and Confirm submits a
``change`` request for that grant. The new-request form hands over to this dialog with
``{"grant_id": ...}`` when the worker already has access: the pick is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.dialogs import Dialog, DialogContext, DialogTurnResult

from access.errors import AccessDenied
from access.model import AccessRequest, Grant, RequestDraft, RequestKind
from access.policy import Violation
from dialogs import activity_fields as fields
from dialogs.cards.grants import GRANT_PICK_CARD
from dialogs.cards.request_form import FormOptions
from dialogs.grant_pick import active_grants, handle_pick, show_pick
from dialogs.i18n import Messages
from dialogs.new_request import requester_options
from dialogs.request_flow import (
    CHANGE_REQUEST_DIALOG,
    FlowDeps,
    FormDialogMixin,
    draft_from_values,
    requester_state,
    resolve_requester,
)
from dialogs.turn import messages_of

__all__ = ["ChangeRequestDialog", "change_start", "grant_snapshot"]


def change_start(grant: Mapping[str, Any], today: date) -> date:
    """When a change takes effect: today, or the grant's start if that is later (a
    change cannot move the start; KEHA's row carries this date)."""
    return max(date.fromisoformat(grant["start"]), today)


def grant_snapshot(grant: Grant) -> dict[str, Any]:
    """What the form shows of the grant (kept in the dialog state as JSON)."""
    return {
        "id": grant.id,
        "worker_name": grant.worker.name,
        "worker_email": grant.worker.email,
        "worker_job_title": grant.worker.job_title,
        "municipality": grant.municipality,
        "service_areas": list(grant.service_areas),
        "level": grant.level,
        "start": grant.start.isoformat(),
        "end": grant.end.isoformat(),
    }


class ChangeRequestDialog(FormDialogMixin, Dialog):  # type: ignore[misc]
    ID = CHANGE_REQUEST_DIALOG
    mode = "change"

    def __init__(self, deps: FlowDeps) -> None:
        super().__init__(self.ID)
        self.deps = deps

    def form_options(self, m: Messages, state: Mapping[str, Any]) -> FormOptions:
        grant = state["grant"]
        base = requester_options(m, self.deps, (grant["municipality"],), mode="change")
        municipality = self.deps.directory.municipality(grant["municipality"])
        return FormOptions(
            mode="change",
            service_areas=base.service_areas,
            levels=base.levels,
            confirmations=base.confirmations,
            fixed=[
                (m.t("manager.field.worker_email"), grant["worker_email"]),
                (
                    m.t("manager.field.municipality"),
                    municipality.name if municipality else grant["municipality"],
                ),
            ],
            editable_worker=True,  # a correction of the name or job title
            worker_email_input=False,
            municipality_input=False,
            start_input=False,
            identity_note=True,
        )

    def make_draft(
        self, values: Mapping[str, str], state: Mapping[str, Any], options: FormOptions
    ) -> RequestDraft:
        grant = state["grant"]
        draft = draft_from_values(
            values,
            kind=RequestKind.CHANGE,
            confirmations=options.confirmations,
            municipality=grant["municipality"],
            worker_email=grant["worker_email"],
            grant_id=grant["id"],
        )
        return replace(draft, start=change_start(grant, self.deps.today()))

    async def precheck(self, draft: RequestDraft, state: Mapping[str, Any]) -> list[Violation]:
        # Every rule, another change of the grant on its way included, at Continue.
        try:
            return await self.deps.service.requests.check(state["email"], draft)
        except AccessDenied:  # no longer a requester there: Confirm will say so
            return []

    async def send(self, draft: RequestDraft, state: Mapping[str, Any], key: str) -> AccessRequest:
        return await self.deps.service.requests.submit(state["email"], draft, idempotency_key=key)

    async def begin_dialog(
        self, dialog_context: DialogContext, options: object = None
    ) -> DialogTurnResult:
        context = dialog_context.context
        requester = await resolve_requester(context, self.deps)
        if requester is None:
            return await dialog_context.end_dialog()
        state = dialog_context.active_dialog.state
        state.update(requester_state(requester, {}))
        wanted = options.get("grant_id") if isinstance(options, dict) else None
        if isinstance(wanted, str):
            grants = await active_grants(self.deps, requester.email, requester.municipalities)
            chosen = next((g for g in grants if g.id == wanted), None)
            if chosen is not None:
                await self._open_form(context, state, chosen)
                return Dialog.end_of_turn
        if await show_pick(context, self.deps, state, "change") == 0:
            await context.send_activity(messages_of(context).t("manager.pick.none"))
            return await dialog_context.end_dialog()
        return Dialog.end_of_turn

    async def _open_form(self, context: TurnContext, state: dict[str, Any], grant: Grant) -> None:
        state["grant"] = grant_snapshot(grant)
        state["values"] = {
            "worker_name": grant.worker.name,
            "worker_job_title": grant.worker.job_title,
            "service_areas": ",".join(grant.service_areas),
            "level": grant.level,
            "end": grant.end.isoformat(),
        }
        await self.show_form(context, state, card_id=state.get("card_id"))

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        context = dialog_context.context
        if not fields.is_message(context.activity):
            return Dialog.end_of_turn
        state = dialog_context.active_dialog.state
        value = fields.value(context.activity)
        if isinstance(value, dict) and value.get("atmt_card") == GRANT_PICK_CARD:
            if state.get("step") != "pick":
                await context.send_activity(messages_of(context).t("manager.card.old"))
                return Dialog.end_of_turn
            chosen = await handle_pick(context, self.deps, state, value, "change")
            if chosen == "cancel":
                return await self.cancel_flow(dialog_context, state)
            if chosen is None or isinstance(chosen, str):
                return Dialog.end_of_turn
            await self._open_form(context, state, chosen)
            return Dialog.end_of_turn
        if "grant" in state:
            result = await self.continue_form(dialog_context, state)
            if result is not None:
                return result
        await context.send_activity(messages_of(context).t("manager.card.reprompt"))
        return Dialog.end_of_turn
