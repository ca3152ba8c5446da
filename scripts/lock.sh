#!/usr/bin/env bash
# `make lock`: write requirements.lock (every package of the run and test environments,
# with the hashes of all their files on PyPI, for Python 3.11 to 3.14 on every platform)
# and tools.lock (uv, the installer) with uv pip compile.
#
#   make lock              after a change of pyproject.toml: keeps the other pins
#   make lock UPGRADE=1    every package to its newest version that fits
#
# The Babel override (botbuilder-dialogs 4.17.1 pins Babel==2.9.1, which imports cgi,
# gone in Python 3.13) is [tool.uv] override-dependencies in pyproject.toml; the lock
# says "via" it. tests/unit/test_framework_packages.py checks that it still works.
set -euo pipefail
cd "$(dirname "$0")/.."

uv="$(scripts/python_env.sh uv)"
upgrade=()
case "${UPGRADE:-}" in "" | 0 | no | false) ;; *) upgrade=(--upgrade) ;; esac

common=(--quiet --universal --python-version 3.11 --generate-hashes --no-header "${upgrade[@]}")

header() {  # FILE, then lines that say what it holds
    echo "# $1 -- written by \`make lock\` (scripts/lock.sh: uv pip compile); do not edit."
    shift
    printf '# %s\n' "$@"
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The project's dependencies, the test extra and the build group (setuptools, which
# builds this project and the packages that PyPI has only as source). uv keeps the
# versions of the output file it is given unless --upgrade.
[ -f requirements.lock ] && cp requirements.lock "$tmp/requirements.lock"
"$uv" pip compile "${common[@]}" pyproject.toml --extra test --group build \
    -o "$tmp/requirements.lock"
{
    header requirements.lock \
        "Every package of the run and test environments, with the hashes of its files." \
        "\`make run\` / \`make test\` install it with uv pip sync --require-hashes." \
        "The Babel override is [tool.uv] override-dependencies in pyproject.toml."
    cat "$tmp/requirements.lock"
} >requirements.lock

# uv itself, for the next install.
[ -f tools.lock ] && cp tools.lock "$tmp/tools.lock"
echo uv >"$tmp/tools.in"
"$uv" pip compile "${common[@]}" "$tmp/tools.in" -o "$tmp/tools.lock"
{
    header tools.lock \
        "uv, the installer of requirements.lock, with the hashes of its files;" \
        "scripts/python_env.sh installs it into .tools/ with pip --require-hashes."
    sed "s|# via -r .*|# via scripts/lock.sh|" "$tmp/tools.lock"
} >tools.lock

echo "lock: requirements.lock has $(grep -c '^[a-z]' requirements.lock) packages;" \
    "tools.lock $(grep '^uv==' tools.lock | cut -d' ' -f1)"
