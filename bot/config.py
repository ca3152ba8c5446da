"""Configuration from the environment and an optional ``.env`` file.

key                        default                     meaning
=========================  ==========================  ========================================
MicrosoftAppId             "" (empty)                  Entra app id of the bot; empty = local
                                                       anonymous mode (no tokens checked/sent)
MicrosoftAppPassword       ""                          client secret of that app
MicrosoftAppType           SingleTenant                SingleTenant | MultiTenant |
                                                       UserAssignedMSI
MicrosoftAppTenantId       ""                          tenant of a SingleTenant / MSI bot
DATABASE_URL               sqlite:///var/atmt.sqlite3  SQLite file (relative to the working
                                                       directory) or postgresql://...
ATMT_DIRECTORY             examples/directory.yaml     the directory file (areas, contacts)
HOST                       127.0.0.1                   listen address
PORT                       3978                        listen port (0 = any free port)
LOG_LEVEL                  INFO                        DEBUG | INFO | WARNING | ERROR
ATMT_MAX_BODY_BYTES        262144 (256 KiB)            largest accepted request body
ATMT_DEFAULT_LOCALE        fi                          language when neither the user, Teams
                                                       nor the area gives one (fi | sv | en)
ATMT_ALLOWED_TENANTS       see meaning                 comma-separated Entra tenant ids whose
                                                       activities are accepted; others -> 403;
                                                       ``*`` = every tenant. Unset: the app's
                                                       MicrosoftAppTenantId for SingleTenant
                                                       and UserAssignedMSI, else every tenant
ATMT_ALLOWED_CHANNELS      msteams                     comma-separated Bot Framework channel
                                                       ids accepted; others -> 403 (Web Chat,
                                                       Direct Line let the sender choose
                                                       ``from.id``); anonymous mode also takes
                                                       the Agents Playground's (msteams)
ATMT_ALLOW_ANONYMOUS       false                       let anonymous mode (no MicrosoftAppId)
                                                       listen on a non-loopback HOST
ATMT_BAD_TOKEN_RATE_PER_   30                          refused tokens per minute per source
MINUTE                                                 address; beyond it refusals are 429 +
                                                       Retry-After instead of 401; 0 = off
ATMT_PUBLIC_URL            http://HOST:PORT            base URL of download links: https://
                                                       (http only to a loopback host); needed
                                                       when HOST is not a loopback address
ATMT_DOWNLOAD_KEY          from MicrosoftAppPassword   key that signs download links (the same
                                                       on every process)
ATMT_USER_RATE_PER_MINUTE  60                          requests per minute per user: a token
                                                       bucket per (tenant, ``from.id``), burst
                                                       of the same size, in memory per process;
                                                       over it -> 429 + Retry-After; 0 = off
ATMT_OPENID_METADATA_URL   Bot Framework's (below)     OpenID configuration whose ``jwks_uri``
                                                       signs channel tokens; change only for
                                                       tests (a local document) or a sovereign
                                                       cloud; https (http only to loopback)
ATMT_NOTIFIER              true                        run the outbox dispatcher in this process
ATMT_NOTIFIER_INTERVAL     2.0                         seconds between outbox polls when idle
ATMT_NOTIFY_CONVERSATION_  7                           proactive messages per second per
RATE                                                   conversation (Teams' limit)
ATMT_NOTIFY_TENANT_RATE    50                          proactive messages per second per tenant
ATMT_NOTIFY_TEAMS_ATTEMPTS 4                           Teams attempts before the e-mail fallback
ATMT_NOTIFY_MAX_ATTEMPTS   8                           attempts in all before the dead letter
ATMT_NOTIFY_TIMEOUT        15                          seconds per send (Teams or Graph)
ATMT_NOTIFY_BACKOFF_       2                           base of the exponential back-off (s);
SECONDS                                                Retry-After wins when larger
ATMT_NOTIFY_BACKOFF_MAX    900                         longest back-off (s)
ATMT_MAIL_SENDER           "" (no e-mail)              mailbox the e-mails are sent as
                                                       (``POST /users/{sender}/sendMail``)
ATMT_GRAPH_TENANT_ID       MicrosoftAppTenantId        tenant of the Graph app
ATMT_GRAPH_CLIENT_ID       MicrosoftAppId              app with the Mail.Send application
                                                       permission
ATMT_GRAPH_CLIENT_SECRET   MicrosoftAppPassword        its client secret
ATMT_GRAPH_AUTHORITY       login.microsoftonline.com   token authority (https; tests: a fake)
ATMT_GRAPH_URL             graph.microsoft.com         Graph base URL (https; tests: a fake)
ATMT_GRAPH_CA_BUNDLE       "" (system CAs)             CA file for the two above (tests only)
ATMT_AUDIT_KEY             "" (public dev key;         secret of the keyed audit chain, its
                           required with an app id)    people bindings and checkpoints (at
                                                       least 32 characters; Key Vault; never
                                                       in the database; keep it for good)
=========================  ==========================  ========================================

The default ``ATMT_OPENID_METADATA_URL`` is
``https://login.botframework.com/v1/.well-known/openidconfiguration``.
See :mod:`bot.auth` for what is checked with an app id set.
=======
Every setting is a field of :class:`Settings`: its environment name (the first
alias), its default, its limits and its ``description``, which is the one place a
setting is described. Bot Framework keys keep Bot Framework's own spelling
(``MicrosoftAppId`` ...); the rest are upper case. Names are matched
case-insensitively. The README's configuration table is generated from the fields
(``python -m bot.config --markdown``; a test keeps the two equal). See
:mod:`bot.auth` for what is checked with an app id set.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import annotated_types
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from access.audit import DEVELOPMENT_KEY, AuditKey, AuditKeyError
from access.locales import LOCALES
from storage.db import POOL_CAPACITY

__all__ = [
    "ConfigError",
    "Settings",
    "env_name",
    "is_loopback_host",
    "is_loopback_url",
    "load_settings",
    "settings_table",
]

AppType = Literal["SingleTenant", "MultiTenant", "UserAssignedMSI"]
_APP_TYPES: dict[str, AppType] = {
    "singletenant": "SingleTenant",
    "multitenant": "MultiTenant",
    "userassignedmsi": "UserAssignedMSI",
}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# botframework.connector.auth.AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
BOT_FRAMEWORK_OPENID_METADATA_URL = (
    "https://login.botframework.com/v1/.well-known/openidconfiguration"
)
_LOOPBACK = ("127.0.0.1", "::1", "localhost")
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EVERY_TENANT = "*"


def is_loopback_host(host: str | None) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1, ::ffff:127.x.y.z)."""
    if not host:
        return False
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def is_loopback_url(url: str | None) -> bool:
    """An ``http(s)://`` URL whose host is a loopback host."""
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and is_loopback_host(host)


