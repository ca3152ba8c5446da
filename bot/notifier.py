"""The outbox dispatcher: every notification the domain wrote is delivered once.

A background task in the bot process (started and stopped with the web app
when ``ATMT_NOTIFIER`` is on). Each round it claims due rows
(:class:`access.ports.NotificationQueue`), groups them by recipient (one recipient's
messages go in order, recipients in parallel) and for each row:

1. **Skips** it when the recipient is the actor (``params.actor``): whoever acted saw
   the answer in the chat right away (the card the service call answered), so a
   proactive echo would be a duplicate. The row is kept as ``skipped``.
2. Renders the text of catalog key ``template.audience`` in the **recipient's**
   language: the language chosen in the bot, else the Teams locale (both stored with
   the conversation reference, :class:`access.ports.ConversationRefs`), else the
   area's default, else ``ATMT_DEFAULT_LOCALE``. Codes become localized names, dates
   Finnish dates, typed text is escaped (:func:`dialogs.cards.markup.plain`).
3. Wraps it in a card with the button for what it invites (:func:`render_card`,
   :mod:`dialogs.cards.notice`), marked urgent only for the authority admin, with the
   people it names shown by their Teams name and municipality or area. Approvers of
   ``request.submitted`` / ``request.resubmitted`` get the approver card
   (:mod:`dialogs.approvals`) instead.
4. Sends it proactively with the recipient's stored 1:1 chat (:mod:`bot.delivery`,
   rate-limited); retryable failures are rescheduled with exponential back-off and
   jitter (``Retry-After`` honoured) for ``ATMT_NOTIFY_TEAMS_ATTEMPTS`` attempts.
   A recipient without a stored 1:1 chat is reached the way notification bots reach
   people (:mod:`bot.reach`): the 1:1 chat is opened with the Bot Connector (the
   person known from an install, a team roster or Graph), else, where configured, the
   app is installed for them through Graph and the row tried again later.
5. Falls back to **e-mail** through Graph (:mod:`bot.graph`) when Teams cannot reach
   the recipient, refuses for good (403/404 ...) or the Teams attempts are used up;
   e-mail failures are retried the same way.
6. After ``ATMT_NOTIFY_MAX_ATTEMPTS`` attempts (or with nowhere to send) the row
   becomes a **dead letter** (``failed``) that ``atmt-bot outbox dead`` lists and
   ``atmt-bot outbox retry ID`` re-queues.

A row is marked ``sent`` in its own transaction right after the send succeeded and
only a ``sending`` row can be claimed again after its lease, so a sent row is never
sent again. Logs carry row ids and templates, never addresses or texts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from botbuilder.core import BotAdapter, CardFactory, MessageFactory
from botbuilder.schema import Activity

from access.directory import Directory
from access.errors import AccessError
from access.ports import ConversationRefs, NotificationQueue, OutboxItem, StoredConversationRef
from bot.config import Settings
from bot.delivery import DeliveryError, TeamsSender, backoff
from bot.graph import GraphClient, GraphError, GraphMailer, MailMessage
from bot.ratelimit import RateLimiter
from bot.reach import INSTALL_SETTLE_SECONDS, PersonalChats
from dialogs.approvals import ApprovalHandler
from dialogs.cards.markup import plain
from dialogs.cards.notice import notice_actions, notice_card
from dialogs.i18n import Messages, Translator, normalize_locale
from dialogs.people import person_label
from dialogs.violations import code_name

__all__ = [
    "CARD_TEMPLATES",
    "Notifier",
    "build_notifier",
    "is_urgent",
    "render_card",
    "render_params",
    "render_text",
]

log = logging.getLogger(__name__)

CARD_TEMPLATES = frozenset({"request.submitted", "request.resubmitted"})
LEASE = timedelta(minutes=5)
BATCH = 100
CONCURRENCY = 16
MARK_TRIES = 5
TEXT_LIMIT = 2000


_SAFE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def _utcnow() -> datetime:
    return datetime.now(UTC)


# ----------------------------------------------------------------- rendering


def _iso_date(m: Messages, value: object) -> str:
    try:
        return m.format_date(date.fromisoformat(str(value)))
    except ValueError:
        return "–"


def _code(value: object) -> str:
    """A number or id of our own making; anything else is not shown."""
    text = str(value or "")
    return text if _SAFE_CODE.fullmatch(text) else "–"


def render_params(
    m: Messages,
    directory: Directory,
    params: Mapping[str, Any],
    escape: Callable[[str], str],
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Every placeholder a notification text may use, readable in ``m``'s language.
    ``names``: display names of the people the notification names, by e-mail."""
    known = names or {}

    def typed(name: str, limit: int = TEXT_LIMIT) -> str:
        value = str(params.get(name) or "").strip()
        if not value:
            return "–"
        return escape(value if len(value) <= limit else value[:limit] + "…")

    def person(name: str) -> str:
        value = str(params.get(name) or "").strip()
        if not value:
            return "–"
        return escape(person_label(m, directory, value[:320], params, known))

    area_code = str(params.get("area") or "")
    codes = [c for c in str(params.get("service_areas") or "").split(",") if c]
    actor = str(params.get("actor") or "")
    cause = str(params.get("cause") or "")
    revoke_reason = str(params.get("revoke_reason") or "")
    level = str(params.get("level") or "")
    kind = str(params.get("kind") or "")
    outcome = str(params.get("outcome") or "")
    return {
        "number": _code(params.get("number")),  # ours: "2026-000123"
        "worker_name": typed("worker_name", 200),
        "worker_email": typed("worker_email", 320),
        "worker_job_title": typed("worker_job_title", 200),
        "municipality_name": typed("municipality_name", 100),
        "area_name": code_name(m, directory, "area", area_code) if area_code else "–",
        "kind": code_name(m, directory, "kind", kind) if kind else "–",
        "service_areas": ", ".join(code_name(m, directory, "service_area", c) for c in codes)
        or "–",
        "level": code_name(m, directory, "level", level) if level else "–",
        "start": _iso_date(m, params.get("start")),
        "end": _iso_date(m, params.get("end")),
        "effective": _iso_date(m, params.get("effective")),
        "requester": person("requester"),
        "actor": m.t("notify.actor.system") if actor == "system" else person("actor"),
        "reason": typed("reason"),
        "question": typed("question"),
        "note": typed("note"),
        "pending_limit_days": params.get("pending_limit_days") or "–",
        "cause": m.t(f"notify.cause.{cause}") if m.has(f"notify.cause.{cause}") else "",
        "revoke_reason": m.t(f"manager.revoke_reason.{revoke_reason}")
        if m.has(f"manager.revoke_reason.{revoke_reason}")
        else "–",
        "outcome": m.t(f"misuse.outcome.{outcome}") if m.has(f"misuse.outcome.{outcome}") else "–",
        "reported_on": _iso_date(m, params.get("reported_on")),
    }


