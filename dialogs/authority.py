"""The authority's commands in chat: KEHA hand-off, reports, directory, my data, privacy.

Typed commands (``keha``, ``raportti``, ``hakemisto``, ``omat tiedot``, ``tietosuoja``)
and card buttons (``{"atmt_card": "authority", "op": ...}``) land here. Every action
asks :class:`access.authority.AuthorityService`, which authorises it; this module only
turns results and errors into cards and localized messages. Files are reached through
short-lived signed links (:mod:`bot.downloads`).

Cards show the present: a click updates the card it was on (the overview after a batch
is made or marked sent, the batch card after confirmations), so no card keeps offering
a step that is already done.

Idempotency: a card button's key is the card's message id (``reply_to_id``) plus the
operation, so a double click returns the first result instead of doing it twice.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext

from access.authority import AuthorityService
from access.directory import Directory
from access.errors import (
    AccessDenied,
    AccessError,
    IllegalTransition,
    NotFound,
    NothingToQueue,
    PolicyViolations,
)
from access.keha import ACTIONS, CANCEL_ACTION, KEHA_COLUMNS
from access.model import RevokeReason
from access.ports import ConversationRefs
from access.reports import REPORT_COLUMNS, Report
from dialogs import activity_fields as fields
from dialogs.cards.agreement import agreement_card
from dialogs.cards.keha import CARD, batch_card, keha_card
from dialogs.cards.my_data import directory_card, my_data_card, privacy_card
from dialogs.cards.report import report_card
from dialogs.charts import bar_chart_png, data_uri, month_label
from dialogs.commands import Command
from dialogs.downloads import Claim, LinkSigner, Served
from dialogs.i18n import LOCALES, Messages, Translator
from dialogs.request_flow import put_card
from dialogs.turn import caller_email, caller_of, messages_of

__all__ = ["HANDLED", "AuthorityChat"]

log = logging.getLogger(__name__)

HANDLED = frozenset(
    {Command.KEHA, Command.MY_DATA, Command.PRIVACY, Command.DIRECTORY, Command.REPORT}
)
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _card(content: dict[str, Any]) -> Any:
    return MessageFactory.attachment(CardFactory.adaptive_card(content))


def keha_labels(m: Messages, directory: Directory | None = None) -> dict[str, str]:
    """Column titles of the KEHA file and, keyed ``"<column>:<code>"``, the labels its
    coded values carry (``view — Katselu``), in the reader's language."""
    labels = {c: m.t(f"keha.column.{c}") for c in KEHA_COLUMNS}
    for kind, action in ACTIONS.items():
        labels[f"action:{action}"] = m.t(f"keha.action.{kind.value}")
    labels[f"action:{CANCEL_ACTION}"] = m.t("keha.action.cancel")
    labels["urgent:yes"] = m.t("keha.value.yes")
    labels["urgent:no"] = m.t("keha.value.no")
    for reason in RevokeReason:
        labels[f"revoke_reason:{reason.value}"] = m.t(f"manager.revoke_reason.{reason.value}")
    if directory is not None:
        for code, area in directory.areas.items():
            labels[f"area_code:{code}"] = area.name.get(m.locale)
        for code, service_area in directory.service_areas.items():
            labels[f"service_areas:{code}"] = service_area.name.get(m.locale)
        for code, level in directory.access_levels.items():
            labels[f"access_level:{code}"] = level.name.get(m.locale)
    return labels


def report_labels(m: Messages, report: Report | None = None) -> dict[str, str]:
    """Column titles of the report file and the names of its months (``joulukuu 2025``)."""
    labels = {c: m.t(f"report.column.{c}") for c in REPORT_COLUMNS}
    for month in report.months if report is not None else ():
        labels[f"month:{month}"] = m.format_month(month)
    return labels


def report_period(today: date) -> tuple[date, date]:
    """The last twelve months, this one included."""
    year, month = (today.year - 1, today.month + 1) if today.month < 12 else (today.year, 1)
    return date(year, month, 1), today


