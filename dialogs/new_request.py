"""New access for a named worker ("uusi" / "ny" / "new").

One card with every field (see :mod:`dialogs.request_flow`), a summary, Confirm:
one card submission plus one confirmation. Continue already checks what the database
knows (the worker's access or open request in the area): when the worker already has
access, the form offers to change it instead (the change dialog takes over). Only
requesters of a municipality in the directory may start it; the municipality list
holds only their municipalities.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from botbuilder.dialogs import Dialog, DialogContext, DialogTurnResult

from access.errors import AccessDenied
from access.model import AccessRequest, RequestDraft, RequestKind
from access.policy import Violation, add_months
from dialogs import activity_fields as fields
from dialogs.cards.request_form import FormOptions
from dialogs.i18n import Messages
from dialogs.request_flow import (
    FlowDeps,
    FormDialogMixin,
    check_draft,
    draft_from_values,
    requester_state,
    resolve_requester,
)
from dialogs.turn import messages_of

__all__ = ["NewRequestDialog", "requester_options"]


def requester_options(
    m: Messages, deps: FlowDeps, municipalities: tuple[str, ...], mode: str = "new"
) -> FormOptions:
    """Municipalities of the requester; service areas, levels and confirmations of
    their areas (in directory order)."""
    directory = deps.directory
    service_areas: dict[str, str] = {}
    levels: dict[str, str] = {}
    requires: set[str] = set()
    choices: list[tuple[str, str]] = []
    for code in municipalities:
        municipality = directory.municipality(code)
        area = directory.area_of(code)
        if municipality is None or area is None:
            continue
        choices.append((code, municipality.name))
        for sa in area.service_areas:
            service_areas.setdefault(sa, directory.service_areas[sa].name.get(m.locale))
        for level in area.access_levels:
            levels.setdefault(level, directory.access_levels[level].name.get(m.locale))
        requires |= area.requires
    return FormOptions(
        mode=mode,
        municipalities=choices,
        service_areas=list(service_areas.items()),
        levels=list(levels.items()),
        confirmations=sorted(requires),
    )


class NewRequestDialog(FormDialogMixin, Dialog):  # type: ignore[misc]
    ID = "manager.new_request"
    mode = "new"

    def __init__(self, deps: FlowDeps) -> None:
        super().__init__(self.ID)
        self.deps = deps

    def form_options(self, m: Messages, state: Mapping[str, Any]) -> FormOptions:
        return requester_options(m, self.deps, tuple(state["municipalities"]))

    def make_draft(
        self, values: Mapping[str, str], state: Mapping[str, Any], options: FormOptions
    ) -> RequestDraft:
        return draft_from_values(
            values, kind=RequestKind.GRANT, confirmations=options.confirmations
        )

    async def precheck(self, draft: RequestDraft, state: Mapping[str, Any]) -> list[Violation]:
        municipalities: list[str] = state["municipalities"]
        if draft.municipality in municipalities:
            try:  # every rule, the duplicate worker included, before the summary
                return await self.deps.service.requests.check(state["email"], draft)
            except AccessDenied:  # no longer a requester there: Confirm will say so
                return check_draft(self.deps, draft)
        # No (offered) municipality: the form says so at the input; check the rest
        # against the requester's first municipality so every other problem shows too.
        probe = replace(draft, municipality=municipalities[0])
        return [v for v in check_draft(self.deps, probe) if v.field != "municipality"]

    async def send(self, draft: RequestDraft, state: Mapping[str, Any], key: str) -> AccessRequest:
        return await self.deps.service.requests.submit(state["email"], draft, idempotency_key=key)

    async def begin_dialog(
        self, dialog_context: DialogContext, options: object = None
    ) -> DialogTurnResult:
        context = dialog_context.context
        requester = await resolve_requester(context, self.deps)
        if requester is None:
            return await dialog_context.end_dialog()
        today = self.deps.today()
        values: dict[str, str] = {"start": today.isoformat()}
        if len(requester.municipalities) == 1:
            values["municipality"] = requester.municipalities[0]
        area = self.deps.directory.area_of(requester.municipalities[0])
        if area is not None:
            values["end"] = add_months(today, area.max_grant_months).isoformat()
            if len(area.access_levels) == 1:
                values["level"] = area.access_levels[0]
        state = dialog_context.active_dialog.state
        state.update(requester_state(requester, values))
        await self.show_form(context, state)
        return Dialog.end_of_turn

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        context = dialog_context.context
        if not fields.is_message(context.activity):
            return Dialog.end_of_turn
        state = dialog_context.active_dialog.state
        result = await self.continue_form(dialog_context, state)
        if result is not None:
            return result
        await context.send_activity(messages_of(context).t("manager.card.reprompt"))
        return Dialog.end_of_turn