def is_urgent(item: OutboxItem) -> bool:
    """Urgent is for the admin who must hand the change to KEHA at once; the others
    are told what happened, without alarm."""
    return bool(item.params.get("urgent")) and item.audience == "admin"


def render_text(
    m: Messages,
    directory: Directory,
    item: OutboxItem,
    *,
    for_email: bool = False,
    names: Mapping[str, str] | None = None,
    mark_urgent: bool = True,
) -> str:
    """The notification's text (Markdown-escaped for Teams, raw for e-mail), marked
    urgent for the admin unless ``mark_urgent`` is off (the card marks it itself)."""
    escape: Callable[[str], str] = (lambda s: s) if for_email else (lambda s: plain(s))
    params = render_params(m, directory, item.params, escape, names)
    body = m.t(item.catalog_key, **params)
    if mark_urgent and is_urgent(item) and m.has("notify.urgent"):
        body = f"{m.t('notify.urgent')} {body}"
    return body


def render_card(
    m: Messages,
    directory: Directory,
    item: OutboxItem,
    *,
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The notification's card: its text, a heading and the button for what it invites
    (:mod:`dialogs.cards.notice`)."""
    body = render_text(m, directory, item, names=names, mark_urgent=False)
    number = _code(item.params.get("number"))
    if number != "–":
        kind = str(item.params.get("kind") or "")
        kind_name = code_name(m, directory, "kind", kind) if kind and kind != "grant" else ""
        heading = m.t("notify.heading.request", number=number)
        if kind_name:
            heading = f"{heading}: {kind_name}"
    else:
        heading = m.t("notify.heading.default")
    version = item.params.get("version")
    actions = notice_actions(
        m,
        item.template,
        item.audience,
        request_id=item.request_id or None,
        version=version if isinstance(version, int) and not isinstance(version, bool) else 0,
    )
    urgent = m.t("notify.urgent").rstrip(":") if is_urgent(item) else None
    return notice_card(heading, body, actions, urgent=urgent)


# ------------------------------------------------------------------ notifier


#: How long :meth:`Notifier.stop` lets the round in progress finish before cancelling it.
STOP_GRACE_SECONDS = 5.0


class Notifier:
    def __init__(
        self,
        *,
        settings: Settings,
        queue: NotificationQueue,
        sender: TeamsSender | None,
        mailer: GraphMailer | None,
        refs: ConversationRefs,
        translator: Translator,
        directory: Directory | Callable[[], Directory],
        approvals: ApprovalHandler | None = None,
        chats: PersonalChats | None = None,
        now: Callable[[], datetime] = _utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.sender = sender
        self.mailer = mailer
        self.chats = chats
        self.refs = refs
        self.translator = translator
        self._directory = directory
        self.approvals = approvals
        self.now = now
        self.rng = rng or random.Random()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._round_names: dict[str, str | None] = {}

    @property
    def directory(self) -> Directory:
        return self._directory if isinstance(self._directory, Directory) else self._directory()

    # ------------------------------------------------------------ life

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._loop(), name="atmt-notifier")

    async def stop(self, *, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop after the round in progress (at most ``grace`` seconds, then cancel it).

        A round cut short by cancellation can leave a delivered row unrecorded (it is
        sent again after its lease) and, on SQLite, a database call that never returns
        to a loop that is closing; finishing the round avoids both."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=grace)
            if not done:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.mailer is not None:
            await self.mailer.close()
        graph = self.chats.graph if self.chats is not None else None
        if graph is not None and graph is not self.mailer:
            await graph.close()

    def wake(self) -> None:
        """Look at the outbox now (e.g. right after a command wrote to it)."""
        self._wake.set()

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                handled = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # database down ...: keep the task alive
                log.error(
                    "notifier round failed",
                    extra={"event": "notifier_failed", "error_type": type(error).__name__},
                )
                handled = 0
            if handled:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.notifier_interval):
                    await self._wake.wait()

    # ----------------------------------------------------------- rounds

    async def run_once(self) -> int:
        """Claim the due rows and deliver them; the number of rows handled."""
        items = await self.queue.claim(self.now(), limit=BATCH, lease=LEASE)
        if not items:
            return 0
        self._round_names = {}
        by_recipient: dict[str, list[OutboxItem]] = defaultdict(list)
        for item in items:
            by_recipient[item.recipient].append(item)
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one_recipient(group: list[OutboxItem]) -> None:
            async with gate:
                for item in group:
                    await self._handle(item)

        await asyncio.gather(*(one_recipient(group) for group in by_recipient.values()))
        return len(items)

    async def drain(self, *, within: float = 60.0) -> None:
        """Deliver until nothing is due (tests; retries scheduled later are not waited for)."""
        async with asyncio.timeout(within):
            while await self.run_once():
                pass

    async def _handle(self, item: OutboxItem) -> None:
        try:
            await self._deliver(item)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a bug or the database: retry later, never lose it
            log.error(
                "notification failed unexpectedly",
                extra={
                    "event": "notify_error",
                    "outbox_id": item.id,
                    "error_type": type(error).__name__,
                },
            )
            await self._retry_or_dead(item, f"internal: {type(error).__name__}", None, True)

    async def _deliver(self, item: OutboxItem) -> None:
        actor = str(item.params.get("actor") or "")
        if actor and actor != "system" and actor == item.recipient:
            await self.queue.mark_skipped(item.id, self.now(), "actor saw the answer in chat")
            log.info(
                "notification skipped",
                extra={"event": "notify_skipped", "outbox_id": item.id, "template": item.template},
            )
            return
        ref = await self.refs.get_by_email(item.recipient)
        m = self.translator.get(self._locale(ref, item))
        settings = self.settings
        mail_ok = self.mailer is not None and settings.mail_enabled
        teams_budget = settings.notify_teams_attempts if mail_ok else settings.notify_max_attempts
        error_text = "no conversation with the bot"
        teams_ok = self.sender is not None and item.attempts <= teams_budget
        if teams_ok and (ref is None or not ref.personal) and self.chats is not None:
            opening = await self.chats.open(item.recipient, ref)
            if opening.ref is not None:
                ref = opening.ref
            else:
                error_text = opening.reason or error_text
                if opening.wait and item.attempts < teams_budget:
                    await self._reschedule(item, error_text, opening.retry_after)
                    return
        if ref is not None and ref.personal and self.sender is not None and teams_ok:
            try:
                activity = await self._activity(m, item)
                await self.sender.send(
                    ref.reference,
                    activity,
                    idempotency_key=item.idempotency_key,
                    tenant_id=ref.tenant_id,
                )
            except DeliveryError as error:
                error_text = f"teams: {error}"
                if error.retryable and item.attempts < teams_budget:
                    await self._reschedule(item, error_text, error.retry_after)
                    return
            else:
                await self._mark_sent(item)
                log.info(
                    "notification sent",
                    extra={
                        "event": "notify_sent",
                        "outbox_id": item.id,
                        "template": item.template,
                        "channel": "teams",
                        "attempts": item.attempts,
                    },
                )
                return
        if not mail_ok or self.mailer is None:
            await self.queue.mark_dead(item.id, f"{error_text}; e-mail not configured")
            log.warning(
                "notification dead",
                extra={"event": "notify_dead", "outbox_id": item.id, "template": item.template},
            )
            return
        try:
            await self.mailer.send(
                MailMessage(
                    to=item.recipient,
                    subject=m.t("notify.email.subject", **self._subject_params(m, item)),
                    body=await self._email_body(m, item),
                    idempotency_key=item.idempotency_key,
                )
            )
        except GraphError as error:
            await self._retry_or_dead(
                item, f"{error_text}; e-mail: {error}", error.retry_after, error.retryable
            )
            return
        await self._mark_sent(item)
        log.info(
            "notification sent",
            extra={
                "event": "notify_sent",
                "outbox_id": item.id,
                "template": item.template,
                "channel": "email",
                "attempts": item.attempts,
            },
        )

    async def _mark_sent(self, item: OutboxItem) -> None:
        """Record a delivered row; a failing database is retried, not the send: a
        row left ``sending`` would be sent again only after its lease ends."""
        for attempt in range(MARK_TRIES):
            try:
                await self.queue.mark_sent(item.id, self.now())
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.error(
                    "could not record a sent notification",
                    extra={
                        "event": "notify_mark_failed",
                        "outbox_id": item.id,
                        "error_type": type(error).__name__,
                    },
                )
                await asyncio.sleep(0.2 * (attempt + 1))

    async def _retry_or_dead(
        self, item: OutboxItem, error: str, retry_after: float | None, retryable: bool
    ) -> None:
        if retryable and item.attempts < self.settings.notify_max_attempts:
            await self._reschedule(item, error, retry_after)
        else:
            await self.queue.mark_dead(item.id, error)
            log.warning(
                "notification dead",
                extra={"event": "notify_dead", "outbox_id": item.id, "template": item.template},
            )

    async def _reschedule(self, item: OutboxItem, error: str, retry_after: float | None) -> None:
        delay = backoff(
            item.attempts,
            self.settings.notify_backoff,
            retry_after,
            cap=self.settings.notify_backoff_max,
            rng=self.rng,
        )
        await self.queue.reschedule(item.id, self.now() + timedelta(seconds=delay), error)
        log.info(
            "notification rescheduled",
            extra={
                "event": "notify_retry",
                "outbox_id": item.id,
                "attempts": item.attempts,
                "delay": round(delay, 3),
            },
        )

    # --------------------------------------------------------- content

    def _locale(self, ref: StoredConversationRef | None, item: OutboxItem) -> str:
        if ref is not None:
            for candidate in (ref.chosen_locale, ref.locale):
                locale = normalize_locale(candidate)
                if locale is not None:
                    return locale
        area = self.directory.area(str(item.params.get("area") or ""))
        if area is not None:
            return area.default_locale
        return self.settings.default_locale

    async def _names(self, m: Messages, item: OutboxItem) -> dict[str, str]:
        """Display names (from Teams, kept with each person's conversation reference)
        of the people the notification's text names, by lower-case e-mail; looked up
        once a round (one round names the same few people many times)."""
        names: dict[str, str] = {}
        text = str(m.raw(item.catalog_key))
        for key in ("actor", "requester"):
            email = str(item.params.get(key) or "").strip().lower()
            if "@" not in email or "{" + key + "}" not in text:
                continue
            if email not in self._round_names:
                ref = await self.refs.get_by_email(email)
                self._round_names[email] = ref.display_name if ref is not None else None
            name = self._round_names[email]
            if name:
                names[email] = name
        return names

    async def _activity(self, m: Messages, item: OutboxItem) -> Activity:
        names = await self._names(m, item)
        text = render_text(m, self.directory, item, names=names)
        card: dict[str, Any] | None = None
        if (
            item.audience == "approver"
            and item.template in CARD_TEMPLATES
            and item.request_id
            and self.approvals is not None
        ):
            try:
                card = await self.approvals.card_for(m, item.recipient, item.request_id)
            except AccessError:
                card = None  # no longer an approver, request gone: the notice card informs
        if card is None:
            card = render_card(m, self.directory, item, names=names)
        activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
        activity.summary = text[:200]
        return activity

    def _subject_params(self, m: Messages, item: OutboxItem) -> dict[str, Any]:
        return render_params(m, self.directory, item.params, lambda s: s)

    async def _email_body(self, m: Messages, item: OutboxItem) -> str:
        names = await self._names(m, item)
        text = render_text(m, self.directory, item, for_email=True, names=names)
        return f"{text}\n\n{m.t('notify.email.footer')}"


def build_notifier(
    settings: Settings,
    *,
    queue: NotificationQueue,
    adapter: BotAdapter,
    refs: ConversationRefs,
    approvals: ApprovalHandler | None,
    translator: Translator,
    directory: Directory | Callable[[], Directory],
) -> Notifier:
    """The notifier of a bot process, from the settings."""
    sender = TeamsSender(
        adapter,
        settings.app_id,
        # burst=1: evenly spaced sends. A full bucket of ``rate`` tokens lets up to
        # twice the rate leave within one second, which Teams answers with 429s and
        # each 429 costs a back-off of Retry-After.
        conversation_limiter=RateLimiter(settings.notify_conversation_rate, burst=1),
        tenant_limiter=RateLimiter(settings.notify_tenant_rate, burst=1),
        timeout=settings.notify_timeout,
    )
    # One Graph client (one token cache) for the e-mail and the Teams-side calls.
    graph: GraphClient | None = None
    if settings.mail_enabled:
        graph = GraphMailer(settings)
    elif settings.user_lookup_enabled or settings.app_install_enabled:
        graph = GraphClient(settings)
    chats = PersonalChats(
        refs=refs,
        sender=sender,
        graph=graph if settings.user_lookup_enabled or settings.app_install_enabled else None,
        user_lookup=settings.user_lookup_enabled,
        catalog_app_id=settings.teams_catalog_app_id if settings.app_install_enabled else "",
        graph_tenant=settings.graph_tenant,
        settle_seconds=min(INSTALL_SETTLE_SECONDS, settings.notify_backoff_max),
    )
    return Notifier(
        settings=settings,
        queue=queue,
        sender=sender,
        mailer=graph if isinstance(graph, GraphMailer) else None,
        refs=refs,
        translator=translator,
        directory=directory,
        approvals=approvals,
        chats=chats,
    )
