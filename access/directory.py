"""The directory: employment areas, municipalities, contacts, service areas and limits.

The directory is configuration, not code (DOMAIN.md, "Employment areas"): one deployment
serves several areas, each with its own municipalities, contacts, service areas and
limits. This module validates a plain data structure (as parsed from YAML) into frozen
dataclasses and reports *every* problem at once with its path in the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from access.addresses import normalize_email
from access.locales import LOCALES

KNOWN_REQUIREMENTS: frozenset[str] = frozenset(
    {"customer_consent_form", "worker_agreement", "valid_customer_relationship"}
)
"""Confirmations a request may have to carry (an area's ``requires``): per request."""

KNOWN_MUNICIPALITY_REQUIREMENTS: frozenset[str] = frozenset({"processing_agreement"})
"""What an area may ask of each municipality before any of its requests (an area's
``municipality_requires``): ``processing_agreement``, the written GDPR art. 28 agreement
between the area and the municipality (002 §6), recorded as the municipality's
``processing_agreement`` date. A property of the municipality, not of a request."""

DEFAULT_TERMINATION_NOTICE_MONTHS = 3
"""An area's ``termination_notice_months`` when the file does not say (002 §9: three
months); 001 §12 has six."""
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"^(?=.{{4,253}}$){_LABEL}(?:\.{_LABEL})+$")


@dataclass(frozen=True)
class LocalizedText:
    fi: str
    sv: str
    en: str

    def get(self, locale: str) -> str:
        """The text in `locale` (fi, sv or en); Finnish for anything else."""
        if locale == "sv":
            return self.sv
        if locale == "en":
            return self.en
        return self.fi


@dataclass(frozen=True)
class ServiceArea:
    code: str
    name: LocalizedText


@dataclass(frozen=True)
class AccessLevel:
    code: str
    name: LocalizedText


@dataclass(frozen=True)
class Municipality:
    code: str
    name: str
    area_code: str
    contracted: bool
    agreement_ends: date | None = None
    requesters: tuple[str, ...] = ()
    email_domains: tuple[str, ...] = ()
    """The municipality's own e-mail domains (lower case): a worker's work e-mail must be
    in one of them, exactly (380/2023 §125.3; 000; 002 §4: only the municipality's own
    employees). Empty: the bot cannot check, and refuses the municipality's requests."""
    processing_agreement: date | None = None
    """When the GDPR art. 28 processing agreement with the area was signed (002 §6);
    ``None``: not signed. Asked for only where the area's ``municipality_requires``
    names ``processing_agreement``."""

    def employs(self, email: str) -> bool:
        """Whether ``email`` is in one of the municipality's own domains (exact match:
        ``aino@laukaa.fi`` for ``laukaa.fi``, not ``aino@sub.laukaa.fi``)."""
        return email_domain(email) in self.email_domains


@dataclass(frozen=True)
class PrivacyContacts:
    """Who answers for personal data in one area: the privacy statement names them
    (001 annex 6 §1, 004 §1-2: the controller, how to reach it, its data protection
    officer). ``controller`` may differ by language (``Äänekosken kaupunki`` /
    ``Äänekoski stad``); ``contact`` and ``dpo`` are e-mail addresses."""

    controller: LocalizedText
    contact: str
    dpo: str


@dataclass(frozen=True)
class AutomationSettings:
    """When the scheduler reminds, escalates and reviews in one area.

    Every key is optional in the directory file (``automation:`` of an area)."""

    expiry_reminder_days: tuple[int, ...] = (30, 7)  # days before a grant's end
    pending_reminder_working_days: int = 1  # reminder to the approvers
    escalation_working_days: int = 3  # escalation to the deputies
    keha_confirm_reminder_days: int = 5  # sent to KEHA, not confirmed
    agreement_final_reminder_days: int = 30  # second notice before the agreement ends
    review_interval_months: int = 12  # access review; 0: no reviews
    review_reminder_days: int = 14  # unanswered review -> reminder, twice that -> approver


