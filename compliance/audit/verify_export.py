"""Verify an exported audit trail without trusting the system that produced it.

Usage: python -m compliance.audit.verify_export FILE [--checkpoint FILE]

This module imports only the Python standard library, so it can be copied out of the
project and run alone. It is also where the chain's canonical form is defined: the
application hashes events with these same functions.

Each event's hash is SHA-256 over the previous event's hash (64 hex characters, ASCII),
a newline, and the event's canonical JSON: the fields in EVENT_FIELDS, keys sorted,
no insignificant whitespace, UTF-8, times as ISO 8601 UTC with microseconds and "Z".
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any

GENESIS_HASH = "0" * 64
EVENT_FIELDS = (
    "seq",
    "occurred_at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "case_id",
    "case_ref",
    "changes",
    "details",
    "request_id",
    "prev_hash",
)
JSON_FIELDS = ("changes", "details")


def canonical_bytes(event: dict[str, Any]) -> bytes:
    """The exact bytes that are hashed for one event."""
    payload = {name: event.get(name) for name in EVENT_FIELDS}
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def event_hash(event: dict[str, Any]) -> str:
    """The hash of one event, chained to its predecessor through prev_hash."""
    digest = hashlib.sha256(event["prev_hash"].encode("ascii") + b"\n")
    digest.update(canonical_bytes(event))
    return digest.hexdigest()


def check_chain(events: Iterable[dict[str, Any]], first_prev_hash: str | None = None) -> dict:
    """Walk events in order; report the first one that breaks the chain, if any."""
    expected_prev = first_prev_hash
    expected_seq = None
    count = 0
    last: dict[str, Any] | None = None
    for event in events:
        seq = event["seq"]
        if expected_seq is not None and seq != expected_seq:
            return _bad(seq, f"sequence gap or reordering: expected seq={expected_seq}", count)
        if expected_prev is not None and event["prev_hash"] != expected_prev:
            return _bad(seq, "prev_hash does not match the previous event's hash", count)
        if event_hash(event) != event["hash"]:
            return _bad(seq, "hash does not match the event's content", count)
        expected_prev = event["hash"]
        expected_seq = seq + 1
        count += 1
        last = event
    return {
        "ok": True,
        "count": count,
        "head_seq": last["seq"] if last else None,
        "head_hash": last["hash"] if last else first_prev_hash,
    }


def _bad(seq: int, problem: str, count: int) -> dict:
    return {"ok": False, "bad_seq": seq, "problem": problem, "count": count}


def load_export(path: str) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """Read a JSON or CSV export; return its header and its events in order."""
    if path.endswith(".csv"):
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        return {}, (_csv_event(row) for row in rows)
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    header = {k: v for k, v in document.items() if k != "events"}
    return header, iter(document["events"])


def _csv_event(row: dict[str, str]) -> dict[str, Any]:
    event: dict[str, Any] = dict(row)
    event["seq"] = int(row["seq"])
    event["case_id"] = int(row["case_id"]) if row["case_id"] else None
    for name in ("case_ref", "object_id", "request_id"):
        event[name] = row[name] if row[name] != "" else None
    for name in JSON_FIELDS:
        event[name] = json.loads(row[name]) if row[name] else None
    return event


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    checkpoint = None
    if "--checkpoint" in args:
        index = args.index("--checkpoint")
        checkpoint = args[index + 1]
        del args[index : index + 2]
    if len(args) != 1:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    header, events = load_export(args[0])
    first_prev = header.get("first_prev_hash")
    events = list(events)
    if first_prev is None and events:
        first_prev = events[0]["prev_hash"]
    if header.get("filtered"):
        # A filtered export (one case, a period) holds a subset: check each event's own hash
        # and that they are in order; the chain between them is proven by the full export.
        result = {"ok": True, "count": 0}
        previous_seq = 0
        for event in events:
            if event["seq"] <= previous_seq:
                result = _bad(event["seq"], "events out of order", result["count"])
                break
            if event_hash(event) != event["hash"]:
                result = _bad(event["seq"], "hash does not match the event's content", 0)
                break
            previous_seq = event["seq"]
            result["count"] += 1
    else:
        result = check_chain(events, first_prev)
    if result["ok"] and checkpoint:
        with open(checkpoint, encoding="utf-8") as handle:
            head = json.load(handle)
        by_seq = {event["seq"]: event for event in events}
        match = by_seq.get(head["seq"])
        if match is None or match["hash"] != head["head_hash"]:
            result = _bad(head["seq"], "export does not contain the checkpointed chain head", 0)
    if not result["ok"]:
        print(f"FAILED seq={result['bad_seq']}: {result['problem']}")
        return 1
    print(f"OK {result['count']} events verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
