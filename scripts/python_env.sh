#!/usr/bin/env bash
# The Python interpreter and the virtual environment of `make run` / `make test`.
#
#   scripts/python_env.sh pick             "X.Y.Z /path/to/python VENV" of PYTHON, else of the
#                                          newest supported Python found (stdout, one line)
#   scripts/python_env.sh list             "X.Y.Z /path/to/python" per supported minor version,
#                                          newest first
#   scripts/python_env.sh ensure VENV PY [--compile]
#                                          say which Python is used; create VENV with PY and
#                                          install requirements.lock into it when either changed;
#                                          --compile: also byte-compile the packages (make test)
#   scripts/python_env.sh uv               path of uv (installed from tools.lock into .tools/)
#
# Supported: Python 3.11 to 3.14 (pyproject.toml's requires-python). Interpreters are
# looked for on PATH (python3.14 ... python3.11, python3), in pyenv's versions (also
# those that pyenv's shims do not activate) and in /usr/bin and /usr/local/bin.
# PYTHON may be a command, a path or a version ("python3.13", "/opt/py/bin/python3", "3.13").
#
# The newest one found gets .venv; another one .venv-X.Y (so that switching PYTHON=
# back and forth reuses both). Every package comes from requirements.lock with its hash
# (uv pip sync --require-hashes, which also removes anything not in the lock); the
# build requirements of the three packages that PyPI has only as source, and of this
# project, come from the same lock (--build-constraint), hash-checked too. The venv's
# .atmt-env records the interpreter and the lock it was made from.
set -euo pipefail
cd "$(dirname "$0")/.."

MIN=11   # 3.11
MAX=14   # 3.14
LOCK=requirements.lock
TOOLS_LOCK=tools.lock
TOOLS=.tools

# "X.Y.Z /real/path" of an interpreter, or nothing (not runnable, e.g. an inactive pyenv shim).
describe() {
    "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3], sys.executable)' 2>/dev/null \
        </dev/null || true
}

supported() {  # X.Y.Z
    local minor
    minor="$(cut -d. -f2 <<<"$1")"
    [ "$(cut -d. -f1 <<<"$1")" = 3 ] && [ "$minor" -ge "$MIN" ] && [ "$minor" -le "$MAX" ]
}

# Every runnable supported interpreter: "X.Y.Z /real/path", best first for each version.
candidates() {
    local name path root="${PYENV_ROOT:-$HOME/.pyenv}"
    {
        for name in python3.14 python3.13 python3.12 python3.11 python3; do
            path="$(command -v "$name" 2>/dev/null)" || continue
            # pyenv's shims are slow and run only the versions pyenv activates: its
            # versions are looked at directly below.
            if [ "${path#"$root"/shims/}" = "$path" ]; then describe "$path"; fi
        done
        for path in "$root"/versions/*/bin/python3.1[0-9] /usr/local/bin/python3.1[0-9] \
            /usr/bin/python3.1[0-9]; do
            if [ -x "$path" ]; then describe "$path"; fi
        done
    } | awk 'NF == 2 && !seen[$2]++' | while read -r version path; do
        if supported "$version"; then echo "$version $path"; fi
    done
}

# One interpreter per minor version (the first found), newest first.
list() {
    candidates | awk '{ split($1, v, "."); m = v[2] } !seen[m]++ { print m, $0 }' \
        | sort -s -k1,1nr | cut -d' ' -f2-
}

pick() {
    local newest wanted found venv
    newest="$(list | head -n1)"
    if [ -z "${PYTHON:-}" ]; then
        if [ -z "$newest" ]; then
            echo "python_env: no Python 3.$MIN to 3.$MAX found; install one (or set PYTHON=)" >&2
            exit 1
        fi
        found="$newest"
    else
        # "python3.13" or "3.13": the 3.13 found first (also one that pyenv does not
        # activate, whose shim would refuse to run); else PYTHON as a command or path.
        wanted="$(grep -oE '^(python)?3\.[0-9]+$' <<<"${PYTHON##*/}" | grep -oE '3\.[0-9]+' || true)"
        found=""
        if [ -n "$wanted" ] && [ "$PYTHON" = "${PYTHON##*/}" ]; then
            found="$(list | awk -v m="$wanted" 'index($1, m ".") == 1' | head -n1)"
        fi
        [ -n "$found" ] || found="$(describe "$(command -v "$PYTHON" 2>/dev/null || echo "$PYTHON")")"
        if [ -z "$found" ]; then
            echo "python_env: PYTHON=$PYTHON: no such Python interpreter" >&2
            exit 1
        fi
        if ! supported "${found%% *}"; then
            echo "python_env: PYTHON=$PYTHON is Python ${found%% *}; this project needs 3.$MIN to 3.$MAX" >&2
            exit 1
        fi
    fi
    if [ "${found#* }" = "${newest#* }" ]; then
        venv=.venv
    else
        venv=".venv-$(cut -d. -f1,2 <<<"${found%% *}")"
    fi
    echo "$found $venv"
}