@dataclass(frozen=True)
class Area:
    code: str
    name: LocalizedText
    requires: frozenset[str]
    service_areas: tuple[str, ...]
    access_levels: tuple[str, ...]
    max_grant_months: int
    start_grace_days: int
    pending_limit_days: int
    termination_notice_months: int
    default_locale: str
    approvers: tuple[str, ...]
    deputies: tuple[str, ...]
    authority_admins: tuple[str, ...]
    municipalities: tuple[Municipality, ...]
    channel_id: str | None = None
    notify_deputies: bool = True
    automation: AutomationSettings = AutomationSettings()
    privacy: PrivacyContacts | None = None  # optional: older directories lack it
    revoke_backdate_days: int = 30  # how far back a removal's effective date may lie
    # What the area asks of each municipality (KNOWN_MUNICIPALITY_REQUIREMENTS).
    municipality_requires: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Roles:
    """What one person (by work e-mail) may do according to the directory."""

    requester_for: frozenset[str] = frozenset()  # municipality codes
    approver_in: frozenset[str] = frozenset()  # area codes
    deputy_in: frozenset[str] = frozenset()  # area codes
    admin_in: frozenset[str] = frozenset()  # area codes

    @property
    def decides_in(self) -> frozenset[str]:
        """Areas where this person may approve or reject (contact or deputy)."""
        return self.approver_in | self.deputy_in

    @property
    def is_staff(self) -> bool:
        return bool(self.requester_for or self.approver_in or self.deputy_in or self.admin_in)


