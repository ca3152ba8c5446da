"""Remove a grant ("poisto" / "återkalla" / "revoke").

Pick the grant (search by name when there are many), then one card: the reason, a
note and the effective date; a summary; Confirm; a receipt. Two people use it:

* a municipal manager, for a grant of their municipality (002 §5): the reasons
  employment ended, tasks changed, other (with a note) -> ``revoke_by_municipality``;
* an area contact or deputy, for any grant of their area but their own (002 §4, §10):
  the reasons the area has - the task in the municipality ended, employment ended,
  misuse, agreement breached, other (misuse and other with a note) ->
  ``revoke_by_area``.

The effective date is the day the access ends: at most the area's
``revoke_backdate_days`` back (not before the grant began), today, or a future day up to
the grant's end. Today or earlier, the removal goes to KEHA as urgent at once; a future
day becomes the grant's end date and the grant-end job sends the removal after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from botbuilder.dialogs import Dialog, DialogContext, DialogTurnResult

from access.errors import AccessDenied, AccessError, PolicyViolations
from access.model import Revocation, RevokeReason
from access.policy import DECISION_TEXT_MAX, check_effective, earliest_effective, parse_effective
from dialogs import activity_fields as fields
from dialogs.cards.grants import (
    AREA_REVOKE_REASONS,
    GRANT_PICK_CARD,
    REVOKE_FORM_CARD,
    REVOKE_REASONS,
    REVOKE_SUMMARY_CARD,
    RevokeFormOptions,
    revoke_form_card,
    revoke_scheduled_card,
    revoke_sent_card,
    revoke_summary_card,
)
from dialogs.cards.request_form import FieldError
from dialogs.change_request import grant_snapshot
from dialogs.grant_pick import handle_pick, show_pick
from dialogs.i18n import Messages
from dialogs.request_flow import (
    FlowDeps,
    Requester,
    close_open_card,
    form_errors,
    put_card,
    requester_state,
    same_user,
    state_label,
)
from dialogs.turn import caller_of, messages_of
from dialogs.violations import code_name, violation_text

__all__ = ["RevokeGrantDialog"]

NOTE_MAX = DECISION_TEXT_MAX
MUNICIPALITY, AREA = "municipality", "area"
NOTE_REQUIRED = {MUNICIPALITY: frozenset({"other"}), AREA: frozenset({"misuse", "other"})}


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

    def _backdate_days(self, state: Mapping[str, Any]) -> int:
        area = self.deps.directory.area_of(state["grant"]["municipality"])
        return area.revoke_backdate_days if area is not None else 0

    def _options(self, state: Mapping[str, Any]) -> RevokeFormOptions:
        grant = state["grant"]
        start = date.fromisoformat(grant["start"])
        end = date.fromisoformat(grant["end"])
        earliest = earliest_effective(start, end, self.deps.today(), self._backdate_days(state))
        by_area = state.get("mode") == AREA
        return RevokeFormOptions(
            reasons=AREA_REVOKE_REASONS if by_area else REVOKE_REASONS,
            by_area=by_area,
            earliest=earliest.isoformat(),
            latest=grant["end"],
        )

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
            options=self._options(state),
        )
        state["card_id"] = await put_card(dc.context, form, card_id)
        state["step"] = "form"

    # ---------------------------------------------------------------- parsing

    def _parse(
        self, m: Messages, value: Mapping[str, Any], state: Mapping[str, Any]
    ) -> tuple[dict[str, str], list[FieldError]]:
        values: dict[str, str] = {}
        errors: list[FieldError] = []
        mode = state.get("mode", MUNICIPALITY)
        reason = value.get("reason")
        if isinstance(reason, str) and reason in self._options(state).reasons:
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
        if values.get("reason") in NOTE_REQUIRED[mode] and not note_text:
            suffix = "" if mode == MUNICIPALITY else "_area"
            errors.append(FieldError("note", m.t(f"manager.error.note_required{suffix}")))
        day, problems = parse_effective(value.get("effective"))
        if day is not None:
            values["effective"] = day.isoformat()
            grant = state["grant"]
            problems = check_effective(
                date.fromisoformat(grant["start"]),
                date.fromisoformat(grant["end"]),
                day,
                self.deps.today(),
                self._backdate_days(state),
            )
        errors.extend(
            FieldError("effective", violation_text(m, self.deps.directory, v)) for v in problems
        )
        return values, errors

    # ------------------------------------------------------------------ turns

    async def begin_dialog(
        self, dialog_context: DialogContext, options: object = None
    ) -> DialogTurnResult:
        context = dialog_context.context
        m = messages_of(context)
        identity = caller_of(context)
        if identity is None or identity.email is None:
            await context.send_activity(m.t("manager.error.no_email"))
            return await dialog_context.end_dialog()
        roles = self.deps.directory.roles_of(identity.email)
        if not roles.requester_for and not roles.decides_in:
            await context.send_activity(m.t("manager.error.not_revoker"))
            return await dialog_context.end_dialog()
        municipalities = tuple(sorted(roles.requester_for))
        state = dialog_context.active_dialog.state
        state.update(
            requester_state(
                Requester(identity.user_key, identity.email, municipalities),
                {"effective": self.deps.today().isoformat()},
            )
        )
        state["areas"] = sorted(roles.decides_in)
        if await show_pick(context, self.deps, state, "revoke") == 0:
            await context.send_activity(m.t("manager.pick.none"))
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
            # Today, or the grant's own end when that has passed already.
            state["values"]["effective"] = min(self.deps.today(), chosen.end).isoformat()
            # The municipality's own manager removes as the municipality; anyone else
            # reached the grant as a contact (or deputy) of its area.
            state["mode"] = MUNICIPALITY if chosen.municipality in state["municipalities"] else AREA
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

    def _scheduled(self, state: Mapping[str, Any]) -> bool:
        return date.fromisoformat(state["values"]["effective"]) > self.deps.today()

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
        effective = m.format_date(date.fromisoformat(values["effective"]))
        intro = (
            m.t("manager.revoke.summary_scheduled", effective=effective)
            if self._scheduled(state)
            else m.t("manager.revoke.summary_now", effective=effective)
        )
        summary = revoke_summary_card(
            m,
            self._summary_facts(m, state),
            instance=state["instance"],
            revision=state["revision"],
            intro=intro,
        )
        state["card_id"] = await put_card(context, summary, card_id)
        state["step"] = "summary"
        return Dialog.end_of_turn

    async def _revoke(self, state: Mapping[str, Any]) -> Revocation:
        values = state["values"]
        revoke = (
            self.deps.service.requests.revoke_by_area
            if state.get("mode") == AREA
            else self.deps.service.requests.revoke_by_municipality
        )
        return await revoke(
            state["email"],
            state["grant"]["id"],
            RevokeReason(values["reason"]),
            values.get("note") or "",
            effective=date.fromisoformat(values["effective"]),
            idempotency_key=f"revoke:{state['instance']}:{state['revision']}",
        )

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
        try:
            revocation = await self._revoke(state)
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
        request = revocation.request
        facts = self._summary_facts(m, state)
        if request is None:
            effective = m.format_date(revocation.effective)
            receipt = revoke_scheduled_card(m, effective, facts)
            done = {"text": m.t("manager.revoke.scheduled_already", effective=effective)}
        else:
            suffix = "_area" if state.get("mode") == AREA else ""
            receipt = revoke_sent_card(
                m,
                request.number,
                state_label(m, request.state),
                facts,
                next_text=m.t(f"manager.revoke.next{suffix}"),
            )
            done = {"number": request.number, "request_id": request.id}
        await put_card(context, receipt, card_id)
        await self.deps.done.remember(context, state["instance"], done)
        return await dc.end_dialog(request.id if request is not None else revocation.grant.id)
