"""Start-up configuration: a bad value is one line naming the key, exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
CONFIG_KEYS = (
    "MicrosoftAppId",
    "MicrosoftAppPassword",
    "MicrosoftAppType",
    "MicrosoftAppTenantId",
    "DATABASE_URL",
    "ATMT_DIRECTORY",
    "HOST",
    "PORT",
    "LOG_LEVEL",
    "ATMT_MAX_BODY_BYTES",
    "ATMT_DEFAULT_LOCALE",
    "ATMT_AUDIT_KEY",
)
AUDIT_KEY = "a-test-audit-key-of-at-least-32-characters"
PRODUCTION = {
    "MicrosoftAppId": "00000000-0000-0000-0000-0000000000b1",
    "MicrosoftAppPassword": "x",
    "MicrosoftAppTenantId": "00000000-0000-0000-0000-0000000000a1",
}


def _clean_env(**values: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k.upper() not in {key.upper() for key in CONFIG_KEYS}
    }
    env.update(values)
    return env


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        env=_clean_env(PYTHONPATH=str(ROOT), **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"PORT": "abc"},
            "configuration error: PORT: Input should be a valid integer, "
            "unable to parse string as an integer",
        ),
        (
            {"PORT": "70000"},
            "configuration error: PORT: Input should be less than or equal to 65535",
        ),
        (
            {"LOG_LEVEL": "loud"},
            "configuration error: LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        ),
        (
            {"MicrosoftAppType": "Anything"},
            "configuration error: MicrosoftAppType: must be one of SingleTenant, MultiTenant, "
            "UserAssignedMSI",
        ),
        (
            {"DATABASE_URL": "mysql://x"},
            "configuration error: DATABASE_URL: must be sqlite:///PATH or "
            "postgresql://USER@HOST:PORT/DB",
        ),
        (
            {"ATMT_MAX_BODY_BYTES": "10"},
            "configuration error: ATMT_MAX_BODY_BYTES: "
            "Input should be greater than or equal to 1024",
        ),
        (
            {
                "MicrosoftAppId": "00000000-0000-0000-0000-0000000000b1",
                "MicrosoftAppPassword": "x",
                "ATMT_AUDIT_KEY": AUDIT_KEY,
            },
            "configuration error: MicrosoftAppTenantId: required when MicrosoftAppType is "
            "SingleTenant",
        ),
        (
            PRODUCTION,  # never silently unkeyed in production
            "configuration error: ATMT_AUDIT_KEY: required when MicrosoftAppId is set",
        ),
        (
            {"ATMT_AUDIT_KEY": "too short"},
            "configuration error: ATMT_AUDIT_KEY: must be at least 32 characters "
            "(e.g. `openssl rand -base64 48`)",
        ),
    ],
)
@pytest.mark.parametrize("command", [["run"], ["migrate"]])
def test_invalid_value_is_one_line_and_exit_2(
    tmp_path: Path, env: dict[str, str], line: str, command: list[str]
) -> None:
    result = _run(command, tmp_path, **env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [line]
    assert "Traceback" not in result.stderr + result.stdout


def test_every_bad_key_gets_its_own_line(tmp_path: Path) -> None:
    result = _run(["run"], tmp_path, PORT="x", LOG_LEVEL="y", HOST=" ")
    assert result.returncode == 2
    keys = sorted(line.split(":")[1].strip() for line in result.stderr.splitlines())
    assert keys == ["HOST", "LOG_LEVEL", "PORT"]


def test_dotenv_is_read_and_unknown_keys_ignored(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=oops\nSOMETHING_ELSE=1\n", encoding="utf-8")
    result = _run(["migrate"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "configuration error: PORT: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]


def test_invalid_directory_stops_run_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "directory.yaml"
    bad.write_text("areas:\n  - code: x\n", encoding="utf-8")
    result = _run(["run"], tmp_path, ATMT_DIRECTORY=str(bad), PORT="0")
    assert result.returncode == 2
    assert f"{bad}: areas[0]." in result.stderr
    assert "Traceback" not in result.stderr


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in CONFIG_KEYS:
        monkeypatch.delenv(key, raising=False)
    settings = load_settings(env_file=None)
    assert settings.anonymous
    assert settings.app_type == "SingleTenant"
    assert settings.database_url == "sqlite:///var/atmt.sqlite3"
    assert settings.directory_path == Path("examples/directory.yaml")
    assert (settings.host, settings.port, settings.log_level) == ("127.0.0.1", 3978, "INFO")
    assert settings.max_body_bytes == 256 * 1024
    # anonymous mode talks MultiTenant-with-empty-id to botbuilder
    assert settings.botframework_config().APP_TYPE == "MultiTenant"  # type: ignore[attr-defined]


def test_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("microsoftapptype", "multitenant")
    monkeypatch.setenv("port", "4000")
    settings = load_settings(env_file=None)
    assert (settings.app_type, settings.port) == ("MultiTenant", 4000)


def test_config_error_lines() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None, PORT="-1")
    assert caught.value.lines() == [
        "configuration error: PORT: Input should be greater than or equal to 0"
    ]
    assert isinstance(Settings(_env_file=None), Settings)  # type: ignore[call-arg]


def test_the_audit_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in CONFIG_KEYS:
        monkeypatch.delenv(key, raising=False)
    assert load_settings(env_file=None).audit_chain_key().development  # local mode
    monkeypatch.setenv("ATMT_AUDIT_KEY", f"  {AUDIT_KEY}\n")
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(env_file=None)
    key = settings.audit_chain_key()
    assert not key.development and key.secret == AUDIT_KEY.encode()
    assert AUDIT_KEY not in repr(settings) + repr(key) + str(settings)


# ------------------------------------------------------- the one description


README = Path(__file__).resolve().parents[2] / "README.md"
TABLE_START = "<!-- settings: generated by `python -m bot.config --markdown`"
TABLE_END = "<!-- end of settings -->"


def _readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n", text.index(TABLE_START)) + 1
    return text[start : text.index(TABLE_END)]


def test_the_readme_table_is_generated_from_the_settings() -> None:
    from bot.config import settings_table

    assert _readme_table() == settings_table(), (
        "README.md's configuration table differs from bot.config.Settings: paste the "
        "output of `python -m bot.config --markdown` between its markers"
    )


def test_every_setting_is_described_with_its_environment_name() -> None:
    from bot.config import env_name

    table = _readme_table()
    for name, field in Settings.model_fields.items():
        assert field.description, f"Settings.{name} has no description"
        assert "|" not in field.description
        assert f"| `{env_name(name)}` |" in table
        # the environment name really sets the field
        assert env_name(name).lower() in {
            str(choice).lower() for choice in getattr(field.validation_alias, "choices", ())
        }


def test_the_table_is_printed_by_the_module() -> None:
    from bot.config import settings_table

    result = subprocess.run(
        [sys.executable, "-m", "bot.config", "--markdown"],
        capture_output=True,
        text=True,
        check=True,
        cwd=README.parent,
    )
    assert result.stdout == settings_table()


def test_download_links_are_configured_by_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.downloads import DownloadSigner

    monkeypatch.setenv("ATMT_PUBLIC_URL", "https://bot.example.fi/")
    monkeypatch.setenv("ATMT_DOWNLOAD_KEY", "shared by every process")
    settings = load_settings(env_file=None)
    assert settings.public_url == "https://bot.example.fi"
    one, two = DownloadSigner.from_settings(settings), DownloadSigner.from_settings(settings)
    assert one.url("keha", "b1", "csv", "u1", "fi").startswith("https://bot.example.fi/downloads/")
    assert two.verify(one.token("keha", "b1", "csv", "u1", "fi")) is not None
    with pytest.raises(ConfigError, match="ATMT_PUBLIC_URL"):
        load_settings(env_file=None, ATMT_PUBLIC_URL="ftp://bot.example.fi")
