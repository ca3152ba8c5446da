"""bench/state_codec.py runs, and plain JSON is the cheaper codec (docs/performance.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is not an installed package
    sys.path.insert(0, str(ROOT))
from bench import state_codec  # noqa: E402


def test_the_codec_benchmark_runs_and_plain_json_is_cheaper(
    capsys: pytest.CaptureFixture[str],
) -> None:
    state_codec.check_round_trip()
    found = state_codec.measure(rounds=50, repeats=1)
    assert found["plain"] < found["jsonpickle"]
    assert state_codec.main(["--rounds", "10", "--repeats", "1"]) == 0
    assert "plain ÷ jsonpickle" in capsys.readouterr().out