class Settings(BaseSettings):
    """Validated settings; build with :func:`load_settings` (or directly in tests)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    app_id: str = Field(
        default="",
        validation_alias=AliasChoices("MicrosoftAppId", "app_id"),
        description=(
            "Entra app id of the bot registration; empty = local anonymous mode (no tokens checked "
            "or sent)"
        ),
    )
    app_password: str = Field(
        default="",
        validation_alias=AliasChoices("MicrosoftAppPassword", "app_password"),
        description="the app's client secret",
    )
    app_type: AppType = Field(
        default="SingleTenant",
        validation_alias=AliasChoices("MicrosoftAppType", "app_type"),
        description="`SingleTenant`, `MultiTenant` or `UserAssignedMSI`",
    )
    app_tenant_id: str = Field(
        default="",
        validation_alias=AliasChoices("MicrosoftAppTenantId", "app_tenant_id"),
        description="tenant of a `SingleTenant` or `UserAssignedMSI` bot",
    )
    database_url: str = Field(
        default="sqlite:///var/atmt.sqlite3",
        validation_alias=AliasChoices("DATABASE_URL", "database_url"),
        description=(
            "`sqlite:///PATH` (relative to the working directory) or `postgresql://user@host/db`"
        ),
    )
    directory_path: Path = Field(
        default=Path("examples/directory.yaml"),
        validation_alias=AliasChoices("ATMT_DIRECTORY", "directory_path"),
        description=(
            "the directory file of areas, municipalities and contacts; a version imported with "
            "`atmt-bot directory import` takes its place"
        ),
    )
    host: str = Field(
        default="127.0.0.1",
        validation_alias=AliasChoices("HOST", "host"),
        description="listen address",
    )
    port: int = Field(
        default=3978,
        ge=0,
        le=65535,
        validation_alias=AliasChoices("PORT", "port"),
        description="listen port (0 = any free port)",
    )
    log_level: str = Field(
        default="INFO",
        validation_alias=AliasChoices("LOG_LEVEL", "log_level"),
        description="`DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`",
    )
    max_body_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        validation_alias=AliasChoices("ATMT_MAX_BODY_BYTES", "max_body_bytes"),
        description="largest accepted request body in bytes; larger ones get 413",
    )
    default_locale: str = Field(
        default="fi",
        validation_alias=AliasChoices("ATMT_DEFAULT_LOCALE", "default_locale"),
        description=(
            "language (`fi`, `sv` or `en`) when neither the user, Teams nor the area gives one"
        ),
    )
    allowed_tenants: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        validation_alias=AliasChoices("ATMT_ALLOWED_TENANTS", "allowed_tenants"),
        description=(
            "comma-separated Entra tenant ids whose activities are accepted, others get 403; empty "
            "= every tenant"
        ),
    )
    user_rate_per_minute: int = Field(
        default=60,
        ge=0,
        le=100_000,
        validation_alias=AliasChoices("ATMT_USER_RATE_PER_MINUTE", "user_rate_per_minute"),
        description=(
            "requests per minute per user (tenant and `from.id`) and process, burst of the same "
            "size; over it 429 with `Retry-After`; 0 = off"
        ),
    )
    max_concurrent_turns: int = Field(
        default=8,
        ge=1,
        lt=POOL_CAPACITY,
        validation_alias=AliasChoices("ATMT_MAX_CONCURRENT_TURNS", "max_concurrent_turns"),
        description=(
            "turns one process works on at once, the rest wait; below the PostgreSQL pool "
            "(`storage.db.POOL_CAPACITY`), since a submission takes its request number on a "
            "second connection, which must always become free"
        ),
    )
    openid_metadata_url: str = Field(
        default=BOT_FRAMEWORK_OPENID_METADATA_URL,
        validation_alias=AliasChoices("ATMT_OPENID_METADATA_URL", "openid_metadata_url"),
        description=(
            "OpenID configuration whose `jwks_uri` lists the keys that sign channel tokens; change "
            "only for tests or a sovereign cloud; https (http only to loopback)"
        ),
    )
    public_url: str = Field(
        default="",
        validation_alias=AliasChoices("ATMT_PUBLIC_URL", "public_url"),
        description=(
            "public base URL of the short-lived signed download links (bearer links): https, "
            "http only to a loopback host; empty = `http://HOST:PORT`"
        ),
    )
    download_key: str = Field(
        default="",
        validation_alias=AliasChoices("ATMT_DOWNLOAD_KEY", "download_key"),
        description=(
            "key that signs the download links, the same on every process; empty = derived "
            "from `MicrosoftAppPassword`, or random per process without one"
        ),
    )

    # Trust: who may speak, from where.
    allowed_channels: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("msteams",),
        validation_alias=AliasChoices("ATMT_ALLOWED_CHANNELS", "allowed_channels"),
        description=(
            "Bot Framework channel ids whose activities are accepted (others: 403 before "
            "any state is touched). Only Teams vouches for who the sender is; on Web Chat "
            "or Direct Line the sender chooses from.id. Anonymous mode also accepts the "
            "Agents Playground's channel (bot.trust.PLAYGROUND_CHANNEL)."
        ),
    )
    allow_anonymous: bool = Field(
        default=False,
        validation_alias=AliasChoices("ATMT_ALLOW_ANONYMOUS", "allow_anonymous"),
        description=(
            "Let anonymous mode (no MicrosoftAppId: no tokens checked) listen on a "
            "non-loopback HOST. Without it `atmt-bot run` refuses (exit 2). Anonymous "
            "mode accepts loopback serviceUrls only either way."
        ),
    )
    bad_token_rate_per_minute: int = Field(
        default=30,
        ge=0,
        le=100_000,
        validation_alias=AliasChoices(
            "ATMT_BAD_TOKEN_RATE_PER_MINUTE", "bad_token_rate_per_minute"
        ),
        description=(
            "Requests refused for a bad token per minute per source address (token "
            "bucket, burst of the same size, per process); beyond it the refusal is 429 "
            "with Retry-After and is not logged again. A valid token is never refused by "
            "it (a proxy's address is shared). 0 = off."
        ),
    )

    # Notifications: the outbox dispatcher and the e-mail fallback (Graph).
    notifier_enabled: bool = Field(
        default=True,
        validation_alias=AliasChoices("ATMT_NOTIFIER", "notifier_enabled"),
        description="run the outbox dispatcher, which sends the notifications, in this process",
    )
    notifier_interval: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        validation_alias=AliasChoices("ATMT_NOTIFIER_INTERVAL", "notifier_interval"),
        description="seconds between outbox polls when idle",
    )
    notify_conversation_rate: float = Field(
        default=7.0,
        gt=0,
        validation_alias=AliasChoices("ATMT_NOTIFY_CONVERSATION_RATE", "notify_conversation_rate"),
        description="proactive messages per second per conversation and process (Teams' limit)",
    )
    notify_tenant_rate: float = Field(
        default=50.0,
        gt=0,
        validation_alias=AliasChoices("ATMT_NOTIFY_TENANT_RATE", "notify_tenant_rate"),
        description="proactive messages per second per tenant and process (Teams' limit)",
    )
    notify_teams_attempts: int = Field(
        default=4,
        ge=1,
        le=100,
        validation_alias=AliasChoices("ATMT_NOTIFY_TEAMS_ATTEMPTS", "notify_teams_attempts"),
        description="Teams attempts before the e-mail fallback",
    )
    notify_max_attempts: int = Field(
        default=8,
        ge=1,
        le=100,
        validation_alias=AliasChoices("ATMT_NOTIFY_MAX_ATTEMPTS", "notify_max_attempts"),
        description="attempts in all before a notification becomes a dead letter",
    )
    notify_timeout: float = Field(
        default=15.0,
        gt=0,
        le=300,
        validation_alias=AliasChoices("ATMT_NOTIFY_TIMEOUT", "notify_timeout"),
        description="seconds per send (Teams or Graph)",
    )
    notify_backoff: float = Field(
        default=2.0,
        ge=0,
        le=3600,
        validation_alias=AliasChoices("ATMT_NOTIFY_BACKOFF_SECONDS", "notify_backoff"),
        description=(
            "base of the exponential back-off between attempts, in seconds; a longer `Retry-After` "
            "wins"
        ),
    )
    notify_backoff_max: float = Field(
        default=900.0,
        gt=0,
        le=86400,
        validation_alias=AliasChoices("ATMT_NOTIFY_BACKOFF_MAX", "notify_backoff_max"),
        description="longest back-off in seconds",
    )
    graph_tenant_id: str = Field(
        default="",
        validation_alias=AliasChoices("ATMT_GRAPH_TENANT_ID", "graph_tenant_id"),
        description="tenant of the app that calls Microsoft Graph; empty = `MicrosoftAppTenantId`",
    )
    graph_client_id: str = Field(
        default="",
        validation_alias=AliasChoices("ATMT_GRAPH_CLIENT_ID", "graph_client_id"),
        description=(
            "app with the Graph `Mail.Send` application permission; empty = `MicrosoftAppId`"
        ),
    )
    graph_client_secret: str = Field(
        default="",
        validation_alias=AliasChoices("ATMT_GRAPH_CLIENT_SECRET", "graph_client_secret"),
        description="that app's client secret; empty = `MicrosoftAppPassword`",
    )
    mail_sender: str = Field(
        default="",
        validation_alias=AliasChoices("ATMT_MAIL_SENDER", "mail_sender"),
        description=(
            "mailbox that sends e-mail when Teams cannot reach a person (`POST "
            "/users/{sender}/sendMail`); empty = no e-mail"
        ),
    )
    graph_authority: str = Field(
        default="https://login.microsoftonline.com",
        validation_alias=AliasChoices("ATMT_GRAPH_AUTHORITY", "graph_authority"),
        description="token authority for Graph (https; tests: a fake)",
    )
    graph_url: str = Field(
        default="https://graph.microsoft.com",
        validation_alias=AliasChoices("ATMT_GRAPH_URL", "graph_url"),
        description="Graph base URL (https; tests: a fake)",
    )
    graph_ca_bundle: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("ATMT_GRAPH_CA_BUNDLE", "graph_ca_bundle"),
        description="CA file for the two above (tests only); empty = the system's CAs",
    )
    graph_user_lookup: bool = Field(
        default=False,
        validation_alias=AliasChoices("ATMT_GRAPH_USER_LOOKUP", "graph_user_lookup"),
        description=(
            "find a person the bot has never met by their e-mail (user principal name) in "
            "Microsoft Graph (`GET /users/{upn}`, application permission "
            "`User.ReadBasic.All`) to open a 1:1 Teams chat with them"
        ),
    )
    teams_catalog_app_id: str = Field(
        default="",
        validation_alias=AliasChoices("ATMT_TEAMS_CATALOG_APP_ID", "teams_catalog_app_id"),
        description=(
            "id of the app in the organisation's Teams app catalog (a GUID, not the "
            "manifest's id: Graph `GET /appCatalogs/teamsApps?$filter=externalId eq "
            "'{manifest id}'`); set = when Teams cannot reach a person the app is installed "
            "for them (`POST /users/{id}/teamwork/installedApps`, application permission "
            "`TeamsAppInstallation.ReadWriteForUser.All`); empty = never"
        ),
    )

    # Scheduled jobs: reminders, expiry, escalation, reviews (bot/scheduler.py).
    scheduler_enabled: bool = Field(
        default=True,
        validation_alias=AliasChoices("ATMT_SCHEDULER", "scheduler_enabled"),
        description=(
            "run the scheduled jobs in this process: reminders, escalation, expiry, agreement ends "
            "and access reviews (one process at a time runs it)"
        ),
    )
    scheduler_interval: float = Field(
        default=300.0,
        ge=5,
        le=86400,
        validation_alias=AliasChoices("ATMT_SCHEDULER_INTERVAL", "scheduler_interval"),
        description="seconds between runs of the scheduled jobs",
    )

    audit_key: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices("ATMT_AUDIT_KEY", "audit_key"),
        description="secret that keys the audit chain, its people bindings and checkpoints "
        "(at least 32 characters, from Key Vault, never in the database; keep it for good); "
        "empty = a public development key, refused with an app id (see access/audit.py)",
    )

    @field_validator("app_id", "app_password", "app_tenant_id", "host", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("app_type", mode="before")
    @classmethod
    def _app_type(cls, value: Any) -> Any:
        if isinstance(value, str):
            normalized = _APP_TYPES.get(value.strip().lower())
            if normalized is None:
                raise ValueError(f"must be one of {', '.join(_APP_TYPES.values())}")
            return normalized
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> Any:
        if isinstance(value, str):
            level = value.strip().upper()
            if level not in _LOG_LEVELS:
                raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
            return level
        return value

    @field_validator("default_locale", mode="before")
    @classmethod
    def _locale(cls, value: Any) -> Any:
        if isinstance(value, str):
            locale = value.strip().lower()
            if locale not in LOCALES:
                raise ValueError(f"must be one of {', '.join(LOCALES)}")
            return locale
        return value

    @field_validator("allowed_tenants", mode="before")
    @classmethod
    def _tenants(cls, value: Any) -> Any:
        items = value.split(",") if isinstance(value, str) else value
        if isinstance(items, list | tuple | set | frozenset):
            return tuple(sorted({str(item).strip().lower() for item in items} - {""}))
        return value

    @field_validator("allowed_channels", mode="before")
    @classmethod
    def _channels(cls, value: Any) -> Any:
        items = value.split(",") if isinstance(value, str) else value
        if isinstance(items, list | tuple | set | frozenset):
            channels = tuple(sorted({str(item).strip().lower() for item in items} - {""}))
            if not channels:
                raise ValueError("must name at least one channel (msteams)")
            return channels
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        if not url:
            return ""
        parts = urlsplit(url)
        if not parts.hostname or not (
            parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname))
        ):
            raise ValueError("must be an https:// URL (http:// only to a loopback host)")
        return url

    @field_validator("openid_metadata_url")
    @classmethod
    def _openid_metadata_url(cls, value: str) -> str:
        url = value.strip()
        parts = urlsplit(url)
        if not parts.hostname or not (
            parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)
        ):
            raise ValueError("must be an https:// URL (http:// only to 127.0.0.1/localhost)")
        return url

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        scheme, sep, rest = value.strip().partition("://")
        base = scheme.split("+", 1)[0].lower()
        if not sep or base not in ("sqlite", "postgresql", "postgres") or not rest:
            raise ValueError("must be sqlite:///PATH or postgresql://USER@HOST:PORT/DB")
        return value.strip()

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("audit_key")
    @classmethod
    def _audit_key(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value().strip()
        if text:
            try:
                AuditKey.from_text(text)
            except AuditKeyError as error:
                raise ValueError(str(error)) from None
        return SecretStr(text)

    @field_validator("graph_ca_bundle", mode="before")
    @classmethod
    def _ca_bundle(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("teams_catalog_app_id")
    @classmethod
    def _teams_catalog_app_id(cls, value: str) -> str:
        text = value.strip().lower()
        if text and not _GUID.fullmatch(text):
            raise ValueError("must be the app's id in the Teams app catalog (a GUID)")
        return text

    @field_validator("graph_authority", "graph_url")
    @classmethod
    def _graph_urls(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        parts = urlsplit(url)
        if not parts.hostname or parts.scheme != "https":
            raise ValueError("must be an https:// URL")
        return url

    # ------------------------------------------------------------------ derived

    @property
    def mail_enabled(self) -> bool:
        """E-mail fallback through Graph: a sender mailbox and client credentials."""
        return bool(
            self.mail_sender
            and (self.graph_client_id or self.app_id)
            and (self.graph_client_secret or self.app_password)
            and (self.graph_tenant_id or self.app_tenant_id)
        )

    @property
    def graph_tenant(self) -> str:
        """The tenant of the Graph app (and of the people it finds)."""
        return self.graph_tenant_id or self.app_tenant_id

    @property
    def graph_credentials(self) -> bool:
        """Client credentials for Microsoft Graph are configured."""
        return bool(
            (self.graph_client_id or self.app_id)
            and (self.graph_client_secret or self.app_password)
            and self.graph_tenant
        )

    @property
    def user_lookup_enabled(self) -> bool:
        """People are looked up in Graph by e-mail (``ATMT_GRAPH_USER_LOOKUP``)."""
        return self.graph_user_lookup and self.graph_credentials

    @property
    def app_install_enabled(self) -> bool:
        """The app is installed through Graph for people Teams cannot reach."""
        return bool(self.teams_catalog_app_id) and self.graph_credentials

    def audit_chain_key(self) -> AuditKey:
        """``ATMT_AUDIT_KEY``, else the public development key (local mode and tests;
        :func:`load_settings` refuses an app id without a key)."""
        text = self.audit_key.get_secret_value()
        return AuditKey.from_text(text) if text else DEVELOPMENT_KEY

    @property
    def anonymous(self) -> bool:
        """Local anonymous mode: no app id, so no tokens are checked or sent."""
        return not self.app_id

    @property
    def accepted_tenants(self) -> tuple[str, ...]:
        """The tenants whose activities are accepted; ``()`` = every tenant.

        ``ATMT_ALLOWED_TENANTS`` when set (``*`` = every tenant); unset, a single-tenant
        bot (SingleTenant, UserAssignedMSI) accepts its own MicrosoftAppTenantId only.
        """
        if EVERY_TENANT in self.allowed_tenants:
            return ()
        if self.allowed_tenants:
            return self.allowed_tenants
        if (
            not self.anonymous
            and self.app_type in ("SingleTenant", "UserAssignedMSI")
            and self.app_tenant_id
        ):
            return (self.app_tenant_id.lower(),)
        return ()

    @property
    def download_base_url(self) -> str:
        """Base of download links: ``ATMT_PUBLIC_URL``, else ``http://HOST:PORT``."""
        if self.public_url:
            return self.public_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def listen_problems(self) -> list[tuple[str, str]]:
        """Why the bot must not start listening with these settings, as (key, message).

        Checked by ``atmt-bot run`` / ``serve`` after ``--host`` / ``--port``."""
        problems: list[tuple[str, str]] = []
        loopback = is_loopback_host(self.host)
        if self.anonymous and not loopback and not self.allow_anonymous:
            problems.append(
                (
                    "HOST",
                    f"{self.host} is not a loopback address and MicrosoftAppId is empty "
                    "(anonymous mode checks no tokens): set MicrosoftAppId, listen on "
                    "127.0.0.1, or set ATMT_ALLOW_ANONYMOUS=true",
                )
            )
        elif not self.public_url and not loopback:
            problems.append(
                (
                    "ATMT_PUBLIC_URL",
                    "required when HOST is not a loopback address: download links are "
                    "served over https only",
                )
            )
        return problems

    def cross_field_problems(self) -> list[tuple[str, str]]:
        """Problems that involve several keys, as (key, message)."""
        problems: list[tuple[str, str]] = []
        if self.anonymous:
            return problems
        if self.app_type in ("SingleTenant", "MultiTenant") and not self.app_password:
            problems.append(("MicrosoftAppPassword", "required when MicrosoftAppId is set"))
        if self.app_type in ("SingleTenant", "UserAssignedMSI") and not self.app_tenant_id:
            problems.append(
                ("MicrosoftAppTenantId", f"required when MicrosoftAppType is {self.app_type}")
            )
        if not self.audit_key.get_secret_value():
            problems.append(("ATMT_AUDIT_KEY", "required when MicrosoftAppId is set"))
        return problems

    def botframework_config(self) -> object:
        """The attribute bag ``ConfigurationBotFrameworkAuthentication`` reads."""
        return _BotFrameworkConfig(self)


