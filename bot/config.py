"""Configuration from the environment and an optional ``.env`` file.

Bot Framework keys keep Bot Framework's own spelling (``MicrosoftAppId`` ...); the
rest are upper case. Names are matched case-insensitively.

=========================  ==========================  ========================================
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
ATMT_ALLOWED_TENANTS       "" (every tenant)           comma-separated Entra tenant ids whose
                                                       activities are accepted; others -> 403
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
=========================  ==========================  ========================================

The default ``ATMT_OPENID_METADATA_URL`` is
``https://login.botframework.com/v1/.well-known/openidconfiguration``.
See :mod:`bot.auth` for what is checked with an app id set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from access.locales import LOCALES
from storage.db import POOL_CAPACITY

__all__ = ["ConfigError", "Settings", "load_settings"]

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

    app_id: str = Field(default="", validation_alias=AliasChoices("MicrosoftAppId", "app_id"))
    app_password: str = Field(
        default="", validation_alias=AliasChoices("MicrosoftAppPassword", "app_password")
    )
    app_type: AppType = Field(
        default="SingleTenant", validation_alias=AliasChoices("MicrosoftAppType", "app_type")
    )
    app_tenant_id: str = Field(
        default="", validation_alias=AliasChoices("MicrosoftAppTenantId", "app_tenant_id")
    )
    database_url: str = Field(
        default="sqlite:///var/atmt.sqlite3",
        validation_alias=AliasChoices("DATABASE_URL", "database_url"),
    )
    directory_path: Path = Field(
        default=Path("examples/directory.yaml"),
        validation_alias=AliasChoices("ATMT_DIRECTORY", "directory_path"),
    )
    host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("HOST", "host"))
    port: int = Field(default=3978, ge=0, le=65535, validation_alias=AliasChoices("PORT", "port"))
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("LOG_LEVEL", "log_level"))
    max_body_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        validation_alias=AliasChoices("ATMT_MAX_BODY_BYTES", "max_body_bytes"),
    )
    default_locale: str = Field(
        default="fi", validation_alias=AliasChoices("ATMT_DEFAULT_LOCALE", "default_locale")
    )
    allowed_tenants: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias=AliasChoices("ATMT_ALLOWED_TENANTS", "allowed_tenants")
    )
    user_rate_per_minute: int = Field(
        default=60,
        ge=0,
        le=100_000,
        validation_alias=AliasChoices("ATMT_USER_RATE_PER_MINUTE", "user_rate_per_minute"),
    )
    max_concurrent_turns: int = Field(
        default=8,
        ge=1,
        lt=POOL_CAPACITY,
        validation_alias=AliasChoices("ATMT_MAX_CONCURRENT_TURNS", "max_concurrent_turns"),
        description=(
            "Turns one process works on at once; the rest wait at the door (issue 10). "
            "Below the PostgreSQL pool (storage.db.POOL_CAPACITY): a submission takes its "
            "request number on a second connection, which must always become free."
        ),
    )
    openid_metadata_url: str = Field(
        default=BOT_FRAMEWORK_OPENID_METADATA_URL,
        validation_alias=AliasChoices("ATMT_OPENID_METADATA_URL", "openid_metadata_url"),
    )

    # Notifications (issue 6): the outbox dispatcher and the e-mail fallback (Graph).
    notifier_enabled: bool = Field(
        default=True, validation_alias=AliasChoices("ATMT_NOTIFIER", "notifier_enabled")
    )
    notifier_interval: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        validation_alias=AliasChoices("ATMT_NOTIFIER_INTERVAL", "notifier_interval"),
    )
    notify_conversation_rate: float = Field(
        default=7.0,
        gt=0,
        validation_alias=AliasChoices(
            "ATMT_NOTIFY_CONVERSATION_RATE", "notify_conversation_rate"
        ),
    )
    notify_tenant_rate: float = Field(
        default=50.0,
        gt=0,
        validation_alias=AliasChoices("ATMT_NOTIFY_TENANT_RATE", "notify_tenant_rate"),
    )
    notify_teams_attempts: int = Field(
        default=4,
        ge=1,
        le=100,
        validation_alias=AliasChoices("ATMT_NOTIFY_TEAMS_ATTEMPTS", "notify_teams_attempts"),
    )
    notify_max_attempts: int = Field(
        default=8,
        ge=1,
        le=100,
        validation_alias=AliasChoices("ATMT_NOTIFY_MAX_ATTEMPTS", "notify_max_attempts"),
    )
    notify_timeout: float = Field(
        default=15.0,
        gt=0,
        le=300,
        validation_alias=AliasChoices("ATMT_NOTIFY_TIMEOUT", "notify_timeout"),
    )
    notify_backoff: float = Field(
        default=2.0,
        ge=0,
        le=3600,
        validation_alias=AliasChoices("ATMT_NOTIFY_BACKOFF_SECONDS", "notify_backoff"),
    )
    notify_backoff_max: float = Field(
        default=900.0,
        gt=0,
        le=86400,
        validation_alias=AliasChoices("ATMT_NOTIFY_BACKOFF_MAX", "notify_backoff_max"),
    )
    graph_tenant_id: str = Field(
        default="", validation_alias=AliasChoices("ATMT_GRAPH_TENANT_ID", "graph_tenant_id")
    )
    graph_client_id: str = Field(
        default="", validation_alias=AliasChoices("ATMT_GRAPH_CLIENT_ID", "graph_client_id")
    )
    graph_client_secret: str = Field(
        default="",
        validation_alias=AliasChoices("ATMT_GRAPH_CLIENT_SECRET", "graph_client_secret"),
    )
    mail_sender: str = Field(
        default="", validation_alias=AliasChoices("ATMT_MAIL_SENDER", "mail_sender")
    )
    graph_authority: str = Field(
        default="https://login.microsoftonline.com",
        validation_alias=AliasChoices("ATMT_GRAPH_AUTHORITY", "graph_authority"),
    )
    graph_url: str = Field(
        default="https://graph.microsoft.com",
        validation_alias=AliasChoices("ATMT_GRAPH_URL", "graph_url"),
    )
    graph_ca_bundle: Path | None = Field(
        default=None, validation_alias=AliasChoices("ATMT_GRAPH_CA_BUNDLE", "graph_ca_bundle")
    )

    # Lifecycle automation (issue 8): reminders, expiry, escalation (bot/scheduler.py).
    scheduler_enabled: bool = Field(
        default=True, validation_alias=AliasChoices("ATMT_SCHEDULER", "scheduler_enabled")
    )
    scheduler_interval: float = Field(
        default=300.0,
        ge=5,
        le=86400,
        validation_alias=AliasChoices("ATMT_SCHEDULER_INTERVAL", "scheduler_interval"),
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

    @field_validator("graph_ca_bundle", mode="before")
    @classmethod
    def _ca_bundle(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

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
    def anonymous(self) -> bool:
        """Local anonymous mode: no app id, so no tokens are checked or sent."""
        return not self.app_id

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
