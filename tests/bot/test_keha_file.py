"""The KEHA file in the reader's language: coded values carry their label
(``view — Katselu``), column titles are translated, times are Helsinki local time."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime

from fakes.botapp import EXAMPLE_DIRECTORY

from access.directory import Directory, load_directory_file
from access.keha import KEHA_COLUMNS, handoff_csv, handoff_row
from access.model import KehaRow, KehaRowState, RequestKind, RevokeReason, Worker
from dialogs.authority import keha_labels
from dialogs.i18n import Translator

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def example_directory() -> Directory:
    return load_directory_file(EXAMPLE_DIRECTORY)


def row(number: str, kind: RequestKind, urgent: bool = False) -> KehaRow:
    return KehaRow(
        id=f"row-{number}",
        batch_id="b1",
        request_id=f"req-{number}",
        request_number=number,
        area="pohjoinen-keski-suomi",
        municipality="laukaa",
        kind=kind,
        urgent=urgent,
        state=KehaRowState.QUEUED,
        version=1,
        worker=Worker("Aino Esimerkki", "aino@laukaa.example.fi", "Ohjaaja", "laukaa"),
        service_areas=("youth", "guidance"),
        level="view",
        start=date(2026, 3, 2),
        end=date(2026, 8, 31) if kind is not RequestKind.REVOKE else None,
        grant_id=None if kind is RequestKind.GRANT else "g1",
        created_at=AT,
        approved_by="contact@pks-area.example.fi" if kind is not RequestKind.REVOKE else None,
        approved_at=AT if kind is not RequestKind.REVOKE else None,
        revoke_reason=RevokeReason.EMPLOYMENT_ENDED if kind is RequestKind.REVOKE else None,
    )


def test_coded_values_carry_their_label_in_the_readers_language() -> None:
    directory = example_directory()
    fi = keha_labels(Translator.load().get("fi"), directory)
    grant = dict(
        zip(KEHA_COLUMNS, handoff_row(row("1", RequestKind.GRANT), directory, fi).values())
    )
    level = directory.access_levels["view"].name.fi
    assert grant["access_level"] == f"view — {level}"
    assert grant["action"] == "open — Uusi käyttöoikeus" and grant["urgent"] == "no — ei"
    youth, guidance = (directory.service_areas[c].name.fi for c in ("youth", "guidance"))
    assert grant["service_areas"] == f"youth — {youth}; guidance — {guidance}"
    assert grant["area_code"].startswith("pohjoinen-keski-suomi — ")
    assert grant["revoke_reason"] == ""  # no reason, no label
    en = keha_labels(Translator.load().get("en"), directory)
    close = dict(
        zip(KEHA_COLUMNS, handoff_row(row("2", RequestKind.REVOKE, True), directory, en).values())
    )
    assert close["action"] == "close — Removal" and close["urgent"] == "yes"  # label == code
    assert close["revoke_reason"] == "employment_ended — Employment ends or has ended"


def test_file_header_and_values_in_swedish() -> None:
    directory = example_directory()
    labels = keha_labels(Translator.load().get("sv"), directory)
    text = handoff_csv([row("1", RequestKind.CHANGE)], directory, labels).decode("utf-8-sig")
    header, line = text.splitlines()[:2]
    assert header.startswith("KEHA-sändningens id;")
    assert "change — Ändring" in line and "no — nej" in line


def test_a_removal_shows_its_reason_and_effective_date_in_the_readers_language() -> None:
    directory = example_directory()
    ended = replace(
        row("3", RequestKind.REVOKE, True),
        revoke_reason=RevokeReason.TASK_ENDED,
        effective=date(2026, 2, 13),  # the real end, in the past
    )
    expected = {
        "fi": ("Voimassa viimeistään", "task_ended — Tehtävä kunnassa päättyy tai on päättynyt"),
        "sv": ("Gäller senast till", "task_ended — Uppgiften i kommunen upphör eller har upphört"),
        "en": ("Effective date", "task_ended — The task in the municipality ends or has ended"),
    }
    for locale, (title, reason) in expected.items():
        labels = keha_labels(Translator.load().get(locale), directory)
        text = handoff_csv([ended], directory, labels).decode("utf-8-sig")
        [header, values] = csv.reader(io.StringIO(text, newline=""), delimiter=";")
        assert header[-1] == title  # a new last column: the others keep their place
        file = dict(zip(KEHA_COLUMNS, values, strict=True))
        assert file["revoke_reason"] == reason
        assert file["effective_date"] == "2026-02-13"  # ISO, like the file's other dates
        assert file["start_date"] == "2026-03-02"  # the day it was recorded
    opened = dict(
        zip(KEHA_COLUMNS, handoff_row(row("4", RequestKind.GRANT), directory).values())
    )
    assert opened["effective_date"] == ""  # only a removal has one
