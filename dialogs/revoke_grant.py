"""Revoke a grant ("poisto" / "återkalla" / "revoke").

Pick the grant (search by name when there are many), then one card: reason
(employment ended, tasks changed, other with an explanation) and the effective date
(default today); a summary; Confirm calls ``revoke_by_municipality`` - no approval,
urgent for KEHA - and the manager is told what happens next. The effective date and
the explanation travel to the area contact and KEHA in the revoke's note.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from botbuilder.dialogs import Dialog, DialogContext, DialogTurnResult

from access.errors import AccessDenied, AccessError, PolicyViolations
from access.model import RevokeReason
from dialogs import activity_fields as fields
from dialogs.cards.grants import (
    GRANT_PICK_CARD,
    REVOKE_FORM_CARD,
    REVOKE_REASONS,
    REVOKE_SUMMARY_CARD,
    revoke_form_card,
    revoke_sent_card,
    revoke_summary_card,
)
from dialogs.cards.request_form import FieldError
from dialogs.change_request import grant_snapshot
from dialogs.grant_pick import handle_pick, show_pick
from dialogs.i18n import Messages
from dialogs.request_flow import (
    FlowDeps,
    close_open_card,
    form_errors,
    put_card,
    requester_state,
    resolve_requester,
    same_user,
    state_label,
)
from dialogs.turn import messages_of
from dialogs.violations import code_name

__all__ = ["RevokeGrantDialog"]

NOTE_MAX = 1500  # leaves room for the effective date within the service's 2000


class RevokeGrantDialog(Dialog):  # type: ignore[misc]
    ID = "manager.revoke_grant"

    def __init__(self, deps: FlowDeps) -> None:
        super().__init__(self.ID)
        self.deps = deps

    # ------------------------------------------------------------------ cards

    def _grant_facts(self, m: Messages, state: Mapping[str, Any]) -> list[tuple[str, str]]:
        grant = state["grant"]
        municipality = self.deps.directory.municipality(grant["municipality"])
        return [
            (m.t("manager.field.worker_name"), grant["worker_name"]),
            (m.t("manager.field.worker_email"), grant["worker_email"]),
            (
                m.t("manager.field.municipality"),
                municipality.name if municipality else grant["municipality"],
            ),
            (
                m.t("manager.field.service_areas"),
                ", ".join(
                    code_name(m, self.deps.directory, "service_area", c)
                    for c in grant["service_areas"]
                ),
            ),
            (m.t("manager.field.end"), m.format_date(date.fromisoformat(grant["end"]))),
        ]

    async def _show_form(
        self,
        dc: DialogContext,
        state: dict[str, Any],
        errors: list[FieldError] | None = None,
        card_id: str | None = None,
    ) -> None:
        m = messages_of(dc.context)
        form = revoke_form_card(
            m,
            self._grant_facts(m, state),
            state["values"],
            errors or [],
            instance=state["instance"],
        )
        state["card_id"] = await put_card(dc.context, form, card_id)
        state["step"] = "form"

    # ---------------------------------------------------------------- parsing

    def _parse(
        self, m: Messages, value: Mapping[str, Any], state: Mapping[str, Any]
    ) -> tuple[dict[str, str], list[FieldError]]:
        values: dict[str, str] = {}
        errors: list[FieldError] = []
        reason = value.get("reason")
        if isinstance(reason, str) and reason in REVOKE_REASONS:
            values["reason"] = reason
        elif reason:
            errors.append(FieldError("reason", m.t("manager.error.reason_not_offered")))
        else:
            errors.append(FieldError("reason", m.t("manager.field.reason.error")))
        note = value.get("note")
        note_text = note.strip() if isinstance(note, str) else ""
        if note is not None and not isinstance(note, str):
            errors.append(FieldError("note", m.t("manager.error.invalid_value")))
        if len(note_text) > NOTE_MAX:
            errors.append(
                FieldError(
                    "note",
                    m.t(
                        "violation.text.too_long",
                        max_length=NOTE_MAX,
                        length=len(note_text),
                        field=m.t("manager.field.note"),
                    ),
                )
            )
            note_text = note_text[:NOTE_MAX]
        values["note"] = note_text
        if values.get("reason") == "other" and not note_text:
            errors.append(FieldError("note", m.t("manager.error.note_required")))
        effective = value.get("effective")
        today = self.deps.today()
        area = self.deps.directory.area_of(state["grant"]["municipality"])
        grace = area.start_grace_days if area is not None else 0
        try:
            day = date.fromisoformat(effective[:10]) if isinstance(effective, str) else None
        except ValueError:
            day = None
        if day is None:
            errors.append(FieldError("effective", m.t("manager.error.date_invalid")))
        else:
            values["effective"] = day.isoformat()
            end = date.fromisoformat(state["grant"]["end"])
            if day < today - timedelta(days=grace):
                errors.append(
                    FieldError("effective", m.t("manager.error.effective_past", grace_days=grace))
                )
            elif day > end:
                errors.append(
                    FieldError(
                        "effective",
                        m.t("manager.error.effective_after_end", end=m.format_date(end)),
                    )
                )
        return values, errors

    # ------------------------------------------------------------------ turns

    async def begin_dialog(
        self, dialog_context: DialogContext, options: object = None
    ) -> DialogTurnResult:
        context = dialog_context.context
        requester = await resolve_requester(context, self.deps)
        if requester is None:
            return await dialog_context.end_dialog()
        state = dialog_context.active_dialog.state
        state.update(requester_state(requester, {"effective": self.deps.today().isoformat()}))
        if await show_pick(context, self.deps, state, "revoke") == 0:
            await context.send_activity(messages_of(context).t("manager.pick.none"))
            return await dialog_context.end_dialog()
        return Dialog.end_of_turn

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        context = dialog_context.context
        m = messages_of(context)
        if not fields.is_message(context.activity):
            return Dialog.end_of_turn
        state = dialog_context.active_dialog.state
        value = fields.value(context.activity)
        kind = value.get("atmt_card") if isinstance(value, dict) else None
        if kind == GRANT_PICK_CARD:
            if state.get("step") != "pick":
                await context.send_activity(m.t("manager.card.old"))
                return Dialog.end_of_turn
            chosen = await handle_pick(context, self.deps, state, value, "revoke")
            if chosen == "cancel":
                return await self._cancel(dialog_context)
            if chosen is None or isinstance(chosen, str):
                return Dialog.end_of_turn
            state["grant"] = grant_snapshot(chosen)
            await self._show_form(dialog_context, state, card_id=state.get("card_id"))
            return Dialog.end_of_turn
        if kind in (REVOKE_FORM_CARD, REVOKE_SUMMARY_CARD) and "grant" in state:
            assert isinstance(value, dict)
            if not same_user(context, state):
                await context.send_activity(m.t("manager.error.other_user"))
                return Dialog.end_of_turn
            if value.get("atmt_instance") != state.get("instance"):
                await context.send_activity(m.t("manager.card.old"))
                return Dialog.end_of_turn
            if kind == REVOKE_FORM_CARD:
                return await self._on_form(dialog_context, state, value)
            if (
                value.get("atmt_revision") != state.get("revision")
                or state.get("step") != "summary"
            ):
                await context.send_activity(m.t("manager.card.old"))
                return Dialog.end_of_turn
            return await self._on_summary(dialog_context, state, value)
        await context.send_activity(m.t("manager.card.reprompt"))
        return Dialog.end_of_turn

    async def _cancel(self, dc: DialogContext) -> DialogTurnResult:
        await close_open_card(dc.context, dc.active_dialog.state, "cancelled")
        await dc.context.send_activity(messages_of(dc.context).t("cancel.done"))
        return await dc.end_dialog()

    def _summary_facts(self, m: Messages, state: Mapping[str, Any]) -> list[tuple[str, str]]:
        values = state["values"]
        facts = self._grant_facts(m, state)[:3]
        facts.append(
            (m.t("manager.field.reason"), m.t(f"manager.revoke_reason.{values['reason']}"))
        )
        if values.get("note"):
            facts.append((m.t("manager.field.note"), values["note"]))
        facts.append(
            (m.t("manager.field.effective"), m.format_date(date.fromisoformat(values["effective"])))
        )
        return facts

    async def _on_form(
        self, dc: DialogContext, state: dict[str, Any], value: Mapping[str, Any]
    ) -> DialogTurnResult:
        context = dc.context
        m = messages_of(context)
        if value.get("atmt_action") == "cancel":
            return await self._cancel(dc)
        values, errors = self._parse(m, value, state)
        state["values"] = values
        card_id = fields.card_message_id(context.activity) or state.get("card_id")
        if errors:
            await self._show_form(dc, state, errors, card_id)
            return Dialog.end_of_turn
        state["revision"] = int(state.get("revision", 0)) + 1
        summary = revoke_summary_card(
            m, self._summary_facts(m, state), instance=state["instance"], revision=state["revision"]
        )
        state["card_id"] = await put_card(context, summary, card_id)
        state["step"] = "summary"
        return Dialog.end_of_turn

    async def _on_summary(
        self, dc: DialogContext, state: dict[str, Any], value: Mapping[str, Any]
    ) -> DialogTurnResult:
        context = dc.context
        m = messages_of(context)
        card_id = fields.card_message_id(context.activity) or state.get("card_id")
        action = value.get("atmt_action")
        if action == "cancel":
            return await self._cancel(dc)
        if action == "edit":
            await self._show_form(dc, state, card_id=card_id)
            return Dialog.end_of_turn
        if action != "confirm":
            await context.send_activity(m.t("manager.card.use_buttons"))
            return Dialog.end_of_turn
        values = state["values"]
        effective = m.format_date(date.fromisoformat(values["effective"]))
        note = m.t("manager.revoke.note", effective=effective, note=values.get("note") or "–")
        try:
            request = await self.deps.service.requests.revoke_by_municipality(
                state["email"],
                state["grant"]["id"],
                RevokeReason(values["reason"]),
                note,
                idempotency_key=f"revoke:{state['instance']}:{state['revision']}",
            )
        except PolicyViolations as problem:
            errors = form_errors(m, self.deps.directory, problem.violations)
            await self._show_form(dc, state, errors, card_id)
            return Dialog.end_of_turn
        except AccessDenied:
            await context.send_activity(m.t("manager.error.denied"))
            return await dc.end_dialog()
        except AccessError:
            await context.send_activity(m.t("manager.error.changed"))
            return await dc.end_dialog()
        receipt = revoke_sent_card(
            m, request.number, state_label(m, request.state), self._summary_facts(m, state)
        )
        await put_card(context, receipt, card_id)
        await self.deps.done.remember(
            context, state["instance"], {"number": request.number, "request_id": request.id}
        )
        return await dc.end_dialog(request.id)
