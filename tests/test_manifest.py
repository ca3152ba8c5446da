"""The Teams app package: built from manifest/, valid against the official schema.

The schema check runs scripts/node/validate_manifest.cjs: npm ``@microsoft/app-manifest``
bundles the official Teams schemas (v1.0-v1.30) and picks the one that the manifest's
``$schema`` names, offline. Without Node.js / node_modules that test is skipped, or
fails when ``CI=true`` (``make test`` runs scripts/node_tools.sh first).
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from bot.manifest_build import (
    DEFAULT_DEVELOPER_NAME,
    MANIFEST_COMMANDS,
    MANIFEST_VERSION,
    ManifestConfig,
    ManifestError,
    build_files,
    build_manifest_zip,
    config_from,
    main,
)
from dialogs.cards.help import HELP_ORDER
from dialogs.commands import Command
from dialogs.i18n import Translator

ROOT = Path(__file__).resolve().parent.parent
VALIDATOR = ROOT / "scripts" / "node" / "validate_manifest.cjs"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

BOT_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
CONFIG = {
    "bot_id": BOT_ID,
    "developer_name": "Esimerkkialue",
    "website_url": "https://atmt-bot.example.fi/",
    "privacy_url": "https://atmt-bot.example.fi/tietosuoja",
    "terms_url": "https://www.example.fi/kayttoehdot",
    "valid_domains": "atmt-bot.example.fi,*.example.fi",
}


def _png(data: bytes) -> tuple[int, int, int, int, list[tuple[int, ...]]]:
    """(width, height, bit depth, colour type, RGBA pixels) of a non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    pixels: list[tuple[int, ...]] = []
    if (depth, colour, interlace) == (8, 6, 0):
        raw = zlib.decompress(idat)
        stride = width * 4 + 1
        for y in range(height):
            row = raw[y * stride : (y + 1) * stride]
            assert row[0] == 0, "the checker reads unfiltered rows only"
            pixels += [tuple(row[1 + x * 4 : 5 + x * 4]) for x in range(width)]
    return width, height, depth, colour, pixels


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_manifest_zip(CONFIG, tmp_path_factory.mktemp("dist"), env={})


