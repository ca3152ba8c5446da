"""The aiohttp application: ``POST /api/messages``, ``GET /healthz``, ``GET /readyz``,
``GET /privacy`` and ``GET /terms`` (the bot's own pages, :mod:`dialogs.pages`).

``create_app`` is a factory without module-level state: every call builds its own
adapter, bot, storage and (unless one is passed in) database engine, which is
created on start-up and disposed on clean-up; the services, the chats and the
notifier come from the composition root (:mod:`bot.composition`). Migrations are not run here
(``atmt-bot run`` / ``atmt-bot migrate`` do that); ``/readyz`` reports whether the
database is at the head revision.

``/api/messages`` deserializes the activity itself and calls
``adapter.process_activity`` (``CloudAdapter.process`` answers 500 for invoke
responses with a body, and 500 for unverifiable tokens). Hostile input gets a 4xx
with a JSON ``{"error": ...}`` body, never a 500:

* content type other than ``application/json`` -> 415
* body over ``ATMT_MAX_BODY_BYTES`` -> 413
* not JSON, not an object, no ``type``, no ``serviceUrl``/``conversation.id`` -> 400
* missing/malformed/unverifiable ``Authorization`` when an app id is set -> 401
  (:func:`bot.auth.create_authentication`)
* tenant not on ``ATMT_ALLOWED_TENANTS`` -> 403; a user over
  ``ATMT_USER_RATE_PER_MINUTE`` -> 429 with ``Retry-After`` (:class:`bot.auth.RequestGuard`)
* who may speak at all (:mod:`bot.trust`): an ``adaptiveCard/action`` whose
  ``value.action`` is not an object -> 400; refused tokens counted per source address
  (429 beyond ``ATMT_BAD_TOKEN_RATE_PER_MINUTE``); a channel not on
  ``ATMT_ALLOWED_CHANNELS``, a non-loopback ``serviceUrl`` in anonymous mode, or an
  invoke without tenant and Entra object id -> 403; all before any state is touched
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from botbuilder.core import Storage, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity
from botframework.connector.auth import BotFrameworkAuthentication
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from access.directory import Directory, load_directory_file
from access.ports import Clock
from access.service import AccessService
from bot.auth import RequestGuard, create_authentication
from bot.composition import (
    DirectoryRefresher,
    Services,
    build_chats,
    build_delivery,
    compose,
)
from bot.config import Settings
from bot.downloads import DownloadSigner, download_route
from bot.hardening import TooDeep, clean_json, id_problem, tidy_locale
from bot.identity import user_key_of
from bot.notifier import Notifier
from bot.scheduler import Scheduler, build_scheduler
from bot.state_storage import StateStorage
from bot.trust import TRUST, TrustGate, identified_only, invoke_problem, strip_invisible_texts
from dialogs import activity_fields as fields
from dialogs.authority import AuthorityChat
from dialogs.connector_errors import connector_failure
from dialogs.i18n import Translator
from dialogs.pages import page_locale, privacy_page, terms_page
from dialogs.router import AccessBot
from dialogs.turn import MESSAGES_KEY
from storage.bot_state import StateDocumentStore
from storage.db import create_engine, create_session_factory
from storage.migrations_runner import current_revision, head_revision

__all__ = ["RUNTIME", "Runtime", "create_app"]

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 5.0


@dataclass
class Runtime:
    """What the request handlers need; filled in on start-up from the composition root
    (:mod:`bot.composition`).

    ``directory`` is the directory file read at start-up; what is in force (an
    imported version included) is ``services.directory``.
    """

    settings: Settings
    translator: Translator
    directory: Directory
    guard: RequestGuard
    engine: AsyncEngine | None = None
    storage: Storage | None = None
    adapter: CloudAdapter | None = None
    bot: AccessBot | None = None
    auth: BotFrameworkAuthentication | None = None
    services: Services | None = None
    service: AccessService | None = None  # services.access
    clock: Clock | None = None
    notifier: Notifier | None = None
    scheduler: Scheduler | None = None  # reminders, expiry, escalation, reviews
    authority: AuthorityChat | None = None  # KEHA, reports, my data; serves the downloads
    directory_refresher: DirectoryRefresher | None = None  # services.refresher, running
    turns: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(8))

    def ready(self) -> tuple[CloudAdapter, AccessBot, BotFrameworkAuthentication]:
        if self.adapter is None or self.bot is None or self.auth is None:
            raise web.HTTPServiceUnavailable(
                text=json.dumps({"error": "starting"}), content_type="application/json"
            )
        return self.adapter, self.bot, self.auth


RUNTIME = web.AppKey("atmt_runtime", Runtime)


def create_app(
    settings: Settings,
    *,
    directory: Directory | None = None,
    storage: Storage | None = None,
    engine: AsyncEngine | None = None,
    translator: Translator | None = None,
    auth: BotFrameworkAuthentication | None = None,
    clock: Clock | None = None,
) -> web.Application:
    """Build the application.

    ``directory``: defaults to the file ``settings.directory_path`` (raises
    ``DirectoryError``). ``storage``: botbuilder state storage, default
    :class:`StateStorage` on the engine. ``engine``: an existing engine (the caller
    disposes it); default: one created from ``settings.database_url`` on start-up and
    disposed on clean-up. ``auth``: Bot Framework authentication, default
    :func:`bot.auth.create_authentication` (empty app id = anonymous local mode).
    ``clock``: the domain service's clock (tests travel in time with it).
    """
    runtime = Runtime(
        settings=settings,
        translator=translator or Translator.load(fallback=settings.default_locale),
        directory=directory
        if directory is not None
        else load_directory_file(settings.directory_path),
        guard=RequestGuard.from_settings(settings),
        clock=clock,
        turns=asyncio.Semaphore(settings.max_concurrent_turns),
    )
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[_error_middleware])
    app[RUNTIME] = runtime
    app[TRUST] = TrustGate.from_settings(settings)
    app.cleanup_ctx.append(_running(runtime, engine=engine, storage=storage, auth=auth))
    app.router.add_post("/api/messages", _messages)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/downloads/{token}", _downloads(runtime))
    app.router.add_get("/privacy", _page(privacy_page))
    app.router.add_get("/terms", _page(terms_page))
    return app


PAGE_HEADERS = {
    # One self-contained document: nothing to load, nothing to run, no framing.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The directory (controllers, contacts) can change by an import: minutes, not days.
    "Cache-Control": "public, max-age=300",
    "Vary": "Accept-Language",
}


def _page(
    render: Callable[[Translator, str, Directory, str | None], str],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """``GET /privacy`` / ``GET /terms``: HTML in ``?lang=``, else ``Accept-Language``,
    else ``ATMT_DEFAULT_LOCALE``; with the directory in force (the file before start);
    ``?area=`` narrows it to the reader's employment area."""

    async def page(request: web.Request) -> web.StreamResponse:
        runtime = request.app[RUNTIME]
        services = runtime.services
        directory = services.directory() if services is not None else runtime.directory
        locale = page_locale(
            request.query.get("lang"),
            request.headers.get("Accept-Language"),
            runtime.settings.default_locale,
        )
        return web.Response(
            text=render(runtime.translator, locale, directory, request.query.get("area")),
            content_type="text/html",
            charset="utf-8",
            headers=PAGE_HEADERS | {"Content-Language": locale},
        )

    return page


