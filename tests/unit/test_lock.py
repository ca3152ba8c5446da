"""requirements.lock: every package pinned with its hashes, and the install takes nothing else.

* every entry of the lock is ``name==version`` with sha256 hashes, and nothing else is in it;
* this environment holds exactly the lock's packages (for this Python) and the project;
* every installed package's requirements hold, except botbuilder-dialogs' Babel pin that
  pyproject.toml overrides (what ``pip check`` would say, checked without pip);
* the installer that ``make`` uses (uv, from tools.lock; ATMT_UV) refuses a lock whose
  hash of a package was changed, and a requirement without a hash.

The installer checks need uv (``make test`` installs it into .tools/) and the package
from uv's cache or the package index; without them they are skipped, or fail with CI=true.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from importlib.metadata import distributions
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PROJECT = "atmt-access-bot"
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")
SMALL = "six"  # small, pure Python, a wheel and an sdist: for the installs below


def lock_entries() -> dict[str, tuple[str, list[str], Marker | None, str]]:
    """name -> (version, hashes, marker, the entry's text with its "# via" lines)."""
    entries: dict[str, tuple[str, list[str], Marker | None, str]] = {}
    text = LOCK.read_text(encoding="utf-8")
    for block in re.split(r"\n(?=\S)", text):
        if not block.strip() or block.startswith("#"):
            continue
        logical = block.split("\n    #")[0]  # the "# via" comments follow
        head = logical.split("\\\n")[0].strip()
        requirement = Requirement(head)
        assert re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!]+", head.split(";")[0].strip()), head
        hashes = HASH.findall(logical)
        rest = HASH.sub("", logical.replace(head, "", 1)).replace("\\", "").split()
        assert rest == [], f"{requirement.name}: unexpected {rest}"
        version = str(requirement.specifier).removeprefix("==")
        entries[canonicalize_name(requirement.name)] = (
            version,
            hashes,
            requirement.marker,
            block,
        )
    return entries


def installed() -> dict[str, str]:
    found = {canonicalize_name(d.metadata["Name"]): d.version for d in distributions()}
    return found


def test_every_package_of_the_lock_is_pinned_with_hashes() -> None:
    entries = lock_entries()
    assert len(entries) > 50
    unhashed = [name for name, (_, hashes, _, _) in entries.items() if not hashes]
    assert unhashed == []
    for name in ("botbuilder-core", "botbuilder-dialogs", "babel", "pytest", "setuptools"):
        assert name in entries


def test_this_environment_is_exactly_the_lock() -> None:
    want = {
        name: version
        for name, (version, _, marker, _) in lock_entries().items()
        if marker is None or marker.evaluate()
    }
    have = installed()
    have.pop(canonicalize_name(PROJECT))
    assert have == want


def _problems() -> list[str]:
    """What ``pip check`` would report: requirements of installed packages that fail."""
    have = {canonicalize_name(d.metadata["Name"]): Version(d.version) for d in distributions()}
    problems = []
    for dist in distributions():
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            name = canonicalize_name(requirement.name)
            if name not in have:
                problems.append(f"{dist.metadata['Name']} requires {requirement}: not installed")
            elif not requirement.specifier.contains(have[name], prereleases=True):
                problems.append(
                    f"{dist.metadata['Name']} {dist.version} requires {requirement}, "
                    f"has {have[name]}"
                )
    return problems


def test_the_only_broken_requirement_is_the_recorded_babel_override() -> None:
    babel = lock_entries()["babel"][0]
    assert _problems() == [f"botbuilder-dialogs 4.17.1 requires babel==2.9.1, has {babel}"]


def test_the_override_in_pyproject_is_what_the_lock_has() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [override] = [Requirement(r) for r in pyproject["tool"]["uv"]["override-dependencies"]]
    version, _, _, entry = lock_entries()["babel"]
    assert canonicalize_name(override.name) == "babel"
    assert override.specifier.contains(version)
    assert "--override" in entry  # uv wrote that the override chose it
    python = ".".join(map(str, sys.version_info[:3]))
    assert SpecifierSet(pyproject["project"]["requires-python"]).contains(python)


# ------------------------------------------------------------------ the installer


def _uv() -> str:
    uv = os.environ.get("ATMT_UV") or str(ROOT / ".tools" / "bin" / "uv")
    if not os.access(uv, os.X_OK):
        _cannot(f"no uv at {uv} (make test installs it)")
    return uv


def _cannot(why: str) -> None:
    if os.environ.get("CI") in ("true", "1", "yes"):
        pytest.fail(why)
    pytest.skip(why)


def _install(
    uv: str, requirements: str, tmp: Path, *, offline: bool
) -> subprocess.CompletedProcess[str]:
    """The installer's hash-checked install of ``requirements`` into a throwaway target."""
    path = tmp / "requirements.txt"
    path.write_text(requirements, encoding="utf-8")
    target = tmp / "target"
    command = [uv, "pip", "install", "--no-config", "--python", sys.executable]
    command += ["--require-hashes", "--no-deps", "--reinstall", "--target", str(target)]
    command += ["--offline"] if offline else []
    return subprocess.run(
        [*command, "-r", str(path)], capture_output=True, text=True, timeout=180, check=False
    )


def _entry(name: str) -> str:
    return lock_entries()[name][3]


def _working_install(uv: str, name: str, tmp: Path) -> bool:
    """Install the untampered entry: offline from uv's cache if it can, else online.

    Returns whether it was offline, for the tampered install to be the same."""
    for offline in (True, False):
        done = _install(uv, _entry(name), tmp, offline=offline)
        if done.returncode == 0:
            return offline
    _cannot(f"uv could not install {name} from the lock at all: {done.stderr[-500:]}")
    raise AssertionError  # not reached


def _changed(digest: str) -> str:
    return digest[:-1] + ("0" if digest[-1] != "0" else "1")


def test_a_changed_hash_in_the_lock_fails_the_install(tmp_path: Path) -> None:
    # botbuilder-schema has one file on the index, so its entry has one hash.
    name = "botbuilder-schema"
    uv = _uv()
    offline = _working_install(uv, name, tmp_path)  # the entry as it is installs
    entry = _entry(name)
    [digest] = HASH.findall(entry)
    done = _install(uv, entry.replace(digest, _changed(digest)), tmp_path, offline=offline)
    assert done.returncode != 0
    assert "hash mismatch" in done.stderr.lower(), done.stderr[-2000:]


def test_a_package_whose_hashes_all_changed_is_not_installed(tmp_path: Path) -> None:
    # six has a wheel and an sdist. (With one of two hashes changed the installer
    # takes the other file, whose hash still matches, or fails when it cannot get it:
    # either way only a file with a locked hash is installed.)
    uv = _uv()
    offline = _working_install(uv, SMALL, tmp_path)
    entry = _entry(SMALL)
    tampered = HASH.sub(lambda m: _changed(m[0]), entry)
    assert len(HASH.findall(entry)) == 2
    done = _install(uv, tampered, tmp_path, offline=offline)
    assert done.returncode != 0
    assert "hash mismatch" in done.stderr.lower(), done.stderr[-2000:]


def test_a_requirement_without_hash_is_refused(tmp_path: Path) -> None:
    uv = _uv()
    version = lock_entries()[SMALL][0]
    done = _install(uv, f"{SMALL}=={version}\n", tmp_path, offline=True)
    assert done.returncode != 0
    assert "must have a hash" in done.stderr, done.stderr[-2000:]
