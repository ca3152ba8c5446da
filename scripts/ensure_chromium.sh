#!/usr/bin/env bash
# Make sure Debian's Chromium (/usr/bin/chromium) is there for the browser tests.
# When it is missing it is installed with apt (as root, or through passwordless sudo).
# Where that is impossible: with CI=true this fails; otherwise it says how, and the
# e2e tests skip with that reason.
set -euo pipefail
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    exit 0
fi
cannot() {
    echo "ensure_chromium: $CHROMIUM is missing and $1" >&2
    case "${CI:-}" in
        true|1|yes) exit 1 ;;
        *) echo "ensure_chromium: browser tests will be skipped; install: sudo apt-get install -y chromium" >&2
           exit 0 ;;
    esac
}
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    cannot "this user is neither root nor allowed passwordless sudo"
fi
command -v apt-get >/dev/null 2>&1 || cannot "there is no apt-get on this machine"
echo "ensure_chromium: installing Debian's chromium with apt-get"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium
test -x "$CHROMIUM"
