"""The directory file: the example loads, and every problem is reported with its path."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from access.directory import (
    DEFAULT_TERMINATION_NOTICE_MONTHS,
    Directory,
    DirectoryError,
    directory_warnings,
    load_directory_file,
    parse_directory,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "directory.yaml"
# The project's reference data drawn from the seeds: the shared copy beside the repository
# when there is one, else the copy kept with the tests (a clean clone has no shared/).
_SHARED_REFERENCE = ROOT.parent / "shared" / "domain" / "reference-data.yaml"
REFERENCE = (
    _SHARED_REFERENCE
    if _SHARED_REFERENCE.is_file()
    else ROOT / "tests" / "data" / "reference-data.yaml"
)


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


def _reference() -> dict[str, Any]:
    assert REFERENCE.is_file(), f"the reference data is not at {REFERENCE}"
    data: dict[str, Any] = yaml.safe_load(REFERENCE.read_text(encoding="utf-8"))
    return data


def test_the_example_directory_follows_the_reference_data() -> None:
    reference = _reference()
    directory = load_directory_file(EXAMPLE)
    assert set(directory.areas) == {a["code"] for a in reference["areas"]}
    for ref_area in reference["areas"]:
        area = directory.areas[ref_area["code"]]
        where = area.code
        assert area.requires == set(ref_area.get("requires", [])), where
        assert area.municipality_requires == set(ref_area.get("municipality_requires", [])), where
        assert area.termination_notice_months == ref_area.get(
            "termination_notice_months", DEFAULT_TERMINATION_NOTICE_MONTHS
        ), where
        for key in ("max_grant_months", "service_areas"):
            if key in ref_area:
                value = getattr(area, key)
                assert (list(value) if isinstance(value, tuple) else value) == ref_area[key]
        if "privacy" in ref_area:
            assert area.privacy is not None, where
            assert area.privacy.contact == ref_area["privacy"]["contact"], where
            assert area.privacy.dpo == ref_area["privacy"]["dpo"], where
        assert set(area.approvers) == set(ref_area["approvers"]), where
        assert set(area.authority_admins) == set(ref_area["authority_admins"]), where
        assert [m.code for m in area.municipalities] == [
            m["code"] for m in ref_area["municipalities"]
        ], where
        for ref in ref_area["municipalities"]:
            municipality = directory.municipality(ref["code"])
            assert municipality is not None and municipality.area_code == area.code
            assert municipality.name == ref["name"]
            assert municipality.contracted is ref["contracted"], ref["code"]
            assert set(ref.get("requesters", [])) <= set(municipality.requesters), ref["code"]
            if "email_domains" in ref:
                assert list(municipality.email_domains) == ref["email_domains"], ref["code"]
            assert municipality.processing_agreement == ref.get("processing_agreement")
    retention = reference["retention"]
    assert directory.retention_years == retention["personal_data_years_after_grant_end"]


def test_the_example_directory_encodes_the_corrected_agreements() -> None:
    directory = load_directory_file(EXAMPLE)
    # 001 is a TYM cooperation agreement, not an A-TMT access agreement: every request
    # of Läntinen Pirkanmaa is refused; its notice is six months (001 §12).
    lp = directory.areas["lantinen-pirkanmaa"]
    assert not any(m.contracted for m in lp.municipalities)
    assert lp.termination_notice_months == 6
    # Kuopio (002): the valid customer relationship per request (§4), the processing
    # agreement per municipality (§6), no per-worker agreement (that is 000's), 3 months.
    kuopio = directory.areas["kuopio"]
    assert kuopio.requires == {"valid_customer_relationship"}
    assert kuopio.municipality_requires == {"processing_agreement"}
    assert kuopio.termination_notice_months == 3
    iisalmi = directory.municipality("iisalmi")
    assert iisalmi is not None and iisalmi.contracted and iisalmi.processing_agreement is None
    # Everyone who can request has the municipality's own e-mail domains to check against.
    assert directory_warnings(directory) == []
    for municipality in directory.municipalities():
        if municipality.requesters:
            assert municipality.email_domains, municipality.code


def test_email_domains_and_the_processing_agreement_are_read_and_checked() -> None:
    good = _area_with_municipality(
        {
            "email_domains": ["Laukaa.example.fi", "laukaa.example.fi", "edu.laukaa.example.fi"],
            "processing_agreement": "2025-09-01",
        },
        municipality_requires=["processing_agreement"],
    )
    municipality = good.municipality("m1")
    assert municipality is not None
    assert municipality.email_domains == ("laukaa.example.fi", "edu.laukaa.example.fi")
    assert municipality.processing_agreement == date(2025, 9, 1)
    assert good.areas["a1"].municipality_requires == {"processing_agreement"}
    assert good.areas["a1"].termination_notice_months == DEFAULT_TERMINATION_NOTICE_MONTHS
    assert municipality.employs("Aino@LAUKAA.example.fi")
    assert not municipality.employs("aino@sub.laukaa.example.fi")
    assert not municipality.employs("aino@laukaa.example.fi.example")

    with pytest.raises(DirectoryError) as caught:
        _area_with_municipality(
            {"email_domains": ["@laukaa.fi", "laukaa"], "processing_agreement": "soon"},
            municipality_requires=["worker_agreement"],
        )
    paths = {p.path for p in caught.value.problems}
    assert paths == {
        "areas[0].municipalities[0].email_domains[0]",
        "areas[0].municipalities[0].email_domains[1]",
        "areas[0].municipalities[0].processing_agreement",
        "areas[0].municipality_requires[0]",
    }


def test_a_requester_municipality_without_domains_is_warned_about() -> None:
    bare = _area_with_municipality({"requesters": ["manager@m1.example.fi"]})
    [warning] = directory_warnings(bare)
    assert warning.path == "areas[0].municipalities[0].email_domains"
    assert "'m1'" in warning.message
    assert directory_warnings(_area_with_municipality({})) == []  # no requesters: no one asks


def _area_with_municipality(municipality: dict[str, Any], **area: Any) -> Directory:
    return parse_directory(
        {
            "service_areas": [{"code": "youth", "fi": "N", "sv": "U", "en": "Y"}],
            "access_levels": [{"code": "view", "fi": "K", "sv": "V", "en": "V"}],
            "areas": [
                {
                    "code": "a1",
                    "name": {"fi": "A", "sv": "A", "en": "A"},
                    "service_areas": ["youth"],
                    "approvers": ["contact@a1.example.fi"],
                    "authority_admins": ["admin@a1.example.fi"],
                    "municipalities": [
                        {"code": "m1", "name": "M1", "contracted": True, **municipality}
                    ],
                    **area,
                }
            ],
        }
    )


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
