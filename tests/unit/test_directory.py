"""The directory file: the example loads, and every problem is reported with its path."""

from __future__ import annotations

from pathlib import Path

import pytest

from access.directory import DirectoryError, load_directory_file, parse_directory

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "directory.yaml"


def test_example_directory_has_the_three_areas_of_the_seeds() -> None:
    directory = load_directory_file(EXAMPLE)
    assert set(directory.areas) == {"pohjoinen-keski-suomi", "kuopio", "lantinen-pirkanmaa"}
    pks = directory.areas["pohjoinen-keski-suomi"]
    contracted = {m.name for m in pks.municipalities if m.contracted}
    assert contracted == {
        "Laukaa", "Viitasaari", "Äänekoski", "Hankasalmi", "Saarijärvi", "Karstula", "Uurainen"
    }
    kinnula = directory.municipality("kinnula")
    assert kinnula is not None and not kinnula.contracted
    area = directory.area_of("kinnula")
    assert area is not None and area.code == "pohjoinen-keski-suomi"


def test_roles_are_found_by_email_case_insensitively() -> None:
    directory = load_directory_file(EXAMPLE)
    assert directory.roles_of("Manager@Laukaa.example.fi").requester_for == {"laukaa"}
    assert directory.roles_of("contact@pks-area.example.fi").decides_in == {"pohjoinen-keski-suomi"}
    assert directory.roles_of("deputy@pks-area.example.fi").deputy_in == {"pohjoinen-keski-suomi"}
    assert directory.roles_of("admin@kuopio-area.example.fi").admin_in == {"kuopio"}
    assert not directory.roles_of("stranger@example.fi").is_staff


def test_every_problem_is_listed_with_its_path() -> None:
    data = {
        "service_areas": [{"code": "youth", "fi": "Nuoret", "sv": "Unga", "en": "Youth"}],
        "access_levels": [{"code": "view", "fi": "Katselu", "sv": "Visning", "en": "View"}],
        "areas": [
            {
                "code": "a1",
                "name": {"fi": "A", "sv": "A", "en": "A"},
                "service_areas": ["youth", "astrology"],
                "approvers": ["not-an-email"],
                "authority_admins": ["admin@a1.example.fi"],
                "max_grant_months": 0,
                "municipalities": [
                    {"code": "m1", "name": "M1", "contracted": "yes"},
                    {"code": "m1", "name": "M1 again", "contracted": True},
                ],
            }
        ],
    }
    with pytest.raises(DirectoryError) as caught:
        parse_directory(data)
    found = {(p.path, p.message.split(" ")[0]) for p in caught.value.problems}
    assert ("areas[0].service_areas[1]", "unknown") in found
    assert ("areas[0].approvers[0]", "'not-an-email'") in found
    assert ("areas[0].max_grant_months", "must") in found
    assert ("areas[0].municipalities[0].contracted", "must") in found
    assert ("areas[0].municipalities[1].code", "municipality") in found
    assert len(caught.value.problems) >= 5


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "d.yaml"
    bad.write_text("areas: [\n  {code: x\n", encoding="utf-8")
    with pytest.raises(DirectoryError) as caught:
        load_directory_file(bad)
    assert caught.value.problems[0].path.startswith("line ")


def test_missing_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(DirectoryError) as caught:
        load_directory_file(tmp_path / "nope.yaml")
    assert "cannot read" in caught.value.problems[0].message


def test_every_area_of_the_example_names_its_controller_contact_and_dpo() -> None:
    directory = load_directory_file(EXAMPLE)
    for area in directory.areas.values():
        assert area.privacy is not None, area.code
        assert area.privacy.controller.fi and "@" in area.privacy.contact, area.code
        assert "@" in area.privacy.dpo, area.code
    pks = directory.areas["pohjoinen-keski-suomi"].privacy
    assert pks is not None
    assert pks.controller.get("sv").startswith("Äänekoski stad")  # per language


def _area_with(privacy: object) -> dict[str, object]:
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
                **({} if privacy is None else {"privacy": privacy}),
            }
        ],
    }


def test_the_privacy_block_is_optional_and_checked_when_given() -> None:
    assert parse_directory(_area_with(None)).areas["a1"].privacy is None
    good = parse_directory(
        _area_with({"controller": "X", "contact": "Reg@A1.example.fi", "dpo": "dpo@a1.example.fi"})
    ).areas["a1"]
    assert good.privacy is not None and good.privacy.contact == "reg@a1.example.fi"
    assert good.privacy.controller.get("sv") == "X"  # one text for every language
    with pytest.raises(DirectoryError) as caught:
        parse_directory(_area_with({"controller": {"fi": "X"}, "contact": "nobody", "dpo": 3}))
    paths = sorted(p.path for p in caught.value.problems)
    assert paths == [
        "areas[0].privacy.contact",
        "areas[0].privacy.controller.en",
        "areas[0].privacy.controller.sv",
        "areas[0].privacy.dpo",
    ]
    with pytest.raises(DirectoryError) as caught:
        parse_directory(_area_with("kirjaamo@a1.example.fi"))
    assert caught.value.problems[0].path == "areas[0].privacy"


def test_how_far_back_a_removal_may_take_effect_is_set_per_area() -> None:
    def area(**extra: object) -> dict[str, object]:
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
                    **extra,
                }
            ],
        }

    assert parse_directory(area()).areas["a1"].revoke_backdate_days == 30  # the default
    assert parse_directory(area(revoke_backdate_days=90)).areas["a1"].revoke_backdate_days == 90
    with pytest.raises(DirectoryError) as caught:
        parse_directory(area(revoke_backdate_days=400))
    assert [p.path for p in caught.value.problems] == ["areas[0].revoke_backdate_days"]
    example = load_directory_file(EXAMPLE).areas["pohjoinen-keski-suomi"]
    assert example.revoke_backdate_days == 30