@pytest.fixture(scope="module")
def files(package: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(package) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_package_holds_manifest_localizations_and_icons(
    package: Path, files: dict[str, bytes]
) -> None:
    assert package.name == "atmt-bot-teams.zip"
    assert sorted(files) == ["color.png", "en.json", "manifest.json", "outline.png", "sv.json"]


def test_manifest_is_filled_in_from_the_configuration(files: dict[str, bytes]) -> None:
    manifest = json.loads(files["manifest.json"])
    text = files["manifest.json"].decode()
    assert "{{" not in text
    assert manifest["manifestVersion"] == MANIFEST_VERSION
    assert manifest["$schema"].endswith(f"/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json")
    assert manifest["id"] == BOT_ID
    assert manifest["bots"][0]["botId"] == BOT_ID
    assert sorted(manifest["bots"][0]["scopes"]) == ["groupChat", "personal", "team"]
    assert manifest["developer"]["privacyUrl"] == CONFIG["privacy_url"]
    assert manifest["developer"]["termsOfUseUrl"] == CONFIG["terms_url"]
    assert manifest["validDomains"] == ["atmt-bot.example.fi", "www.example.fi", "*.example.fi"]
    assert manifest["localizationInfo"]["defaultLanguageTag"].startswith("fi")
    tags = {item["languageTag"][:2] for item in manifest["localizationInfo"]["additionalLanguages"]}
    assert tags == {"sv", "en"}


def test_command_lists_carry_the_main_commands_in_every_language(
    files: dict[str, bytes],
) -> None:
    translator = Translator.load()
    manifest = json.loads(files["manifest.json"])
    lists = manifest["bots"][0]["commandLists"]
    assert [entry["scopes"] for entry in lists] == [["personal"], ["team", "groupChat"]]
    # The help card lists every command; the manifest the 12 Teams allows.
    assert set(HELP_ORDER) == set(Command)
    assert len(MANIFEST_COMMANDS) == 12 and set(MANIFEST_COMMANDS) <= set(Command)
    fi = translator.get("fi")
    for entry in lists:
        assert [c["title"] for c in entry["commands"]] == [
            fi.word(f"command.{command.value}") for command in MANIFEST_COMMANDS
        ]
        assert all(c["description"] for c in entry["commands"])
    for locale in ("sv", "en"):
        localized = json.loads(files[f"{locale}.json"])
        messages = translator.get(locale)
        for i in range(len(lists)):
            for j, command in enumerate(MANIFEST_COMMANDS):
                key = f"bots[0].commandLists[{i}].commands[{j}]"
                assert localized[f"{key}.title"] == messages.word(f"command.{command.value}")
                assert localized[f"{key}.description"] == messages.t(f"help.cmd.{command.value}")


def test_icons_have_the_sizes_teams_requires(files: dict[str, bytes]) -> None:
    width, height, depth, colour, _ = _png(files["color.png"])
    assert (width, height) == (192, 192)
    assert (depth, colour) == (8, 6)
    width, height, depth, colour, pixels = _png(files["outline.png"])
    assert (width, height) == (32, 32)
    assert (depth, colour) == (8, 6)
    # Outline: white on transparent only.
    assert all(p[3] == 0 or p[:3] == (255, 255, 255) for p in pixels)
    assert any(p[3] == 255 for p in pixels) and any(p[3] == 0 for p in pixels)


def test_committed_icons_match_their_generator(tmp_path: Path) -> None:
    make_icons = runpy.run_path(str(ROOT / "scripts" / "make_icons.py"))
    assert make_icons["main"](["make_icons.py", str(tmp_path)]) == 0
    for name in ("color.png", "outline.png"):
        assert (tmp_path / name).read_bytes() == (ROOT / "manifest" / name).read_bytes(), name


def test_the_build_is_reproducible(package: Path, tmp_path: Path) -> None:
    again = build_manifest_zip(CONFIG, tmp_path, env={})
    assert again.read_bytes() == package.read_bytes()


def test_configuration_problems_name_every_key() -> None:
    with pytest.raises(ManifestError) as caught:
        build_manifest_zip({}, "unused", env={})
    keys = [key for key, _ in caught.value.problems]
    assert keys == ["MicrosoftAppId", "ATMT_PUBLIC_URL"]  # the only two required
    bad = ManifestConfig(
        bot_id="not-a-guid",
        developer_name="x" * 33,
        website_url="http://insecure.example.fi",
        privacy_url="https://ok.example.fi/p",
        terms_url="ftp://example.fi/t",
        valid_domains=("https://with-scheme.example.fi",),
        public_url="http://bot.example.fi",
    )
    keys = [key for key, _ in bad.problems()]
    assert keys == [
        "MicrosoftAppId",
        "ATMT_PUBLIC_URL",
        "ATMT_DEVELOPER_NAME",
        "ATMT_WEBSITE_URL",
        "ATMT_TERMS_URL",
        "ATMT_VALID_DOMAINS",
    ]
    # The three pages set explicitly: no public URL needed.
    explicit = config_from({k: v for k, v in CONFIG.items() if k != "valid_domains"}, {})
    assert explicit.problems() == []


def test_the_pages_default_to_the_bots_own() -> None:
    config = config_from({"bot_id": BOT_ID, "public_url": "https://bot.example.fi/"}, {})
    assert config.problems() == []
    assert config.urls() == {
        "ATMT_WEBSITE_URL": "https://bot.example.fi/",
        "ATMT_PRIVACY_URL": "https://bot.example.fi/privacy",
        "ATMT_TERMS_URL": "https://bot.example.fi/terms",
    }
    assert config.developer_name == DEFAULT_DEVELOPER_NAME
    assert config.domains() == ["bot.example.fi"]
    # One page elsewhere, the others the bot's.
    mixed = config_from(
        {"bot_id": BOT_ID, "terms_url": "https://www.example.fi/ehdot"},
        {"ATMT_PUBLIC_URL": "https://bot.example.fi"},
    )
    assert mixed.urls()["ATMT_TERMS_URL"] == "https://www.example.fi/ehdot"
    assert mixed.urls()["ATMT_PRIVACY_URL"] == "https://bot.example.fi/privacy"
    assert mixed.domains() == ["bot.example.fi", "www.example.fi"]


def _atmt_bot(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``atmt-bot manifest build`` as an operator runs it: only ``env`` (no .env)."""
    atmt_bot = Path(sys.executable).with_name("atmt-bot")
    return subprocess.run(
        [str(atmt_bot), "manifest", "build", *args],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_missing_settings_are_listed_all_at_once(tmp_path: Path) -> None:
    result = _atmt_bot(tmp_path, {"ATMT_WEBSITE_URL": "http://insecure.example.fi"})
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == [
        "MicrosoftAppId",
        "ATMT_PUBLIC_URL",
        "ATMT_WEBSITE_URL",
    ]
    assert all(line.startswith("configuration error: ") for line in lines)
    assert not (tmp_path / "dist").exists()


def test_configuration_comes_from_the_environment_and_flags_win() -> None:
    env = {
        "MICROSOFTAPPID": BOT_ID,
        "ATMT_DEVELOPER_NAME": "Ympäristö",
        "ATMT_WEBSITE_URL": "https://env.example.fi",
        "ATMT_PRIVACY_URL": "https://env.example.fi/p",
        "ATMT_TERMS_URL": "https://env.example.fi/t",
    }
    config = config_from({"developer_name": "Lippu"}, env)
    assert config.bot_id == BOT_ID
    assert config.developer_name == "Lippu"
    assert config.app_id == BOT_ID
    assert config.domains() == ["env.example.fi"]


def test_build_files_is_pure_and_rejects_an_other_schema_version() -> None:
    template: dict[str, Any] = json.loads((ROOT / "manifest" / "manifest.json").read_text())
    localizations = {
        loc: json.loads((ROOT / "manifest" / f"{loc}.json").read_text()) for loc in ("sv", "en")
    }
    config = config_from(CONFIG, {})
    built = build_files(template, localizations, config, Translator.load())
    assert template["bots"][0]["commandLists"] == []  # the template is not modified
    assert built["manifest.json"]["bots"][0]["commandLists"]
    template["manifestVersion"] = "1.17"
    with pytest.raises(ManifestError):
        build_files(template, localizations, config, Translator.load())


def test_cli_builds_the_zip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "build",
        "--bot-id",
        BOT_ID,
        "--developer-name",
        "Esimerkkialue",
        "--website-url",
        CONFIG["website_url"],
        "--privacy-url",
        CONFIG["privacy_url"],
        "--terms-url",
        CONFIG["terms_url"],
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 0
    assert (tmp_path / "atmt-bot-teams.zip").is_file()
    assert "atmt-bot-teams.zip" in capsys.readouterr().out


def _node_validate(target: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    ready = (ROOT / "node_modules" / "@microsoft" / "app-manifest").is_dir() and (
        ROOT / "node_modules" / "fs-extra"
    ).is_dir()
    if node is None or not ready:
        reason = "Node.js is not installed" if node is None else "node_modules missing (npm ci)"
        if IN_CI:
            pytest.fail(f"CI=true: cannot validate the manifest schema: {reason}", pytrace=False)
        pytest.skip(reason)
    return subprocess.run(
        [node, str(VALIDATOR), str(target)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_package_is_valid_against_the_official_schema(package: Path) -> None:
    result = _node_validate(package)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["manifestVersion"] == MANIFEST_VERSION
    assert report["files"] == {"manifest.json": [], "sv.json": [], "en.json": []}


def test_the_app_id_and_the_public_url_make_a_valid_package(tmp_path: Path) -> None:
    """``MicrosoftAppId=… ATMT_PUBLIC_URL=https://bot.example.fi atmt-bot manifest build``."""
    env = {"MicrosoftAppId": BOT_ID, "ATMT_PUBLIC_URL": "https://bot.example.fi"}
    built = _atmt_bot(tmp_path, env)
    assert built.returncode == 0, built.stderr
    package = tmp_path / "dist" / "atmt-bot-teams.zip"
    with zipfile.ZipFile(package) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["developer"] == {
        "name": DEFAULT_DEVELOPER_NAME,
        "websiteUrl": "https://bot.example.fi/",
        "privacyUrl": "https://bot.example.fi/privacy",
        "termsOfUseUrl": "https://bot.example.fi/terms",
    }
    assert manifest["validDomains"] == ["bot.example.fi"]
    result = _node_validate(package)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["ok"] is True


def test_the_schema_check_catches_mistakes(files: dict[str, bytes], tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    manifest = json.loads(files["manifest.json"])
    manifest["bots"][0]["scopes"].append("everywhere")  # not an allowed scope
    manifest["colour"] = "#000000"  # unknown property
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    sv = json.loads(files["sv.json"])
    sv["name.short"] = "x" * 31  # too long
    (folder / "sv.json").write_text(json.dumps(sv), encoding="utf-8")

    result = _node_validate(folder)
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    problems = " ".join(report["files"]["manifest.json"])
    assert "additional properties" in problems
    assert "allowed values" in problems or "enum" in problems
    assert report["files"]["sv.json"]
