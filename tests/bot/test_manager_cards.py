"""Every card of the manager and worker conversations: Adaptive Card 1.5, known
elements, labelled inputs, unique ids, texts from the catalogs; every violation code
has a text in fi, sv and en."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fakes.botapp import EXAMPLE_DIRECTORY
from fakes.card_checks import check_adaptive_card

from access.directory import load_directory_file
from access.policy import VIOLATION_CODES, Violation
from dialogs.cards.grants import (
    AREA_REVOKE_REASONS,
    GrantLine,
    RevokeFormOptions,
    acknowledged_card,
    grant_pick_card,
    my_access_card,
    revoke_form_card,
    revoke_scheduled_card,
    revoke_sent_card,
    revoke_summary_card,
)
from dialogs.cards.request_form import (
    FieldError,
    FormOptions,
    request_form_card,
    request_sent_card,
    request_summary_card,
)
from dialogs.cards.requests_list import RequestRow, request_details_card, requests_list_card
from dialogs.i18n import LOCALES, Messages, Translator
from dialogs.violations import violation_text

DIRECTORY = load_directory_file(EXAMPLE_DIRECTORY)
TRANSLATOR = Translator.load()


def _options(m: Messages, mode: str) -> FormOptions:
    return FormOptions(
        mode=mode,
        municipalities=[("laukaa", "Laukaa"), ("viitasaari", "Viitasaari")],
        service_areas=[("youth", "Nuoret"), ("guidance", "Ohjaus")],
        levels=[("view", "Katselu")],
        confirmations=["customer_consent_form", "worker_agreement"],
        fixed=[(m.t("manager.fact.number"), "2026-000001")] if mode != "new" else [],
        question="Miksi?" if mode == "resubmit" else None,
        editable_worker=mode != "change",
        worker_email_input=mode == "new",
        municipality_input=mode == "new",
    )


def _errors(m: Messages) -> list[FieldError]:
    return [
        FieldError("worker_name", m.t("violation.text.forbidden_characters")),
        FieldError(None, m.t("violation.change.no_difference")),
        FieldError("confirmations", m.t("violation.confirmation.missing", confirmation="x")),
    ]


CARDS: dict[str, Callable[[Messages], dict[str, Any]]] = {
    **{
        f"form_{mode}": (
            lambda m, mode=mode: request_form_card(
                m, _options(m, mode), {"worker_name": "A"}, _errors(m), instance="i1"
            )
        )
        for mode in ("new", "change", "resubmit")
    },
    **{
        f"summary_{mode}": (
            lambda m, mode=mode: request_summary_card(
                m, mode, [("Nimi", "**A**")], instance="i1", revision=1
            )
        )
        for mode in ("new", "change", "resubmit")
    },
    **{
        f"sent_{mode}": (
            lambda m, mode=mode: request_sent_card(
                m, mode, "2026-000001", m.t("manager.state.pending"), [("Nimi", "A")]
            )
        )
        for mode in ("new", "change", "resubmit")
    },
    "pick_few": lambda m: grant_pick_card(
        m,
        "change",
        [GrantLine("g1", "A"), GrantLine("g2", "B")],
        total=2,
        search="",
        instance="i1",
    ),
    "pick_search": lambda m: grant_pick_card(
        m,
        "revoke",
        [],
        total=9,
        search="zz",
        instance="i1",
        errors=[FieldError("grant_id", m.t("manager.error.grant_required"))],
    ),
    "pick_matches": lambda m: grant_pick_card(
        m, "revoke", [GrantLine("g1", "A")], total=9, search="a", instance="i1"
    ),
    "revoke_form": lambda m: revoke_form_card(
        m,
        [("Nimi", "A")],
        {"reason": "other"},
        [FieldError("note", m.t("manager.error.note_required"))],
        instance="i1",
    ),
    "revoke_summary": lambda m: revoke_summary_card(
        m,
        [("Nimi", "A")],
        instance="i1",
        revision=1,
        intro=m.t("manager.revoke.summary_now", effective="2.3.2026"),
    ),
    "revoke_sent": lambda m: revoke_sent_card(
        m, "2026-000002", m.t("manager.state.approved"), [("Nimi", "A")]
    ),
    "revoke_form_area": lambda m: revoke_form_card(
        m,
        [("Nimi", "A")],
        {"reason": "task_ended", "effective": "2026-03-02"},
        [FieldError("effective", m.t("violation.revoke.effective_invalid"))],
        instance="i1",
        options=RevokeFormOptions(
            reasons=AREA_REVOKE_REASONS,
            by_area=True,
            earliest="2026-02-01",
            latest="2026-08-31",
        ),
    ),
    "revoke_scheduled": lambda m: revoke_scheduled_card(m, "31.3.2026", [("Nimi", "A")]),
    "requests_list": lambda m: requests_list_card(
        m,
        [
            RequestRow(
                "r1",
                "2026-000001",
                m.t("manager.kind.grant"),
                "A",
                "Laukaa",
                "pending",
                m.t("manager.state.pending"),
                "1.1.2026",
            ),
            RequestRow(
                "r2",
                "2026-000002",
                m.t("manager.kind.change"),
                "B",
                "Laukaa",
                "rejected",
                m.t("manager.state.rejected"),
                "2.1.2026",
            ),
        ],
        instance="i1",
    ),
    "request_details": lambda m: request_details_card(
        m,
        heading="Uusi 2026-000001",
        state="returned",
        state_label=m.t("manager.state.returned"),
        facts=[("Nimi", "A")],
        history=[("1.1.2026", "Lähetetty", ""), ("2.1.2026", "X", "?")],
        question="Miksi?",
        can_cancel=True,
        can_answer=True,
        instance="i1",
        request_id="r1",
        version=2,
    ),
    "my_access": lambda m: my_access_card(
        m,
        [("A", [("Kunta", "Laukaa")], "g1"), ("A", [("Kunta", "Viitasaari")], "g2")],
        [[("Nro", "2026-000003")]],
    ),
    "my_access_empty": lambda m: my_access_card(m, [], []),
    "acknowledged": lambda m: acknowledged_card(m, "1.1.2026 klo 10.00"),
}






@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", sorted(CARDS))
def test_manager_card_is_valid_adaptive_card_1_5(name: str, locale: str) -> None:
    check_adaptive_card(CARDS[name](TRANSLATOR.get(locale)))


SAMPLE_PARAMS: dict[str, Any] = {
    "municipality": "kinnula",
    "municipality_name": "Kinnula",
    "agreement_ends": "2026-03-31",
    "area": "pohjoinen-keski-suomi",
    "service_area": "youth",
    "level": "view",
    "start": "2026-01-15",
    "grace_days": 7,
    "max_months": 12,
    "latest_end": "2027-01-15",
    "confirmation": "worker_agreement",
    "domains": "laukaa.example.fi",
    "max_length": 200,
    "length": 201,
    "existing_kind": "request",
    "existing": "2026-000001",
    "state": "pending",
    "grant_id": "g1",
    "reason": "misuse",
    "backdate_days": 30,
    "earliest": "2026-02-01",
    "end": "2026-08-31",
}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("code", sorted(VIOLATION_CODES))
def test_every_violation_code_has_a_text(code: str, locale: str) -> None:
    messages = TRANSLATOR.get(locale)
    assert messages.has(f"violation.{code}")
    text = violation_text(messages, DIRECTORY, Violation(code, "worker_name", SAMPLE_PARAMS))
    assert text.strip() and "{" not in text and not text.startswith("violation.")


@pytest.mark.parametrize("locale", LOCALES)
def test_violation_parameters_are_readable(locale: str) -> None:
    m = TRANSLATOR.get(locale)
    text = violation_text(
        m,
        DIRECTORY,
        Violation("dates.too_long", "end", {"max_months": 12, "latest_end": "2027-01-15"}),
    )
    assert "15.1.2027" in text
    text = violation_text(
        m,
        DIRECTORY,
        Violation(
            "service_area.not_allowed",
            "service_areas",
            {"service_area": "complementary_training", "area": "pohjoinen-keski-suomi"},
        ),
    )
    assert DIRECTORY.service_areas["complementary_training"].name.get(locale) in text
    text = violation_text(
        m,
        DIRECTORY,
        Violation("municipality.unknown", "municipality", {"municipality": "**x** [a](b)"}),
    )
    assert "**" not in text