@dataclass(frozen=True)
class DirectoryProblem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class DirectoryError(Exception):
    """The directory is invalid; `problems` lists every problem found."""

    def __init__(self, problems: list[DirectoryProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True)
class Directory:
    service_areas: Mapping[str, ServiceArea]
    access_levels: Mapping[str, AccessLevel]
    areas: Mapping[str, Area]
    retention_years: int = 4
    _municipalities: Mapping[str, Municipality] = field(default_factory=dict, repr=False)

    def municipality(self, code: str) -> Municipality | None:
        return self._municipalities.get(code)

    def area(self, code: str) -> Area | None:
        return self.areas.get(code)

    def area_of(self, municipality_code: str) -> Area | None:
        municipality = self._municipalities.get(municipality_code)
        return None if municipality is None else self.areas.get(municipality.area_code)

    def municipalities(self) -> tuple[Municipality, ...]:
        return tuple(self._municipalities.values())

    def roles_of(self, email: str) -> Roles:
        who = normalize_email(email)
        requester_for = frozenset(
            m.code for m in self._municipalities.values() if who in m.requesters
        )
        return Roles(
            requester_for=requester_for,
            approver_in=frozenset(a.code for a in self.areas.values() if who in a.approvers),
            deputy_in=frozenset(a.code for a in self.areas.values() if who in a.deputies),
            admin_in=frozenset(a.code for a in self.areas.values() if who in a.authority_admins),
        )

    def approvers_of(self, area_code: str, *, with_deputies: bool = True) -> tuple[str, ...]:
        area = self.areas.get(area_code)
        if area is None:
            return ()
        people = area.approvers + (area.deputies if with_deputies else ())
        return tuple(dict.fromkeys(people))


def email_domain(email: str) -> str:
    """The domain of an e-mail address, lower case (empty when there is no ``@``)."""
    _, at, domain = normalize_email(email).rpartition("@")
    return domain if at else ""


def directory_warnings(directory: Directory) -> list[DirectoryProblem]:
    """What a valid directory still lacks for its requests to succeed: a municipality
    with requesters but no ``email_domains`` (every grant request of it is refused, since
    the worker's employment cannot be checked). ``directory check`` and ``directory
    import`` print these; the file loads all the same."""
    out: list[DirectoryProblem] = []
    for i, area in enumerate(directory.areas.values()):
        for j, municipality in enumerate(area.municipalities):
            if municipality.requesters and not municipality.email_domains:
                out.append(
                    DirectoryProblem(
                        f"areas[{i}].municipalities[{j}].email_domains",
                        f"'{municipality.code}' has requesters but no e-mail domains: "
                        "every request for a worker of it is refused",
                    )
                )
    return out


DirectorySource = Directory | Callable[[], Directory]
"""A directory, or a callable that returns the current one (an imported directory can
change while the process runs)."""


def current_directory(source: DirectorySource) -> Directory:
    """The directory ``source`` stands for right now."""
    return source if isinstance(source, Directory) else source()


class _Reader:
    """Collects problems while reading untyped data, so all are reported at once."""

    def __init__(self) -> None:
        self.problems: list[DirectoryProblem] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(DirectoryProblem(path, message))

    def mapping(self, value: object, path: str) -> Mapping[str, Any]:
        if isinstance(value, Mapping):
            return value
        self.fail(path, "must be a mapping")
        return {}

    def items(self, value: object, path: str, *, required: bool = True) -> list[Any]:
        if value is None and not required:
            return []
        if isinstance(value, list):
            return value
        self.fail(path, "must be a list")
        return []

    def text(self, data: Mapping[str, Any], key: str, path: str) -> str:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        self.fail(f"{path}.{key}", "must be a non-empty text")
        return ""

    def code(self, data: Mapping[str, Any], key: str, path: str) -> str:
        value = self.text(data, key, path)
        if value and not _CODE.match(value):
            self.fail(f"{path}.{key}", f"'{value}' is not a valid code (a-z, 0-9, - and _)")
        return value

    def integer(
        self, data: Mapping[str, Any], key: str, path: str, default: int, low: int, high: int
    ) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"{path}.{key}", "must be a whole number")
            return default
        if not low <= value <= high:
            self.fail(f"{path}.{key}", f"must be between {low} and {high}")
            return default
        return value

    def boolean(self, data: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
        value = data.get(key, default)
        if isinstance(value, bool):
            return value
        self.fail(f"{path}.{key}", "must be true or false")
        return default

    def localized(self, value: object, path: str) -> LocalizedText:
        data = self.mapping(value, path)
        texts = {loc: self.text(data, loc, path) for loc in LOCALES}
        return LocalizedText(**texts)

    def emails(self, data: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        out: list[str] = []
        for i, value in enumerate(self.items(data.get(key), f"{path}.{key}", required=False)):
            if isinstance(value, str) and _EMAIL.match(value.strip()):
                out.append(normalize_email(value))
            else:
                self.fail(f"{path}.{key}[{i}]", f"'{value}' is not an e-mail address")
        return tuple(out)

    def domains(self, data: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        out: list[str] = []
        for i, value in enumerate(self.items(data.get(key), f"{path}.{key}", required=False)):
            domain = value.strip().lower() if isinstance(value, str) else ""
            if not _DOMAIN.match(domain):
                self.fail(
                    f"{path}.{key}[{i}]",
                    f"'{value}' is not a domain name (write it as laukaa.fi, without @)",
                )
            elif domain not in out:
                out.append(domain)
        return tuple(out)

    def optional_date(self, data: Mapping[str, Any], key: str, path: str) -> date | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(f"{path}.{key}", "must be a date (YYYY-MM-DD)")
        return None


def _catalog(reader: _Reader, raw: object, path: str) -> dict[str, tuple[str, LocalizedText]]:
    out: dict[str, tuple[str, LocalizedText]] = {}
    for i, item in enumerate(reader.items(raw, path)):
        item_path = f"{path}[{i}]"
        data = reader.mapping(item, item_path)
        code = reader.code(data, "code", item_path)
        name = LocalizedText(**{loc: reader.text(data, loc, item_path) for loc in LOCALES})
        if code in out:
            reader.fail(f"{item_path}.code", f"duplicate code '{code}'")
        elif code:
            out[code] = (code, name)
    if not out and not reader.problems:
        reader.fail(path, "must list at least one entry")
    return out


def _codes(
    reader: _Reader,
    data: Mapping[str, Any],
    key: str,
    path: str,
    known: Mapping[str, object],
    what: str,
    default: tuple[str, ...] | None = None,
) -> tuple[str, ...]:
    if key not in data and default is not None:
        return default
    out: list[str] = []
    for i, value in enumerate(reader.items(data.get(key), f"{path}.{key}")):
        if not isinstance(value, str) or value not in known:
            reader.fail(f"{path}.{key}[{i}]", f"unknown {what} '{value}'")
        elif value in out:
            reader.fail(f"{path}.{key}[{i}]", f"{what} '{value}' listed twice")
        else:
            out.append(value)
    if not out:
        reader.fail(f"{path}.{key}", f"must list at least one {what}")
    return tuple(out)


def _area(
    reader: _Reader,
    raw: object,
    path: str,
    service_areas: Mapping[str, ServiceArea],
    levels: Mapping[str, AccessLevel],
) -> Area:
    data = reader.mapping(raw, path)
    code = reader.code(data, "code", path)
    requires: set[str] = set()
    for i, value in enumerate(
        reader.items(data.get("requires"), f"{path}.requires", required=False)
    ):
        if value not in KNOWN_REQUIREMENTS:
            known = ", ".join(sorted(KNOWN_REQUIREMENTS))
            reader.fail(f"{path}.requires[{i}]", f"unknown requirement '{value}' (known: {known})")
        else:
            requires.add(value)
    municipality_requires: set[str] = set()
    for i, value in enumerate(
        reader.items(
            data.get("municipality_requires"), f"{path}.municipality_requires", required=False
        )
    ):
        if value not in KNOWN_MUNICIPALITY_REQUIREMENTS:
            known = ", ".join(sorted(KNOWN_MUNICIPALITY_REQUIREMENTS))
            reader.fail(
                f"{path}.municipality_requires[{i}]",
                f"unknown requirement '{value}' (known: {known})",
            )
        else:
            municipality_requires.add(value)
    default_locale = data.get("default_locale", "fi")
    if default_locale not in LOCALES:
        reader.fail(f"{path}.default_locale", "must be one of fi, sv, en")
        default_locale = "fi"
    channel = data.get("channel_id")
    if channel is not None and not isinstance(channel, str):
        reader.fail(f"{path}.channel_id", "must be a text")
        channel = None
    municipalities: list[Municipality] = []
    for i, item in enumerate(reader.items(data.get("municipalities"), f"{path}.municipalities")):
        m_path = f"{path}.municipalities[{i}]"
        m = reader.mapping(item, m_path)
        contracted = m.get("contracted")
        if not isinstance(contracted, bool):
            reader.fail(f"{m_path}.contracted", "must be true or false")
            contracted = False
        municipalities.append(
            Municipality(
                code=reader.code(m, "code", m_path),
                name=reader.text(m, "name", m_path),
                area_code=code,
                contracted=contracted,
                agreement_ends=reader.optional_date(m, "agreement_ends", m_path),
                requesters=reader.emails(m, "requesters", m_path),
                email_domains=reader.domains(m, "email_domains", m_path),
                processing_agreement=reader.optional_date(m, "processing_agreement", m_path),
            )
        )
    approvers = reader.emails(data, "approvers", path)
    if not approvers:
        reader.fail(f"{path}.approvers", "must name at least one approver")
    admins = reader.emails(data, "authority_admins", path)
    if not admins:
        reader.fail(f"{path}.authority_admins", "must name at least one authority admin")
    return Area(
        code=code,
        name=reader.localized(data.get("name"), f"{path}.name"),
        requires=frozenset(requires),
        service_areas=_codes(reader, data, "service_areas", path, service_areas, "service area"),
        access_levels=_codes(
            reader, data, "access_levels", path, levels, "access level", tuple(levels)
        ),
        max_grant_months=reader.integer(data, "max_grant_months", path, 12, 1, 60),
        start_grace_days=reader.integer(data, "start_grace_days", path, 7, 0, 90),
        pending_limit_days=reader.integer(data, "pending_limit_days", path, 14, 1, 365),
        termination_notice_months=reader.integer(
            data,
            "termination_notice_months",
            path,
            DEFAULT_TERMINATION_NOTICE_MONTHS,
            0,
            24,
        ),
        default_locale=default_locale,
        approvers=approvers,
        deputies=reader.emails(data, "deputies", path),
        authority_admins=admins,
        municipalities=tuple(municipalities),
        channel_id=channel,
        notify_deputies=reader.boolean(data, "notify_deputies", path, True),
        automation=_automation(reader, data.get("automation"), f"{path}.automation"),
        privacy=_privacy(reader, data.get("privacy"), f"{path}.privacy"),
        revoke_backdate_days=reader.integer(data, "revoke_backdate_days", path, 30, 0, 365),
        municipality_requires=frozenset(municipality_requires),
    )


def _privacy(reader: _Reader, raw: object, path: str) -> PrivacyContacts | None:
    """The optional ``privacy`` block of an area: ``controller`` (a text, or ``{fi, sv,
    en}``), ``contact`` and ``dpo`` (e-mail addresses)."""
    if raw is None:
        return None
    data = reader.mapping(raw, path)
    controller = data.get("controller")
    if isinstance(controller, Mapping):
        name = reader.localized(controller, f"{path}.controller")
    else:
        text = reader.text(data, "controller", path)
        name = LocalizedText(fi=text, sv=text, en=text)
    addresses: dict[str, str] = {}
    for key in ("contact", "dpo"):
        value = data.get(key)
        if isinstance(value, str) and _EMAIL.match(value.strip()):
            addresses[key] = normalize_email(value)
        else:
            reader.fail(f"{path}.{key}", f"'{value}' is not an e-mail address")
            addresses[key] = ""
    return PrivacyContacts(controller=name, contact=addresses["contact"], dpo=addresses["dpo"])


def _automation(reader: _Reader, raw: object, path: str) -> AutomationSettings:
    """The optional ``automation`` block of an area; missing keys take the defaults."""
    default = AutomationSettings()
    if raw is None:
        return default
    data = reader.mapping(raw, path)
    days: list[int] = []
    raw_days = data.get("expiry_reminder_days", list(default.expiry_reminder_days))
    for i, value in enumerate(reader.items(raw_days, f"{path}.expiry_reminder_days")):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 365:
            reader.fail(f"{path}.expiry_reminder_days[{i}]", "must be between 1 and 365")
        elif value not in days:
            days.append(value)
    return AutomationSettings(
        expiry_reminder_days=tuple(sorted(days, reverse=True)),
        pending_reminder_working_days=reader.integer(
            data, "pending_reminder_working_days", path, 1, 1, 60
        ),
        escalation_working_days=reader.integer(data, "escalation_working_days", path, 3, 1, 60),
        keha_confirm_reminder_days=reader.integer(
            data, "keha_confirm_reminder_days", path, 5, 1, 90
        ),
        agreement_final_reminder_days=reader.integer(
            data, "agreement_final_reminder_days", path, 30, 1, 365
        ),
        review_interval_months=reader.integer(data, "review_interval_months", path, 12, 0, 60),
        review_reminder_days=reader.integer(data, "review_reminder_days", path, 14, 1, 90),
    )


def parse_directory(data: object) -> Directory:
    """Validate parsed directory data; raise DirectoryError listing every problem."""
    reader = _Reader()
    root = reader.mapping(data, "$")
    service_areas = {
        code: ServiceArea(code, name)
        for code, (_, name) in _catalog(reader, root.get("service_areas"), "service_areas").items()
    }
    levels = {
        code: AccessLevel(code, name)
        for code, (_, name) in _catalog(reader, root.get("access_levels"), "access_levels").items()
    }
    areas: dict[str, Area] = {}
    municipalities: dict[str, Municipality] = {}
    for i, raw in enumerate(reader.items(root.get("areas"), "areas")):
        path = f"areas[{i}]"
        area = _area(reader, raw, path, service_areas, levels)
        if area.code in areas:
            reader.fail(f"{path}.code", f"duplicate area code '{area.code}'")
            continue
        areas[area.code] = area
        for j, municipality in enumerate(area.municipalities):
            if municipality.code in municipalities:
                reader.fail(
                    f"{path}.municipalities[{j}].code",
                    f"municipality '{municipality.code}' is already in area "
                    f"'{municipalities[municipality.code].area_code}'",
                )
            elif municipality.code:
                municipalities[municipality.code] = municipality
    if not areas and "areas" in root:
        reader.fail("areas", "must list at least one area")
    retention = reader.mapping(root.get("retention", {}), "retention")
    years = reader.integer(retention, "personal_data_years_after_grant_end", "retention", 4, 1, 50)
    if reader.problems:
        raise DirectoryError(reader.problems)
    return Directory(
        service_areas=service_areas,
        access_levels=levels,
        areas=areas,
        retention_years=years,
        _municipalities=municipalities,
    )


def load_directory_file(path: str | Path) -> Directory:
    """Read and validate a YAML directory file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        unreadable = DirectoryProblem(str(path), f"cannot read: {error.strerror}")
        raise DirectoryError([unreadable]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "$"
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise DirectoryError([DirectoryProblem(where, str(problem))]) from None
    return parse_directory(data)
