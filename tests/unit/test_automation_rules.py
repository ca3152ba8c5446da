"""The pure reminder rules: the latest due stage only, nothing once it is pointless."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from access.automation import (
    AgreementStage,
    PendingStage,
    agreement_stage,
    expiry_reminder_due,
    keha_reminder_due,
    months_before,
    pending_stage,
)
from access.directory import AutomationSettings, parse_directory

END = date(2026, 6, 30)
OFFSETS = (30, 7)


@pytest.mark.parametrize(
    ("today", "due"),
    [
        (END - timedelta(days=31), None),
        (END - timedelta(days=30), 30),
        (END - timedelta(days=20), 30),
        (END - timedelta(days=7), 7),
        (END - timedelta(days=3), 7),  # after downtime: the 30-day one is pointless
        (END, 7),
        (END + timedelta(days=1), None),  # the grant has ended: no reminder at all
    ],
)
def test_expiry_reminder_is_the_latest_due(today: date, due: int | None) -> None:
    assert expiry_reminder_due(END, today, OFFSETS) == due


def test_expiry_reminder_skips_thresholds_before_the_grant_was_made() -> None:
    made = END - timedelta(days=20)
    assert expiry_reminder_due(END, made, OFFSETS, since=made) is None
    assert expiry_reminder_due(END, END - timedelta(days=7), OFFSETS, since=made) == 7


def test_pending_over_easter() -> None:
    thursday = date(2026, 4, 2)  # the Thursday before Good Friday
    kw = {"reminder_working_days": 1, "escalation_working_days": 3}
    for day in (date(2026, 4, 3), date(2026, 4, 4), date(2026, 4, 5), date(2026, 4, 6)):
        assert pending_stage(thursday, day, **kw) is None
    assert pending_stage(thursday, date(2026, 4, 7), **kw) == PendingStage.REMINDER
    assert pending_stage(thursday, date(2026, 4, 8), **kw) == PendingStage.REMINDER
    assert pending_stage(thursday, date(2026, 4, 9), **kw) == PendingStage.ESCALATION
    # after downtime past both days only the escalation is due
    assert pending_stage(thursday, date(2026, 4, 20), **kw) == PendingStage.ESCALATION


def test_pending_over_a_weekend_midsummer_and_christmas() -> None:
    kw = {"reminder_working_days": 1, "escalation_working_days": 3}
    assert pending_stage(date(2026, 3, 6), date(2026, 3, 8), **kw) is None  # Fri -> Sun
    assert pending_stage(date(2026, 3, 6), date(2026, 3, 9), **kw) == PendingStage.REMINDER
    assert pending_stage(date(2026, 6, 18), date(2026, 6, 19), **kw) is None  # Midsummer Eve
    assert pending_stage(date(2026, 6, 18), date(2026, 6, 22), **kw) == PendingStage.REMINDER
    assert pending_stage(date(2026, 12, 23), date(2026, 12, 27), **kw) is None
    assert pending_stage(date(2026, 12, 23), date(2026, 12, 28), **kw) == PendingStage.REMINDER
    assert pending_stage(date(2026, 12, 23), date(2026, 12, 30), **kw) == PendingStage.ESCALATION


def test_agreement_stages() -> None:
    ends = date(2026, 12, 31)
    kw = {"notice_months": 3, "final_days": 30}
    assert agreement_stage(ends, date(2026, 9, 29), **kw) is None
    assert agreement_stage(ends, date(2026, 9, 30), **kw) == AgreementStage.NOTICE
    assert agreement_stage(ends, date(2026, 12, 1), **kw) == AgreementStage.FINAL
    assert agreement_stage(ends, date(2026, 12, 30), **kw) == AgreementStage.FINAL
    assert agreement_stage(ends, ends, **kw) is None  # the grants end instead


def test_months_before_clamps_to_the_end_of_month() -> None:
    assert months_before(date(2026, 5, 31), 3) == date(2026, 2, 28)
    assert months_before(date(2026, 1, 15), 1) == date(2025, 12, 15)
    assert months_before(date(2026, 1, 15), 0) == date(2026, 1, 15)


def test_keha_reminder_after_n_days() -> None:
    assert not keha_reminder_due(date(2026, 3, 2), date(2026, 3, 6), 5)
    assert keha_reminder_due(date(2026, 3, 2), date(2026, 3, 7), 5)


def _directory(automation: object) -> dict[str, object]:
    return {
        "service_areas": [{"code": "youth", "fi": "Nuoret", "sv": "Unga", "en": "Youth"}],
        "access_levels": [{"code": "view", "fi": "Katselu", "sv": "Visning", "en": "View"}],
        "areas": [
            {
                "code": "a1",
                "name": {"fi": "A", "sv": "A", "en": "A"},
                "service_areas": ["youth"],
                "approvers": ["contact@a1.example.fi"],
                "authority_admins": ["admin@a1.example.fi"],
                "municipalities": [{"code": "m1", "name": "M1", "contracted": True}],
                **({"automation": automation} if automation is not None else {}),
            }
        ],
    }


def test_automation_settings_default_and_override() -> None:
    default = parse_directory(_directory(None)).areas["a1"].automation
    assert default == AutomationSettings()
    assert default.expiry_reminder_days == (30, 7)
    custom = (
        parse_directory(
            _directory({"expiry_reminder_days": [7, 14, 14], "escalation_working_days": 5})
        )
        .areas["a1"]
        .automation
    )
    assert custom.expiry_reminder_days == (14, 7)
    assert custom.escalation_working_days == 5
    assert custom.pending_reminder_working_days == 1


def test_bad_automation_settings_are_reported_with_their_path() -> None:
    from access.directory import DirectoryError

    with pytest.raises(DirectoryError) as caught:
        parse_directory(
            _directory({"expiry_reminder_days": [0, "x"], "review_interval_months": -1})
        )
    paths = {p.path for p in caught.value.problems}
    assert "areas[0].automation.expiry_reminder_days[0]" in paths
    assert "areas[0].automation.expiry_reminder_days[1]" in paths
    assert "areas[0].automation.review_interval_months" in paths
