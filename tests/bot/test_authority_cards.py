"""The authority's cards are Adaptive Cards 1.5 with labelled, unique inputs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fakes.botapp import EXAMPLE_DIRECTORY
from fakes.card_checks import check_adaptive_card, nodes

from access.authority import BatchSummary
from access.directory import load_directory_file
from access.model import (
    AccessRequest,
    KehaBatch,
    KehaRow,
    KehaRowState,
    RequestKind,
    RequestState,
    Worker,
)
from access.queries import MyData
from access.reports import build_report
from dialogs.authority import report_labels
from dialogs.cards.keha import batch_card, keha_card
from dialogs.cards.my_data import directory_card, my_data_card, privacy_card
from dialogs.cards.report import report_card
from dialogs.charts import bar_chart_png, data_uri
from dialogs.i18n import LOCALES, Messages, Translator

DIRECTORY = load_directory_file(EXAMPLE_DIRECTORY)
PKS = "pohjoinen-keski-suomi"
NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)
WORKER = Worker("**Evil** [x](https://evil.example) <b>", "w@laukaa.example.fi", "T", "laukaa")


def _request(kind: RequestKind) -> AccessRequest:
    return AccessRequest(
        id="r1",
        number="2026-000001",
        kind=kind,
        state=RequestState.APPROVED,
        version=2,
        worker=WORKER,
        municipality="laukaa",
        area=PKS,
        service_areas=("youth",),
        level="view",
        start=NOW.date(),
        end=NOW.date() + timedelta(days=9),
        justification="",
        confirmations=frozenset(),
        requester="manager@laukaa.example.fi",
        created_by="manager@laukaa.example.fi",
        created_at=NOW,
        updated_at=NOW,
        urgent=kind is RequestKind.REVOKE,
    )


def _row(n: int, state: KehaRowState) -> KehaRow:
    return KehaRow(
        id=f"row{n}",
        batch_id="b1",
        request_id=f"r{n}",
        request_number=f"2026-00000{n}",
        area=PKS,
        municipality="laukaa",
        kind=RequestKind.GRANT,
        urgent=False,
        state=state,
        version=1,
        worker=WORKER,
        service_areas=("youth",),
        level="view",
        start=NOW.date(),
        end=NOW.date(),
        grant_id=None,
        created_at=NOW,
    )


def _cards(m: Messages) -> dict[str, dict[str, Any]]:
    summary = BatchSummary("b1", PKS, NOW, None, 2, 1, 0)
    sent = BatchSummary("b2", PKS, NOW, NOW, 2, 1, 1)
    batch = KehaBatch(
        "b1",
        PKS,
        "admin@pks-area.example.fi",
        NOW,
        NOW,
        None,
        (_row(1, KehaRowState.SENT), _row(2, KehaRowState.CONFIRMED)),
    )
    report = build_report(
        DIRECTORY,
        PKS,
        date(2026, 1, 1),
        date(2026, 3, 31),
        requests=[],
        decisions={},
        keha_rows=[],
        grants=[],
    )
    data = MyData("w@laukaa.example.fi", (), (), (), (), ())
    area = DIRECTORY.area(PKS)
    assert area is not None
    return {
        "keha": keha_card(
            m,
            DIRECTORY,
            PKS,
            [_request(RequestKind.REVOKE), _request(RequestKind.GRANT)],
            [summary, sent],
            {"b1": ("https://x/1", "https://x/2")},
        ),
        "keha_empty": keha_card(m, DIRECTORY, PKS, [], [], {}),
        "batch": batch_card(m, DIRECTORY, batch),
        "report": report_card(
            m,
            DIRECTORY,
            report,
            data_uri(bar_chart_png([1, 2, 3])),
            "https://x/r.xlsx",
            "https://x/r.csv",
        ),
        "my_data": my_data_card(m, DIRECTORY, data, "https://x/me.json"),
        "directory": directory_card(m, area, 3),
        "privacy": privacy_card(m, DIRECTORY, [("svenska", "https://x/privacy?lang=sv")]),
    }


NAMES = sorted(_cards(Translator.load().get("fi")))


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", NAMES)
def test_authority_card_is_valid(name: str, locale: str) -> None:
    card = _cards(Translator.load().get(locale))[name]
    check_adaptive_card(card)
    raw = str(card)
    assert "<b>" not in raw  # no HTML anywhere
    # Markdown is escaped where Teams renders it; a choice title shows text as it is.
    rendered = [n for n in nodes(card) if n["type"] in ("TextBlock", "FactSet")]
    assert "](https://evil" not in str(rendered)
    titles = [
        c["title"] for n in nodes(card) if n["type"] == "Input.ChoiceSet" for c in n["choices"]
    ]
    assert all("\\" not in t for t in titles), titles
    assert len(raw.encode("utf-8")) < 28_000  # Teams' card size limit


def test_builders_are_pure(name: str = "keha") -> None:
    m = Translator.load().get("fi")
    make: Callable[[], dict[str, Any]] = lambda: _cards(m)[name]  # noqa: E731
    assert make() == make()


@pytest.mark.parametrize(
    ("locale", "january", "period"),
    [
        ("fi", "tammikuu 2026", "Ajanjakso: tammikuu 2026 – maaliskuu 2026"),
        ("sv", "januari 2026", "Period: januari 2026 – mars 2026"),
        ("en", "January 2026", "Period: January 2026 to March 2026"),
    ],
)
def test_report_names_months_in_the_card_and_the_file(
    locale: str, january: str, period: str
) -> None:
    m = Translator.load().get(locale)
    card = _cards(m)["report"]
    texts = [n["text"] for n in nodes(card) if n["type"] == "TextBlock"]
    facts = [f for n in nodes(card) if n["type"] == "FactSet" for f in n["facts"]]
    assert period in texts
    assert facts[0]["title"] == january
    assert "2026-01" not in str(card)
    assert (
        facts[0]["value"] == f"{m.n('report.month_requests', 0)}, {m.n('report.month_active', 0)}"
    )
    report = build_report(
        DIRECTORY, PKS, date(2026, 1, 1), date(2026, 1, 31),
        requests=[], decisions={}, keha_rows=[], grants=[],
    )  # fmt: skip
    line = report.csv(report_labels(m, report)).decode("utf-8-sig").splitlines()[1]
    assert line.split(";")[2] == january
