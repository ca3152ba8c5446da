"""Cards for everyone: every card has ``speak``; each confirmation toggle its own label;
clickable list rows a visible button; a state is an icon and a word, not a colour; the
report chart has a scale and labels, and its alt text carries the numbers."""

from __future__ import annotations

from datetime import date

import pytest
from fakes.botapp import EXAMPLE_DIRECTORY, texts
from fakes.card_checks import badges, error_text, nodes

from access.directory import load_directory_file
from access.reports import build_report
from dialogs.cards.keha import keha_card
from dialogs.cards.report import report_card
from dialogs.cards.request_form import FieldError, FormOptions, request_form_card
from dialogs.cards.requests_list import RequestRow, requests_list_card
from dialogs.charts import bar_chart_png, data_uri
from dialogs.i18n import LOCALES, Translator

T = Translator.load()
DIRECTORY = load_directory_file(EXAMPLE_DIRECTORY)
CONFIRMATIONS = ["customer_consent_form", "worker_agreement", "valid_customer_relationship"]


def _form(locale: str, errors: list[FieldError] | None = None) -> dict[str, object]:
    m = T.get(locale)
    options = FormOptions(
        mode="new",
        municipalities=[("laukaa", "Laukaa")],
        service_areas=[("youth", "Nuoret")],
        levels=[("view", "Katselu")],
        confirmations=CONFIRMATIONS,
    )
    return request_form_card(m, options, {}, errors or [], instance="i1")


def _rows() -> list[RequestRow]:
    return [
        RequestRow("r1", "2026-000001", "Uusi", "Aino", "Laukaa", "returned", "Palautettu", "1.2."),
        RequestRow("r2", "2026-000002", "Uusi", "Eero", "Laukaa", "pending", "Odottaa", "2.2."),
    ]


@pytest.mark.parametrize("locale", LOCALES)
def test_each_confirmation_toggle_has_its_own_label(locale: str) -> None:
    m = T.get(locale)
    toggles = [n for n in nodes(_form(locale)) if n["type"] == "Input.Toggle"]
    labels = [t["label"] for t in toggles]
    assert len(labels) == len(set(labels)) == len(CONFIRMATIONS)
    for label, code in zip(labels, CONFIRMATIONS, strict=True):
        assert m.t(f"manager.requirement.{code}") in label
        assert label != m.t("manager.field.confirmation")


@pytest.mark.parametrize("locale", LOCALES)
def test_every_card_speaks_its_title(locale: str) -> None:
    m = T.get(locale)
    for built in (
        _form(locale),
        requests_list_card(m, _rows(), instance="i1"),
        keha_card(m, DIRECTORY, "pohjoinen-keski-suomi", [], [], {}),
    ):
        title = texts(built)[0]
        assert isinstance(built["speak"], str) and built["speak"].startswith(title.rstrip("."))
        assert "\\" not in built["speak"] and "**" not in built["speak"]


def test_clickable_rows_have_visible_buttons_and_states_are_not_colour_only() -> None:
    m = T.get("fi")
    card = requests_list_card(m, _rows(), instance="i1")
    rows = [n for n in nodes(card) if n["type"] == "ColumnSet" and "selectAction" in n]
    buttons = [
        a
        for n in nodes(card)
        if n["type"] == "ActionSet"
        for a in n["actions"]
        if a["data"].get("atmt_action") == "details"
    ]
    assert len(rows) == len(buttons) == 2
    assert [b["data"] for b in buttons] == [r["selectAction"]["data"] for r in rows]
    assert "2026-000001" in buttons[0]["title"]  # each button says which request
    # "returned" was yellow text on white; now an icon and the word in a tinted box
    assert badges(card) == [("warning", "↩", "Palautettu"), ("accent", "◷", "Odottaa")]
    assert not [n for n in nodes(card) if n.get("color") in ("Warning", "Good", "Attention")]


def test_server_found_errors_look_like_errors_at_their_field() -> None:
    m = T.get("fi")
    card = _form("fi", [FieldError("worker_name", "Nimi puuttuu.")])
    body = card["body"]
    assert isinstance(body, list)
    [index] = [i for i, e in enumerate(body) if e.get("id") == "worker_name"]
    assert error_text(body[index + 1]) == "Nimi puuttuu."
    assert error_text(body[2]) == m.t("manager.form.has_errors")  # and a note on top


@pytest.mark.parametrize("locale", LOCALES)
def test_report_chart_alt_text_carries_the_numbers(locale: str) -> None:
    m = T.get(locale)
    report = build_report(
        DIRECTORY,
        "pohjoinen-keski-suomi",
        date(2025, 11, 1),
        date(2026, 1, 31),
        requests=[],
        decisions={},
        keha_rows=[],
        grants=[],
    )
    chart = data_uri(bar_chart_png([0, 0, 0], labels=["11/25", "12/25", "1/26"]))
    card = report_card(m, DIRECTORY, report, chart, "https://x/r.xlsx", "https://x/r.csv")
    [image] = [n for n in nodes(card) if n["type"] == "Image"]
    alt = image["altText"]
    for month in report.months:
        assert f"{m.format_month(month)}: 0" in alt


def test_chart_draws_a_scale_and_labels() -> None:
    bare = bar_chart_png([3, 5], width=300, height=120)
    labelled = bar_chart_png([3, 5], labels=["1/26", "2/26"], width=300, height=120)
    assert bare != labelled  # the labels are drawn under the bars
