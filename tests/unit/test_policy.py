"""Every rule of DOMAIN.md has a test with its violation code."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from domain_support import (
    MANAGER,
    TODAY,
    WORKER,
    directory_data,
    example_directory,
    valid_draft,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from access.addresses import normalize_email
from access.directory import Directory, parse_directory
from access.model import (
    AccessRequest,
    Grant,
    GrantState,
    RequestKind,
    RequestState,
    Worker,
)
from access.policy import (
    NAME_FORBIDDEN,
    NAME_PATTERN,
    VIOLATION_CODES,
    PolicyContext,
    Violation,
    add_months,
    check_name,
    check_request,
    check_revoke,
    check_still_grantable,
)

DIRECTORY = example_directory()
AT = datetime(2026, 3, 1, tzinfo=UTC)


def grant(**changes: Any) -> Grant:
    base = Grant(
        id="g1",
        worker=Worker("Aino Esimerkki", WORKER, "Ohjaaja", "laukaa"),
        municipality="laukaa",
        area="pohjoinen-keski-suomi",
        service_areas=("youth",),
        level="view",
        start=TODAY,
        end=TODAY + timedelta(days=100),
        state=GrantState.ACTIVE,
        version=1,
        origin_request_id="r0",
        requested_by=MANAGER,
        created_at=AT,
        updated_at=AT,
    )
    return replace(base, **changes)


def open_request(**changes: Any) -> AccessRequest:
    base = AccessRequest(
        id="r9",
        number="2026-000009",
        kind=RequestKind.GRANT,
        state=RequestState.PENDING,
        version=1,
        worker=Worker("Aino Esimerkki", WORKER, "Ohjaaja", "laukaa"),
        municipality="laukaa",
        area="pohjoinen-keski-suomi",
        service_areas=("youth",),
        level="view",
        start=TODAY,
        end=TODAY + timedelta(days=30),
        justification="x",
        confirmations=frozenset(),
        requester=MANAGER,
        created_by=MANAGER,
        created_at=AT,
        updated_at=AT,
    )
    return replace(base, **changes)


def codes(violations: list[Violation]) -> list[str]:
    return [v.code for v in violations]


def check(ctx: PolicyContext | None = None, **changes: Any) -> list[Violation]:
    return check_request(valid_draft(**changes), DIRECTORY, ctx or PolicyContext(today=TODAY))


def test_a_valid_request_breaks_no_rule() -> None:
    assert check() == []


CASES: list[tuple[str, str | None, dict[str, Any], PolicyContext | None]] = [
    ("municipality.unknown", "municipality", {"municipality": "atlantis"}, None),
    ("municipality.no_agreement", "municipality", {"municipality": "kinnula"}, None),
    ("service_area.missing", "service_areas", {"service_areas": ()}, None),
    ("service_area.not_allowed", "service_areas", {"service_areas": ("youth", "employers")}, None),
    ("level.missing", "level", {"level": ""}, None),
    ("level.unknown", "level", {"level": "superuser"}, None),
    ("dates.start_missing", "start", {"start": None}, None),
    ("dates.end_missing", "end", {"end": None}, None),
    ("dates.end_before_start", "end", {"end": TODAY - timedelta(days=1)}, None),
    (
        "dates.start_in_past",
        "start",
        {"start": TODAY - timedelta(days=8), "end": TODAY + timedelta(days=10)},
        None,
    ),
    ("dates.too_long", "end", {"end": add_months(TODAY, 12) + timedelta(days=1)}, None),
    (
        "confirmation.missing",
        "confirmations",
        {"confirmations": frozenset({"worker_agreement"})},
        None,
    ),
    ("worker.email_invalid", "worker_email", {"worker_email": "aino.esimerkki@"}, None),
    (
        "worker.email_not_municipal",
        "worker_email",
        {"worker_email": "aino.esimerkki@gmail.example"},
        None,
    ),
    ("worker.email_invalid", "worker_email", {"worker_email": "aino esimerkki@laukaa.fi"}, None),
    ("text.required", "worker_name", {"worker_name": "  "}, None),
    ("text.required", "justification", {"justification": ""}, None),
    ("text.required", "worker_email", {"worker_email": ""}, None),
    ("text.too_long", "justification", {"justification": "x" * 2001}, None),
    ("text.too_long", "worker_name", {"worker_name": "x" * 201}, None),
    ("text.forbidden_characters", "worker_name", {"worker_name": "**Pomo** [x](y)"}, None),
    ("text.forbidden_characters", "worker_job_title", {"worker_job_title": "<b>Ohjaaja</b>"}, None),
    ("grant.duplicate", "worker_email", {}, PolicyContext(today=TODAY, grants=[grant()])),
    ("grant.duplicate", "worker_email", {}, PolicyContext(today=TODAY, requests=[open_request()])),
]


@pytest.mark.parametrize(
    ("code", "field", "changes", "ctx"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_each_rule_reports_its_code(
    code: str, field: str | None, changes: dict[str, Any], ctx: PolicyContext | None
) -> None:
    violations = check(ctx, **changes)
    assert code in codes(violations), violations
    assert [v.field for v in violations if v.code == code] == [field]
    assert set(codes(violations)) <= VIOLATION_CODES


def test_the_area_limits_come_from_the_directory() -> None:
    kuopio = {
        "municipality": "kuopio",
        "worker_email": "kalle.kokeilu@kuopio.example.fi",
        "service_areas": ("complementary_training",),
        "confirmations": frozenset({"valid_customer_relationship"}),
    }
    # Kuopio allows 24 months and only the level "view".
    assert check(**kuopio, end=add_months(TODAY, 24)) == []
    assert codes(check(**kuopio, end=add_months(TODAY, 24) + timedelta(days=1))) == [
        "dates.too_long"
    ]
    assert codes(check(**kuopio, level="record")) == ["level.not_allowed"]
    # Laukaa's confirmations are not Kuopio's: 002 asks for no per-worker agreement.
    missing = check(**{**kuopio, "confirmations": frozenset({"customer_consent_form"})})
    assert [(v.code, v.params["confirmation"]) for v in missing] == [
        ("confirmation.missing", "valid_customer_relationship"),
    ]


def test_start_within_the_grace_period_is_fine() -> None:
    assert check(start=TODAY - timedelta(days=7), end=TODAY + timedelta(days=7)) == []


def test_agreement_end_limits_grants() -> None:
    siilinjarvi = {
        "municipality": "siilinjarvi",
        "worker_email": "tuomas.testi@siilinjarvi.example.fi",
        "service_areas": ("complementary_training",),
        "confirmations": frozenset({"valid_customer_relationship"}),
    }
    late = check(**siilinjarvi, end=date(2026, 7, 1))
    assert codes(late) == ["dates.after_agreement_end"]
    assert late[0].params == {"agreement_ends": "2026-06-30"}
    after = check_request(
        valid_draft(**siilinjarvi, start=date(2026, 7, 1), end=date(2026, 8, 1)),
        DIRECTORY,
        PolicyContext(today=date(2026, 7, 1)),
    )
    assert "municipality.agreement_ended" in codes(after)


def test_kinnula_is_refused_with_its_name() -> None:
    [violation] = check(municipality="kinnula")
    assert violation == Violation(
        "municipality.no_agreement",
        "municipality",
        {"municipality": "kinnula", "municipality_name": "Kinnula"},
    )


def _directory_with(municipality: str, **changes: Any) -> Directory:
    data = directory_data()
    for area in data["areas"]:
        for entry in area["municipalities"]:
            if entry["code"] == municipality:
                entry.update(changes)
                if changes.get("processing_agreement", "") is None:
                    del entry["processing_agreement"]
    return parse_directory(data)


@pytest.mark.parametrize(
    "email",
    [
        "someone.private@gmail.example",  # a private address
        "aino.esimerkki@viitasaari.example.fi",  # another municipality's
        "aino.esimerkki@sub.laukaa.example.fi",  # a subdomain: exact match only
        "aino@laukaa.example.fi.elsewhere.example",  # look-alikes
        "aino@evil-laukaa.example.fi",
    ],
)
def test_the_worker_must_be_the_municipalitys_own_employee(email: str) -> None:
    violations = check(worker_email=email)
    assert violations == [
        Violation(
            "worker.email_not_municipal",
            "worker_email",
            {
                "municipality": "laukaa",
                "municipality_name": "Laukaa",
                "domains": "laukaa.example.fi",
            },
        )
    ]


def test_the_municipalitys_own_address_is_accepted_in_any_case() -> None:
    assert check(worker_email="Aino.Esimerkki@LAUKAA.example.fi") == []
    two = _directory_with("laukaa", email_domains=["laukaa.example.fi", "laukaa-edu.example.fi"])
    draft = valid_draft(worker_email="aino@laukaa-edu.example.fi")
    assert check_request(draft, two, PolicyContext(today=TODAY)) == []


def test_a_municipality_without_email_domains_refuses_every_new_worker() -> None:
    bare = _directory_with("laukaa", email_domains=[])
    violations = check_request(valid_draft(), bare, PolicyContext(today=TODAY))
    assert violations == [
        Violation(
            "municipality.email_domains_missing",
            "municipality",
            {"municipality": "laukaa", "municipality_name": "Laukaa"},
        )
    ]


def test_an_uncontracted_municipality_is_refused_for_that_reason_only() -> None:
    # Kinnula's worker address is its own; the refusal names the agreement only.
    assert codes(check(municipality="kinnula", worker_email="aino@kinnula.example.fi")) == [
        "municipality.no_agreement"
    ]


KUOPIO_DRAFT: dict[str, Any] = {
    "municipality": "kuopio",
    "worker_email": "kalle.kokeilu@kuopio.example.fi",
    "service_areas": ("complementary_training",),
    "confirmations": frozenset({"valid_customer_relationship"}),
}


def test_kuopio_asks_each_municipality_for_a_processing_agreement() -> None:
    assert check(**KUOPIO_DRAFT) == []
    unsigned = _directory_with("kuopio", processing_agreement=None)
    violations = check_request(valid_draft(**KUOPIO_DRAFT), unsigned, PolicyContext(today=TODAY))
    assert violations == [
        Violation(
            "municipality.no_processing_agreement",
            "municipality",
            {"municipality": "kuopio", "municipality_name": "Kuopio"},
        )
    ]
    # An agreement signed only later is not one yet.
    later = _directory_with("kuopio", processing_agreement="2026-04-01")
    assert codes(check_request(valid_draft(**KUOPIO_DRAFT), later, PolicyContext(today=TODAY))) == [
        "municipality.no_processing_agreement"
    ]
    # An area that does not ask for it (000) does not need it.
    laukaa = DIRECTORY.municipality("laukaa")
    assert laukaa is not None and laukaa.processing_agreement is None
    assert check() == []


def test_approval_checks_the_agreements_and_the_workers_employer_again() -> None:
    assert check_still_grantable("laukaa", DIRECTORY, TODAY, worker_email=WORKER) == []
    assert codes(
        check_still_grantable("laukaa", DIRECTORY, TODAY, worker_email="x@gmail.example")
    ) == ["worker.email_not_municipal"]
    assert check_still_grantable("laukaa", DIRECTORY, TODAY) == []  # a change: no worker
    unsigned = _directory_with("kuopio", processing_agreement=None)
    assert codes(check_still_grantable("kuopio", unsigned, TODAY)) == [
        "municipality.no_processing_agreement"
    ]


def test_a_request_breaking_three_rules_reports_all_three() -> None:
    violations = check(
        municipality="kinnula",
        end=TODAY - timedelta(days=1),
        confirmations=frozenset(),
        worker_email="not-an-address",
    )
    assert sorted(codes(violations)) == [
        "confirmation.missing",
        "confirmation.missing",
        "dates.end_before_start",
        "municipality.no_agreement",
        "worker.email_invalid",
    ]


def test_duplicate_ignores_the_request_itself_and_other_areas() -> None:
    mine = open_request(id="r1")
    assert check(PolicyContext(today=TODAY, requests=[mine], exclude_request_id="r1")) == []
    elsewhere = open_request(area="kuopio")
    assert check(PolicyContext(today=TODAY, requests=[elsewhere])) == []
    finished = open_request(state=RequestState.REJECTED)
    assert check(PolicyContext(today=TODAY, requests=[finished])) == []
    removed = grant(state=GrantState.REMOVED)
    assert check(PolicyContext(today=TODAY, grants=[removed])) == []
    revoking = grant(state=GrantState.REVOKING)
    assert codes(check(PolicyContext(today=TODAY, grants=[revoking]))) == ["grant.duplicate"]


def change(**changes: Any) -> dict[str, Any]:
    return {
        "kind": RequestKind.CHANGE,
        "grant_id": "g1",
        "municipality": "",
        "worker_name": "",
        "worker_email": "",
        "worker_job_title": "",
        **changes,
    }


def test_change_of_a_grant_that_is_not_active() -> None:
    ctx = PolicyContext(today=TODAY, grant=grant(state=GrantState.REVOKING))
    violations = check(ctx, **change())
    assert codes(violations) == ["grant.not_active"]
    assert violations[0].params == {"state": "revoking"}
    assert codes(check(PolicyContext(today=TODAY), **change())) == ["grant.not_found"]


def test_change_while_another_change_is_open() -> None:
    other = open_request(kind=RequestKind.CHANGE, grant_id="g1", number="2026-000010")
    ctx = PolicyContext(today=TODAY, grant=grant(), requests=[other])
    [violation] = check(ctx, **change())
    assert violation.code == "grant.request_open"
    assert violation.params["existing"] == "2026-000010"


def test_change_must_change_something() -> None:
    g = grant()
    ctx = PolicyContext(today=TODAY, grant=g)
    same = change(service_areas=g.service_areas, level=g.level, end=g.end)
    assert codes(check(ctx, **same)) == ["change.no_difference"]
    assert check(ctx, **change(service_areas=g.service_areas, level="record", end=g.end)) == []


def test_revoke_rules() -> None:
    assert check_revoke(grant(), "g1", "") == []
    assert codes(check_revoke(None, "g9", "")) == ["grant.not_found"]
    assert codes(check_revoke(grant(state=GrantState.REMOVED), "g1", "")) == ["grant.not_active"]
    assert codes(check_revoke(grant(), "g1", "", note_required=True)) == ["text.required"]


def test_documentation_lists_every_code() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "domain-rules.md").read_text(
        encoding="utf-8"
    )
    missing = [c for c in sorted(VIOLATION_CODES) if f"`{c}`" not in text]
    assert missing == []


def test_every_code_names_its_seed_passage_or_is_an_own_choice() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "domain-rules.md").read_text(
        encoding="utf-8"
    )
    table = text.split("## Violation codes", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert {row.split("`")[1] for row in rows} == VIOLATION_CODES
    seed = re.compile(r"\b00[0-4] (?:§\d|\*|annex)|own choice")
    unsourced = [row.split("`")[1] for row in rows if not seed.search(row.rsplit(" | ", 1)[1])]
    assert unsourced == []
    own = text.split("## The product's own choices", 1)[1]
    for choice in ("review", "max_grant_months", "email_domains", "start_grace_days"):
        assert choice in own


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)


@settings(max_examples=200, deadline=None)
@given(
    municipality=st.sampled_from(["laukaa", "kinnula", "kuopio", "nowhere", ""]),
    service_areas=st.lists(st.sampled_from(["youth", "guidance", "employers", "x"]), max_size=3),
    level=st.sampled_from(["view", "record", "", "root"]),
    start=st.none() | st.dates(date(2025, 1, 1), date(2028, 1, 1)),
    end=st.none() | st.dates(date(2025, 1, 1), date(2029, 1, 1)),
    email=st.sampled_from([WORKER, "", "bad", "a@b.example.fi", "B@LAUKAA.example.fi"]),
    confirmations=st.frozensets(
        st.sampled_from(["customer_consent_form", "worker_agreement", "other"])
    ),
)
def test_any_input_gives_only_documented_codes(
    municipality: str,
    service_areas: list[str],
    level: str,
    start: date | None,
    end: date | None,
    email: str,
    confirmations: frozenset[str],
) -> None:
    violations = check(
        municipality=municipality,
        service_areas=tuple(service_areas),
        level=level,
        start=start,
        end=end,
        worker_email=email,
        confirmations=confirmations,
    )
    assert set(codes(violations)) <= VIOLATION_CODES
    valid = (
        municipality == "laukaa"
        and service_areas
        and set(service_areas) <= {"youth", "guidance"}
        and level in ("view", "record")
        and start is not None
        and end is not None
        and TODAY - timedelta(days=7) <= start <= end <= add_months(start, 12)
        and email in (WORKER, "B@LAUKAA.example.fi")
        and {"customer_consent_form", "worker_agreement"} <= confirmations
    )
    assert (violations == []) == bool(valid)


@pytest.mark.parametrize("character", sorted(NAME_FORBIDDEN))
def test_the_name_rule_and_its_form_pattern_agree(character: str) -> None:
    name = f"Aino {character} Esimerkki"
    assert [v.code for v in check_name("worker_name", name)] == ["text.forbidden_characters"]
    assert re.fullmatch(NAME_PATTERN, name) is None


@pytest.mark.parametrize("name", ["Aino Esimerkki", "Anna-Liisa O'Brien (sijainen)", "Åke, Ö."])
def test_ordinary_names_pass_the_name_rule(name: str) -> None:
    assert check_name("worker_name", name) == []
    assert re.fullmatch(NAME_PATTERN, name) is not None


def test_an_email_is_compared_stripped_and_lower_cased() -> None:
    assert normalize_email("  Aino.Esimerkki@Laukaa.FI ") == "aino.esimerkki@laukaa.fi"
    assert normalize_email("   ") == ""
