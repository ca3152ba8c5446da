"""The authority's administrator hands the approved changes of an area to KEHA and
records KEHA's confirmation, with the ``atmt-bot keha`` commands (a driver step of the
browser tests: ``python tests/e2e/keha_handoff.py ADMIN AREA``; DATABASE_URL and
ATMT_DIRECTORY from the environment). Prints the batch id.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ATMT_BOT = str(Path(sys.executable).with_name("atmt-bot"))


def keha(*args: str) -> str:
    completed = subprocess.run(
        [ATMT_BOT, "keha", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if completed.returncode != 0:
        sys.exit(f"atmt-bot keha {args[0]} failed: {completed.stdout}{completed.stderr}")
    return completed.stdout


def main(admin: str, area: str) -> None:
    created = keha("batch", "--as", admin, "--area", area)
    match = re.search(r"batch (\S+): (\d+) rows", created)
    if match is None or match[2] == "0":
        sys.exit(f"no batch with rows: {created}")
    keha("sent", "--as", admin, match[1])
    print(keha("confirm", "--as", admin, match[1]).strip(), "batch", match[1])


if __name__ == "__main__":
    main(*sys.argv[1:3])
