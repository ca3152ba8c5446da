"""Per-turn cost of storing dialog state: jsonpickle (until revision 0009) vs plain JSON.

    python -m bench.state_codec [--rounds N]

A turn of the new-request flow reads the conversation state once and writes it once
or twice. This measures, side by side in one run, what ``bot.state_storage`` spends
on the conversation state document of a manager halfway through the request form
(the dialog stack with the form's values, the welcome flag, five finished cards):

* ``jsonpickle``: the codec of revision 0008 (``Unpickler(keys=True).restore`` on
  read, ``Pickler(keys=True).flatten`` on write), kept here as the baseline;
* ``plain``: ``bot.state_storage.from_document`` / ``to_document``;

each with and without the ``json.loads`` / ``json.dumps`` of the document text that the
SQL store does for both. Runs alternate (A, B, B, A ...) and the median of each is
printed, in microseconds per read + write, with the ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from botbuilder.dialogs import DialogInstance, DialogState
from jsonpickle.pickler import Pickler  # type: ignore[import-untyped]
from jsonpickle.unpickler import Unpickler  # type: ignore[import-untyped]

from bot.state_storage import from_document, to_document

KEY = "msteams/conversations/a:conversation-1"


def conversation_state() -> dict[str, Any]:
    """What ``ConversationState`` holds while the request form's summary is shown."""
    instance = uuid.uuid4().hex
    values = {
        "municipality": "laukaa",
        "worker_first_name": "Ville",
        "worker_last_name": "Virtanen",
        "worker_email": "ville.virtanen@laukaa.example.fi",
        "worker_job_title": "Työhönvalmentaja",
        "service_areas": "youth,integration,guidance",
        "level": "record",
        "start": "2026-02-01",
        "end": "2026-12-31",
        "justification": "Kunnan työllisyyspalveluiden ohjaus ja neuvonta. " * 4,
        "confirm_customer_consent_form": "true",
        "confirm_worker_agreement": "true",
    }
    state = {
        "user_key": "00000000-0000-0000-0000-0000000000aa:00000000-0000-0000-0000-000000000001",
        "email": "manager@laukaa.example.fi",
        "municipalities": ["laukaa"],
        "instance": instance,
        "revision": 1,
        "values": values,
        "card_id": "1:1a2b3c4d5e6f",
        "step": "summary",
    }
    done = {
        uuid.uuid4().hex: {"number": f"2026-00001{i}", "request_id": str(uuid.uuid4())}
        for i in range(5)
    }
    return {
        "DialogState": DialogState([DialogInstance("manager.new_request", state)]),
        "Welcome": {"sent": True},
        "ManagerDoneCards": done,
        "e_tag": uuid.uuid4().hex,
    }


def _jsonpickle_write(item: dict[str, Any]) -> Any:
    flat = Pickler(keys=True).flatten(item)
    flat.pop("e_tag", None)
    return flat


def _jsonpickle_read(document: Any) -> Any:
    document["e_tag"] = "etag"
    return Unpickler(keys=True).restore(document)


CODECS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "jsonpickle": (_jsonpickle_write, _jsonpickle_read),
    "plain": (lambda item: to_document(KEY, item), lambda doc: from_document(doc, "etag")),
}


def _turns(codec: str, rounds: int, *, with_text: bool) -> float:
    """Microseconds per read + write of the document."""
    write, read = CODECS[codec]
    text = json.dumps(write(conversation_state()), separators=(",", ":"), ensure_ascii=False)
    started = time.perf_counter()
    for _ in range(rounds):
        item = read(json.loads(text))
        document = write(item)
        if with_text:
            json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    elapsed = time.perf_counter() - started
    if not with_text:  # the loads above is the same for both; take it out again
        started = time.perf_counter()
        for _ in range(rounds):
            json.loads(text)
        elapsed -= time.perf_counter() - started
    return elapsed / rounds * 1e6


def measure(rounds: int = 2000, repeats: int = 7) -> dict[str, float]:
    """Median µs per read + write for each codec, codec only and with the JSON text."""
    results: dict[str, list[float]] = {}
    order = ["jsonpickle", "plain"]
    for repeat in range(repeats):
        for codec in order if repeat % 2 == 0 else order[::-1]:
            for with_text in (False, True):
                name = f"{codec}{'+text' if with_text else ''}"
                results.setdefault(name, []).append(_turns(codec, rounds, with_text=with_text))
    return {name: statistics.median(values) for name, values in results.items()}


def check_round_trip() -> None:
    """Both codecs give back the state they were given (the benchmark's premise)."""
    for codec, (write, read) in CODECS.items():
        item = conversation_state()
        restored = read(json.loads(json.dumps(write(item))))
        stack = restored["DialogState"].dialog_stack
        assert [i.state for i in stack] == [i.state for i in item["DialogState"].dialog_stack]
        assert restored["ManagerDoneCards"] == item["ManagerDoneCards"], codec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.state_codec")
    parser.add_argument("--rounds", type=int, default=2000, help="read + write pairs per run")
    parser.add_argument("--repeats", type=int, default=7, help="runs per codec (median)")
    args = parser.parse_args(argv)
    check_round_trip()
    found = measure(args.rounds, args.repeats)
    size = len(json.dumps(_jsonpickle_write(conversation_state())))
    plain_size = len(json.dumps(to_document(KEY, conversation_state())))
    print(f"conversation state document: {size} bytes jsonpickle, {plain_size} bytes plain")
    print("codec             | jsonpickle µs | plain µs | plain ÷ jsonpickle")
    for suffix, label in (("", "codec only"), ("+text", "codec + JSON text")):
        old, new = found[f"jsonpickle{suffix}"], found[f"plain{suffix}"]
        print(f"{label:<17} | {old:13.1f} | {new:8.1f} | {new / old:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
