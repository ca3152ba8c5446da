"""The Teams app package: ``atmt-bot manifest build`` -> ``dist/atmt-bot-teams.zip``.

``manifest/`` holds the template: ``manifest.json`` (Finnish, the default language),
``sv.json`` and ``en.json`` (localization files), ``color.png`` (192×192) and
``outline.png`` (32×32, white on transparent; both drawn by ``scripts/make_icons.py``).
The build

1. fills the ``{{PLACEHOLDERS}}`` of the template from the configuration,
2. writes ``bots[0].commandLists`` from the bot's own catalogs (``command.*`` words and
   ``help.cmd.*`` descriptions), one list for personal chat and one for teams and
   group chats, so the command menu always matches what the bot understands; the
   Swedish and English titles go into the localization files,
3. zips the five files (fixed timestamps: the same input gives the same bytes).

Configuration (environment / ``.env``; command-line flags win). Only the first two are
required: the three pages default to the bot's own (``/``, ``/privacy``, ``/terms``,
served by ``bot.app``), and every missing or invalid key is reported at once, one line
each (exit status 2):

==========================  ============================  ===============================
key                         flag                          meaning
==========================  ============================  ===============================
MicrosoftAppId              ``--bot-id``                  the bot's Entra app id (GUID)
ATMT_PUBLIC_URL             ``--public-url``              the bot's https base URL; the
                                                          pages below default to it
ATMT_TEAMS_APP_ID           ``--app-id``                  Teams app id (default: bot id)
ATMT_DEVELOPER_NAME         ``--developer-name``          publisher shown in Teams (≤32;
                                                          default ``Työvoimaviranomainen``)
ATMT_WEBSITE_URL            ``--website-url``             support page (https; default
                                                          ``ATMT_PUBLIC_URL/``)
ATMT_PRIVACY_URL            ``--privacy-url``             privacy statement (https;
                                                          default ``ATMT_PUBLIC_URL/privacy``)
ATMT_TERMS_URL              ``--terms-url``               terms of use (https; default
                                                          ``ATMT_PUBLIC_URL/terms``)
ATMT_VALID_DOMAINS          ``--valid-domain`` (repeat)   extra valid domains (comma list);
                                                          the hosts of the three URLs are
                                                          always included
==========================  ============================  ===============================

The manifest schema version is :data:`MANIFEST_VERSION`; ``tests/test_manifest.py``
validates the built package against the official schema of that version offline (npm
``@microsoft/app-manifest`` bundles the schemas).
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import re
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from access.locales import DEFAULT_LOCALE, LOCALES

__all__ = [
    "DEFAULT_DEVELOPER_NAME",
    "MANIFEST_VERSION",
    "PACKAGE_NAME",
    "ManifestConfig",
    "ManifestError",
    "build_files",
    "build_manifest_zip",
    "command_lists",
    "config_from",
    "register",
    "template_dir",
]

MANIFEST_VERSION = "1.30"
PACKAGE_NAME = "atmt-bot-teams.zip"
ICONS = ("color.png", "outline.png")
LOCALIZATION_FILES = {locale: f"{locale}.json" for locale in LOCALES if locale != DEFAULT_LOCALE}
_ZIP_TIME = (2026, 1, 1, 0, 0, 0)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_DOMAIN = re.compile(r"^(\*\.)?([A-Za-z0-9-]+\.)+[A-Za-z0-9-]+(:\d+)?$")
_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")

# (scopes, commands) of each commandLists entry; all commands in every scope.
COMMAND_SCOPES: tuple[tuple[str, ...], ...] = (("personal",), ("team", "groupChat"))


class ManifestError(Exception):
    """Invalid manifest configuration; ``problems`` is a list of (key, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{key}: {message}" for key, message in problems))

    def lines(self) -> list[str]:
        return [f"configuration error: {key}: {message}" for key, message in self.problems]


DEFAULT_DEVELOPER_NAME = "Työvoimaviranomainen"
"""The publisher Teams shows when ``ATMT_DEVELOPER_NAME`` is not set: the employment
authority, which runs the service (docs/privacy.md names it the controller)."""

_MISSING_BASE = (
    "required: the website, privacy and terms URLs default to the bot's own pages under it "
    "(or set ATMT_WEBSITE_URL, ATMT_PRIVACY_URL and ATMT_TERMS_URL)"
)


@dataclass(frozen=True)
class ManifestConfig:
    bot_id: str
    developer_name: str = DEFAULT_DEVELOPER_NAME
    website_url: str = ""
    privacy_url: str = ""
    terms_url: str = ""
    teams_app_id: str = ""
    version: str = ""
    valid_domains: tuple[str, ...] = field(default_factory=tuple)
    public_url: str = ""

    @property
    def app_id(self) -> str:
        return self.teams_app_id or self.bot_id

    def urls(self) -> dict[str, str]:
        """The three pages by configuration key: as configured, else the bot's own page
        under ``ATMT_PUBLIC_URL`` (``""`` when neither is set)."""
        base = self.public_url.strip().rstrip("/")
        return {
            "ATMT_WEBSITE_URL": self.website_url or (f"{base}/" if base else ""),
            "ATMT_PRIVACY_URL": self.privacy_url or (f"{base}/privacy" if base else ""),
            "ATMT_TERMS_URL": self.terms_url or (f"{base}/terms" if base else ""),
        }

    def domains(self) -> list[str]:
        """Hosts of the three URLs, then the extra domains, without duplicates."""
        result: list[str] = []
        for url in self.urls().values():
            host = urlsplit(url).hostname
            if host and host not in result:
                result.append(host)
        for domain in self.valid_domains:
            if domain not in result:
                result.append(domain)
        return result

    def problems(self) -> list[tuple[str, str]]:
        """Every missing or invalid setting, as (key, message), in the order of the
        module's table."""
        found: list[tuple[str, str]] = []
        if not self.bot_id:
            found.append(("MicrosoftAppId", "required to build the Teams app package"))
        elif not _GUID.match(self.bot_id):
            found.append(("MicrosoftAppId", "must be a GUID"))
        urls = self.urls()
        if self.public_url and not _is_https(self.public_url):
            found.append(("ATMT_PUBLIC_URL", "must be an https:// URL (Teams opens the pages)"))
        elif not self.public_url and not all(urls.values()):
            found.append(("ATMT_PUBLIC_URL", _MISSING_BASE))
        if self.teams_app_id and not _GUID.match(self.teams_app_id):
            found.append(("ATMT_TEAMS_APP_ID", "must be a GUID"))
        if not self.developer_name:
            found.append(("ATMT_DEVELOPER_NAME", "required"))
        elif len(self.developer_name) > 32:
            found.append(("ATMT_DEVELOPER_NAME", "at most 32 characters"))
        configured = {
            "ATMT_WEBSITE_URL": self.website_url,
            "ATMT_PRIVACY_URL": self.privacy_url,
            "ATMT_TERMS_URL": self.terms_url,
        }
        for key, url in configured.items():
            if url and not _is_https(url):
                found.append((key, "must be an https:// URL"))
        for domain in self.valid_domains:
            if not _DOMAIN.match(domain):
                found.append(("ATMT_VALID_DOMAINS", f"{domain!r} is not a domain name"))
        if self.version and not re.match(r"^\d+\.\d+\.\d+$", self.version):
            found.append(("version", "must be MAJOR.MINOR.PATCH"))
        return found


def _is_https(url: str) -> bool:
    try:
        return url.lower().startswith("https://") and bool(urlsplit(url).hostname)
    except ValueError:
        return False


# ------------------------------------------------------------------ inputs


def template_dir() -> Path:
    """``manifest/`` of the source tree (editable install), else of the working dir."""
    beside = Path(__file__).resolve().parent.parent / "manifest"
    if (beside / "manifest.json").is_file():
        return beside
    return Path.cwd() / "manifest"


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("atmt-access-bot")
    except PackageNotFoundError:
        return "0.1.0"
    match = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", found)
    if not match:
        return "0.1.0"
    return f"{match[1]}.{match[2]}.{match[3] or 0}"


def _first(*values: object) -> str:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def config_from(source: object = None, env: Mapping[str, str] | None = None) -> ManifestConfig:
    """Configuration from a ``Settings``, an ``argparse.Namespace`` or a mapping.

    Attributes (or keys) of ``source`` win over the environment: ``bot_id`` (or
    ``app_id`` of ``Settings``), ``public_url``, ``teams_app_id``, ``developer_name``,
    ``website_url``, ``privacy_url``, ``terms_url``, ``valid_domains``, ``version``.
    """
    environ = os.environ if env is None else env

    def get(name: str) -> Any:
        if isinstance(source, Mapping):
            return source.get(name)
        return getattr(source, name, None)

    def env_get(key: str) -> str:
        # Keys are case-insensitive, as in bot.config.
        for name, value in environ.items():
            if name.lower() == key.lower():
                return value
        return ""

    extra = get("valid_domains")
    if isinstance(extra, str):
        extra = extra.split(",")
    domains = [d.strip() for d in (extra or env_get("ATMT_VALID_DOMAINS").split(",")) if d.strip()]
    return ManifestConfig(
        bot_id=_first(get("bot_id"), get("app_id"), env_get("MicrosoftAppId")),
        teams_app_id=_first(get("teams_app_id"), env_get("ATMT_TEAMS_APP_ID")),
        developer_name=_first(get("developer_name"), env_get("ATMT_DEVELOPER_NAME"))
        or DEFAULT_DEVELOPER_NAME,
        public_url=_first(get("public_url"), env_get("ATMT_PUBLIC_URL")),
        website_url=_first(get("website_url"), env_get("ATMT_WEBSITE_URL")),
        privacy_url=_first(get("privacy_url"), env_get("ATMT_PRIVACY_URL")),
        terms_url=_first(get("terms_url"), env_get("ATMT_TERMS_URL")),
        valid_domains=tuple(domains),
        version=_first(get("version")) or _package_version(),
    )


# ----------------------------------------------------------- pure building


def _manifest_commands() -> tuple[Any, ...]:
    """The commands Teams suggests in the compose box: at most 12 per list (the schema's
    limit), the most used first. The help card lists every command; rarely typed ones
    (directory, misuse, language, cancel) are left to it."""
    from dialogs.commands import Command

    return (
        Command.NEW,
        Command.CHANGE,
        Command.REVOKE,
        Command.MY_REQUESTS,
        Command.APPROVALS,
        Command.KEHA,
        Command.MY_ACCESS,
        Command.MY_DATA,
        Command.REPORT,
        Command.REVIEW,
        Command.PRIVACY,
        Command.HELP,
    )


MANIFEST_COMMANDS = _manifest_commands()


def command_lists(messages: Any) -> list[dict[str, Any]]:
    """``bots[0].commandLists`` in one language (a ``dialogs.i18n.Messages``)."""
    commands = [
        {
            "title": messages.word(f"command.{command.value}"),
            "description": messages.t(f"help.cmd.{command.value}"),
        }
        for command in MANIFEST_COMMANDS
    ]
    return [
        {"scopes": list(scopes), "commands": copy.deepcopy(commands)} for scopes in COMMAND_SCOPES
    ]


def _localized_commands(messages: Any) -> dict[str, str]:
    keys: dict[str, str] = {}
    for i, entry in enumerate(command_lists(messages)):
        for j, command in enumerate(entry["commands"]):
            prefix = f"bots[0].commandLists[{i}].commands[{j}]"
            keys[f"{prefix}.title"] = command["title"]
            keys[f"{prefix}.description"] = command["description"]
    return keys


def _fill(value: Any, values: Mapping[str, Any]) -> Any:
    """Replace ``{{KEY}}`` in every string; a list item that is exactly a placeholder
    of a list value expands to that list."""
    if isinstance(value, dict):
        return {key: _fill(item, values) for key, item in value.items()}
    if isinstance(value, list):
        result: list[Any] = []
        for item in value:
            whole = _PLACEHOLDER.fullmatch(item) if isinstance(item, str) else None
            if whole and isinstance(values.get(whole[1]), list):
                result.extend(values[whole[1]])
            else:
                result.append(_fill(item, values))
        return result
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            key = match[1]
            if key not in values:
                raise ManifestError([(key, "no value for this template placeholder")])
            return str(values[key])

        return _PLACEHOLDER.sub(replace, value)
    return value


def build_files(
    template: Mapping[str, Any],
    localizations: Mapping[str, Mapping[str, Any]],
    config: ManifestConfig,
    translator: Any,
) -> dict[str, dict[str, Any]]:
    """The JSON files of the package: ``{"manifest.json": ..., "sv.json": ..., ...}``.

    Pure: no file or network access. Raises :class:`ManifestError`.
    """
    problems = config.problems()
    if problems:
        raise ManifestError(problems)
    urls = config.urls()
    values = {
        "VERSION": config.version or "0.1.0",
        "TEAMS_APP_ID": config.app_id.lower(),
        "BOT_ID": config.bot_id.lower(),
        "DEVELOPER_NAME": config.developer_name,
        "WEBSITE_URL": urls["ATMT_WEBSITE_URL"],
        "PRIVACY_URL": urls["ATMT_PRIVACY_URL"],
        "TERMS_URL": urls["ATMT_TERMS_URL"],
        "VALID_DOMAINS": config.domains(),
    }
    manifest = _fill(copy.deepcopy(dict(template)), values)
    if manifest.get("manifestVersion") != MANIFEST_VERSION:
        raise ManifestError(
            [("manifest.json", f"manifestVersion must be {MANIFEST_VERSION} (bot.manifest_build)")]
        )
    manifest["bots"][0]["commandLists"] = command_lists(translator.get(DEFAULT_LOCALE))
    files: dict[str, dict[str, Any]] = {"manifest.json": manifest}
    for locale, name in LOCALIZATION_FILES.items():
        localized = dict(_fill(copy.deepcopy(dict(localizations[locale])), values))
        localized.update(_localized_commands(translator.get(locale)))
        files[name] = localized
    return files


def zip_bytes(files: Mapping[str, dict[str, Any]], icons: Mapping[str, bytes]) -> bytes:
    """A deterministic zip: fixed order and timestamps, JSON with a final newline."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        entries: list[tuple[str, bytes]] = [
            (name, (json.dumps(content, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
            for name, content in files.items()
        ]
        entries += sorted(icons.items())
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


# -------------------------------------------------------------- file level


def build_manifest_zip(
    settings_or_args: object = None,
    out_dir: str | Path = "dist",
    *,
    source_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Build ``<out_dir>/atmt-bot-teams.zip`` and return its path.

    ``settings_or_args``: a ``bot.config.Settings``, an ``argparse.Namespace`` of
    ``atmt-bot manifest build`` or a mapping (see :func:`config_from`).
    Raises :class:`ManifestError` (configuration) or ``OSError``.
    """
    from dialogs.i18n import Translator

    directory = source_dir or template_dir()
    template = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    localizations = {
        locale: json.loads((directory / name).read_text(encoding="utf-8"))
        for locale, name in LOCALIZATION_FILES.items()
    }
    icons = {name: (directory / name).read_bytes() for name in ICONS}
    files = build_files(
        template, localizations, config_from(settings_or_args, env), Translator.load()
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / PACKAGE_NAME
    target.write_bytes(zip_bytes(files, icons))
    return target


# --------------------------------------------------------------------- CLI


def _dotenv(path: Path = Path(".env")) -> dict[str, str]:
    """``KEY=value`` lines of ``.env`` (as bot.config reads them) under the environment."""
    values: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip().strip("'\"")
    values.update(os.environ)
    return values


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``manifest build`` to ``atmt-bot`` (see bot.cli.SUBCOMMANDS)."""
    manifest = subparsers.add_parser("manifest", help="the Teams app package")
    actions = manifest.add_subparsers(dest="manifest_command", required=True)
    build = actions.add_parser(
        "build",
        help=f"write dist/{PACKAGE_NAME} (Teams manifest {MANIFEST_VERSION})",
        description="Fill in manifest/ from the configuration and zip it for Teams.",
    )
    build.add_argument("--bot-id", help="bot app id (default: MicrosoftAppId)")
    build.add_argument(
        "--public-url", help="the bot's https base URL, for its pages (default: ATMT_PUBLIC_URL)"
    )
    build.add_argument("--app-id", dest="teams_app_id", help="Teams app id (default: bot id)")
    build.add_argument(
        "--developer-name",
        help=f"publisher name (default: ATMT_DEVELOPER_NAME, else {DEFAULT_DEVELOPER_NAME})",
    )
    build.add_argument(
        "--website-url", help="support page (default: ATMT_WEBSITE_URL, else the public URL)"
    )
    build.add_argument(
        "--privacy-url",
        help="privacy statement (default: ATMT_PRIVACY_URL, else the bot's /privacy)",
    )
    build.add_argument(
        "--terms-url", help="terms of use (default: ATMT_TERMS_URL, else the bot's /terms)"
    )
    build.add_argument(
        "--valid-domain",
        dest="valid_domains",
        action="append",
        help="an extra valid domain (repeatable; default: ATMT_VALID_DOMAINS)",
    )
    build.add_argument("--version", help="app version MAJOR.MINOR.PATCH (default: package)")
    build.add_argument("--out", type=Path, default=Path("dist"), help="output folder")
    build.set_defaults(func=_run_build)


def _run_build(args: argparse.Namespace) -> int:
    env = _dotenv()
    try:
        path = build_manifest_zip(args, args.out, env=env)
    except ManifestError as error:
        for line in error.lines():
            print(line, file=sys.stderr)
        return 2
    except OSError as error:
        print(f"cannot build the Teams app package: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path} (Teams manifest {MANIFEST_VERSION})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bot.manifest_build build ...`` until bot.cli registers the command."""
    parser = argparse.ArgumentParser(prog="atmt-bot manifest")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(["manifest", *(argv if argv is not None else sys.argv[1:])])
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
