"""Acceptance 5 (the card half) and the card rules: the approver card, its decided
and read-only forms and the pending list are Adaptive Card 1.5 in fi, sv and en, with
labelled, uniquely named inputs, no unfilled placeholders, and typed text escaped."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fakes.botapp import EXAMPLE_DIRECTORY, texts
from fakes.card_checks import check_adaptive_card, nodes

from access.directory import load_directory_file
from access.model import (
    AccessRequest,
    Decision,
    DecisionOutcome,
    Grant,
    GrantState,
    RequestKind,
    RequestState,
    Worker,
)
from dialogs.cards.approval import (
    VERB_APPROVE,
    VERB_REFRESH,
    VERB_REJECT,
    VERB_RETURN,
    ApprovalView,
    Change,
    approval_card,
    approvals_list_card,
    message_card,
)
from dialogs.i18n import LOCALES, Messages, Translator

DIRECTORY = load_directory_file(EXAMPLE_DIRECTORY)
AT = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)

REQUEST = AccessRequest(
    id="req-1",
    number="2026-000007",
    kind=RequestKind.GRANT,
    state=RequestState.PENDING,
    version=1,
    worker=Worker(
        name="**Boss** [click](https://evil.example) <script>",
        email="aino.esimerkki@laukaa.example.fi",
        job_title="Ohjaaja",
        municipality="laukaa",
    ),
    municipality="laukaa",
    area="pohjoinen-keski-suomi",
    service_areas=("youth", "guidance"),
    level="view",
    start=date(2026, 2, 1),
    end=date(2026, 7, 31),
    justification="Ohjaamo {number} # heading",
    confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
    requester="manager@laukaa.example.fi",
    created_by="manager@laukaa.example.fi",
    created_at=AT,
    updated_at=AT,
)
GRANT = Grant(
    id="g-0",
    worker=REQUEST.worker,
    municipality="laukaa",
    area="pohjoinen-keski-suomi",
    service_areas=("employers",),
    level="record",
    start=date(2025, 1, 1),
    end=date(2025, 12, 31),
    state=GrantState.REMOVED,
    version=3,
    origin_request_id="req-0",
    requested_by="manager@laukaa.example.fi",
    created_at=AT,
    updated_at=AT,
)
DECISION = Decision(
    id="d-1",
    request_id="req-1",
    outcome=DecisionOutcome.APPROVED,
    actor="contact@pks-area.example.fi",
    at=AT,
    text="",
    request_version=1,
)

CARDS: dict[str, Callable[[Messages], dict[str, Any]]] = {
    "pending": lambda m: approval_card(
        m,
        DIRECTORY,
        ApprovalView(REQUEST, earlier_grants=(GRANT,), can_decide=True, user_ids=("29:a", "29:b")),
    ),
    "pending_with_error": lambda m: approval_card(
        m,
        DIRECTORY,
        ApprovalView(
            REQUEST, can_decide=True, input_error="reason", notice="x", notice_is_error=True
        ),
    ),
    "resubmitted": lambda m: approval_card(
        m,
        DIRECTORY,
        ApprovalView(
            replace(REQUEST, version=3),
            changes=(
                Change("level", "record", "view"),
                Change("service_areas", "youth", "youth,guidance"),
                Change("end", "2026-06-30", "2026-07-31"),
                Change("worker_job_title", "a", "*b*"),
            ),
            question="Miksi? <b>",
            can_decide=True,
        ),
    ),
    "answered": lambda m: approval_card(
        m,
        DIRECTORY,
        ApprovalView(
            replace(REQUEST, version=3, answer="Ohjaamo <b>"),
            changes=(
                Change("justification", "a", "*b*"),
                Change("confirmations", "worker_agreement", "customer_consent_form"),
            ),
            question="Miksi?",
            answer="Ohjaamo <b>",
            can_decide=True,
        ),
    ),
    "change": lambda m: approval_card(
        m,
        DIRECTORY,
        ApprovalView(
            replace(REQUEST, kind=RequestKind.CHANGE, grant_id="g-0"),
            grant_changes=(
                Change("worker_name", "Aino", "Aino *Virtanen*"),
                Change("level", "view", "record"),
            ),
            can_decide=True,
        ),
    ),
    "readonly": lambda m: approval_card(
        m, DIRECTORY, ApprovalView(REQUEST, readonly_reason="own_request")
    ),
    "approved": lambda m: approval_card(
        m,
        DIRECTORY,
        ApprovalView(
            replace(REQUEST, state=RequestState.APPROVED, version=2),
            decision=DECISION,
            user_ids=("29:a",),
        ),
    ),
    "rejected": lambda m: approval_card(
        m,
        DIRECTORY,
        ApprovalView(
            replace(REQUEST, state=RequestState.REJECTED, version=2),
            decision=replace(DECISION, outcome=DecisionOutcome.REJECTED, text="Ei **perusteltu**"),
        ),
    ),
    "cancelled": lambda m: approval_card(
        m, DIRECTORY, ApprovalView(replace(REQUEST, state=RequestState.CANCELLED))
    ),
    "list": lambda m: approvals_list_card(
        m, DIRECTORY, [replace(REQUEST, id=f"r{i}", number=f"2026-{i:06d}") for i in range(25)]
    ),
    "list_empty": lambda m: approvals_list_card(m, DIRECTORY, []),
    "message": lambda m: message_card(m, m.t("approval.error.bad_card")),
}




@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", sorted(CARDS))
def test_approval_cards_are_valid_adaptive_cards(name: str, locale: str) -> None:
    messages = Translator.load().get(locale)
    card = CARDS[name](messages)
    assert card["version"] == "1.5"
    # Approval cards use only these, and every input is a required, bounded text.
    approval_kinds = {"TextBlock", "Container", "FactSet", "ActionSet", "ColumnSet", "Column"}
    approval_kinds |= {"Input.Text", "Action.Execute", "Action.ShowCard", "AdaptiveCard"}
    for node in check_adaptive_card(card):
        kind = node["type"]
        assert kind in approval_kinds, kind
        if kind == "Input.Text":
            assert node.get("isRequired") and node["maxLength"] == 2000
        if kind == "Action.Execute":
            assert node["verb"].startswith("atmt.")
            assert set(node["data"]) >= {"request_id", "version"}


def test_pending_card_decides_with_universal_actions() -> None:
    m = Translator.load().get("fi")
    card = CARDS["pending"](m)
    approve, reject, ret = card["actions"]
    assert approve["verb"] == VERB_APPROVE and approve["data"]["version"] == 1
    assert reject["card"]["actions"][0]["verb"] == VERB_REJECT
    assert ret["card"]["actions"][0]["verb"] == VERB_RETURN
    assert reject["card"]["body"][0]["id"] == "reason"
    assert card["refresh"]["userIds"] == ["29:a", "29:b"]
    assert card["refresh"]["action"]["verb"] == VERB_REFRESH
    text = str(card)
    assert "Nuoret työnhakijat (Ohjaamo)" in text and "Yksilö- ja uraohjaukset" in text
    assert "1.2.2026–31.7.2026" in text  # Finnish dates
    assert "Työnantajat · Katselu ja kirjaus · 1.1.2025–31.12.2025 · " in text  # earlier grant
    assert "✓ asiakkaan suostumuslomake" in text


def test_typed_text_cannot_format_or_link() -> None:
    card = CARDS["pending"](Translator.load().get("en"))
    text = str(card)
    assert "**Boss**" not in text and "[click](" not in text and "<script>" not in text
    assert "‹script›" in text


@pytest.mark.parametrize("name", ["approved", "rejected", "cancelled", "readonly"])
def test_decided_and_read_only_cards_have_no_buttons(name: str) -> None:
    card = CARDS[name](Translator.load().get("sv"))
    assert "actions" not in card
    if name != "readonly":
        assert "refresh" not in card


def test_decided_card_says_who_and_when() -> None:
    card = CARDS["approved"](Translator.load().get("en"))
    icon, said = texts(card)[1:3]
    assert icon == "✔"  # the state is said with an icon and words, not by colour alone
    assert said.startswith("Approved by contact@pks\\-area\\.example\\.fi on 15.1.2026 at 10")


def test_long_list_shows_the_oldest_twenty() -> None:
    card = CARDS["list"](Translator.load().get("en"))
    opens = [n for n in nodes(card["body"]) if n["type"] == "Action.Execute"]
    assert len(opens) == 20
    assert "Showing the 20 oldest; 5 more are waiting." in str(card)


NAMES = {
    "manager@laukaa.example.fi": "Maija Esimerkki",
    "contact@pks-area.example.fi": "Aino Hyväksyjä",
}
AREA = {
    "fi": "Pohjoisen Keski-Suomen työllisyysalue",
    "sv": "Norra Mellersta Finlands sysselsättningsområde",
    "en": "Northern Central Finland employment area",
}
REQUESTER_LABEL = {"fi": "Hakija", "sv": "Sökande", "en": "Requester"}


def _unescaped(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _requester_fact(card: dict[str, Any], locale: str) -> str:
    facts = [f for n in nodes(card["body"]) if n["type"] == "FactSet" for f in n["facts"]]
    [fact] = [f for f in facts if f["title"] == REQUESTER_LABEL[locale]]
    return _unescaped(fact["value"])


@pytest.mark.parametrize("locale", LOCALES)
def test_card_names_the_requester_and_the_decider_by_name_place_and_email(locale: str) -> None:
    m = Translator.load().get(locale)
    pending = approval_card(m, DIRECTORY, ApprovalView(REQUEST, can_decide=True, names=NAMES))
    assert _requester_fact(pending, locale) == (
        "Maija Esimerkki, Laukaa (manager@laukaa.example.fi)"
    )
    decided = approval_card(
        m,
        DIRECTORY,
        ApprovalView(
            replace(REQUEST, state=RequestState.APPROVED, version=2),
            decision=DECISION,
            names=NAMES,
        ),
    )
    said = _unescaped(texts(decided)[2])
    assert f"Aino Hyväksyjä, {AREA[locale]} (contact@pks-area.example.fi)" in said


@pytest.mark.parametrize("locale", LOCALES)
def test_card_names_someone_the_bot_never_met_by_email(locale: str) -> None:
    m = Translator.load().get(locale)
    only_requester = {"manager@laukaa.example.fi": "Maija Esimerkki"}
    decided = approval_card(
        m,
        DIRECTORY,
        ApprovalView(
            replace(REQUEST, state=RequestState.APPROVED, version=2),
            decision=DECISION,
            names=only_requester,
        ),
    )
    said = _unescaped(texts(decided)[2])
    assert "contact@pks-area.example.fi" in said and AREA[locale] not in said
    unnamed = approval_card(m, DIRECTORY, ApprovalView(REQUEST, can_decide=True))
    assert _requester_fact(unnamed, locale) == "manager@laukaa.example.fi"


def test_a_name_cannot_format_the_card() -> None:
    m = Translator.load().get("en")
    names = {"manager@laukaa.example.fi": "**Boss** [x](https://evil.example)"}
    card = approval_card(m, DIRECTORY, ApprovalView(REQUEST, can_decide=True, names=names))
    text = str(card)
    assert "**Boss**" not in text and "[x](" not in text