class _BotFrameworkConfig:
    """APP_ID / APP_PASSWORD / APP_TYPE / APP_TENANTID as botbuilder expects them."""

    def __init__(self, settings: Settings) -> None:
        self.APP_ID = settings.app_id
        self.APP_PASSWORD = settings.app_password
        # botbuilder refuses SingleTenant without an id; anonymous mode is MultiTenant
        # with an empty id (auth disabled).
        self.APP_TYPE = "MultiTenant" if settings.anonymous else settings.app_type
        self.APP_TENANTID = settings.app_tenant_id


class ConfigError(Exception):
    """Invalid configuration; ``problems`` is a list of (key, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{key}: {message}" for key, message in problems))

    def lines(self) -> list[str]:
        return [f"configuration error: {key}: {message}" for key, message in self.problems]


def _key_of(loc: tuple[int | str, ...]) -> str:
    key = str(loc[0]) if loc else "configuration"
    field = Settings.model_fields.get(key)
    if field is not None and isinstance(field.validation_alias, AliasChoices):
        first = field.validation_alias.choices[0]
        return str(first)
    return key


def _message(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
    """Settings from the environment (+ ``env_file`` if it exists).

    Raises :class:`ConfigError` naming every bad key.
    """
    try:
        settings = Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as error:
        problems: list[tuple[str, str]] = []
        seen: set[str] = set()
        for item in error.errors():
            key = _key_of(tuple(item.get("loc", ())))
            if key in seen:
                continue
            seen.add(key)
            problems.append((key, _message(dict(item))))
        raise ConfigError(problems) from None
    problems = settings.cross_field_problems()
    if problems:
        raise ConfigError(problems)
    return settings


# ----------------------------------------------------------------- the table


def env_name(field_name: str) -> str:
    """The environment name of a :class:`Settings` field (its first alias)."""
    alias = Settings.model_fields[field_name].validation_alias
    return str(alias.choices[0]) if isinstance(alias, AliasChoices) else field_name.upper()


def _shown_default(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None or value == "" or value == ():
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


_LIMITS: tuple[tuple[type[Any], str, str], ...] = (
    (annotated_types.Ge, "ge", "at least"),
    (annotated_types.Gt, "gt", "more than"),
    (annotated_types.Le, "le", "at most"),
    (annotated_types.Lt, "lt", "less than"),
)


def _meaning(field: FieldInfo) -> str:
    limits = [
        f"{words} {getattr(item, attribute)}"
        for kind, attribute, words in _LIMITS
        for item in field.metadata
        if isinstance(item, kind)
    ]
    text = field.description or ""
    return "; ".join([text, ", ".join(limits)]) if limits else text


def settings_table() -> str:
    """The Markdown table of every setting: environment name, default, meaning."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `{env_name(name)}` | {_shown_default(field.default)} | {_meaning(field)} |")
    return "\n".join(rows) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.config", description="Describe the settings of the bot."
    )
    parser.add_argument(
        "--markdown", action="store_true", required=True, help="the README's settings table"
    )
    parser.parse_args(argv)
    sys.stdout.write(settings_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
