"""Reporting suspected misuse in chat: the ``misuse`` command and its cards.

The report goes to both contacts and the area's admins and opens a matter
(``access.misuse``); an approver of the grant's area can tick "revoke at once"
(``RequestService.revoke_for_misuse``). The idempotency key is the card's message id
and the grant, so a second click reports nothing new.

An approver (deputy) also gets the open matters of their areas first: a card to mark
one handled with its outcome. "Access removed" on a grant that is still active runs
the existing revoke flow (``revoke_for_misuse``, the note as its reason) and then
closes the matter.
"""

from __future__ import annotations

import logging
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext

from access import authz
from access.errors import AccessDenied, AccessError, MatterClosed, NotFound, PolicyViolations
from access.misuse import MatterOutcome, MisuseReports
from access.service import AccessService
from dialogs import activity_fields as fields
from dialogs.cards.misuse import MATTERS_CARD, MISUSE_CARD, matters_card, misuse_card
from dialogs.i18n import Messages
from dialogs.turn import caller_email, messages_of

__all__ = ["MisuseChat"]

log = logging.getLogger(__name__)


def _card(content: dict[str, Any]) -> Any:
    return MessageFactory.attachment(CardFactory.adaptive_card(content))


class MisuseChat:
    def __init__(self, reports: MisuseReports, service: AccessService) -> None:
        self.reports = reports
        self.service = service

    async def run(self, turn_context: TurnContext) -> None:
        m = messages_of(turn_context)
        email = caller_email(turn_context)
        if email is None:
            await turn_context.send_activity(m.t("review.no_identity"))
            return
        matters = await self.reports.open_matters(email)
        if matters:
            await turn_context.send_activity(_card(matters_card(m, matters)))
        directory = self.service.directory
        grants = [
            g
            for g in await self.service.queries.list_grants_for(email)
            if authz.may_report_misuse(directory.roles_of(email), email, g) is None
        ]
        if not grants:
            if not matters:
                await turn_context.send_activity(m.t("misuse.no_grants"))
            return
        decides = directory.roles_of(email).decides_in
        may_revoke = any(g.area in decides for g in grants)
        await turn_context.send_activity(_card(misuse_card(m, grants, may_revoke=may_revoke)))

    async def answer_card(self, turn_context: TurnContext, value: dict[str, Any]) -> bool:
        if value.get("atmt_card") == MATTERS_CARD:
            await self._close_matter(turn_context, value)
            return True
        if value.get("atmt_card") != MISUSE_CARD:
            return False
        m = messages_of(turn_context)
        grant_id = value.get("grant_id")
        note = value.get("note")
        if not isinstance(grant_id, str) or not grant_id or not isinstance(note, str):
            await turn_context.send_activity(m.t("misuse.incomplete"))
            return True
        email = caller_email(turn_context)
        if email is None:
            await turn_context.send_activity(m.t("review.no_identity"))
            return True
        activity = turn_context.activity
        card_ref = fields.card_message_id(activity) or fields.activity_id(activity) or "card"
        key = f"misuse:{card_ref}:{grant_id}"[:255]
        try:
            report = await self.reports.report(email, grant_id, note, idempotency_key=key)
        except PolicyViolations as error:
            code = error.violations[0].code if error.violations else ""
            answer = "misuse.note_too_long" if code == "text.too_long" else "misuse.incomplete"
            await turn_context.send_activity(m.t(answer))
            return True
        except AccessDenied:
            await turn_context.send_activity(m.t("misuse.denied"))
            return True
        except NotFound:
            await turn_context.send_activity(m.t("card.expired"))
            return True
        if not report.first:
            await turn_context.send_activity(m.t("misuse.already"))
            return True
        if value.get("revoke_now") != "true":
            await turn_context.send_activity(m.t("misuse.done"))
            return True
        try:
            await self.service.requests.revoke_for_misuse(
                email, grant_id, note, idempotency_key=f"{key}:revoke"[:255]
            )
        except AccessDenied:
            await turn_context.send_activity(m.t("misuse.done_not_revoked"))
            return True
        except AccessError as error:
            log.info(
                "misuse revoke refused", extra={"event": "misuse_revoke", "reason": error.code}
            )
            await turn_context.send_activity(m.t("misuse.done_not_revoked"))
            return True
        await turn_context.send_activity(m.t("misuse.done_and_revoked"))
        return True

    async def _close_matter(self, turn_context: TurnContext, value: dict[str, Any]) -> None:
        m = messages_of(turn_context)
        matter_id, note = value.get("matter_id"), value.get("note", "")
        try:
            outcome = MatterOutcome(str(value.get("outcome")))
        except ValueError:
            outcome = None
        if not isinstance(matter_id, str) or not matter_id or outcome is None:
            await turn_context.send_activity(m.t("misuse.incomplete"))
            return
        if not isinstance(note, str):
            await turn_context.send_activity(m.t("misuse.incomplete"))
            return
        email = caller_email(turn_context)
        if email is None:
            await turn_context.send_activity(m.t("review.no_identity"))
            return
        activity = turn_context.activity
        card_ref = fields.card_message_id(activity) or fields.activity_id(activity) or "card"
        key = f"matter:{card_ref}:{matter_id}"[:255]
        removed = False
        try:
            try:
                await self.reports.close(email, matter_id, outcome, note, idempotency_key=key)
            except PolicyViolations as error:
                if not any(v.code == "matter.grant_still_active" for v in error.violations):
                    raise
                # "Access removed" on an active grant: the existing revoke flow first.
                answer = await self._remove(m, email, matter_id, note, key)
                if answer is not None:
                    await turn_context.send_activity(answer)
                    return
                removed = True
                await self.reports.close(email, matter_id, outcome, note, idempotency_key=key)
        except PolicyViolations as error:
            code = error.violations[0].code if error.violations else ""
            answer = (
                "misuse.matters.note_too_long"
                if code == "text.too_long"
                else "misuse.matters.note_required"
            )
            await turn_context.send_activity(m.t(answer))
            return
        except AccessDenied:
            await turn_context.send_activity(m.t("misuse.matters.denied"))
            return
        except MatterClosed:
            await turn_context.send_activity(m.t("misuse.matters.already"))
            return
        except NotFound:
            await turn_context.send_activity(m.t("card.expired"))
            return
        done = "misuse.matters.done_and_removed" if removed else "misuse.matters.done"
        await turn_context.send_activity(m.t(done))

    async def _remove(
        self, m: Messages, email: str, matter_id: str, note: str, key: str
    ) -> str | None:
        """Revoke the matter's grant for misuse; a text to answer when it was not done."""
        matters = {o.matter.id: o for o in await self.reports.open_matters(email)}
        found = matters.get(matter_id)
        if found is None:
            return m.t("misuse.matters.denied")
        try:
            await self.service.requests.revoke_for_misuse(
                email, found.grant.id, note, idempotency_key=f"{key}:revoke"[:255]
            )
        except PolicyViolations as error:
            code = error.violations[0].code if error.violations else ""
            if code == "text.required":
                return m.t("misuse.matters.note_required")
            if code == "text.too_long":
                return m.t("misuse.matters.note_too_long")
            return m.t("misuse.matters.not_removed")
        except AccessDenied:
            return m.t("misuse.matters.denied")
        except AccessError as error:
            log.info(
                "matter revoke refused", extra={"event": "matter_revoke", "reason": error.code}
            )
            return m.t("misuse.matters.not_removed")
        return None