def _downloads(runtime: Runtime) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """``GET /downloads/{token}``: the links the authority chat signed, once started."""

    def signer() -> DownloadSigner | None:
        chat = runtime.authority
        return chat.signer if chat is not None and isinstance(chat.signer, DownloadSigner) else None

    return download_route(
        signer,
        lambda: runtime.authority.email_of if runtime.authority is not None else None,
        lambda: runtime.authority.produce if runtime.authority is not None else None,
    )


def _running(
    runtime: Runtime,
    *,
    engine: AsyncEngine | None,
    storage: Storage | None,
    auth: BotFrameworkAuthentication | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def running(_app: web.Application) -> AsyncIterator[None]:
        owned = engine is None
        runtime.engine = engine or create_engine(runtime.settings.database_url)
        try:
            runtime.storage = storage or StateStorage(StateDocumentStore(runtime.engine))
            services = await compose(
                runtime.settings,
                create_session_factory(runtime.engine),
                file_directory=runtime.directory,
                clock=runtime.clock,
            )
            runtime.services, runtime.service = services, services.access
            runtime.auth = auth or create_authentication(runtime.settings)
            adapter = CloudAdapter(runtime.auth)
            adapter.on_turn_error = _on_turn_error(runtime)
            runtime.adapter = adapter
            chats = build_chats(services, storage=runtime.storage, translator=runtime.translator)
            runtime.authority = chats.authority
            runtime.directory_refresher = services.refresher
            runtime.directory_refresher.start()
            runtime.bot = chats.bot
            if runtime.settings.notifier_enabled:
                runtime.notifier = build_delivery(
                    services,
                    engine=runtime.engine,
                    adapter=adapter,
                    translator=runtime.translator,
                    approvals=chats.approvals,
                )
                runtime.notifier.start()
            if runtime.settings.scheduler_enabled:
                runtime.scheduler = build_scheduler(
                    services, interval=runtime.settings.scheduler_interval
                )
                runtime.scheduler.start()
            log.info("bot started", extra={"event": "started"})
            yield
        finally:
            if runtime.directory_refresher is not None:
                await runtime.directory_refresher.stop()
                runtime.directory_refresher = None
            runtime.authority = None
            if runtime.scheduler is not None:
                await runtime.scheduler.stop()
                runtime.scheduler = None
            if runtime.notifier is not None:
                await runtime.notifier.stop()
                runtime.notifier = None
            runtime.adapter = runtime.bot = runtime.auth = runtime.service = None
            runtime.services = None
            if owned:
                await runtime.engine.dispose()
            log.info("bot stopped", extra={"event": "stopped"})

    return running


# ---------------------------------------------------------------------- errors


def _problem(status: int, error: str) -> web.Response:
    return web.json_response({"error": error}, status=status)


@web.middleware
async def _error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        # Any other error (a KeyError included) is ours: 500 without details.
        log.exception(
            "request failed",
            extra={"event": "request_failed", "path": request.path, "method": request.method},
        )
        return _problem(500, "internal error")


def _on_turn_error(runtime: Runtime) -> Callable[[TurnContext, Exception], Awaitable[None]]:
    async def on_turn_error(turn_context: TurnContext, error: Exception) -> None:
        activity = turn_context.activity
        log.error(
            "turn failed",
            exc_info=(type(error), error, error.__traceback__),
            extra=_ids(activity) | {"event": "turn_failed"},
        )
        messages = turn_context.turn_state.get(MESSAGES_KEY) or runtime.translator.get(
            fields.locale(activity)
        )
        try:
            await turn_context.send_activity(messages.t("error.generic"))
        except Exception as send_error:
            log.warning(
                "could not tell the user about the error",
                extra=_ids(activity)
                | {"event": "error_reply_failed", "error_type": type(send_error).__name__}
                | connector_failure(send_error).log_fields(),
            )

    return on_turn_error


def _ids(activity: Activity | None) -> dict[str, Any]:
    if activity is None:
        return {}
    return fields.log_ids(activity) | {
        "conversation_id": fields.conversation_id(activity),
        "user_key": user_key_of(activity),
    }


# -------------------------------------------------------------------- routes


def _activity_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    kind = body.get("type")
    if not isinstance(kind, str) or not kind.strip():
        return "the activity has no type"
    service_url = body.get("serviceUrl")
    if not isinstance(service_url, str) or not service_url.startswith(("http://", "https://")):
        return "the activity has no valid serviceUrl"
    conversation = body.get("conversation")
    if not isinstance(conversation, dict) or not isinstance(conversation.get("id"), str):
        return "the activity has no conversation.id"
    for key in ("from", "recipient"):
        if key in body and not isinstance(body[key], dict):
            return f"the activity's {key} must be an object"
    if kind == "invoke" and body.get("value") is not None and not isinstance(body["value"], dict):
        return "the invoke's value must be an object"  # botbuilder deserializes it
    channel = body.get("channelId")
    if not isinstance(channel, str) or not channel:
        return "the activity has no channelId"  # botbuilder's state keys need it
    sender = body.get("from")
    if not isinstance(sender, dict) or not isinstance(sender.get("id"), str) or not sender["id"]:
        return "the activity has no from.id"  # botbuilder's UserState needs it
    return id_problem(body) or invoke_problem(body)  # ids that fit the storage; invokes


async def _messages(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    adapter, bot, auth = runtime.ready()
    if request.content_type != "application/json":
        return _problem(415, "content type must be application/json")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _problem(413, f"body larger than {runtime.settings.max_body_bytes} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested thousands deep
        return _problem(400, "the body is not valid JSON")
    try:
        body = tidy_locale(clean_json(body))  # storable strings, bounded depth
    except TooDeep:
        return _problem(400, "the body is nested too deeply")
    problem = _activity_problem(body)
    if problem is not None:
        return _problem(400, problem)
    try:
        activity = Activity().deserialize(strip_invisible_texts(body))
    except Exception:
        return _problem(400, "the body is not a valid activity")

    trust = request.app[TRUST]
    auth_header = request.headers.get("Authorization", "")
    try:
        authenticated = await auth.authenticate_request(activity, auth_header)
    except asyncio.CancelledError:
        raise
    except Exception as error:
        # PermissionError, jwt errors, KeyError on odd claims, metadata unreachable ...
        return trust.token_refused(request.remote, error)
    refusal = trust.check(activity)
    if refusal is None:
        refusal = runtime.guard.check(activity)
    if refusal is not None:
        return refusal

    on_turn = identified_only(bot.on_turn, runtime.translator)
    async with runtime.turns:  # admission: see Settings.max_concurrent_turns
        invoke_response = await adapter.process_activity(authenticated, activity, on_turn)
    if invoke_response is None:
        return web.Response(status=200)
    return web.json_response(
        _invoke_body(invoke_response.body), status=int(invoke_response.status or 200)
    )


def _invoke_body(body: Any) -> Any:
    """JSON for an invoke response body.

    botbuilder's own serializer fails on some bodies it builds itself (an
    ``AdaptiveCardInvokeResponse`` whose ``value`` is an ``Exception``), which is why
    ``CloudAdapter.process`` answers 500; this walks msrest models by their
    attribute maps instead.
    """
    if body is None or isinstance(body, str | int | float | bool):
        return body
    if isinstance(body, dict):
        return {str(key): _invoke_body(value) for key, value in body.items()}
    if isinstance(body, list | tuple):
        return [_invoke_body(value) for value in body]
    if isinstance(body, BaseException):
        args = [str(a) for a in body.args]
        return {
            "code": args[0] if args else type(body).__name__,
            "message": args[1] if len(args) > 1 else "",
        }
    attribute_map = getattr(body, "_attribute_map", None)
    if isinstance(attribute_map, dict):
        result: dict[str, Any] = {}
        for name, spec in attribute_map.items():
            value = getattr(body, name, None)
            if value is None or name == "additional_properties":
                continue
            key = spec.get("key", name) if isinstance(spec, dict) else name
            result[str(key).replace("\\.", ".")] = _invoke_body(value)
        extra = getattr(body, "additional_properties", None)
        if isinstance(extra, dict):
            result.update(_invoke_body(extra))
        return result
    if hasattr(body, "__dict__"):
        return _invoke_body(vars(body))
    return str(body)


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    if runtime.engine is None or runtime.bot is None:
        return web.json_response({"status": "unavailable", "reason": "starting"}, status=503)
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            async with runtime.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            current = await current_revision(runtime.engine)
    except Exception as error:
        log.warning(
            "database not reachable",
            extra={"event": "not_ready", "error_type": type(error).__name__},
        )
        return web.json_response(
            {"status": "unavailable", "reason": "database unreachable"}, status=503
        )
    if current != head_revision():
        # Revisions are not shown: they tell a caller which release runs.
        return web.json_response(
            {"status": "unavailable", "reason": "database not migrated"}, status=503
        )
    return web.json_response({"status": "ok"})