class AuthorityChat:
    def __init__(
        self,
        authority: AuthorityService,
        translator: Translator,
        signer: LinkSigner,
        *,
        refs: ConversationRefs | None = None,
        pages_url: str = "",
    ) -> None:
        self.refs = refs
        self.pages_url = pages_url.rstrip("/")  # where the bot serves /privacy, /terms
        self.authority = authority
        self.translator = translator
        self.signer = signer

    # ------------------------------------------------------------- dispatch

    async def run(self, turn_context: TurnContext, command: Command) -> None:
        m = messages_of(turn_context)
        if command is Command.PRIVACY:
            await turn_context.send_activity(_card(self._privacy(m, caller_email(turn_context))))
            return
        email = await self._email(turn_context)
        if email is None:
            await turn_context.send_activity(m.t("authority.no_identity"))
            return
        try:
            if command is Command.KEHA:
                await self._keha(turn_context, m, email)
            elif command is Command.REPORT:
                await self._report(turn_context, m, email)
            elif command is Command.DIRECTORY:
                await self._directory(turn_context, m, email)
            elif command is Command.MY_DATA:
                await self._my_data(turn_context, m, email)
        except AccessError as error:
            await turn_context.send_activity(self._explain(m, error))

    async def answer_card(self, turn_context: TurnContext, value: dict[str, Any]) -> bool:
        """Handle a button of an authority card; False when the card is not ours."""
        if value.get("atmt_card") != CARD:
            return False
        m = messages_of(turn_context)
        email = await self._email(turn_context)
        if email is None:
            await turn_context.send_activity(m.t("authority.no_identity"))
            return True
        op = value.get("op")
        batch_id = value.get("batch") if isinstance(value.get("batch"), str) else ""
        area = value.get("area") if isinstance(value.get("area"), str) else ""
        activity = turn_context.activity
        clicked = fields.card_message_id(activity)
        card_key = f"{clicked or fields.activity_id(activity)}:{op}"
        try:
            if op == "batch" and area:
                batch = await self.authority.create_batch(
                    email, area, idempotency_key=f"{card_key}:{area}"
                )
                await turn_context.send_activity(m.t("keha.created", rows=len(batch.rows)))
                # The overview clicked shows the new batch (and nothing left to queue).
                await self._keha(turn_context, m, email, only=area, card_id=clicked)
            elif op == "sent" and batch_id:
                await self.authority.mark_sent(
                    email, batch_id, idempotency_key=f"{card_key}:{batch_id}"
                )
                await turn_context.send_activity(m.t("keha.sent"))
                # The overview clicked no longer offers "mark sent" for this batch.
                sent = await self.authority.batch(email, batch_id)
                await self._keha(turn_context, m, email, only=sent.area, card_id=clicked)
                await self._batch(turn_context, m, email, batch_id)
            elif op == "open" and batch_id:
                await self._batch(turn_context, m, email, batch_id)
            elif op in ("confirm", "confirm_all") and batch_id:
                await self._confirm(turn_context, m, email, batch_id, value, card_key, clicked)
            elif op == "agreement":
                await self._agreement(turn_context, m, email, value, card_key)
            else:
                await turn_context.send_activity(m.t("card.expired"))
        except AccessError as error:
            await turn_context.send_activity(self._explain(m, error))
        return True

    async def email_of(self, user_key: str) -> str | None:
        """The work e-mail of a Teams user key (for download links)."""
        if self.refs is None or not user_key:
            return None
        stored = await self.refs.get(user_key)
        return stored.email if stored is not None else None

    async def _email(self, turn_context: TurnContext) -> str | None:
        return caller_email(turn_context)

    def _explain(self, m: Messages, error: AccessError) -> str:
        if isinstance(error, AccessDenied):
            return m.t("authority.denied")
        if isinstance(error, NothingToQueue):
            return m.t("keha.nothing")
        if isinstance(error, NotFound):
            return m.t("authority.not_found")
        if isinstance(error, IllegalTransition):
            return m.t("authority.already_done")
        if isinstance(error, PolicyViolations):
            return m.t("authority.note_too_long")
        log.info("authority action refused", extra={"reason": type(error).__name__})
        return m.t("authority.failed")

    # ---------------------------------------------------------------- KEHA

    async def _keha(
        self,
        turn_context: TurnContext,
        m: Messages,
        email: str,
        *,
        only: str | None = None,
        card_id: str | None = None,
    ) -> None:
        """The overview of each of the admin's areas (``only``: of that area, updating
        the card ``card_id`` in place when given)."""
        areas = self.authority.admin_areas(email)
        if not areas:
            raise AccessDenied(email, "keha", "not_admin_in_area")
        user_key = _user_key(turn_context)
        for area in areas:
            if only is not None and area != only:
                continue
            pending = await self.authority.pending_handoff(email, area)
            batches = await self.authority.batches(email, area)
            links = {
                b.id: (
                    self.signer.url("keha", b.id, "xlsx", user_key, m.locale),
                    self.signer.url("keha", b.id, "csv", user_key, m.locale),
                )
                for b in batches[:5]
            }
            overview = keha_card(m, self.authority.directory, area, pending, batches, links)
            if only is not None and card_id:
                await put_card(turn_context, overview, card_id)
            else:
                await turn_context.send_activity(_card(overview))

    async def _batch(
        self,
        turn_context: TurnContext,
        m: Messages,
        email: str,
        batch_id: str,
        card_id: str | None = None,
    ) -> None:
        """One batch's card; ``card_id``: update that card in place instead."""
        batch = await self.authority.batch(email, batch_id)
        stopping = await self.authority.rows_being_stopped(email, batch)
        shown = batch_card(m, self.authority.directory, batch, stopping)
        if card_id:
            await put_card(turn_context, shown, card_id)
        else:
            await turn_context.send_activity(_card(shown))

    async def _confirm(
        self,
        turn_context: TurnContext,
        m: Messages,
        email: str,
        batch_id: str,
        value: dict[str, Any],
        card_key: str,
        clicked: str | None = None,
    ) -> None:
        note = value.get("note") if isinstance(value.get("note"), str) else ""
        assert isinstance(note, str)
        if len(note) > 2000:
            await turn_context.send_activity(m.t("authority.note_too_long"))
            return
        if value.get("op") == "confirm_all":
            done = await self.authority.confirm_batch(
                email, batch_id, idempotency_key=f"{card_key}:{batch_id}", note=note
            )
            await turn_context.send_activity(m.t("keha.confirmed", count=len(done)))
        else:
            batch = await self.authority.batch(email, batch_id)
            raw = value.get("rows")
            chosen = [r for r in raw.split(",") if r] if isinstance(raw, str) else []
            rows = {r.id for r in batch.rows}
            if not chosen or any(r not in rows for r in chosen):
                await turn_context.send_activity(m.t("keha.confirm.rows_required"))
                return
            # A row stopped since the card was shown: its cancellation settles it.
            stopping = await self.authority.rows_being_stopped(email, batch)
            if any(r in stopping for r in chosen):
                await turn_context.send_activity(m.t("keha.confirm.stopping"))
                await self._batch(turn_context, m, email, batch_id, clicked)
                return
            for row_id in chosen:
                await self.authority.confirm_row(
                    email, row_id, idempotency_key=f"{card_key}:{row_id}", note=note
                )
            await turn_context.send_activity(m.t("keha.confirmed", count=len(chosen)))
        # The batch card clicked shows the confirmed rows, with nothing left to confirm.
        await self._batch(turn_context, m, email, batch_id, clicked)

    # ------------------------------------------------------------- reports

    async def _report(self, turn_context: TurnContext, m: Messages, email: str) -> None:
        areas = self.authority.report_areas(email)
        if not areas:
            raise AccessDenied(email, "report", "not_admin_in_area")
        first, last = report_period(self.authority.access.clock.today())
        user_key = _user_key(turn_context)
        for area in areas:
            report = await self.authority.report(email, area, first, last)
            totals = report.monthly_totals()
            chart = data_uri(
                bar_chart_png(
                    [requests for _, requests, _ in totals],
                    labels=[month_label(month) for month, _, _ in totals],
                )
            )
            ident = f"{area}|{first.isoformat()}|{last.isoformat()}"
            await turn_context.send_activity(
                _card(
                    report_card(
                        m,
                        self.authority.directory,
                        report,
                        chart,
                        self.signer.url("report", ident, "xlsx", user_key, m.locale),
                        self.signer.url("report", ident, "csv", user_key, m.locale),
                    )
                )
            )

    # ----------------------------------------------------------- directory

    async def _directory(self, turn_context: TurnContext, m: Messages, email: str) -> None:
        # Authority admins and approvers: both record the agreement's life.
        areas = self.authority.report_areas(email)
        if not areas:
            raise AccessDenied(email, "directory", "not_admin_in_area")
        provider = self.authority.provider
        version = provider.version if provider is not None else None
        for code in areas:
            area = self.authority.directory.area(code)
            if area is not None:
                await turn_context.send_activity(_card(directory_card(m, area, version)))
                if provider is not None and any(x.contracted for x in area.municipalities):
                    await turn_context.send_activity(_card(agreement_card(m, area)))

    # ------------------------------------------------------ the agreement's life

    async def _agreement(
        self,
        turn_context: TurnContext,
        m: Messages,
        email: str,
        value: dict[str, Any],
        card_key: str,
    ) -> None:
        """A notice of termination or a dissolution, from the agreement card."""
        municipality = value.get("municipality")
        what = value.get("what")
        reason = value.get("reason")
        if not isinstance(municipality, str) or what not in ("terminate", "dissolve"):
            await turn_context.send_activity(m.t("card.expired"))
            return
        reason = reason.strip() if isinstance(reason, str) else ""
        name = municipality
        found = self.authority.directory.municipality(municipality)
        if found is not None:
            name = found.name
        key = f"{card_key}:{municipality}:{what}"
        try:
            if what == "terminate":
                ends = await self.authority.record_termination(
                    email, municipality, reason, idempotency_key=key
                )
                await turn_context.send_activity(
                    m.t("agreement.terminated", municipality=name, date=m.format_date(ends))
                )
            else:
                done = await self.authority.dissolve_agreement(
                    email, municipality, reason, idempotency_key=key
                )
                await turn_context.send_activity(
                    m.t(
                        "agreement.dissolved",
                        municipality=name,
                        revoked=len(done.revoked),
                        cancelled=len(done.cancelled),
                        stopped=len(done.stopped),
                    )
                )
        except PolicyViolations:
            await turn_context.send_activity(m.t("agreement.reason_required"))

    # -------------------------------------------------------- self-access

    async def _my_data(self, turn_context: TurnContext, m: Messages, email: str) -> None:
        data = await self.authority.access.queries.my_data(email)
        user_key = _user_key(turn_context)
        url = self.signer.url("mydata", "", "json", user_key, m.locale)
        directory = self.authority.directory
        await turn_context.send_activity(_card(my_data_card(m, directory, data, url)))

    def _privacy(self, m: Messages, email: str | None) -> dict[str, Any]:
        """The statement in the reader's language, naming the controller of the reader's
        employment areas (by their roles; every area's for anyone else); its web page
        one click away, in this language and the others (``/privacy?lang=..`` of
        ``pages_url``, with ``&area=`` when the reader has one area)."""
        directory = self.authority.directory
        areas = _areas_of(directory, email)
        links: list[tuple[str, str]] = []
        if self.pages_url:
            keep = f"&area={next(iter(areas))}" if len(areas) == 1 else ""
            page = f"{self.pages_url}/privacy?lang="
            links.append((m.t("privacy.in_browser"), page + m.locale + keep))
            links += [
                (self.translator.get(code).language_name(code), page + code + keep)
                for code in LOCALES
                if code != m.locale
            ]
        return privacy_card(m, directory, links, areas)

    # ----------------------------------------------------------- downloads

    async def produce(self, claim: Claim, email: str) -> Served:
        """The file a verified download link names, for the user it was made for."""
        m = self.translator.get(claim.locale)
        if claim.kind == "keha" and claim.fmt in ("csv", "xlsx"):
            labels = keha_labels(m, self.authority.directory)
            body = await self.authority.batch_file(email, claim.ident, claim.fmt, labels)
            return Served(
                body,
                _XLSX if claim.fmt == "xlsx" else "text/csv",
                f"keha-{claim.ident[:8]}.{claim.fmt}",
            )
        if claim.kind == "report" and claim.fmt in ("csv", "xlsx"):
            area, first, last = claim.ident.split("|")
            report = await self.authority.report(
                email, area, date.fromisoformat(first), date.fromisoformat(last)
            )
            labels = report_labels(m, report)
            if claim.fmt == "csv":
                return Served(report.csv(labels), "text/csv", f"report-{area}-{last}.csv")
            return Served(report.xlsx(labels), _XLSX, f"report-{area}-{last}.xlsx")
        if claim.kind == "mydata" and claim.fmt == "json":
            export = await self.authority.my_data_export(email)
            body = json.dumps(export.document, ensure_ascii=False, indent=2).encode("utf-8")
            return Served(body, "application/json", "my-data.json")
        raise ValueError("unknown download")


def _user_key(turn_context: TurnContext) -> str:
    caller = caller_of(turn_context)
    return caller.user_key if caller is not None else ""


def _areas_of(directory: Directory, email: str | None) -> frozenset[str]:
    """The employment areas a person acts in according to the directory (none for a
    worker or a stranger)."""
    if not email:
        return frozenset()
    roles = directory.roles_of(email)
    municipal = {
        area.code
        for code in roles.requester_for
        if (area := directory.area_of(code)) is not None
    }
    return frozenset(municipal) | roles.decides_in | roles.admin_in