# uv from tools.lock (hash-checked by pip) in .tools/bin/uv. uv is a program, not a
# module: the interpreter's own pip puts it there (--target, ~2 s); without a usable
# pip there (PIP_REQUIRE_VIRTUALENV, no pip module) a throwaway venv's pip does.
ensure_uv() {
    local py="$1" want
    want="$(sha256sum "$TOOLS_LOCK" | cut -d' ' -f1)"
    if [ -x "$TOOLS/bin/uv" ] && [ "$(cat "$TOOLS/.atmt-tools" 2>/dev/null)" = "$want" ] \
        && "$TOOLS/bin/uv" --version >/dev/null 2>&1; then
        return
    fi
    rm -rf "$TOOLS"
    local pip_args=(install --quiet --disable-pip-version-check --root-user-action=ignore
        --no-deps --require-hashes --target "$TOOLS" -r "$TOOLS_LOCK")
    if ! "$py" -m pip "${pip_args[@]}" 2>/dev/null; then
        rm -rf "$TOOLS"
        "$py" -m venv "$TOOLS.venv"
        "$TOOLS.venv/bin/python" -m pip "${pip_args[@]}"
        rm -rf "$TOOLS.venv"
    fi
    echo "$want" >"$TOOLS/.atmt-tools"
}

ensure() {
    local venv="$1" py="$2" compile="${3:-}" version interpreter lock stamp uv site
    version="$(describe "$py" | cut -d' ' -f1)"
    echo "using Python $version ($py) in $venv"
    interpreter="python $version $py"
    lock="lock $(cat "$LOCK" pyproject.toml | sha256sum | cut -d' ' -f1)"
    stamp="$venv/.atmt-env"
    if ! { [ -f "$stamp" ] && [ "$(sed -n 1p "$stamp")" = "$interpreter" ] \
        && [ "$(sed -n 2p "$stamp")" = "$lock" ] && [ -x "$venv/bin/python" ]; }; then
        ensure_uv "$py"
        uv="$TOOLS/bin/uv"
        if [ ! -f "$stamp" ] || [ "$(sed -n 1p "$stamp")" != "$interpreter" ] \
            || [ ! -x "$venv/bin/python" ]; then
            rm -rf "$venv"
            "$uv" venv --quiet --python "$py" "$venv"
        fi
        rm -f "$stamp"
        echo "installing $LOCK into $venv"
        "$uv" pip sync --quiet --python "$venv/bin/python" --require-hashes \
            --build-constraint "$LOCK" "$LOCK"
        # The project itself, editable; setuptools (to build it) comes from the lock,
        # hash-checked.
        "$uv" pip install --quiet --python "$venv/bin/python" --no-deps \
            --build-constraint "$LOCK" -e .
        printf '%s\n%s\n' "$interpreter" "$lock" >"$stamp"
    fi
    # Byte-compiled ahead for the tests: the first import of a module compiles it, and
    # the SyntaxWarnings that recognizers-text's code gives then would be errors under
    # pytest's filterwarnings = error. `make run` leaves it to the imports (quicker).
    if [ "$compile" = --compile ]; then
        ensure_uv "$py"  # tests/unit/test_lock.py tries the installer
    fi
    if [ "$compile" = --compile ] && [ "$(sed -n 3p "$stamp")" != compiled ]; then
        echo "byte-compiling the packages of $venv"
        site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
        "$venv/bin/python" -W ignore -m compileall -qq -j 0 "$site" || true
        echo compiled >>"$stamp"
    fi
}

case "${1:-}" in
    pick) pick ;;
    list) list ;;
    ensure) ensure "$2" "$3" "${4:-}" ;;
    uv)
        py="$(pick | cut -d' ' -f2)"
        ensure_uv "$py"
        echo "$PWD/$TOOLS/bin/uv"
        ;;
    *) echo "usage: $0 pick|list|ensure VENV PYTHON|uv" >&2; exit 2 ;;
esac
