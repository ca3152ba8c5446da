#!/usr/bin/env bash
# Install the Node tools of package.json (Agents Playground, app-manifest schemas,
# playwright-core, adaptivecards) with `npm ci` when node_modules is missing or older
# than package-lock.json. Offline once installed.
#
# Exit codes: 0 ready; 3 Node.js/npm not installed (callers decide: `make run` goes on
# without the Playground, `make test` fails when CI=true); other = npm failed.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "node_tools: Node.js 20+ and npm are not installed; the Agents Playground demo," >&2
    echo "node_tools: manifest schema test and browser tests need them (https://nodejs.org/)." >&2
    exit 3
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
    echo "node_tools: Node.js $(node --version) is too old; 20 or newer is needed." >&2
    exit 3
fi

stamp=node_modules/.atmt-lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
echo "node_tools: npm ci (package-lock.json changed or node_modules missing)"
npm ci --no-audit --no-fund --loglevel=error
echo "$want" > "$stamp"
